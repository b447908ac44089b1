//! Client administration (issue 10): `clients.version` (the compare-and-set counter of stale
//! edits, default 1), `clients.disabled` (default false: a disabled client is refused like an
//! unknown one), `clients.theme` (nullable: the default theme), `clients.jwks_uri` (nullable:
//! where a private_key_jwt client publishes its keys, instead of `jwks`) and
//! `clients.updated_at` (nullable: never edited). Expand-only: columns with defaults or
//! nullable, so a node of the previous release keeps working on it.
//!
//! Also widens `audit_events.actor_id` from 36 to 100 characters on PostgreSQL (SQLite does not
//! enforce the length): an admin API actor is recorded as `client:<client_id>`, up to 71
//! characters. The accounts migration (000012) makes the same change; the second is a no-op.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    Version,
    Disabled,
    Theme,
    JwksUri,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let columns = [
            ColumnDef::new(Clients::Version)
                .integer()
                .not_null()
                .default(1)
                .to_owned(),
            ColumnDef::new(Clients::Disabled)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(Clients::Theme).text().null().to_owned(),
            ColumnDef::new(Clients::JwksUri).text().null().to_owned(),
            ColumnDef::new(Clients::UpdatedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        for mut column in columns {
            m.alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        if m.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            // Widening a varchar is a catalogue change on PostgreSQL: no table rewrite.
            m.get_connection()
                .execute_unprepared(
                    "ALTER TABLE audit_events ALTER COLUMN actor_id TYPE varchar(100)",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Clients::Version,
            Clients::Disabled,
            Clients::Theme,
            Clients::JwksUri,
            Clients::UpdatedAt,
        ] {
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
