//! Indexes for the admin area's audit trail (issue 10): filtering by subject account, by
//! actor and by time, each with the time range. `ix_audit_events_kind_at` (migration 1) already
//! serves the kind filter.
//!
//! (`audit_events.actor_id` was widened for the admin API's `client:<client_id>` actors by
//! migration 11.) Expand-only: indexes, so a node of the previous release keeps working on it.

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
