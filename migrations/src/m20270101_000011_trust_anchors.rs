//! Trust anchors uploaded by an admin (issue 10): the table `trust_anchors`, one row per CA
//! certificate added to the public or the government set. The anchors of the configuration
//! files and the sandbox are not stored: they come from the configuration at each start.
//! Expand-only: a new table, so a node of the previous release keeps working on it (it
//! ignores the uploaded anchors).
//!
//! A certificate is active in a set at most once: a partial unique index on
//! (`trust_set`, `sha256`) over the rows not retired, so a retired anchor may be uploaded
//! again while its history stays.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TrustAnchors {
    Table,
    Id,
    TrustSet,
    Subject,
    Sha256,
    Pem,
    NotAfter,
    AddedBy,
    AddedAt,
    RetiredAt,
    RetiredBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TrustAnchors::Table)
                .col(
                    ColumnDef::new(TrustAnchors::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(TrustAnchors::TrustSet)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(TrustAnchors::Subject).text().not_null())
                .col(
                    ColumnDef::new(TrustAnchors::Sha256)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(TrustAnchors::Pem).text().not_null())
                .col(
                    ColumnDef::new(TrustAnchors::NotAfter)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(TrustAnchors::AddedBy)
                        .string_len(100)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(TrustAnchors::AddedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(TrustAnchors::RetiredAt).timestamp_with_time_zone())
                .col(ColumnDef::new(TrustAnchors::RetiredBy).string_len(100))
                .to_owned(),
        )
        .await?;
        // The same statement on SQLite and PostgreSQL (both have partial indexes).
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_trust_anchors_active ON trust_anchors (trust_set, sha256) \
                 WHERE retired_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(TrustAnchors::Table).to_owned())
            .await?;
        Ok(())
    }
}
