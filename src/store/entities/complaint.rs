use sea_orm::entity::prelude::*;

/// A complaint about an ID number registered by someone else (migration 7).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "complaints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `KN-` and eight characters: what the complainant and the officer speak of.
    pub ticket: String,
    pub id_number: String,
    /// The account that held the number when the complaint was filed (never shown to the
    /// complainant).
    pub account_id: Option<String>,
    pub complainant_name: String,
    /// E.164.
    pub contact_phone: String,
    pub contact_email: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    /// The complainant's language (`vi`, `en`): the SMS of later steps use it.
    pub locale: String,
    /// `flow::complaints::ComplaintStatus::as_str`.
    pub status: String,
    /// The officer (or admin) who last acted on it.
    pub handled_by: Option<String>,
    pub office: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
