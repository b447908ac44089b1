//! Vietnamese mobile phone numbers, stored in E.164 form (`+84` and nine digits).
//!
//! The carrier is deliberately not derivable from this type: numbers are portable between
//! carriers since 2021, so a prefix says nothing reliable about who serves the subscriber. The
//! carrier check asks the carrier, it does not guess.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    /// Always `+84` followed by nine ASCII digits, the first of them a mobile leading digit.
    e164: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("a phone number is required")]
    Empty,
    #[error("a phone number is 10 digits starting with 0, or +84 followed by 9 digits")]
    Malformed,
    #[error("not a Vietnamese mobile number")]
    NotMobile,
}

const COUNTRY_CODE: &str = "84";
/// Digits of the national significant number (the number without `0` or `+84`).
const NSN_LEN: usize = 9;
/// Leading digits of the current mobile ranges (03x, 05x, 07x, 08x, 09x since the 2018
/// renumbering). Finer prefix lists are not checked: they change as ranges are allocated, and an
/// unlisted new range would lock real subscribers out.
const MOBILE_LEADING_DIGITS: &[u8] = b"35789";

impl PhoneNumber {
    /// Accepts `0xxxxxxxxx`, `+84xxxxxxxxx` or `84xxxxxxxxx`, ignoring spaces, dots and dashes
    /// anywhere (people copy numbers as "0912 345 678" or "091.234.5678").
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        if input.trim().is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        let compact: String = input
            .chars()
            .filter(|c| !(c.is_whitespace() || *c == '.' || *c == '-'))
            .collect();

        // Only ASCII digits after an optional leading '+': one spelling per number.
        let (plus, digits) = match compact.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, compact.as_str()),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneNumberError::Malformed);
        }

        let nsn = if plus {
            digits.strip_prefix(COUNTRY_CODE)
        } else if digits.len() == 1 + NSN_LEN {
            digits.strip_prefix('0')
        } else {
            digits.strip_prefix(COUNTRY_CODE)
        };
        let nsn = match nsn {
            Some(nsn) if nsn.len() == NSN_LEN => nsn,
            _ => return Err(PhoneNumberError::Malformed),
        };
        if !MOBILE_LEADING_DIGITS.contains(&nsn.as_bytes()[0]) {
            return Err(PhoneNumberError::NotMobile);
        }
        Ok(Self {
            e164: format!("+{COUNTRY_CODE}{nsn}"),
        })
    }

    /// `+84xxxxxxxxx`: the stored form, and the one to send to SMS gateways and carriers.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// `0xxxxxxxxx`: the form Vietnamese users read and type.
    pub fn national(&self) -> String {
        format!("0{}", self.nsn())
    }

    /// The national form with the middle four digits hidden, as on the portal's OTP screen:
    /// "082****088".
    pub fn masked(&self) -> String {
        let national = self.national();
        // ASCII only, so byte slicing is character slicing; national() is always 10 digits.
        format!("{}****{}", &national[..3], &national[national.len() - 3..])
    }

    fn nsn(&self) -> &str {
        // "+84" is three ASCII bytes.
        &self.e164[1 + COUNTRY_CODE.len()..]
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0")?;
        f.write_str(self.nsn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_national_and_international_forms() {
        for input in [
            "0912345678",
            " 0912345678 ",
            "0912 345 678",
            "091.234.5678",
            "091-234-5678",
            "+84912345678",
            "+84 912 345 678",
            "84912345678",
            "84-91-234-5678",
        ] {
            let phone = PhoneNumber::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(phone.e164(), "+84912345678", "{input}");
            assert_eq!(phone.national(), "0912345678");
            assert_eq!(phone.to_string(), "0912345678");
        }
    }

    #[test]
    fn masks_like_the_portal() {
        let phone = PhoneNumber::parse("0821234088").unwrap();
        assert_eq!(phone.masked(), "082****088");
    }

    #[test]
    fn accepts_every_mobile_leading_digit() {
        for lead in ['3', '5', '7', '8', '9'] {
            assert!(
                PhoneNumber::parse(&format!("0{lead}12345678")).is_ok(),
                "{lead}"
            );
        }
    }

    #[test]
    fn refuses_non_mobile_numbers() {
        // Landlines (02x), service and unallocated ranges.
        for input in [
            "0241234567",
            "+84241234567",
            "0112345678",
            "0412345678",
            "0612345678",
        ] {
            assert_eq!(
                PhoneNumber::parse(input),
                Err(PhoneNumberError::NotMobile),
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneNumberError::Empty));
        assert_eq!(PhoneNumber::parse("  \t"), Err(PhoneNumberError::Empty));
        for input in [
            "-",
            "+",
            "912345678",     // no leading 0
            "09123456789",   // 11 digits
            "091234567",     // 9 digits
            "01234567890",   // old 11-digit mobile, renumbered in 2018
            "+840912345678", // trunk 0 after the country code
            "+85512345678",  // another country
            "0084912345678", // international prefix
            "0912345678a",
            "(091) 2345678",
            "+84 912 345 67８", // full-width digit
            "091/234/5678",
            "0912+345678",
        ] {
            assert_eq!(
                PhoneNumber::parse(input),
                Err(PhoneNumberError::Malformed),
                "{input}"
            );
        }
    }

    fn separated(digits: String) -> impl Strategy<Value = String> {
        // Insert a random separator (or nothing) after each digit.
        let n = digits.len();
        proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("."), Just("-")], n)
            .prop_map(move |seps| {
                digits
                    .chars()
                    .zip(seps)
                    .map(|(d, sep)| format!("{d}{sep}"))
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn national_and_e164_forms_agree(nsn in "[35789][0-9]{8}") {
            let national = PhoneNumber::parse(&format!("0{nsn}")).expect("national form");
            let plus = PhoneNumber::parse(&format!("+84{nsn}")).expect("+84 form");
            let bare = PhoneNumber::parse(&format!("84{nsn}")).expect("84 form");
            prop_assert_eq!(&national, &plus);
            prop_assert_eq!(&national, &bare);
            let e164 = format!("+84{nsn}");
            prop_assert_eq!(national.e164(), e164.as_str());
            prop_assert_eq!(national.national(), format!("0{nsn}"));
            // Round trip through both printed forms.
            prop_assert_eq!(PhoneNumber::parse(national.e164()).expect("e164"), national.clone());
            prop_assert_eq!(PhoneNumber::parse(&national.national()).expect("national"), national);
        }

        #[test]
        fn separators_are_ignored(
            formatted in "[35789][0-9]{8}".prop_flat_map(|nsn| separated(format!("0{nsn}")))
        ) {
            let digits: String = formatted.chars().filter(char::is_ascii_digit).collect();
            let phone = PhoneNumber::parse(&formatted).expect("separated number parses");
            prop_assert_eq!(phone.national(), digits);
        }

        #[test]
        fn masked_keeps_first_and_last_three(nsn in "[35789][0-9]{8}") {
            let phone = PhoneNumber::parse(&format!("0{nsn}")).expect("valid");
            let national = phone.national();
            let masked = phone.masked();
            prop_assert_eq!(masked.len(), 10);
            prop_assert_eq!(&masked[..3], &national[..3]);
            prop_assert_eq!(&masked[3..7], "****");
            prop_assert_eq!(&masked[7..], &national[7..]);
        }

        #[test]
        fn non_digit_garbage_fails(s in "[^0-9]*") {
            prop_assert!(PhoneNumber::parse(&s).is_err());
        }

        #[test]
        fn parse_never_panics_and_output_is_well_formed(s in "\\PC{0,20}") {
            if let Ok(phone) = PhoneNumber::parse(&s) {
                prop_assert_eq!(phone.e164().len(), 12);
                prop_assert!(phone.e164().starts_with("+84"));
                prop_assert!(phone.e164()[1..].bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}
