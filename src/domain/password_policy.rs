//! Password rules: the portal's composition rule (the default) or NIST SP 800-63B.
//!
//! Both policies count length in Unicode scalar values after NFC normalisation, so "ấ" typed
//! precomposed or as "a" + two combining marks counts once either way, and both refuse the most
//! common passwords, single repeated characters and passwords containing the user's own
//! identifiers. The portal policy adds the rule printed in the portal's guides: "8 characters or
//! more with lower case, upper case, digit and special character (e.g. Aa@123456)". NIST
//! SP 800-63B (password verifiers) advises against composition rules, hence the switch.

use std::collections::HashSet;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PasswordPolicy {
    /// The national portal's rule: length, blocklist and four character classes.
    #[default]
    Portal,
    /// NIST SP 800-63B: length and blocklist, no composition rules.
    Nist,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must have at least {min} characters")]
    TooShort { min: usize },
    #[error("the password must have at most {max} characters")]
    TooLong { max: usize },
    #[error("the password must contain a lower-case letter")]
    MissingLower,
    #[error("the password must contain an upper-case letter")]
    MissingUpper,
    #[error("the password must contain a digit")]
    MissingDigit,
    #[error("the password must contain a special character")]
    MissingSpecial,
    #[error("the password is too common")]
    Common,
    #[error("the password must not contain your ID number, phone number or name")]
    ContainsPersonalInfo,
    #[error("the password must not be one character repeated")]
    Repetitive,
}

/// Minimum length in characters, the portal's and NIST's.
pub const MIN_LENGTH: usize = 8;
/// Maximum length in characters. NIST asks for at least 64; 128 leaves room for passphrases
/// while bounding the work the password hash has to do.
pub const MAX_LENGTH: usize = 128;
/// Context items shorter than this are not searched for: a two-letter name part such as "An"
/// or "Hà" would refuse far too many unrelated passwords.
const MIN_CONTEXT_LENGTH: usize = 4;

/// One common password per line, lower case. Embedded so the policy needs no I/O.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

impl PasswordPolicy {
    /// The policy for a config value: "portal" or "nist" (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "portal" => Some(Self::Portal),
            "nist" => Some(Self::Nist),
            _ => None,
        }
    }

    /// The config value naming this policy.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Portal => "portal",
            Self::Nist => "nist",
        }
    }

    /// Checks a new password. `context` holds the user's own identifiers (the ID number, the
    /// phone number in its national form "0xxxxxxxxx", parts of the name); a password containing
    /// one of them (case-insensitively, with or without Vietnamese diacritics) is refused. Returns
    /// the first rule broken, length first, then guessability, then composition.
    pub fn check(&self, password: &str, context: &[&str]) -> Result<(), PasswordError> {
        // Bound the work before building anything: an over-long input stops at MAX_LENGTH + 1.
        if password.nfc().take(MAX_LENGTH + 1).count() > MAX_LENGTH {
            return Err(PasswordError::TooLong { max: MAX_LENGTH });
        }
        let normalized: String = password.nfc().collect();
        if normalized.chars().count() < MIN_LENGTH {
            return Err(PasswordError::TooShort { min: MIN_LENGTH });
        }

        // Guessability before composition: telling someone that "Password" lacks a digit would
        // lead them to "Password1", which is just as common.
        let lower = normalized.to_lowercase();
        if is_repetitive(&lower) {
            return Err(PasswordError::Repetitive);
        }
        let folded = strip_diacritics(&lower);
        if is_common(&lower) || is_common(&folded) {
            return Err(PasswordError::Common);
        }
        if contains_context(&folded, context) {
            return Err(PasswordError::ContainsPersonalInfo);
        }

        if *self == Self::Portal {
            check_composition(&normalized)?;
        }
        Ok(())
    }
}

/// The portal's four character classes, Unicode-aware so that "ă" is lower case and "Đ" upper
/// case. Combining marks left over after NFC belong to the letter before them, so they are not
/// special characters.
fn check_composition(password: &str) -> Result<(), PasswordError> {
    let has = |pred: fn(char) -> bool| password.chars().any(pred);
    if !has(char::is_lowercase) {
        return Err(PasswordError::MissingLower);
    }
    if !has(char::is_uppercase) {
        return Err(PasswordError::MissingUpper);
    }
    if !has(char::is_numeric) {
        return Err(PasswordError::MissingDigit);
    }
    if !has(|c| !c.is_alphanumeric() && !is_combining_mark(c)) {
        return Err(PasswordError::MissingSpecial);
    }
    Ok(())
}

/// True when every character is the same (already lower-cased, so "AaAaAaAa" counts).
fn is_repetitive(lower: &str) -> bool {
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => chars.all(|c| c == first),
        None => true,
    }
}

/// Exact match against the embedded blocklist (the caller lower-cases).
fn is_common(lower: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect()
    })
    .contains(lower)
}

fn contains_context(folded_password: &str, context: &[&str]) -> bool {
    context.iter().any(|item| {
        let item: String = item.trim().nfc().collect();
        item.chars().count() >= MIN_CONTEXT_LENGTH
            && folded_password.contains(&strip_diacritics(&item.to_lowercase()))
    })
}

/// Removes Vietnamese diacritics ("Nguyễn" → "Nguyen", "đ" → "d"), because users commonly type
/// names without them; the result is NFC again for whatever is not Latin.
fn strip_diacritics(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            // Đ/đ are letters of their own, not D plus a combining mark.
            'đ' => 'd',
            'Đ' => 'D',
            other => other,
        })
        .nfc()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PORTAL: PasswordPolicy = PasswordPolicy::Portal;
    const NIST: PasswordPolicy = PasswordPolicy::Nist;

    #[test]
    fn parses_policy_names() {
        assert_eq!(PasswordPolicy::from_name("portal"), Some(PORTAL));
        assert_eq!(PasswordPolicy::from_name("NIST"), Some(NIST));
        assert_eq!(PasswordPolicy::from_name(" nist "), Some(NIST));
        assert_eq!(PasswordPolicy::from_name("strict"), None);
        assert_eq!(PasswordPolicy::from_name(""), None);
        for policy in [PORTAL, NIST] {
            assert_eq!(PasswordPolicy::from_name(policy.name()), Some(policy));
        }
        assert_eq!(PasswordPolicy::default(), PORTAL);
    }

    #[test]
    fn portal_accepts_its_own_example_and_vietnamese() {
        assert_eq!(PORTAL.check("Aa@123456", &[]), Ok(()));
        assert_eq!(PORTAL.check("Mật@Khẩu2024", &[]), Ok(()));
        assert_eq!(PORTAL.check("Đường#phố9", &[]), Ok(()));
        assert_eq!(NIST.check("Aa@123456", &[]), Ok(()));
    }

    #[test]
    fn portal_names_the_missing_class() {
        assert_eq!(
            PORTAL.check("AB@123456", &[]),
            Err(PasswordError::MissingLower)
        );
        assert_eq!(
            PORTAL.check("ab@123456", &[]),
            Err(PasswordError::MissingUpper)
        );
        assert_eq!(
            PORTAL.check("Ab@cdefgh", &[]),
            Err(PasswordError::MissingDigit)
        );
        assert_eq!(
            PORTAL.check("Ab1234567", &[]),
            Err(PasswordError::MissingSpecial)
        );
        // Vietnamese letters count in their class: "ă" is lower case, "Đ" upper case.
        assert_eq!(PORTAL.check("ĐĐX@12345ă", &[]), Ok(()));
        assert_eq!(
            PORTAL.check("ĐĐX@123456", &[]),
            Err(PasswordError::MissingLower)
        );
        assert_eq!(
            PORTAL.check("ăăx@123456", &[]),
            Err(PasswordError::MissingUpper)
        );
    }

    #[test]
    fn decomposed_input_is_normalised() {
        // "Mật@Khẩu2024" typed with combining marks: same length, and the marks are not the
        // special character.
        let decomposed = "Ma\u{323}\u{302}t@Kha\u{302}\u{309}u2024";
        assert_eq!(PORTAL.check(decomposed, &[]), Ok(()));
        assert_eq!(
            PORTAL.check(
                "Ma\u{323}\u{302}tKha\u{302}\u{309}uTo\u{302}\u{301}t99",
                &[]
            ),
            Err(PasswordError::MissingSpecial)
        );
        // Seven characters once composed, though eleven code points as typed.
        assert_eq!(
            NIST.check("a\u{323}\u{302}a\u{323}\u{302}bcdef", &[]),
            Err(PasswordError::TooShort { min: 8 })
        );
    }

    #[test]
    fn nist_has_no_composition_rules() {
        assert_eq!(NIST.check("correct horse battery staple", &[]), Ok(()));
        assert_eq!(
            PORTAL.check("correct horse battery staple", &[]),
            Err(PasswordError::MissingUpper)
        );
        assert_eq!(NIST.check("mèo con đi học bài", &[]), Ok(()));
    }

    #[test]
    fn both_refuse_weak_passwords() {
        for policy in [PORTAL, NIST] {
            assert_eq!(policy.check("password", &[]), Err(PasswordError::Common));
            assert_eq!(policy.check("PassWord", &[]), Err(PasswordError::Common));
            assert_eq!(policy.check("12345678", &[]), Err(PasswordError::Common));
            assert_eq!(policy.check("Password1!", &[]), Err(PasswordError::Common));
            assert_eq!(policy.check("matkhau123", &[]), Err(PasswordError::Common));
            // Diacritics do not hide a common password.
            assert_eq!(policy.check("mậtkhẩu123", &[]), Err(PasswordError::Common));
            assert_eq!(
                policy.check("aaaaaaaa", &[]),
                Err(PasswordError::Repetitive)
            );
            assert_eq!(
                policy.check("ĂăĂăĂăĂă", &[]),
                Err(PasswordError::Repetitive)
            );
            assert_eq!(
                policy.check("Aa@1234", &[]),
                Err(PasswordError::TooShort { min: 8 })
            );
            assert_eq!(
                policy.check(&format!("Aa@1{}", "x".repeat(125)), &[]),
                Err(PasswordError::TooLong { max: 128 })
            );
            assert_eq!(
                policy.check("", &[]),
                Err(PasswordError::TooShort { min: 8 })
            );
        }
    }

    #[test]
    fn length_limits_are_exact() {
        let at = |n: usize| {
            format!("Aa@1{}", "xY9!".repeat(n / 4))
                .chars()
                .take(n)
                .collect::<String>()
        };
        for policy in [PORTAL, NIST] {
            assert_eq!(policy.check(&at(8), &[]), Ok(()));
            assert_eq!(policy.check(&at(64), &[]), Ok(()));
            assert_eq!(policy.check(&at(128), &[]), Ok(()));
            assert_eq!(
                policy.check(&format!("{}!", at(128)), &[]),
                Err(PasswordError::TooLong { max: 128 })
            );
            assert_eq!(
                policy.check(&at(129).chars().take(7).collect::<String>(), &[]),
                Err(PasswordError::TooShort { min: 8 })
            );
            // Length is in characters, not bytes: 64 three-byte letters pass, 129 do not.
            assert_eq!(policy.check(&format!("Ấ1@{}", "ấ".repeat(61)), &[]), Ok(()));
            assert_eq!(
                policy.check(&format!("Ấ1@{}", "ấ".repeat(126)), &[]),
                Err(PasswordError::TooLong { max: 128 })
            );
        }
    }

    #[test]
    fn refuses_personal_information() {
        let context = [
            "079190012345",
            "0912345678",
            "Nguyễn",
            "Thị",
            "Hồng",
            "Nhung",
        ];
        for policy in [PORTAL, NIST] {
            assert_eq!(
                policy.check("X@079190012345", &context),
                Err(PasswordError::ContainsPersonalInfo)
            );
            assert_eq!(
                policy.check("Tel#0912345678", &context),
                Err(PasswordError::ContainsPersonalInfo)
            );
            assert_eq!(
                policy.check("NGUYỄN@1990z", &context),
                Err(PasswordError::ContainsPersonalInfo)
            );
            // Typed without diacritics, as is common.
            assert_eq!(
                policy.check("Nguyen@1990z", &context),
                Err(PasswordError::ContainsPersonalInfo)
            );
            assert_eq!(
                policy.check("nhung!Xinh99", &context),
                Err(PasswordError::ContainsPersonalInfo)
            );
            // Items under four characters are ignored: "Thị" alone would refuse too much.
            assert_eq!(policy.check("Thị@Trấn2024", &context), Ok(()));
            assert_eq!(policy.check("Aa@123456", &context), Ok(()));
            // Blank and empty context items never match.
            assert_eq!(policy.check("Aa@123456", &["", "   "]), Ok(()));
        }
    }

    #[test]
    fn blocklist_is_tidy() {
        let mut seen = HashSet::new();
        let mut count = 0;
        for line in COMMON_PASSWORDS.lines() {
            assert_eq!(line, line.trim(), "{line:?} has surrounding whitespace");
            assert!(!line.is_empty(), "empty line in the blocklist");
            assert_eq!(line, line.to_lowercase(), "{line:?} is not lower case");
            assert!(seen.insert(line), "{line:?} is listed twice");
            count += 1;
        }
        assert!(count >= 500, "only {count} entries");
        for must in [
            "password",
            "123456789",
            "12345678",
            "iloveyou",
            "anhyeuem",
            "matkhau",
            "matkhau123",
            "qwerty",
            "abc123",
            "password1",
            "admin@123",
            "password1!",
            "abc@12345",
            "p@ssw0rd",
        ] {
            assert!(is_common(must), "{must} missing");
        }
        // The portal's own example must stay usable, and so must the tests' passphrase.
        for must_not in [
            "aa@123456",
            "mật@khẩu2024",
            "mat@khau2024",
            "correct horse battery staple",
        ] {
            assert!(!is_common(must_not), "{must_not} must not be blocked");
        }
    }

    proptest! {
        #[test]
        fn length_bounds_hold_for_any_input(s in "\\PC{0,200}") {
            let n = s.nfc().count();
            for policy in [PORTAL, NIST] {
                let result = policy.check(&s, &[]);
                if n < MIN_LENGTH {
                    prop_assert_eq!(result, Err(PasswordError::TooShort { min: MIN_LENGTH }));
                } else if n > MAX_LENGTH {
                    prop_assert_eq!(result, Err(PasswordError::TooLong { max: MAX_LENGTH }));
                } else {
                    let length_error = matches!(
                        result,
                        Err(PasswordError::TooShort { .. } | PasswordError::TooLong { .. })
                    );
                    prop_assert!(!length_error);
                }
            }
        }

        #[test]
        fn nist_accepts_what_portal_accepts(s in "[a-zA-Z0-9@#!ăĐ ]{8,40}") {
            if PORTAL.check(&s, &[]).is_ok() {
                prop_assert_eq!(NIST.check(&s, &[]), Ok(()));
            }
        }

        #[test]
        fn a_context_item_inside_is_refused(
            prefix in "[A-Z][a-z]{0,5}@",
            item in "[a-zA-Z0-9]{4,12}",
            suffix in "[0-9]{1,4}",
        ) {
            let password = format!("{prefix}{item}{suffix}");
            prop_assume!(password.chars().count() <= MAX_LENGTH);
            for policy in [PORTAL, NIST] {
                let result = policy.check(&password, &[&item.to_uppercase()]);
                // Shorter or repetitive/common passwords fail earlier with their own variant.
                if password.chars().count() >= MIN_LENGTH && result != Err(PasswordError::Common)
                    && result != Err(PasswordError::Repetitive)
                {
                    prop_assert_eq!(result, Err(PasswordError::ContainsPersonalInfo));
                }
            }
        }
    }
}
