//! The schema this binary needs against the one the database holds, for rolling upgrades.
//!
//! sea-orm-migration's `Migrator::up` refuses a database holding an applied migration its binary
//! does not know ("Migration file of version '…' is missing"). During a rolling upgrade that is
//! the normal state of an old node once the new release's migrations ran, so an old node that
//! restarted would crash-loop. Here pending and unknown migrations are computed by name
//! instead: migrations are written expand/contract (ARCHITECTURE.md, *Schema changes*), so a
//! newer schema serves an older binary, and only a missing migration of our own is a reason not
//! to start.

use std::collections::BTreeSet;

use migrations::{Alias, Expr, Migrator, MigratorTrait, Query, SchemaManager};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use serde::Deserialize;

/// `[database] migrate`: what a node does with the schema when it starts.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MigrateMode {
    /// Apply this release's pending migrations (one node, or the embedded default).
    #[default]
    OnStart,
    /// Apply nothing (a migration job ran `xacthuc migrate`); refuse to start while one of this
    /// release's migrations is not applied.
    Check,
}

/// The database's migrations compared with this binary's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SchemaState {
    /// This binary's migrations not applied yet, in order.
    pub pending: Vec<String>,
    /// Applied migrations this binary does not know: a later release's (fine when that release
    /// followed expand/contract).
    pub newer: Vec<String>,
}

pub async fn state(conn: &DatabaseConnection) -> Result<SchemaState, DbErr> {
    let applied: BTreeSet<String> = if SchemaManager::new(conn)
        .has_table(Migrator::migration_table_name().to_string())
        .await?
    {
        Migrator::get_migration_models(conn)
            .await?
            .into_iter()
            .map(|m| m.version)
            .collect()
    } else {
        BTreeSet::new()
    };
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Ok(SchemaState {
        pending: known
            .iter()
            .filter(|name| !applied.contains(*name))
            .cloned()
            .collect(),
        newer: applied
            .iter()
            .filter(|name| !known.contains(name))
            .cloned()
            .collect(),
    })
}

/// Brings the schema to what this binary needs (`mode`), or says why it cannot start.
pub async fn prepare(conn: &DatabaseConnection, mode: MigrateMode) -> Result<(), DbErr> {
    let state = state(conn).await?;
    if !state.newer.is_empty() {
        tracing::info!(
            newer = ?state.newer,
            "the database holds migrations of a later release; this release keeps working with them"
        );
    }
    match mode {
        MigrateMode::OnStart => apply(conn, &state.pending).await,
        MigrateMode::Check if state.pending.is_empty() => Ok(()),
        MigrateMode::Check => Err(DbErr::Custom(format!(
            "database.migrate = \"check\": migrations of this release are not applied ({}); run `xacthuc migrate` first",
            state.pending.join(", ")
        ))),
    }
}

/// Applies the named migrations in this binary's order, each recorded as sea-orm-migration
/// does (in the same transaction on PostgreSQL, whose DDL is transactional).
async fn apply(conn: &DatabaseConnection, pending: &[String]) -> Result<(), DbErr> {
    if pending.is_empty() {
        return Ok(());
    }
    Migrator::install(conn).await?;
    for migration in Migrator::migrations() {
        let name = migration.name().to_string();
        if !pending.contains(&name) {
            continue;
        }
        tracing::info!(migration = %name, "applying migration");
        if conn.get_database_backend() == DbBackend::Postgres {
            let txn = conn.begin().await?;
            migration.up(&SchemaManager::new(&txn)).await?;
            record(&txn, &name).await?;
            txn.commit().await?;
        } else {
            migration.up(&SchemaManager::new(conn)).await?;
            record(conn, &name).await?;
        }
    }
    Ok(())
}

/// Records an applied migration as sea-orm-migration does (`applied_at` in Unix seconds), with
/// the database's clock: only `clock.rs` reads the time in `src/`.
async fn record(conn: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    let now = match conn.get_database_backend() {
        DbBackend::Postgres => "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)",
        _ => "CAST(strftime('%s', 'now') AS INTEGER)",
    };
    let insert = Query::insert()
        .into_table(Migrator::migration_table_name())
        .columns([Alias::new("version"), Alias::new("applied_at")])
        .values_panic([Expr::val(name), Expr::cust(now)])
        .to_owned();
    conn.execute(&insert).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn memory() -> DatabaseConnection {
        sea_orm::Database::connect("sqlite::memory:").await.unwrap()
    }

    async fn add_row(conn: &DatabaseConnection, name: &str) {
        record(conn, name).await.unwrap();
    }

    #[tokio::test]
    async fn on_start_applies_everything_then_nothing_is_pending() {
        let conn = memory().await;
        prepare(&conn, MigrateMode::OnStart).await.unwrap();
        assert_eq!(state(&conn).await.unwrap(), SchemaState::default());
        // A second start finds nothing to do.
        prepare(&conn, MigrateMode::OnStart).await.unwrap();
    }

    #[tokio::test]
    async fn a_later_release_s_migration_does_not_stop_either_mode() {
        let conn = memory().await;
        prepare(&conn, MigrateMode::OnStart).await.unwrap();
        add_row(&conn, "m20991231_000099_a_later_release").await;
        let s = state(&conn).await.unwrap();
        assert_eq!(s.newer, ["m20991231_000099_a_later_release"]);
        assert!(s.pending.is_empty());
        prepare(&conn, MigrateMode::OnStart).await.unwrap();
        prepare(&conn, MigrateMode::Check).await.unwrap();
        // sea-orm-migration itself refuses this database: the reason this module exists.
        let e = Migrator::up(&conn, None).await.unwrap_err().to_string();
        assert!(e.contains("is missing"), "{e}");
    }

    #[tokio::test]
    async fn check_applies_nothing_and_names_what_is_missing() {
        let conn = memory().await;
        let e = prepare(&conn, MigrateMode::Check).await.unwrap_err();
        assert!(e.to_string().contains("m20261122_000001_initial"), "{e}");
        assert!(e.to_string().contains("xacthuc migrate"), "{e}");
        assert!(
            !SchemaManager::new(&conn)
                .has_table("accounts")
                .await
                .unwrap(),
            "check created tables"
        );
        // Once migrated (by the job), check starts.
        prepare(&conn, MigrateMode::OnStart).await.unwrap();
        prepare(&conn, MigrateMode::Check).await.unwrap();
    }
}
