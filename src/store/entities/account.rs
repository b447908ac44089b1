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
}

impl ActiveModelBehavior for ActiveModel {}
