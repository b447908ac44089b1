//! Request parameters (query string or form body) as the RFCs define them: each parameter at
//! most once (RFC 6749 §3.1), empty values treated as absent.

use super::error::OAuthError;

#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes; a repeated parameter is refused.
    pub fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(input) {
            if pairs.iter().any(|(seen, _)| *seen == k) {
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

    #[test]
    fn empty_values_are_absent() {
        let p = Params::parse(b"state=&nonce=n").unwrap();
        assert_eq!(p.get("state"), None);
        assert_eq!(p.get("nonce"), Some("n"));
    }
}
