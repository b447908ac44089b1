//! A relying party as the provider sees it.

use crate::domain::Ial;

/// Signing algorithms accepted for private_key_jwt client assertions, at the token,
/// introspection and revocation endpoints alike (published in discovery).
pub const ASSERTION_SIGNING_ALGS: [&str; 3] = ["RS256", "PS256", "ES256"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic or form-body secret (both accepted for a secret client).
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 assertion signed with a key from the client's registered JWK set.
    PrivateKeyJwt,
    /// Public client (a browser or mobile app): no secret, PKCE required.
    None,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub auth_method: ClientAuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub jwks: Option<serde_json::Value>,
    /// Trusted portals skip the consent screen.
    pub skip_consent: bool,
    /// The lowest assurance this portal accepts.
    pub min_ial: Option<Ial>,
    pub id_token_alg: String,
    /// Only phishing-resistant logins (a passkey; later USB/SIM signatures) are accepted.
    pub require_phishing_resistant: bool,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth_method == ClientAuthMethod::None
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// Exact string comparison (no normalisation, no wildcards, no prefix match).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }
}

/// The shape of a client id: 1 to 64 visible ASCII characters.
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic())
}
