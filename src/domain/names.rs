//! Personal names as entered and as compared.

use unicode_normalization::UnicodeNormalization;

/// A name as stored: Unicode NFC, trimmed, inner whitespace runs collapsed to one space.
pub fn normalize_name(name: &str) -> String {
    let nfc: String = name.nfc().collect();
    nfc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A name as compared (BHXH and carrier matching): [`normalize_name`], then lower case.
/// Diacritics stay significant: "Hùng" is not "Hưng".
pub fn fold_name(name: &str) -> String {
    // Lower-casing can, rarely, produce a non-NFC sequence; normalise again.
    normalize_name(name).to_lowercase().nfc().collect()
}

/// Whether `name` looks like a person's name: letters (any script, with diacritics), spaces,
/// and the punctuation names use; 2 to 100 characters.
pub fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (2..=100).contains(&n)
        && name.chars().any(char::is_alphabetic)
        && name.chars().all(|c| {
            c.is_alphabetic()
                || c == ' '
                || c == '\''
                || c == '-'
                || c == '.'
                || unicode_normalization::char::is_combining_mark(c)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_spacing_and_composition_but_not_diacritics() {
        let nfd: String = "Nguyễn Văn An".nfd().collect();
        assert_eq!(fold_name("  NGUYỄN   văn an "), fold_name(&nfd));
        assert_ne!(fold_name("Trần Văn Hùng"), fold_name("Trần Văn Hưng"));
        assert_eq!(normalize_name("  Lê   Thị  Hoa "), "Lê Thị Hoa");
    }

    #[test]
    fn names_are_letters_and_name_punctuation() {
        assert!(valid_name("Nguyễn Văn An"));
        assert!(valid_name("H'Hen Niê"));
        assert!(!valid_name("A"));
        assert!(!valid_name("<script>"));
        assert!(!valid_name("Nguyen 123"));
        assert!(!valid_name("   "));
    }
}
