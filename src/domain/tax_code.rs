//! Tax codes ("Mã số thuế", MST): an enterprise's 10 digits, the last a check digit, or a
//! branch's `NNNNNNNNNN-NNN` (the parent's 10 digits, then a branch number 001–999).
//!
//! The check digit (as python-stdnum's `stdnum.vn.mst` computes it,
//! <https://arthurdejong.org/python-stdnum/doc/1.17/stdnum.vn.mst>): the first nine digits
//! weighted by 31, 29, 23, 19, 17, 13, 7, 5, 3; the tenth is `10 − (sum mod 11)`, so a sum
//! that is 0 mod 11 gives no valid code. Checked against published codes: `0100233488`,
//! `0314409058-002`, `0100109106`. (Some pages say `11 − (sum mod 11)`; those codes refute it.)

use std::fmt;

/// A valid tax code, normalised: ten digits, or ten digits, `-`, three digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaxCode(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TaxCodeError {
    #[error("a tax code is required")]
    Empty,
    #[error("a tax code is 10 digits, or 10 digits, a dash and 3 digits for a branch")]
    Malformed,
    #[error("the tax code's check digit does not match")]
    CheckDigit,
    #[error("a branch number is 001 to 999")]
    Branch,
}

const WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

/// The check digit of the first nine digits, or `None` when no digit fits (sum ≡ 0 mod 11).
fn check_digit(nine: &[u8]) -> Option<u8> {
    let sum: u32 = nine
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let digit = 10 - (sum % 11);
    (digit <= 9).then_some(digit as u8)
}

impl TaxCode {
    /// Accepts 10 digits, or 13 digits with or without a dash after the tenth; spaces and dots
    /// (as codes are often printed: `01.00.233.488`) are ignored.
    pub fn parse(input: &str) -> Result<Self, TaxCodeError> {
        let s: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '.')
            .collect();
        if s.is_empty() {
            return Err(TaxCodeError::Empty);
        }
        // Byte positions below are character positions only for ASCII.
        if !s.is_ascii() {
            return Err(TaxCodeError::Malformed);
        }
        let (main, branch) = match s.split_once('-') {
            Some((main, branch)) => (main, Some(branch)),
            None if s.len() == 13 => (&s[..10], Some(&s[10..])),
            None => (s.as_str(), None),
        };
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(main, 10) || branch.is_some_and(|b| !digits(b, 3)) {
            return Err(TaxCodeError::Malformed);
        }
        let bytes = main.as_bytes();
        if check_digit(&bytes[..9]) != Some(bytes[9] - b'0') {
            return Err(TaxCodeError::CheckDigit);
        }
        match branch {
            Some("000") => Err(TaxCodeError::Branch),
            Some(b) => Ok(Self(format!("{main}-{b}"))),
            None => Ok(Self(main.to_string())),
        }
    }

    /// As stored: `0100233488` or `0314409058-002`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The enterprise's own 10 digits (a branch's parent).
    pub fn enterprise(&self) -> &str {
        &self.0[..10]
    }

    pub fn is_branch(&self) -> bool {
        self.0.len() > 10
    }
}

impl fmt::Display for TaxCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A valid 10-digit code from nine digits, if one exists.
    fn complete(nine: &str) -> Option<String> {
        check_digit(nine.as_bytes()).map(|d| format!("{nine}{d}"))
    }

    #[test]
    fn accepts_published_codes_and_normalises() {
        assert_eq!(TaxCode::parse("0100233488").unwrap().as_str(), "0100233488");
        assert_eq!(TaxCode::parse("0100109106").unwrap().as_str(), "0100109106");
        let branch = TaxCode::parse("0314409058-002").unwrap();
        assert_eq!(branch.as_str(), "0314409058-002");
        assert_eq!(branch.enterprise(), "0314409058");
        assert!(branch.is_branch());
        assert_eq!(
            TaxCode::parse(" 0314409058002 ").unwrap().as_str(),
            "0314409058-002"
        );
        assert_eq!(
            TaxCode::parse("01.00.233.488").unwrap().as_str(),
            "0100233488"
        );
        assert_eq!(
            TaxCode::parse("0312 68 78 78 - 001").map(|t| t.to_string()),
            TaxCode::parse("0312687878-001").map(|t| t.to_string())
        );
    }

    #[test]
    fn refuses_other_shapes_with_the_reason() {
        assert_eq!(TaxCode::parse(""), Err(TaxCodeError::Empty));
        assert_eq!(TaxCode::parse("  "), Err(TaxCodeError::Empty));
        assert_eq!(TaxCode::parse("0100233480"), Err(TaxCodeError::CheckDigit));
        assert_eq!(TaxCode::parse("0100233488-000"), Err(TaxCodeError::Branch));
        for bad in [
            "12345",
            "01002334881",
            "010023348a",
            "0100233488-01",
            "0100233488-0001",
            "0100233488--001",
            "-0100233488",
            "０１００２３３４８８",
            "MST:0100233488",
        ] {
            assert_eq!(TaxCode::parse(bad), Err(TaxCodeError::Malformed), "{bad}");
        }
    }

    #[test]
    fn a_sum_divisible_by_eleven_has_no_valid_check_digit() {
        let nine = (0..1_000_000_000u32)
            .step_by(7919)
            .map(|n| format!("{n:09}"))
            .find(|n| check_digit(n.as_bytes()).is_none())
            .expect("some nine digits sum to 0 mod 11");
        for d in 0..=9 {
            assert_eq!(
                TaxCode::parse(&format!("{nine}{d}")),
                Err(TaxCodeError::CheckDigit)
            );
        }
    }

    proptest! {
        #[test]
        fn exactly_one_check_digit_is_valid(nine in "[0-9]{9}") {
            let valid: Vec<u8> = (0..=9)
                .filter(|d| TaxCode::parse(&format!("{nine}{d}")).is_ok())
                .collect();
            prop_assert!(valid.len() <= 1);
            prop_assert_eq!(valid.len() == 1, complete(&nine).is_some());
        }

        #[test]
        fn valid_codes_and_branches_round_trip(nine in "[0-9]{9}", branch in 1u32..=999) {
            if let Some(code) = complete(&nine) {
                let parsed = TaxCode::parse(&code).unwrap();
                prop_assert_eq!(parsed.as_str(), code.as_str());
                let with_branch = format!("{code}-{branch:03}");
                let parsed = TaxCode::parse(&with_branch).unwrap();
                prop_assert_eq!(TaxCode::parse(parsed.as_str()).unwrap(), parsed.clone());
                prop_assert_eq!(parsed.as_str(), with_branch.as_str());
            }
        }

        #[test]
        fn one_changed_digit_is_caught(nine in "[0-9]{9}", at in 0usize..10, by in 1u8..10) {
            if let Some(code) = complete(&nine) {
                let mut bytes = code.into_bytes();
                bytes[at] = b'0' + (bytes[at] - b'0' + by) % 10;
                let changed = String::from_utf8(bytes).unwrap();
                prop_assert!(TaxCode::parse(&changed).is_err(), "{}", changed);
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = TaxCode::parse(&s);
        }
    }
}
