use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub subject_type: String,
    #[sea_orm(unique)]
    pub id_number: Option<String>,
    #[sea_orm(unique)]
    pub tax_code: Option<String>,
    pub full_name: String,
    pub birthdate: Option<Date>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub ial: i16,
    pub registration_method: String,
    pub status: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The enterprise's name, or the agency of a state official (migration 4).
    pub organization: Option<String>,
    /// An agency account's key: the official's ID number from their Government-CA
    /// certificate (migration 4; unique).
    #[sea_orm(unique)]
    pub official_id: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
