use sea_orm::entity::prelude::*;

/// A role an account holds (migration 5): one row per account and role.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_roles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: String,
    /// `domain::Role::name()`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub role: String,
    /// Where the role is exercised: a counter officer's post office or service desk.
    pub office: Option<String>,
    /// The account that granted it; `None` for the command line.
    pub granted_by: Option<String>,
    pub granted_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
