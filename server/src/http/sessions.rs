//! Payer sessions with tower-sessions, stored in Remit's own database (SQLite or PostgreSQL).

use tower_sessions::{
    SessionManagerLayer,
    cookie::SameSite,
    session::{Id, Record},
    session_store::{self, ExpiredDeletion, SessionStore},
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::{
    config::{Config, DatabaseUrl},
    db::now_ms,
};

const PAYER_EMAIL: &str = "payer_email";
const SIGNED_IN_AT: &str = "signed_in_at";

/// Signs the session in as `email`, with a new session id: an id planted before sign-in is worth
/// nothing after it.
pub async fn sign_in(session: &tower_sessions::Session, email: String) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.insert(PAYER_EMAIL, email).await?;
    session.insert(SIGNED_IN_AT, now_ms()).await
}

/// The payer the session is signed in as, while the sign-in is younger than `lifetime` (however
/// active the session has been since); an older one is ended.
pub async fn signed_in_payer(
    session: &tower_sessions::Session,
    lifetime: std::time::Duration,
) -> Result<Option<String>, tower_sessions::session::Error> {
    let Some(email) = session.get::<String>(PAYER_EMAIL).await? else { return Ok(None) };
    let signed_in_at = session.get::<i64>(SIGNED_IN_AT).await?.unwrap_or(0);
    let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    if now_ms().saturating_sub(signed_in_at) > lifetime_ms {
        session.flush().await?;
        return Ok(None);
    }
    Ok(Some(email))
}

// The console's sign-in lives under keys of its own: a payer's sign-in is not an operator's,
// and signing out of one leaves the other.
const OPERATOR_EMAIL: &str = "operator_email";
const OPERATOR_SIGNED_IN_AT: &str = "operator_signed_in_at";
/// What the console's last action did, shown once on the next page.
const OPERATOR_NOTICE: &str = "operator_notice";
/// A new API key, shown once on the next page.
const OPERATOR_NEW_KEY: &str = "operator_new_key";

/// Signs the session in to the console as `email`, with a new session id.
pub async fn sign_in_operator(
    session: &tower_sessions::Session,
    email: String,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.insert(OPERATOR_EMAIL, email).await?;
    session.insert(OPERATOR_SIGNED_IN_AT, now_ms()).await
}

/// The operator the session is signed in to the console as, while the sign-in is younger than
/// `lifetime`.
pub async fn signed_in_operator(
    session: &tower_sessions::Session,
    lifetime: std::time::Duration,
) -> Result<Option<String>, tower_sessions::session::Error> {
    let Some(email) = session.get::<String>(OPERATOR_EMAIL).await? else { return Ok(None) };
    let signed_in_at = session.get::<i64>(OPERATOR_SIGNED_IN_AT).await?.unwrap_or(0);
    let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    if now_ms().saturating_sub(signed_in_at) > lifetime_ms {
        sign_out_operator(session).await?;
        return Ok(None);
    }
    Ok(Some(email))
}

pub async fn sign_out_operator(session: &tower_sessions::Session) -> Result<(), tower_sessions::session::Error> {
    for key in [OPERATOR_EMAIL, OPERATOR_SIGNED_IN_AT, OPERATOR_NOTICE, OPERATOR_NEW_KEY] {
        session.remove_value(key).await?;
    }
    Ok(())
}

/// Leaves word of what an action did for the next console page: (text, is a problem).
pub async fn tell_operator(
    session: &tower_sessions::Session,
    text: String,
    problem: bool,
) -> Result<(), tower_sessions::session::Error> {
    session.insert(OPERATOR_NOTICE, (text, problem)).await
}

/// The word an action left, once.
pub async fn take_operator_notice(
    session: &tower_sessions::Session,
) -> Result<Option<(String, bool)>, tower_sessions::session::Error> {
    session.remove(OPERATOR_NOTICE).await
}

/// Keeps a new API key (name, key) for the next page to show, once.
pub async fn hand_over_key(
    session: &tower_sessions::Session,
    name: String,
    key: String,
) -> Result<(), tower_sessions::session::Error> {
    session.insert(OPERATOR_NEW_KEY, (name, key)).await
}

pub async fn take_new_key(
    session: &tower_sessions::Session,
) -> Result<Option<(String, String)>, tower_sessions::session::Error> {
    session.remove(OPERATOR_NEW_KEY).await
}

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
