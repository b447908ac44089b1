//! Credentials of every kind (passkeys now; certificates and federated links next) and the
//! per-client phishing-resistance requirement. Expand-only: columns are added with defaults,
//! nothing is dropped or renamed, so a node of the previous release keeps working on it.
//!
//! - `credentials.lookup`: how a presented credential is found (a WebAuthn credential id, a
//!   certificate fingerprint, an upstream subject), unique per kind;
//! - `credentials.last_used_at`: shown to the owner ("last used");
//! - `clients.require_phishing_resistant`: the client accepts only phishing-resistant logins.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Kind,
    Lookup,
    LastUsedAt,
    AccountId,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    RequirePhishingResistant,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Credentials::Table)
                .add_column(ColumnDef::new(Credentials::Lookup).string_len(512))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Credentials::Table)
                .add_column(ColumnDef::new(Credentials::LastUsedAt).timestamp_with_time_zone())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_credentials_kind_lookup")
                .table(Credentials::Table)
                .col(Credentials::Kind)
                .col(Credentials::Lookup)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_credentials_account")
                .table(Credentials::Table)
                .col(Credentials::AccountId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Clients::Table)
                .add_column(
                    ColumnDef::new(Clients::RequirePhishingResistant)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_credentials_account").to_owned())
            .await?;
        m.drop_index(Index::drop().name("ux_credentials_kind_lookup").to_owned())
            .await?;
        for col in [Credentials::Lookup, Credentials::LastUsedAt] {
            m.alter_table(
                Table::alter()
                    .table(Credentials::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Clients::Table)
                .drop_column(Clients::RequirePhishingResistant)
                .to_owned(),
        )
        .await
    }
}
