//! Citizen ID numbers: the 12-digit CCCD and the legacy 9-digit CMND ("CMT/CCCD").

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("an ID number is required")]
    Empty,
    #[error("an ID number is 12 digits (CCCD) or 9 digits (CMND)")]
    Malformed,
}

impl IdNumber {
    /// Accepts a 12-digit CCCD or a 9-digit CMND, ignoring surrounding whitespace.
    pub fn parse(input: &str) -> Result<Self, IdNumberError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(IdNumberError::Empty);
        }
        if !(s.len() == 12 || s.len() == 9) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdNumberError::Malformed);
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cccd_and_cmnd() {
        assert_eq!(
            IdNumber::parse(" 001090012345 ").unwrap().as_str(),
            "001090012345"
        );
        assert!(IdNumber::parse("123456789").is_ok());
    }

    #[test]
    fn rejects_other_shapes() {
        assert_eq!(IdNumber::parse(""), Err(IdNumberError::Empty));
        for bad in [
            "12345",
            "00109001234",
            "0010900123456",
            "00109001234a",
            "１２３４５６７８９",
        ] {
            assert_eq!(IdNumber::parse(bad), Err(IdNumberError::Malformed), "{bad}");
        }
    }
}
