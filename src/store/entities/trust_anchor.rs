use sea_orm::entity::prelude::*;

/// A CA certificate an admin added to a trust set (migration 11).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trust_anchors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `public` or `government` (`domain::TrustSet::as_str`).
    pub trust_set: String,
    /// The certificate's subject, printable (`pki::printable_name`).
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    /// Hex SHA-256 of the DER: active at most once per set.
    pub sha256: String,
    #[sea_orm(column_type = "Text")]
    pub pem: String,
    pub not_after: DateTimeUtc,
    /// The actor's audit id: an account id, or `client:<id>` for the API.
    pub added_by: String,
    pub added_at: DateTimeUtc,
    pub retired_at: Option<DateTimeUtc>,
    pub retired_by: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
