use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub name: String,
    /// Hex SHA-256 of the server-generated secret (≥ 256 bits of entropy, so a fast hash fits).
    pub secret_hash: Option<String>,
    pub auth_method: String,
    /// JSON arrays of strings.
    #[sea_orm(column_type = "Text")]
    pub redirect_uris: String,
    #[sea_orm(column_type = "Text")]
    pub post_logout_redirect_uris: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub backchannel_logout_uri: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub grant_types: String,
    #[sea_orm(column_type = "Text")]
    pub allowed_scopes: String,
    /// The client's public JWK set, for private_key_jwt.
    #[sea_orm(column_type = "Text", nullable)]
    pub jwks: Option<String>,
    pub skip_consent: bool,
    pub min_acr: Option<String>,
    pub id_token_alg: String,
    /// Only phishing-resistant logins (a passkey) are accepted for this client.
    pub require_phishing_resistant: bool,
    /// The secret a rotation replaced (hex SHA-256), accepted until `previous_secret_expires_at`.
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// Leave `iss` off this client's authorization error responses.
    pub omit_iss_in_errors: bool,
    /// `public` or `pairwise` (OIDC Core §8).
    pub subject_type: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub sector_identifier_uri: Option<String>,
    pub created_at: DateTimeUtc,
    /// Counts edits: an edit names the version it was based on (stale edits are refused).
    pub version: i32,
    /// Refused like an unknown client at every endpoint; its tokens live out their time.
    pub disabled: bool,
    /// A theme of `[theme] client_themes` (planned; none: the default theme).
    #[sea_orm(column_type = "Text", nullable)]
    pub theme: Option<String>,
    /// Where a private_key_jwt client publishes its public keys (instead of `jwks`).
    #[sea_orm(column_type = "Text", nullable)]
    pub jwks_uri: Option<String>,
    pub updated_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
