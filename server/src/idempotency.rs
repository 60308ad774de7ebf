//! `Idempotency-Key` for the API: the key is reserved before the request is processed (`INSERT …
//! ON CONFLICT DO NOTHING`, as zero2prod's `idempotency/` does), so two requests with one key can
//! never both run; the answer is stored after, and replayed to every retry.

use sha2::{Digest, Sha256};

use crate::db::{Db, now_ms};

/// Stored as the status of a key whose request is still being processed.
const IN_PROGRESS: i64 = 0;
/// A reservation older than this belongs to a request that died; a retry may take it over.
const ABANDONED_AFTER_MS: i64 = 10 * 60 * 1000;

/// What a request with an Idempotency-Key may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The key is this request's: process it, then [`store`] or [`release`].
    Reserved,
    /// The same request was answered already: answer the same.
    Replay { status: u16, body: String },
    /// The same request is being processed right now.
    InProgress,
    /// The key was used with a different request body.
    KeyReused,
}

/// Who asked, with which key, for what.
pub struct Request<'a> {
    pub caller: &'a str,
    pub key: &'a str,
    pub body: &'a [u8],
}

impl Request<'_> {
    fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.body))
    }
}

pub async fn reserve(db: &Db, request: &Request<'_>) -> Result<Reservation, sqlx::Error> {
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO api_idempotency (api_key_id, idempotency_key, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, $4, '', $5) ON CONFLICT (api_key_id, idempotency_key) DO NOTHING",
    )
    .bind(request.caller)
    .bind(request.key)
    .bind(request.hash())
    .bind(IN_PROGRESS)
    .bind(now)
    .execute(&db.writes)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Reservation::Reserved);
    }
    let (hash, status, body, created_at): (String, i64, String, i64) = sqlx::query_as(
        "SELECT request_hash, status, body, created_at FROM api_idempotency WHERE api_key_id = $1 AND idempotency_key = $2",
    )
    .bind(request.caller)
    .bind(request.key)
    .fetch_one(&db.pool)
    .await?;
    if hash != request.hash() {
        return Ok(Reservation::KeyReused);
    }
    if status != IN_PROGRESS {
        return Ok(Reservation::Replay { status: u16::try_from(status).unwrap_or(200), body });
    }
    if now - created_at < ABANDONED_AFTER_MS {
        return Ok(Reservation::InProgress);
    }
    let taken = sqlx::query(
        "UPDATE api_idempotency SET created_at = $1 \
         WHERE api_key_id = $2 AND idempotency_key = $3 AND status = $4 AND created_at = $5",
    )
    .bind(now)
    .bind(request.caller)
    .bind(request.key)
    .bind(IN_PROGRESS)
    .bind(created_at)
    .execute(&db.writes)
    .await?;
    Ok(if taken.rows_affected() == 1 { Reservation::Reserved } else { Reservation::InProgress })
}

/// The answer to a reserved request, for its retries.
pub async fn store(db: &Db, request: &Request<'_>, status: u16, body: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_idempotency SET status = $1, body = $2 WHERE api_key_id = $3 AND idempotency_key = $4")
        .bind(i64::from(status))
        .bind(body)
        .bind(request.caller)
        .bind(request.key)
        .execute(&db.writes)
        .await?;
    Ok(())
}

/// Frees a reserved key whose request failed for a passing reason, so a retry runs it again.
pub async fn release(db: &Db, request: &Request<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM api_idempotency WHERE api_key_id = $1 AND idempotency_key = $2 AND status = $3")
        .bind(request.caller)
        .bind(request.key)
        .bind(IN_PROGRESS)
        .execute(&db.writes)
        .await?;
    Ok(())
}
