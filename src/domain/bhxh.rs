//! Social-insurance (BHXH) codes: the ten-digit "mã số bảo hiểm xã hội".

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BhxhCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BhxhCodeError {
    #[error("a social-insurance code is required")]
    Empty,
    #[error("a social-insurance code is 10 digits")]
    Malformed,
}

const BHXH_LEN: usize = 10;

impl BhxhCode {
    /// Accepts exactly ten ASCII digits, ignoring surrounding whitespace. Leading zeros are
    /// significant, so the code stays a string.
    pub fn parse(input: &str) -> Result<Self, BhxhCodeError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(BhxhCodeError::Empty);
        }
        if s.len() != BHXH_LEN || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BhxhCodeError::Malformed);
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BhxhCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ten_digits() {
        let code = BhxhCode::parse(" 0123456789\n").unwrap();
        assert_eq!(code.as_str(), "0123456789");
        assert_eq!(code.to_string(), "0123456789");
    }

    #[test]
    fn refuses_other_shapes() {
        assert_eq!(BhxhCode::parse(""), Err(BhxhCodeError::Empty));
        assert_eq!(BhxhCode::parse("   "), Err(BhxhCodeError::Empty));
        for bad in [
            "123456789",
            "01234567890",
            "012345678a",
            "01234 56789",
            "+123456789",
            "０１２３４５６７８９",
        ] {
            assert_eq!(BhxhCode::parse(bad), Err(BhxhCodeError::Malformed), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_ten_digits_round_trip(s in "[0-9]{10}", pad in "[ \t]{0,3}") {
            let code = BhxhCode::parse(&format!("{pad}{s}{pad}")).expect("ten digits");
            prop_assert_eq!(code.as_str(), s.as_str());
        }

        #[test]
        fn other_lengths_fail(s in "[0-9]{0,30}") {
            prop_assume!(s.len() != BHXH_LEN);
            prop_assert!(BhxhCode::parse(&s).is_err());
        }

        #[test]
        fn anything_but_ascii_digits_fails(s in "\\PC{10}") {
            prop_assume!(!s.trim().bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(BhxhCode::parse(&s).is_err());
        }
    }
}
