//! Client secret rotation with an overlap window, and a per-client switch for relying parties
//! that misroute an authorization error carrying `iss`:
//! - `clients.previous_secret_hash`, `clients.previous_secret_expires_at`: the secret a
//!   rotation replaced, still accepted until then (one previous secret at most);
//! - `clients.omit_iss_in_errors` (boolean, default false): leave `iss` off this client's
//!   authorization error responses (mod_auth_openidc 2.4.x).
//!
//! Expand-only: nullable columns and a column with a default, so a node of the previous
//! release keeps working (it accepts only the current secret, and always sends `iss`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    PreviousSecretHash,
    PreviousSecretExpiresAt,
    OmitIssInErrors,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in [
            ColumnDef::new(Clients::PreviousSecretHash)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Clients::PreviousSecretExpiresAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Clients::OmitIssInErrors)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Clients::PreviousSecretHash,
            Clients::PreviousSecretExpiresAt,
            Clients::OmitIssInErrors,
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
