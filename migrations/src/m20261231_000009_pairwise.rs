//! Pairwise subject identifiers (OIDC Core §8): `clients.subject_type` (`public` or
//! `pairwise`, default `public`) and `clients.sector_identifier_uri`. The pairwise values
//! themselves are never stored: they are computed from the sector, the account id and a salt
//! derived from the key-encryption key. Expand-only: a column with a default and a nullable
//! one, so a node of the previous release keeps working on it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    SubjectType,
    SectorIdentifierUri,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Clients::Table)
                .add_column(
                    ColumnDef::new(Clients::SubjectType)
                        .string()
                        .not_null()
                        .default("public"),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Clients::Table)
                .add_column(ColumnDef::new(Clients::SectorIdentifierUri).text().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Clients::SubjectType, Clients::SectorIdentifierUri] {
            m.alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
