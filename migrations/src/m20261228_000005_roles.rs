//! Staff roles and the actor of audit events (issue 9: counter officers; issue 10: the admin
//! roles). Expand-only: a new table, a new nullable column and indexes, so a node of the
//! previous release keeps working on it.
//!
//! - `account_roles`: one row per role an account holds (`admin`, `client_manager`,
//!   `counter_officer`, `auditor`), who granted it and when, and for a counter officer the
//!   office (post office or service desk) they work at;
//! - `audit_events.actor_id`: the account that did the action when it is not the account the
//!   event is about (an officer registering a citizen, an admin locking an account).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AccountRoles {
    Table,
    AccountId,
    Role,
    Office,
    GrantedBy,
    GrantedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ActorId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AccountRoles::Table)
                .col(
                    ColumnDef::new(AccountRoles::AccountId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(AccountRoles::Role).string_len(32).not_null())
                .col(ColumnDef::new(AccountRoles::Office).string_len(200))
                .col(ColumnDef::new(AccountRoles::GrantedBy).string_len(36))
                .col(
                    ColumnDef::new(AccountRoles::GrantedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(AccountRoles::AccountId)
                        .col(AccountRoles::Role),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_account_roles_account")
                        .from(AccountRoles::Table, AccountRoles::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_account_roles_role")
                .table(AccountRoles::Table)
                .col(AccountRoles::Role)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AuditEvents::Table)
                .add_column(ColumnDef::new(AuditEvents::ActorId).string_len(36))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_events_actor")
                .table(AuditEvents::Table)
                .col(AuditEvents::ActorId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_audit_events_actor")
                .table(AuditEvents::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AuditEvents::Table)
                .drop_column(AuditEvents::ActorId)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(AccountRoles::Table).to_owned())
            .await?;
        Ok(())
    }
}
