//! The only place sea-orm appears: the database (entities and repositories) and the
//! ephemeral store. Repositories take and return domain types.
//!
//! `Database` is defined here; its repository methods live in one `impl Database` per
//! aggregate, in the submodules below.

pub mod accounts;
pub mod audit;
pub mod clients;
pub mod complaints;
pub mod consents;
pub mod counter;
pub mod credentials;
pub mod entities;
pub mod ephemeral;
pub mod keys;
pub mod roles;
pub mod schema;
pub mod tokens;
pub mod trust_anchors;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, DatabaseConnection, DatabaseTransaction, DbErr, SqlErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

pub use accounts::{
    CertificateCredential, Extras, LevelChange, LevelRaise, NewAccount, Phone, PhoneRecord,
    PhoneRemoval, StatusChange, UpstreamLink,
};
pub use audit::{AuditQuery, AuditRecord, AuditRow, KindFilter};
pub use clients::{ClientWrite, SecretRotation};
pub use counter::{CounterLink, LinkKind, NewCounterLink};
pub use credentials::{CREDENTIAL_PASSWORD, CredentialRow, StoredCredential};
pub use keys::{KeyRetirement, StoredSigningKey};
pub use roles::Revocation;
pub use tokens::RefreshGrant;
pub use trust_anchors::{AnchorRetirement, NewTrustAnchor, StoredTrustAnchor};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// A unique constraint refused the write (e.g. an ID number already has an account).
    #[error("already exists")]
    Conflict,
    #[error(transparent)]
    Ephemeral(#[from] ephemeral::EphemeralError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

fn map_conflict(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict,
        _ => StoreError::Db(e),
    }
}

#[derive(Clone)]
pub struct Database {
    conn: DatabaseConnection,
}

impl Database {
    /// Connects (creating the SQLite file and its folder if needed) and applies this release's
    /// pending migrations (`migrate` and the CLI's commands).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::open(url, max_connections, schema::MigrateMode::OnStart).await
    }

    /// Connects, then prepares the schema as `migrate` says (`schema::prepare`): a newer
    /// schema is accepted, a missing migration of this release applied or refused.
    pub async fn open(
        url: &str,
        max_connections: u32,
        migrate: schema::MigrateMode,
    ) -> Result<Self, StoreError> {
        if let Some(path) = sqlite_file_path(url)
            && let Some(dir) = std::path::Path::new(&path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbErr::Custom(format!("creating {}: {e}", dir.display())))?;
        }
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false)
            // A pooled connection is pinged before use only once it has sat idle: a ping on
            // every checkout is one more round trip per query (on PostgreSQL about a quarter
            // of a code exchange's database work). A connection used within the last second
            // is as good as checked; one that broke under load fails its query, the pool drops
            // it on release, and the caller answers "temporarily unavailable".
            .test_before_acquire_if_idle_for(Duration::from_secs(1))
            // WAL lets readers proceed while one writer commits; with WAL, synchronous=NORMAL
            // cannot corrupt the database (a power cut may lose the last commits) and saves an
            // fsync per transaction. Both are per-connection settings, hence set on each.
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
            });
        let conn = sea_orm::Database::connect(opts).await?;
        schema::prepare(&conn, migrate).await?;
        Ok(Self { conn })
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so concurrent writers queue on the busy timeout; a deferred
    /// transaction that reads first would instead be refused the lock upgrade at once
    /// (SQLITE_BUSY). PostgreSQL ignores the mode.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.conn
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.conn.ping().await?;
        Ok(())
    }
}

fn to_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json(s: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The file behind a `sqlite://PATH?…` URL, unless it is in-memory.
fn sqlite_file_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_string())
    }
}
