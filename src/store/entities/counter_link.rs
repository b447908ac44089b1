use sea_orm::entity::prelude::*;

/// A one-time link sent by a counter officer to a citizen's phone (migration 6).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counter_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `registration` or `reset`.
    pub kind: String,
    /// SHA-256 (hex) of the link's token; the token itself is only in the SMS.
    #[sea_orm(unique)]
    pub token_sha256: String,
    pub officer_id: String,
    pub office: String,
    /// The account a reset is for.
    pub account_id: Option<String>,
    /// E.164: where the link and the codes go.
    pub phone: String,
    pub id_number: Option<String>,
    pub full_name: Option<String>,
    pub birthdate: Option<Date>,
    pub email: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
