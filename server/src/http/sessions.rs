//! Payer sessions with tower-sessions, stored in Remit's own database (SQLite or PostgreSQL).

use tower_sessions::{
    SessionManagerLayer,
    cookie::SameSite,
    session::{Id, Record},
    session_store::{self, ExpiredDeletion, SessionStore},
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::config::{Config, DatabaseUrl};

/// The session store of whichever database Remit runs on.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Store {
    /// Opens the store on the application's database and creates its table.
    pub async fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        Ok(match url.dialect() {
            crate::db::Dialect::Sqlite => {
                let store = SqliteStore::new(sqlx::SqlitePool::connect(url.as_str()).await?);
                store.migrate().await?;
                Self::Sqlite(store)
            }
            crate::db::Dialect::Postgres => {
                let store = PostgresStore::new(sqlx::PgPool::connect(url.as_str()).await?);
                store.migrate().await?;
                Self::Postgres(store)
            }
        })
    }
}

impl Store {
    /// Removes sessions past their expiry (30 days without a visit).
    pub async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store) => store.delete_expired().await,
            Self::Postgres(store) => store.delete_expired().await,
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            // The SQLite store's `create` reads (is the id taken?) and then writes in one deferred
            // transaction, which SQLite refuses outright when another connection wrote in between.
            // Ids are 128 random bits, so saving the new record is all creating it takes.
            Self::Sqlite(store) => store.save(record).await,
            Self::Postgres(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store) => store.save(record).await,
            Self::Postgres(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(store) => store.load(id).await,
            Self::Postgres(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store) => store.delete(id).await,
            Self::Postgres(store) => store.delete(id).await,
        }
    }
}

/// HttpOnly, SameSite=Lax, Secure when Remit is served over https; 30 days without a visit ends it.
pub fn layer(store: Store, config: &Config) -> SessionManagerLayer<Store> {
    SessionManagerLayer::new(store)
        .with_name("remit_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.public_url.is_https())
        .with_expiry(tower_sessions::Expiry::OnInactivity(time::Duration::days(30)))
}
