use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Every rotation of one grant shares the family; reuse of a rotated token revokes it whole.
    pub family_id: String,
    /// Hex SHA-256 of the token; the token itself is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub client_id: String,
    pub account_id: String,
    pub sid: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    /// The assurance level (2 or 3) of the authentication behind the grant.
    pub acr: String,
    /// JSON array.
    #[sea_orm(column_type = "Text")]
    pub amr: String,
    pub auth_time: DateTimeUtc,
    /// JSON of the `claims` request parameter, when one was sent.
    #[sea_orm(column_type = "Text", nullable)]
    pub claims: Option<String>,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    /// Set when the token was exchanged (rotated).
    pub used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
