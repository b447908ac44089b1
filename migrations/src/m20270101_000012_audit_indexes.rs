//! Indexes for the admin area's audit trail (issue 10): filtering by subject account, by
//! actor and by time, each with the time range. `ix_audit_events_kind_at` (migration 1) already
//! serves the kind filter.
//!
//! Also widens `audit_events.actor_id` from 36 to 100 characters on PostgreSQL: the admin API's
//! actor is `client:<client_id>` (a client id holds up to 64), which a UUID-sized column refused,
//! failing the audited action. SQLite does not enforce the length. Expand-only: indexes and a
//! wider column, so a node of the previous release keeps working on it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    At,
    AccountId,
    ActorId,
}

/// (name, columns): each index this migration adds.
fn indexes() -> [(&'static str, Vec<AuditEvents>); 3] {
    [
        (
            "ix_audit_events_account_at",
            vec![AuditEvents::AccountId, AuditEvents::At],
        ),
        (
            "ix_audit_events_actor_at",
            vec![AuditEvents::ActorId, AuditEvents::At],
        ),
        ("ix_audit_events_at", vec![AuditEvents::At]),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            // Widening a varchar is a catalogue change on PostgreSQL: no table rewrite.
            m.get_connection()
                .execute_unprepared(
                    "ALTER TABLE audit_events ALTER COLUMN actor_id TYPE varchar(100)",
                )
                .await?;
        }
        for (name, cols) in indexes() {
            let mut index = Index::create();
            index.name(name).table(AuditEvents::Table).if_not_exists();
            for col in cols {
                index.col(col);
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in indexes() {
            m.drop_index(
                Index::drop()
                    .name(name)
                    .table(AuditEvents::Table)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
