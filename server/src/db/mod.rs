//! The database: one pool for SQLite or PostgreSQL, migrations, and readiness.
//!
//! Queries are written once with `$1` binds and run on both backends through sqlx's `Any` driver.
//! Where the dialects differ (row locking), the [`Dialect`] says which one is in use.

use std::time::Duration;

use sqlx::{
    AnyConnection, Connection, Executor,
    any::{AnyPoolOptions, install_default_drivers},
    migrate::Migrator,
};

use crate::config::DatabaseUrl;

pub type Pool = sqlx::AnyPool;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// How long opening the database may take before start-up says why it cannot.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The database named by `DATABASE_URL` cannot be opened; the URL is shown without credentials.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the database named by DATABASE_URL ({url})")]
pub struct ConnectError {
    url: String,
    #[source]
    source: sqlx::Error,
}

#[derive(Clone, Debug)]
pub struct Db {
    /// For reads (and, on PostgreSQL, for everything).
    pub pool: Pool,
    /// For writes. On SQLite, which takes one writer at a time, this is one connection: writers
    /// wait their turn here, in order, instead of in SQLite's busy handler, whose sleeps (up to
    /// 100 ms each) gave webhook acknowledgements a p99 near a second under load. On PostgreSQL
    /// it is the same pool as `pool`.
    pub writes: Pool,
    pub dialect: Dialect,
}

impl Db {
    /// Opens the pool; a SQLite file is created on first use, in WAL mode with foreign keys on.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, ConnectError> {
        Self::open(url).await.map_err(|source| ConnectError { url: url.redacted(), source })
    }

    async fn open(url: &DatabaseUrl) -> Result<Self, sqlx::Error> {
        install_default_drivers();
        let dialect = url.dialect();
        let options = AnyPoolOptions::new().acquire_timeout(CONNECT_TIMEOUT);
        let (pool, writes) = match dialect {
            Dialect::Sqlite => {
                let url = sqlite_url_creating_file(url.as_str());
                // The writer first: it creates the file and sets WAL mode before readers open it.
                let writes = sqlite_pool(options.clone().max_connections(1), &url).await?;
                (sqlite_pool(options.max_connections(8), &url).await?, writes)
            }
            Dialect::Postgres => {
                // One connection first, so an unreachable server says why ("connection refused")
                // at once: the pool would retry until its timeout and then say only that.
                let first = tokio::time::timeout(CONNECT_TIMEOUT, AnyConnection::connect(url.as_str()))
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)??;
                first.close().await?;
                let pool = options.max_connections(16).connect(url.as_str()).await?;
                (pool.clone(), pool)
            }
        };
        Ok(Self { pool, writes, dialect })
    }

    fn migrator(&self) -> &'static Migrator {
        match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        self.migrator().run(&self.writes).await
    }

    /// Ready when the database answers and every migration this binary knows has been applied.
    pub async fn readiness(&self) -> Readiness {
        let applied: Result<Vec<(i64,)>, _> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version")
                .fetch_all(&self.pool)
                .await;
        match applied {
            Err(error) => {
                tracing::warn!(%error, "readiness check: database query failed");
                Readiness::DatabaseUnreachable
            }
            Ok(rows) => {
                let applied: Vec<i64> = rows.into_iter().map(|(v,)| v).collect();
                let pending = self.migrator().iter().filter(|m| !applied.contains(&m.version)).count();
                if pending == 0 { Readiness::Ready } else { Readiness::MigrationsPending(pending) }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    DatabaseUnreachable,
    MigrationsPending(usize),
}

async fn sqlite_pool(options: AnyPoolOptions, url: &str) -> Result<Pool, sqlx::Error> {
    options
        .after_connect(|conn, _| {
            Box::pin(async move {
                // FULL: a commit is on disk before it returns, so a webhook answered 200 survives
                // a power loss (NORMAL, with WAL, may lose the last ones).
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL;").await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// `sqlite://remit.db` must create the file on a fresh machine: ask for read-write-create.
fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Milliseconds since the Unix epoch: how every timestamp is stored.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
