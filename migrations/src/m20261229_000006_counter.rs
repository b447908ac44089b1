//! The counter (issue 9): one-time links an officer sends to a citizen's phone, for a
//! registration made at the counter or an assisted password reset. Expand-only: a new table,
//! so a node of the previous release keeps working on it.
//!
//! - `counter_links`: what the officer entered (the identity and phone of a registration, or
//!   the account and chosen phone of a reset), who and where (officer, office), when it expires
//!   and when it was used. Only the SHA-256 of the link's token is kept (unique).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CounterLinks {
    Table,
    Id,
    Kind,
    TokenSha256,
    OfficerId,
    Office,
    AccountId,
    Phone,
    IdNumber,
    FullName,
    Birthdate,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CounterLinks::Table)
                .col(
                    ColumnDef::new(CounterLinks::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(CounterLinks::Kind).string_len(16).not_null())
                .col(
                    ColumnDef::new(CounterLinks::TokenSha256)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CounterLinks::OfficerId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CounterLinks::Office)
                        .string_len(200)
                        .not_null(),
                )
                .col(ColumnDef::new(CounterLinks::AccountId).string_len(36))
                .col(
                    ColumnDef::new(CounterLinks::Phone)
                        .string_len(20)
                        .not_null(),
                )
                .col(ColumnDef::new(CounterLinks::IdNumber).string_len(12))
                .col(ColumnDef::new(CounterLinks::FullName).string_len(200))
                .col(ColumnDef::new(CounterLinks::Birthdate).date())
                .col(ColumnDef::new(CounterLinks::Email).string_len(254))
                .col(
                    ColumnDef::new(CounterLinks::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CounterLinks::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(CounterLinks::UsedAt).timestamp_with_time_zone())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_counter_links_account")
                        .from(CounterLinks::Table, CounterLinks::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_counter_links_token")
                .table(CounterLinks::Table)
                .col(CounterLinks::TokenSha256)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CounterLinks::Table).to_owned())
            .await?;
        Ok(())
    }
}
