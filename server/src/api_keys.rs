//! API keys for Salesforce's callouts. A key is shown once at creation; only its SHA-256 is kept.

use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};

use crate::db::{Db, now_ms};

const PREFIX: &str = "remit_";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates a key named `name`; returns its id and the key itself, which is not stored.
pub async fn create(db: &Db, name: &str) -> Result<(String, String), sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    // 43 alphanumerics ≈ 256 bits.
    let secret: String = rand::rng().sample_iter(Alphanumeric).take(43).map(char::from).collect();
    let key = format!("{PREFIX}{secret}");
    sqlx::query("INSERT INTO api_keys (id, name, key_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(hash(&key))
        .bind(now_ms())
        .execute(&db.writes)
        .await?;
    Ok((id, key))
}

pub async fn list(db: &Db) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at")
        .fetch_all(&db.pool)
        .await
}

/// Revokes a key; false when no live key has that id.
pub async fn revoke(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&db.writes)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The id of the live key `presented` is, if any. Lookup is by hash, so timing reveals nothing
/// about stored keys.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Option<String>, sqlx::Error> {
    if !presented.starts_with(PREFIX) {
        return Ok(None);
    }
    let found: Option<(String,)> = sqlx::query_as("SELECT id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
        .bind(hash(presented))
        .fetch_optional(&db.pool)
        .await?;
    if let Some((id,)) = &found {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&db.writes)
            .await?;
    }
    Ok(found.map(|(id,)| id))
}
