use sea_orm::entity::prelude::*;

/// The history of an account's level (migration 4): one row per level given, with what
/// proved it.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_levels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub level: i16,
    /// The registration method (`mobile_subscriber`, `sim_signature`, …) or login method that
    /// proved the level.
    pub method: String,
    /// SHA-256 (hex) of the certificate that proved it, for signature methods.
    pub certificate_sha256: Option<String>,
    pub at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
