//! Whether an account's email address was verified (the owner entered a code sent to it in
//! "Thông tin cá nhân"). Relying parties receive it as `email_verified`. Expand-only: a column
//! with a default, so a node of the previous release keeps working on it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    EmailVerified,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .add_column(
                    ColumnDef::new(Accounts::EmailVerified)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .drop_column(Accounts::EmailVerified)
                .to_owned(),
        )
        .await
    }
}
