use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credentials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    /// `domain::CredentialKind::as_str`.
    pub kind: String,
    /// The verifier material: an Argon2id PHC string (password), the WebAuthn credential as
    /// JSON (passkey: public key and sign counter).
    #[sea_orm(column_type = "Text")]
    pub secret: String,
    pub label: Option<String>,
    /// How a presented credential is found (unique per kind): a WebAuthn credential id.
    pub lookup: Option<String>,
    pub last_used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
