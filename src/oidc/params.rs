//! Request parameters (query string or form body) as the RFCs define them: each parameter at
//! most once (RFC 6749 §3.1), empty values treated as absent. At most [`MAX_PARAMS`] of them:
//! no endpoint or form takes more than a few dozen, and parsing stays linear in the input.

use std::collections::HashSet;

use super::error::OAuthError;

/// More parameters than this are refused (`invalid_request`).
pub const MAX_PARAMS: usize = 100;

#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes; a repeated parameter, or more than
    /// [`MAX_PARAMS`], is refused.
    pub fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut seen = HashSet::new();
        for (k, v) in form_urlencoded::parse(input) {
            if pairs.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if !seen.insert(k.clone()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is repeated",
                    printable(&k)
                )));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(pairs))
    }

    /// The value of `name`, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Adds `name` unless it is already there (what was sent wins).
    pub fn add_missing(&mut self, name: &str, value: String) {
        if !self.0.iter().any(|(k, _)| k == name) {
            self.0.push((name.to_string(), value));
        }
    }
}

/// A parameter name safe to echo in an error description: known names only, so descriptions
/// never reflect attacker-chosen text.
fn printable(name: &str) -> &str {
    const KNOWN: &[&str] = &[
        "client_id",
        "redirect_uri",
        "response_type",
        "response_mode",
        "scope",
        "state",
        "nonce",
        "prompt",
        "max_age",
        "acr_values",
        "claims",
        "login_hint",
        "ui_locales",
        "id_token_hint",
        "code_challenge",
        "code_challenge_method",
        "grant_type",
        "code",
        "code_verifier",
        "refresh_token",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "token",
        "token_type_hint",
        "post_logout_redirect_uri",
        "request",
        "request_uri",
        "access_token",
    ];
    KNOWN
        .iter()
        .find(|k| **k == name)
        .copied()
        .unwrap_or("(unknown)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_repeated_parameters_without_echoing_unknown_names() {
        let err = Params::parse(b"scope=openid&scope=profile").unwrap_err();
        assert_eq!(err.description, "parameter scope is repeated");
        let err = Params::parse(b"%3Cscript%3E=1&%3Cscript%3E=2").unwrap_err();
        assert!(!err.description.contains("script"));
    }

    /// A 64 KiB body of distinct names (quadratic to check for repeats before) is refused by
    /// count; one with the most names allowed parses.
    #[test]
    fn refuses_more_than_the_parameter_cap() {
        let body: String = (0..10_000).map(|i| format!("p{i}=&")).collect();
        assert!(body.len() > 64 * 1024 - 10_000);
        let err = Params::parse(body.as_bytes()).unwrap_err();
        assert_eq!(err.description, "too many parameters");
        let most: String = (0..MAX_PARAMS).map(|i| format!("p{i}=v&")).collect();
        assert_eq!(
            Params::parse(most.as_bytes()).unwrap().pairs().len(),
            MAX_PARAMS
        );
        let late_repeat = format!("{most}p5=again");
        assert!(Params::parse(late_repeat.as_bytes()).is_err());
    }

    #[test]
    fn empty_values_are_absent() {
        let p = Params::parse(b"state=&nonce=n").unwrap();
        assert_eq!(p.get("state"), None);
        assert_eq!(p.get("nonce"), Some("n"));
    }
}
