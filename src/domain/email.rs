//! Email addresses, as relying parties receive them (`email` claim): a strict, boring subset of
//! RFC 5321 so that nothing a portal shows or sends can be misread.
//!
//! - The local part is 1–64 ASCII letters, digits and `. _ % + -` (no leading, trailing or
//!   doubled dot). Quoted local parts, markup characters (`< > " ' &`), spaces, control and
//!   bidi characters are refused.
//! - The domain may be internationalised (`tên-miền.vn`): it is converted to its ASCII form
//!   (`xn--…`, IDNA 2008 / UTS 46, strict STD3 rules), so relying parties only ever see ASCII and
//!   no look-alike letters. It needs at least two labels; IP-address literals are refused.
//! - Invisible characters (bidi controls, zero-width and soft hyphens) are refused before the
//!   IDNA mapping could silently drop them.
//! - At most 254 characters in the stored form.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an email address is required")]
    Empty,
    #[error("not an email address we accept")]
    Invalid,
}

/// Longest address (RFC 5321 path limit minus the angle brackets).
const MAX_LEN: usize = 254;
/// Longest local part (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL: usize = 64;

impl Email {
    /// Trims surrounding whitespace, then checks and normalises (domain in lower-case ASCII).
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(EmailError::Empty);
        }
        if input.chars().any(|c| c.is_control() || is_invisible(c)) {
            return Err(EmailError::Invalid);
        }
        let (local, domain) = input.split_once('@').ok_or(EmailError::Invalid)?;
        if !valid_local(local) {
            return Err(EmailError::Invalid);
        }
        let domain = ascii_domain(domain).ok_or(EmailError::Invalid)?;
        let email = format!("{local}@{domain}");
        if email.len() > MAX_LEN {
            return Err(EmailError::Invalid);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `a***@example.vn`: enough for the owner to recognise it, on screens that others may see.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_local(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= MAX_LOCAL
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
}

/// The domain in lower-case ASCII (`xn--` labels for Unicode ones), if it is a plausible
/// public host name: two or more labels, a top-level label that is not all digits.
fn ascii_domain(domain: &str) -> Option<String> {
    if domain.starts_with('[') {
        return None;
    }
    let ascii = idna::domain_to_ascii_strict(domain).ok()?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(ascii)
}

/// Characters that change how text is shown without showing themselves: bidi controls (which
/// can make `gro.elpmaxe@a` read as `a@example.org`), zero-width characters and soft hyphens.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_addresses_are_accepted_and_the_domain_is_lowered() {
        for (input, stored) in [
            ("an.nguyen@example.vn", "an.nguyen@example.vn"),
            ("  An.Nguyen+dvc@Example.VN ", "An.Nguyen+dvc@example.vn"),
            ("a_b%c-d@mail.gov.vn", "a_b%c-d@mail.gov.vn"),
            ("an@tên-miền.vn", "an@xn--tn-min-iva0322d.vn"),
        ] {
            assert_eq!(Email::parse(input).unwrap().as_str(), stored, "{input}");
        }
        assert_eq!(
            Email::parse("an.nguyen@example.vn").unwrap().masked(),
            "a***@example.vn"
        );
    }

    #[test]
    fn what_a_portal_could_misread_is_refused() {
        assert_eq!(Email::parse("  "), Err(EmailError::Empty));
        for bad in [
            "not an email",
            "no-at-sign.example.vn",
            "two@at@example.vn",
            "@example.vn",
            "an@",
            "an@localhost",
            "an@example.123",
            "an@[127.0.0.1]",
            "an@192.168.1.1",
            ".an@example.vn",
            "an.@example.vn",
            "a..n@example.vn",
            "\"an\"@example.vn",
            "an'x@example.vn",
            "<script>@example.vn",
            "an@exa<mple.vn",
            "an&amp;@example.vn",
            "an nguyen@example.vn",
            "ân@example.vn",
            // Bidi override: shows as "an@nv.elpmaxe" reversed.
            "an@\u{202E}nv.elpmaxe",
            "a\u{202E}n@example.vn",
            "an@exa\u{200B}mple.vn",
            "an@exa\u{00AD}mple.vn",
            "an\u{0007}@example.vn",
            "an@-example.vn",
            "an@example..vn",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
        let long_local = format!("{}@example.vn", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        let long = format!("a@{}.vn", vec!["b".repeat(60); 5].join("."));
        assert!(long.len() > MAX_LEN);
        assert!(Email::parse(&long).is_err());
    }

    proptest! {
        /// Whatever goes in, what comes out is short ASCII with one `@`, nothing invisible or
        /// markup-like, and stable (parsing it again gives it back).
        #[test]
        fn accepted_addresses_are_plain_and_stable(input in "\\PC{0,80}") {
            if let Ok(email) = Email::parse(&input) {
                let s = email.as_str();
                prop_assert!(s.len() <= MAX_LEN);
                prop_assert!(s.is_ascii());
                prop_assert_eq!(s.matches('@').count(), 1);
                prop_assert!(!s.chars().any(|c| "<>\"'& \\".contains(c) || c.is_control()));
                prop_assert_eq!(Email::parse(s), Ok(email.clone()));
            }
        }

        #[test]
        fn simple_addresses_round_trip(local in "[a-z0-9]{1,20}(\\.[a-z0-9]{1,10})?", domain in "[a-z]{1,20}\\.(vn|com|gov\\.vn)") {
            let input = format!("{local}@{domain}");
            prop_assert_eq!(Email::parse(&input).map(|e| e.as_str().to_string()), Ok(input));
        }
    }
}
