//! Enterprise and agency accounts, and the history of every account's level (issue 8).
//! Expand-only, like 2 and 3: new nullable columns, a new table and indexes; nothing dropped or
//! renamed, so a node of the previous release keeps working on it.
//!
//! - `accounts.organization`: the enterprise's name (its certificate's `O`), or the agency a
//!   state official works for;
//! - `accounts.official_id`: the key of an agency account, the official's ID number as their
//!   Government-CA certificate states it; unique. Agency accounts leave `id_number` empty, since
//!   `id_number` is unique across all accounts and the same person may also hold a citizen
//!   account with that number (their own, not the agency's);
//! - `account_levels`: one row per level an account was given, with the method and the
//!   certificate (SHA-256 of its DER) that proved it, so the level's history is kept when an
//!   IAL2 account is raised to IAL3. Existing accounts get their first row from what they have.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Organization,
    OfficialId,
}

#[derive(DeriveIden)]
enum AccountLevels {
    Table,
    Id,
    AccountId,
    Level,
    Method,
    CertificateSha256,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE, and never a UNIQUE one: the index does that.
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .add_column(ColumnDef::new(Accounts::Organization).string_len(200))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .add_column(ColumnDef::new(Accounts::OfficialId).string_len(12))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_accounts_official_id")
                .table(Accounts::Table)
                .col(Accounts::OfficialId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AccountLevels::Table)
                .col(
                    ColumnDef::new(AccountLevels::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(AccountLevels::AccountId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AccountLevels::Level)
                        .small_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AccountLevels::Method)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(AccountLevels::CertificateSha256).string_len(64))
                .col(
                    ColumnDef::new(AccountLevels::At)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_account_levels_account")
                        .from(AccountLevels::Table, AccountLevels::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_account_levels_account")
                .table(AccountLevels::Table)
                .col(AccountLevels::AccountId)
                .to_owned(),
        )
        .await?;
        // The accounts made before this migration: their level as registered. The history
        // row's id is the account's (unique, and only this backfill uses it).
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO account_levels (id, account_id, level, method, certificate_sha256, at) \
                 SELECT id, id, ial, registration_method, NULL, created_at FROM accounts",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AccountLevels::Table).to_owned())
            .await?;
        m.drop_index(
            Index::drop()
                .name("ux_accounts_official_id")
                .table(Accounts::Table)
                .to_owned(),
        )
        .await?;
        for col in [Accounts::OfficialId, Accounts::Organization] {
            m.alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
