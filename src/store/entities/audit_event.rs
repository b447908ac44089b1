use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub kind: String,
    pub account_id: Option<String>,
    /// The account that did it, when not the one it is about (migration 5).
    pub actor_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    /// JSON object with event details (never secrets).
    #[sea_orm(column_type = "Text")]
    pub detail: String,
}

impl ActiveModelBehavior for ActiveModel {}
