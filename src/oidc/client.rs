//! A relying party as the provider sees it.

use chrono::{DateTime, Utc};

use crate::domain::Ial;
use crate::random;

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
    /// The secret the last rotation replaced, while its overlap window lasts.
    pub previous_secret: Option<PreviousSecret>,
    /// Leave `iss` off authorization *error* responses (RFC 9207 wants it): a compatibility
    /// switch for relying parties that misroute an error callback carrying `iss`
    /// (mod_auth_openidc 2.4.x).
    pub omit_iss_in_errors: bool,
    /// What `sub` this client sees (OIDC Core §8).
    pub subject_type: SubjectIdentifierType,
    /// For a pairwise client: where its sector's list of redirect URIs is published (§8.1).
    pub sector_identifier_uri: Option<String>,
    /// For private_key_jwt: where the client publishes its public JWK set (instead of
    /// `jwks`); fetched and cached per node (`oidc::jwks_uri`).
    pub jwks_uri: Option<String>,
    /// A disabled client is refused like an unknown one (`App::client` does not return it);
    /// tokens it already holds live out their lifetime.
    pub disabled: bool,
    /// A theme of `[theme] client_themes` for its login pages (planned; only none for now).
    pub theme: Option<String>,
    /// Counts edits, so an edit based on an older version is refused rather than lost.
    pub version: i32,
    pub updated_at: Option<DateTime<Utc>>,
}

/// OIDC Core §8: `public` — every client sees the account id; `pairwise` — each sector sees its
/// own value, so portals of different sectors cannot correlate a citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectIdentifierType {
    #[default]
    Public,
    Pairwise,
}

impl SubjectIdentifierType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Self::Public),
            "pairwise" => Some(Self::Pairwise),
            _ => None,
        }
    }
}

/// A replaced secret that still authenticates until `expires_at`, so a portal can roll its
/// new secret out to all its servers without downtime.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviousSecret {
    /// Hex SHA-256, like `Client::secret_hash`.
    pub hash: String,
    pub expires_at: DateTime<Utc>,
}

/// Which of a client's secrets a presented one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretMatch {
    Current,
    /// The secret before the last rotation, within its overlap window.
    Previous,
    None,
}

/// The longest overlap a rotation may give the replaced secret (30 days).
pub const MAX_SECRET_OVERLAP_SECONDS: u64 = 30 * 24 * 3600;

impl Client {
    /// Compares `presented` with the current secret and, until it expires, the previous one;
    /// both comparisons are made, each in constant time over the stored hashes.
    pub fn match_secret(&self, presented: &str, now: DateTime<Utc>) -> SecretMatch {
        if !self.auth_method.uses_secret() {
            return SecretMatch::None;
        }
        let hash = random::sha256_hex(presented);
        let same = |stored: &str| random::constant_time_eq(hash.as_bytes(), stored.as_bytes());
        let current = self.secret_hash.as_deref().is_some_and(same);
        let previous = self
            .previous_secret
            .as_ref()
            .is_some_and(|p| same(&p.hash) & (now < p.expires_at));
        match (current, previous) {
            (true, _) => SecretMatch::Current,
            (false, true) => SecretMatch::Previous,
            (false, false) => SecretMatch::None,
        }
    }

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

/// Why a URI cannot be registered as a redirect (or post-logout redirect) URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectUriError {
    NotAUri,
    Fragment,
    NotHttps,
    SchemeNotReverseDomain,
    CustomSchemeNotPublic,
}

impl RedirectUriError {
    /// The theme string that tells an admin (`{uri}` filled in by the caller).
    pub fn key(self) -> &'static str {
        match self {
            Self::NotAUri => "admin_clients_uri_not_a_uri",
            Self::Fragment => "admin_clients_uri_fragment",
            Self::NotHttps => "admin_clients_uri_not_https",
            Self::SchemeNotReverseDomain => "admin_clients_uri_scheme",
            Self::CustomSchemeNotPublic => "admin_clients_uri_custom_scheme_public_only",
        }
    }

    /// English, for the command line and logs.
    pub fn english(self) -> &'static str {
        match self {
            Self::NotAUri => "not an absolute URI (relative URL without a base)",
            Self::Fragment => "a redirect URI must not have a fragment",
            Self::NotHttps => {
                "a redirect URI must be https (plain http only to 127.0.0.1, [::1] or localhost)"
            }
            Self::SchemeNotReverseDomain => {
                "a custom scheme must be a reverse domain name, such as vn.gov.app:/callback"
            }
            Self::CustomSchemeNotPublic => {
                "a custom scheme is only for public (native app) clients"
            }
        }
    }
}

/// Whether `uri` may be registered as a redirect (or post-logout redirect) URI of a client;
/// the error says why not. The rules of RFC 8252 and the OAuth 2.0 Security BCP: https; plain
/// http only to a loopback host (`127.0.0.1`, `[::1]`, `localhost`: an app on the user's own
/// machine); a private-use scheme, named by a reverse domain name (`vn.gov.app:/callback`),
/// only for a public (native) client; never a fragment.
pub fn redirect_uri_error(uri: &str, public: bool) -> Option<RedirectUriError> {
    let Ok(parsed) = url::Url::parse(uri) else {
        return Some(RedirectUriError::NotAUri);
    };
    if parsed.fragment().is_some() {
        return Some(RedirectUriError::Fragment);
    }
    match parsed.scheme() {
        "https" if parsed.has_host() => None,
        "http" if is_loopback(&parsed) => None,
        "http" | "https" => Some(RedirectUriError::NotHttps),
        scheme if !scheme.contains('.') => Some(RedirectUriError::SchemeNotReverseDomain),
        _ if !public => Some(RedirectUriError::CustomSchemeNotPublic),
        _ => None,
    }
}

/// [`redirect_uri_error`] as an English sentence that starts with the URI.
pub fn check_redirect_uri(uri: &str, public: bool) -> Result<(), String> {
    match redirect_uri_error(uri, public) {
        None => Ok(()),
        Some(e) => Err(format!("{uri}: {}", e.english())),
    }
}

/// A loopback host: `127.0.0.1`, `[::1]` or `localhost`.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{Client, ClientAuthMethod, PreviousSecret, SecretMatch, check_redirect_uri};
    use crate::random::sha256_hex;

    #[test]
    fn the_previous_secret_matches_only_until_it_expires() {
        let now = chrono::Utc::now();
        let mut c = Client {
            client_id: "c".into(),
            name: "C".into(),
            secret_hash: Some(sha256_hex("new")),
            auth_method: ClientAuthMethod::ClientSecretBasic,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            grant_types: vec![],
            allowed_scopes: vec![],
            jwks: None,
            skip_consent: false,
            min_ial: None,
            id_token_alg: "RS256".into(),
            require_phishing_resistant: false,
            previous_secret: Some(PreviousSecret {
                hash: sha256_hex("old"),
                expires_at: now + chrono::Duration::seconds(10),
            }),
            omit_iss_in_errors: false,
            subject_type: Default::default(),
            sector_identifier_uri: None,
            jwks_uri: None,
            disabled: false,
            theme: None,
            version: 1,
            updated_at: None,
        };
        assert_eq!(c.match_secret("new", now), SecretMatch::Current);
        assert_eq!(c.match_secret("old", now), SecretMatch::Previous);
        assert_eq!(c.match_secret("other", now), SecretMatch::None);
        let later = now + chrono::Duration::seconds(10);
        assert_eq!(c.match_secret("old", later), SecretMatch::None);
        assert_eq!(c.match_secret("new", later), SecretMatch::Current);
        c.auth_method = ClientAuthMethod::PrivateKeyJwt;
        assert_eq!(c.match_secret("new", now), SecretMatch::None);
    }

    #[test]
    fn redirect_uris_are_https_loopback_http_or_a_native_apps_own_scheme() {
        for (uri, public) in [
            ("https://dichvucong.khanhhoa.gov.vn/cb", false),
            ("http://127.0.0.1:9/callback", false),
            ("http://[::1]:8000/cb", true),
            ("http://localhost/cb", false),
            ("vn.gov.app:/callback", true),
            ("com.example.app://oauth", true),
        ] {
            assert_eq!(check_redirect_uri(uri, public), Ok(()), "{uri}");
        }
        for (uri, public, why) in [
            ("http://portal.example.vn/cb", false, "must be https"),
            ("http://192.168.1.10/cb", true, "must be https"),
            ("https://portal.example.vn/cb#x", false, "fragment"),
            ("vn.gov.app:/callback", false, "only for public"),
            ("javascript:alert(1)", true, "reverse domain name"),
            ("data:text/html,x", true, "reverse domain name"),
            ("myapp:/cb", true, "reverse domain name"),
            ("not a url", false, "relative URL"),
        ] {
            let err = check_redirect_uri(uri, public).unwrap_err();
            assert!(err.contains(why), "{uri}: {err}");
        }
    }
}
