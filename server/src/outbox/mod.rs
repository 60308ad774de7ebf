//! Durable jobs in the application's own database.
//!
//! A job is enqueued inside the transaction that makes it necessary, so it exists exactly when
//! that change does. Workers claim due jobs (with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! several Remit instances share one queue), retry failures with exponential backoff and jitter,
//! and park jobs that keep failing, or fail permanently, as dead letters that can be replayed.
//! A claim that is never finished (a crashed worker) expires and the job runs again.

mod job;
mod worker;

use rand::Rng;

use crate::db::{Db, Dialect, now_ms};
pub use job::{Job, JobError, Registry};
pub use worker::Worker;

/// Attempts before a retryable failure becomes a dead letter.
pub const MAX_ATTEMPTS: i64 = 10;
/// How long a claim lasts before another worker may take the job over.
const CLAIM_MS: i64 = 5 * 60 * 1000;

/// Enqueues `job` on the caller's connection, normally inside its transaction.
pub async fn enqueue<J: Job>(conn: &mut sqlx::AnyConnection, job: &J) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO outbox (kind, payload, dedupe_key, status, attempts, max_attempts, run_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', 0, $4, $5, $5, $5) \
         ON CONFLICT (dedupe_key) WHERE status = 'pending' DO NOTHING",
    )
    .bind(J::KIND)
    .bind(serde_json::to_string(job).expect("jobs serialize"))
    .bind(format!("{}:{}", J::KIND, job.dedupe_key()))
    .bind(MAX_ATTEMPTS)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub run_at: i64,
    pub last_error: Option<String>,
}

/// A job a worker holds until it reports the outcome.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
}

/// Claims up to `limit` due jobs of the given kinds (the kinds this worker can run), oldest first.
pub async fn claim(db: &Db, worker_id: &str, kinds: &[&str], limit: usize) -> Result<Vec<Claimed>, sqlx::Error> {
    let now = now_ms();
    // Kinds are the compile-time names of registered jobs, never user input.
    let kinds = kinds.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    let lock = match db.dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        // SQLite has one writer at a time: the UPDATE itself is the lock.
        Dialect::Sqlite => "",
    };
    sqlx::query_as(&format!(
        "UPDATE outbox SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT id FROM outbox \
                      WHERE kind IN ({kinds}) \
                        AND ((status = 'pending' AND run_at <= $3) OR (status = 'running' AND locked_until < $3)) \
                      ORDER BY run_at, id LIMIT $4 {lock}) \
         RETURNING id, kind, payload, attempts"
    ))
    .bind(worker_id)
    .bind(now + CLAIM_MS)
    .bind(now)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&db.pool)
    .await
}

/// Marks a claimed job done. False when the claim had expired and another worker took it over.
pub async fn complete(db: &Db, id: i64, worker_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'done', locked_by = NULL, locked_until = NULL, last_error = NULL, updated_at = $1 \
         WHERE id = $2 AND locked_by = $3 AND status = 'running'",
    )
    .bind(now_ms())
    .bind(id)
    .bind(worker_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failure: retried later with backoff, or parked as a dead letter.
pub async fn fail(
    db: &Db,
    claimed: &Claimed,
    worker_id: &str,
    error: &str,
    retryable: bool,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let dead = !retryable || claimed.attempts >= MAX_ATTEMPTS;
    sqlx::query(
        "UPDATE outbox SET status = $1, run_at = $2, last_error = $3, locked_by = NULL, locked_until = NULL, updated_at = $4 \
         WHERE id = $5 AND locked_by = $6",
    )
    .bind(if dead { "dead" } else { "pending" })
    .bind(now + backoff_ms(claimed.attempts))
    .bind(error)
    .bind(now)
    .bind(claimed.id)
    .bind(worker_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// After the first failure 1 s, then 2 s, 4 s … capped at 30 minutes, each with up to 50 % random
/// jitter so retries spread out.
pub fn backoff_ms(attempts: i64) -> i64 {
    let base = 1000_i64 << (attempts - 1).clamp(0, 20);
    let base = base.min(30 * 60 * 1000);
    base + rand::rng().random_range(0..=base / 2)
}

pub async fn list(db: &Db, dead_only: bool) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let filter = if dead_only { "WHERE status = 'dead'" } else { "WHERE status <> 'done'" };
    sqlx::query_as(&format!(
        "SELECT id, kind, payload, status, attempts, run_at, last_error FROM outbox {filter} ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await
}

/// Puts dead letters back in the queue (all of them, or one by id); returns how many.
pub async fn replay(db: &Db, id: Option<i64>) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let dead: Vec<(i64,)> = match id {
        Some(id) => {
            sqlx::query_as("SELECT id FROM outbox WHERE id = $1 AND status = 'dead'")
                .bind(id)
                .fetch_all(&db.pool)
                .await?
        }
        None => sqlx::query_as("SELECT id FROM outbox WHERE status = 'dead' ORDER BY id").fetch_all(&db.pool).await?,
    };
    let mut replayed = 0;
    for (id,) in dead {
        let result = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, run_at = $1, updated_at = $1 WHERE id = $2 AND status = 'dead'",
        )
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await;
        match result {
            Ok(done) => replayed += done.rows_affected(),
            // The same job is already waiting: it will do this one's work.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                sqlx::query("UPDATE outbox SET status = 'done', updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&db.pool)
                    .await?;
                replayed += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(replayed)
}
