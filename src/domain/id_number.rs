//! Citizen ID numbers: the 12-digit CCCD and the legacy 9-digit CMND ("CMT/CCCD").
//!
//! A CCCD (personal identification number, Circular 07/2016/TT-BCA) is laid out as
//! `PPP G YY RRRRRR`: the province code where the birth was registered, a digit encoding the
//! century of birth and the gender, the last two digits of the birth year, and six random digits.
//! There is no check digit, so the structure (a known province code) is all that can be checked
//! offline. A CMND is nine digits with no structure we can rely on, so any nine digits are taken.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::provinces::province_name;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

/// Which document the number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// 12-digit citizen identity card / personal identification number.
    Cccd,
    /// 9-digit legacy identity card.
    Cmnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gender {
    Male,
    Female,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("an ID number is required")]
    Empty,
    #[error("an ID number is 12 digits (CCCD) or 9 digits (CMND)")]
    Malformed,
    #[error("the first three digits of a CCCD are not a known province code")]
    UnknownProvince,
    #[error("the birth date does not match the birth year encoded in the CCCD")]
    BirthYearMismatch,
}

const CCCD_LEN: usize = 12;
const CMND_LEN: usize = 9;

impl IdNumber {
    /// Accepts a 12-digit CCCD with a known province code or a 9-digit CMND, ignoring surrounding
    /// whitespace. Only ASCII digits count: full-width or other Unicode digits are refused so that
    /// one number has exactly one spelling (it is the login name and the duplicate-check key).
    pub fn parse(input: &str) -> Result<Self, IdNumberError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(IdNumberError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdNumberError::Malformed);
        }
        // All bytes are ASCII digits here, so the byte length is the digit count.
        match s.len() {
            CCCD_LEN => {
                if province_name(&s[..3]).is_none() {
                    return Err(IdNumberError::UnknownProvince);
                }
            }
            CMND_LEN => {}
            _ => return Err(IdNumberError::Malformed),
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> IdKind {
        if self.0.len() == CCCD_LEN {
            IdKind::Cccd
        } else {
            IdKind::Cmnd
        }
    }

    /// The three-digit province code of a CCCD; `None` for a CMND.
    pub fn province_code(&self) -> Option<&str> {
        match self.kind() {
            IdKind::Cccd => Some(&self.0[..3]),
            IdKind::Cmnd => None,
        }
    }

    /// The name of the province of a CCCD; `None` for a CMND.
    pub fn province_name(&self) -> Option<&'static str> {
        self.province_code().and_then(province_name)
    }

    /// The birth year encoded in a CCCD (century digit + two year digits); `None` for a CMND.
    pub fn birth_year(&self) -> Option<i32> {
        let (century_digit, year_in_century) = self.century_digit_and_year()?;
        let century_start = match century_digit {
            0 | 1 => 1900,
            2 | 3 => 2000,
            4 | 5 => 2100,
            6 | 7 => 2200,
            // 8 | 9; the digit is always 0..=9 since parse accepted only ASCII digits.
            _ => 1800,
        };
        Some(century_start + year_in_century)
    }

    /// The gender encoded in a CCCD (even century digit: male, odd: female); `None` for a CMND.
    pub fn gender(&self) -> Option<Gender> {
        let (century_digit, _) = self.century_digit_and_year()?;
        Some(if century_digit % 2 == 0 {
            Gender::Male
        } else {
            Gender::Female
        })
    }

    /// Refuses a birth date whose year differs from the year encoded in a CCCD. A CMND carries no
    /// birth year, so any date passes.
    pub fn check_birthdate(&self, date: NaiveDate) -> Result<(), IdNumberError> {
        match self.birth_year() {
            Some(year) if year != date.year() => Err(IdNumberError::BirthYearMismatch),
            _ => Ok(()),
        }
    }

    /// Digit 4 and digits 5–6 of a CCCD as numbers.
    fn century_digit_and_year(&self) -> Option<(i32, i32)> {
        if self.kind() != IdKind::Cccd {
            return None;
        }
        let digit = |i: usize| i32::from(self.0.as_bytes()[i] - b'0');
        Some((digit(3), digit(4) * 10 + digit(5)))
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::provinces::PROVINCES;
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    #[test]
    fn accepts_cccd_and_cmnd() {
        let cccd = IdNumber::parse(" 001090012345 ").unwrap();
        assert_eq!(cccd.as_str(), "001090012345");
        assert_eq!(cccd.to_string(), "001090012345");
        assert_eq!(cccd.kind(), IdKind::Cccd);
        let cmnd = IdNumber::parse("123456789").unwrap();
        assert_eq!(cmnd.kind(), IdKind::Cmnd);
        assert_eq!(
            IdNumber::parse("\t012345678\n").unwrap().as_str(),
            "012345678"
        );
    }

    #[test]
    fn decodes_cccd_fields() {
        let id = IdNumber::parse("079190012345").unwrap();
        assert_eq!(id.province_code(), Some("079"));
        assert_eq!(id.province_name(), Some("Hồ Chí Minh"));
        assert_eq!(id.birth_year(), Some(1990));
        assert_eq!(id.gender(), Some(Gender::Female));

        let id = IdNumber::parse("001205000001").unwrap();
        assert_eq!(id.birth_year(), Some(2005));
        assert_eq!(id.gender(), Some(Gender::Male));

        let cases = [
            ('0', 1900, Gender::Male),
            ('1', 1900, Gender::Female),
            ('2', 2000, Gender::Male),
            ('3', 2000, Gender::Female),
            ('4', 2100, Gender::Male),
            ('5', 2100, Gender::Female),
            ('6', 2200, Gender::Male),
            ('7', 2200, Gender::Female),
            ('8', 1800, Gender::Male),
            ('9', 1800, Gender::Female),
        ];
        for (digit, century, gender) in cases {
            let id = IdNumber::parse(&format!("048{digit}99123456")).unwrap();
            assert_eq!(id.birth_year(), Some(century + 99), "{digit}");
            assert_eq!(id.gender(), Some(gender), "{digit}");
        }
    }

    #[test]
    fn cmnd_has_no_cccd_fields() {
        let id = IdNumber::parse("001090012").unwrap();
        assert_eq!(id.province_code(), None);
        assert_eq!(id.province_name(), None);
        assert_eq!(id.birth_year(), None);
        assert_eq!(id.gender(), None);
        assert_eq!(id.check_birthdate(date(1950, 1, 1)), Ok(()));
    }

    #[test]
    fn checks_birthdate_against_encoded_year() {
        let id = IdNumber::parse("001090012345").unwrap();
        assert_eq!(id.check_birthdate(date(1990, 12, 31)), Ok(()));
        assert_eq!(id.check_birthdate(date(1990, 1, 1)), Ok(()));
        assert_eq!(
            id.check_birthdate(date(1991, 1, 1)),
            Err(IdNumberError::BirthYearMismatch)
        );
        // Same two year digits, wrong century.
        assert_eq!(
            id.check_birthdate(date(2090, 1, 1)),
            Err(IdNumberError::BirthYearMismatch)
        );
    }

    #[test]
    fn rejects_other_shapes() {
        assert_eq!(IdNumber::parse(""), Err(IdNumberError::Empty));
        assert_eq!(IdNumber::parse("   "), Err(IdNumberError::Empty));
        for bad in [
            "12345",
            "00109001234",
            "0010900123456",
            "00109001234a",
            "001 090 012345",
            "+01090012345",
            "-12345678",
            "１２３４５６７８９",
            "００１０９００１２３４５",
            "٠٠١٠٩٠٠١٢٣٤٥",
        ] {
            assert_eq!(IdNumber::parse(bad), Err(IdNumberError::Malformed), "{bad}");
        }
    }

    #[test]
    fn rejects_unknown_province() {
        for bad in [
            "000090012345",
            "003090012345",
            "097090012345",
            "999090012345",
        ] {
            assert_eq!(
                IdNumber::parse(bad),
                Err(IdNumberError::UnknownProvince),
                "{bad}"
            );
        }
        // The province rule is CCCD-only: a CMND starting with those digits is fine.
        assert!(IdNumber::parse("000090012").is_ok());
    }

    fn known_province() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(PROVINCES.iter().map(|(code, _)| *code).collect::<Vec<_>>())
    }

    fn unknown_province() -> impl Strategy<Value = String> {
        (0u32..1000)
            .prop_map(|n| format!("{n:03}"))
            .prop_filter("code must not be on the list", |c| {
                province_name(c).is_none()
            })
    }

    proptest! {
        #[test]
        fn valid_cccd_parses_and_decodes(
            province in known_province(),
            century in 0u8..10,
            yy in 0i32..100,
            rest in "[0-9]{6}",
        ) {
            let s = format!("{province}{century}{yy:02}{rest}");
            let id = IdNumber::parse(&s).expect("constructed CCCD parses");
            prop_assert_eq!(id.as_str(), s.as_str());
            prop_assert_eq!(id.kind(), IdKind::Cccd);
            prop_assert_eq!(id.province_code(), Some(province));
            let century_start = [1900, 1900, 2000, 2000, 2100, 2100, 2200, 2200, 1800, 1800]
                [usize::from(century)];
            prop_assert_eq!(id.birth_year(), Some(century_start + yy));
            let gender = if century % 2 == 0 { Gender::Male } else { Gender::Female };
            prop_assert_eq!(id.gender(), Some(gender));
        }

        #[test]
        fn any_nine_digits_is_a_cmnd(s in "[0-9]{9}") {
            let id = IdNumber::parse(&s).expect("nine digits parse");
            prop_assert_eq!(id.kind(), IdKind::Cmnd);
            prop_assert_eq!(id.birth_year(), None);
        }

        #[test]
        fn other_lengths_fail(s in "[0-9]{0,30}") {
            prop_assume!(s.len() != 9 && s.len() != 12);
            prop_assert!(IdNumber::parse(&s).is_err());
        }

        #[test]
        fn other_lengths_fail_whatever_the_characters(s in "\\PC{0,30}") {
            prop_assume!(!matches!(s.trim().chars().count(), 9 | 12));
            prop_assert!(IdNumber::parse(&s).is_err());
        }

        #[test]
        fn unknown_province_fails(province in unknown_province(), rest in "[0-9]{9}") {
            prop_assert_eq!(
                IdNumber::parse(&format!("{province}{rest}")),
                Err(IdNumberError::UnknownProvince)
            );
        }

        #[test]
        fn check_birthdate_agrees_with_birth_year(
            s in "[0-9]{9}|(001|079|096)[0-9]{9}",
            use_encoded_year in any::<bool>(),
            other_year in 1800i32..2300,
            ordinal in 1u32..=365,
        ) {
            let id = IdNumber::parse(&s).expect("generated numbers are valid");
            // Half the cases use the encoded year itself, so both outcomes are exercised.
            let year = match id.birth_year() {
                Some(encoded) if use_encoded_year => encoded,
                _ => other_year,
            };
            let date = NaiveDate::from_yo_opt(year, ordinal).expect("day 1..=365 exists");
            let ok = id.check_birthdate(date).is_ok();
            match id.birth_year() {
                Some(encoded) => prop_assert_eq!(ok, encoded == year),
                None => prop_assert!(ok),
            }
        }
    }
}
