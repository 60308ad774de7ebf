//! Durable jobs in the application's own database.
//!
//! A job is enqueued inside the transaction that makes it necessary, so it exists exactly when
//! that change does. Workers claim due jobs (with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! several Remit instances share one queue), retry failures with exponential backoff and jitter,
//! and park jobs that keep failing, or fail permanently, as dead letters that can be replayed.
//! A running job's claim is renewed while it runs; a claim that is never finished (a crashed
//! worker) expires and the job runs again, counted as an attempt, until it is a dead letter.
//!
//! Jobs with one dedupe key (say, the syncs of one payment) never run at the same time: a job
//! waits while a twin runs, a failing job whose twin waits merges into it, and an expired claim
//! with a newer twin is merged too.

mod job;
mod worker;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use rand::Rng;
use tokio::sync::Notify;

use crate::db::{Db, Dialect, now_ms};
pub use job::{Job, JobError, Registry};
pub use worker::{Worker, WorkerHealth};

/// Wakes the workers of a class in this process at once (after enqueueing, say), instead of at
/// their next poll. Workers of other instances are woken by PostgreSQL (see [`listen`]).
#[derive(Clone, Default)]
pub struct Wake(Arc<Mutex<BTreeMap<String, Vec<Arc<Notify>>>>>);

impl Wake {
    fn register(&self, class: &str, worker: Arc<Notify>) {
        self.lock().entry(class.to_owned()).or_default().push(worker);
    }

    /// Wakes the workers that run jobs of kind `J`.
    pub fn job<J: Job>(&self) {
        self.class(J::CLASS);
    }

    pub fn class(&self, class: &str) {
        if let Some(workers) = self.lock().get(class) {
            workers.iter().for_each(|worker| worker.notify_one());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<Arc<Notify>>>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The PostgreSQL channel on which a commit that enqueued jobs names their class.
const CHANNEL: &str = "remit_outbox";

/// On PostgreSQL, wakes this process's workers when any instance enqueues a job of their class
/// (`LISTEN`/`NOTIFY`), until `stop`; SQLite has one process, so there is nothing to listen to.
pub async fn listen(url: crate::config::DatabaseUrl, wake: Wake, mut stop: tokio::sync::watch::Receiver<bool>) {
    if url.dialect() != Dialect::Postgres {
        return;
    }
    loop {
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect(url.as_str()).await?;
            listener.listen(CHANNEL).await?;
            loop {
                // `recv` reconnects by itself after a lost connection; jobs enqueued meanwhile
                // are found by the workers' polling.
                let notification = listener.recv().await?;
                wake.class(notification.payload());
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            Err::<(), sqlx::Error>(error) = listening => {
                tracing::warn!(%error, "outbox: cannot listen for jobs other instances enqueue; polling meanwhile");
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}

/// Attempts before a retryable failure becomes a dead letter.
pub const MAX_ATTEMPTS: i64 = 10;

/// Enqueues `job` on the caller's connection, normally inside its transaction. On PostgreSQL the
/// commit also wakes the workers of the job's class in every instance; in this process, call
/// [`Wake::job`] after the commit.
pub async fn enqueue<J: Job>(conn: &mut sqlx::AnyConnection, job: &J) -> Result<(), sqlx::Error> {
    enqueue_all(conn, std::slice::from_ref(job)).await
}

/// Enqueues jobs of one kind in one statement, as [`enqueue`] does each.
pub async fn enqueue_all<J: Job>(conn: &mut sqlx::AnyConnection, jobs: &[J]) -> Result<(), sqlx::Error> {
    if jobs.is_empty() {
        return Ok(());
    }
    if conn.backend_name() == "PostgreSQL" {
        // Notifications are sent at commit, and one per class however many jobs were enqueued.
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(J::CLASS).execute(&mut *conn).await?;
    }
    // Jobs of one key coalesce: one row a key in the statement (PostgreSQL refuses to update a
    // row twice in one statement), and into a twin already waiting.
    let mut keys = std::collections::BTreeSet::new();
    let jobs: Vec<(String, &J)> = jobs
        .iter()
        .map(|job| (format!("{}:{}", J::KIND, job.dedupe_key()), job))
        .filter(|(key, _)| keys.insert(key.clone()))
        .collect();
    let rows: Vec<String> = (0..jobs.len())
        .map(|n| format!("($1, ${}, ${}, 'pending', 0, $2, $3, $3, $3)", 2 * n + 4, 2 * n + 5))
        .collect();
    // Coalescing touches the waiting twin rather than leaving it be: the row stays locked until
    // this transaction commits, so no worker claims the twin (its claim skips locked rows) and
    // reads the state this transaction is still changing — it would run on the old state, and
    // nothing would run on the new.
    let sql = format!(
        "INSERT INTO outbox (kind, payload, dedupe_key, status, attempts, max_attempts, run_at, created_at, updated_at) \
         VALUES {} ON CONFLICT (dedupe_key) WHERE status = 'pending' DO UPDATE SET updated_at = excluded.updated_at",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(J::KIND).bind(MAX_ATTEMPTS).bind(now_ms());
    for (key, job) in jobs {
        query = query.bind(serde_json::to_string(job).expect("jobs serialize")).bind(key);
    }
    query.execute(conn).await?;
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

/// Kinds are the compile-time names of registered jobs, never user input.
fn kind_list(kinds: &[&str]) -> String {
    kinds.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
}

/// A twin of `o`'s that is live at `now` (a bind parameter): waiting, or running under a claim
/// that has not expired.
fn live_twin(now: &str) -> String {
    format!(
        "SELECT 1 FROM outbox t WHERE t.dedupe_key = o.dedupe_key AND t.id <> o.id \
         AND (t.status = 'pending' OR (t.status = 'running' AND t.locked_until >= {now}))"
    )
}

/// Claims up to `limit` due jobs of the given kinds (the kinds this worker can run), oldest first:
/// jobs whose worker stopped (claim expired) and that no newer twin replaces, then waiting jobs
/// whose twin is not running. Each statement walks the `(status, run_at, id)` index and stops at
/// `limit`, so claiming costs the same however long the queue is.
pub async fn claim(
    db: &Db,
    worker_id: &str,
    kinds: &[&str],
    limit: usize,
    lease: std::time::Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let now = now_ms();
    let kinds = kind_list(kinds);
    let mut claimed = Vec::new();
    let (expired,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM outbox WHERE status = 'running' AND locked_until < $1 AND kind IN ({kinds})"
    ))
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    if expired > 0 {
        let live_twin = live_twin("$3");
        let taken_over = format!(
            "status = 'running' AND locked_until < $3 AND attempts < max_attempts AND NOT EXISTS ({live_twin})"
        );
        claimed = claim_where(db, &taken_over, &kinds, (worker_id, now, lease, limit)).await?;
    }
    if claimed.len() < limit {
        let waiting = "status = 'pending' AND run_at <= $3 AND NOT EXISTS (SELECT 1 FROM outbox r \
                       WHERE r.dedupe_key = o.dedupe_key AND r.status = 'running' AND r.locked_until >= $3)";
        claimed.extend(claim_where(db, waiting, &kinds, (worker_id, now, lease, limit - claimed.len())).await?);
    }
    Ok(claimed)
}

/// Claims up to `limit` jobs of `kinds` that `filter` selects (`o` is the job; `$3` is now).
async fn claim_where(
    db: &Db,
    filter: &str,
    kinds: &str,
    (worker_id, now, lease, limit): (&str, i64, std::time::Duration, usize),
) -> Result<Vec<Claimed>, sqlx::Error> {
    let lock = match db.dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        // SQLite has one writer at a time: the UPDATE itself is the lock.
        Dialect::Sqlite => "",
    };
    sqlx::query_as(&format!(
        "UPDATE outbox SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT id FROM outbox o WHERE kind IN ({kinds}) AND {filter} \
                      ORDER BY status, run_at, id LIMIT $4 {lock}) \
         RETURNING id, kind, payload, attempts"
    ))
    .bind(worker_id)
    .bind(now + lease_ms(lease))
    .bind(now)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&db.writes)
    .await
}

/// Moves this worker's finished jobs among `ids` out of the queue into `outbox_done`; returns
/// how many it moved (fewer when a claim had expired and another worker took the job over).
pub async fn complete(db: &Db, ids: &[i64], worker_id: &str) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let worker = worker_id.replace('\'', "''");
    archive(db, &format!("id IN ({}) AND locked_by = '{worker}' AND status = 'running'", id_list(ids))).await
}

/// Moves jobs marked done (merged into a twin, say) out of the queue.
async fn archive_done(db: &Db) -> Result<u64, sqlx::Error> {
    archive(db, "status = 'done'").await
}

/// Moves the jobs `filter` (SQL without binds) selects from the hot `outbox` table, which then
/// holds only work to do, to `outbox_done`, in one transaction.
async fn archive(db: &Db, filter: &str) -> Result<u64, sqlx::Error> {
    const COLUMNS: &str = "id, kind, payload, dedupe_key, attempts, last_error, created_at";
    let now = now_ms();
    match db.dialect {
        Dialect::Postgres => {
            let moved = sqlx::query(&format!(
                "WITH moved AS (DELETE FROM outbox WHERE {filter} RETURNING {COLUMNS}, locked_by) \
                 INSERT INTO outbox_done ({COLUMNS}, finished_by, finished_at) SELECT {COLUMNS}, locked_by, $1 FROM moved"
            ))
            .bind(now)
            .execute(&db.writes)
            .await?;
            Ok(moved.rows_affected())
        }
        Dialect::Sqlite => {
            // One writer at a time: nothing changes between the two statements.
            let mut tx = db.writes.begin().await?;
            sqlx::query(&format!(
                "INSERT INTO outbox_done ({COLUMNS}, finished_by, finished_at) \
                 SELECT {COLUMNS}, locked_by, $1 FROM outbox WHERE {filter}"
            ))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let moved = sqlx::query(&format!("DELETE FROM outbox WHERE {filter}")).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(moved.rows_affected())
        }
    }
}

/// How long finished jobs are kept in `outbox_done`, for looking into what ran.
const KEEP_DONE_MS: i64 = 14 * 24 * 3600 * 1000;

/// Forgets finished jobs older than [`KEEP_DONE_MS`].
pub async fn prune_done(db: &Db) -> Result<u64, sqlx::Error> {
    let pruned = sqlx::query("DELETE FROM outbox_done WHERE finished_at < $1")
        .bind(now_ms() - KEEP_DONE_MS)
        .execute(&db.writes)
        .await?;
    Ok(pruned.rows_affected())
}

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

fn lease_ms(lease: std::time::Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Extends this worker's claims on `ids` by `lease` from now.
pub async fn renew(db: &Db, worker_id: &str, ids: &[i64], lease: std::time::Duration) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let ids = id_list(ids);
    sqlx::query(&format!(
        "UPDATE outbox SET locked_until = $1 WHERE id IN ({ids}) AND locked_by = $2 AND status = 'running'"
    ))
    .bind(now + lease_ms(lease))
    .bind(worker_id)
    .execute(&db.writes)
    .await?;
    Ok(())
}

/// Settles jobs whose worker stopped (claim expired): one with a live newer twin merges into it
/// (the twin does the same work); one that used up its attempts this way (it keeps crashing or
/// hanging its worker) becomes a dead letter. Returns how many jobs it settled.
pub async fn settle_abandoned(db: &Db, kinds: &[&str]) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let kinds = kind_list(kinds);
    let live_twin = live_twin("$1");
    let merged = sqlx::query(&format!(
        "UPDATE outbox SET status = 'done', last_error = 'its worker stopped; merged into a newer twin', \
         locked_by = NULL, locked_until = NULL, updated_at = $1 \
         WHERE id IN (SELECT id FROM outbox o WHERE kind IN ({kinds}) AND status = 'running' AND locked_until < $1 \
                      AND EXISTS ({live_twin}))"
    ))
    .bind(now)
    .execute(&db.writes)
    .await?;
    let dead = sqlx::query(&format!(
        "UPDATE outbox SET status = 'dead', locked_by = NULL, locked_until = NULL, updated_at = $1, \
         last_error = 'its worker stopped before finishing it on every attempt (a crash, a kill or a hang); ' || COALESCE(last_error, '') \
         WHERE kind IN ({kinds}) AND status = 'running' AND locked_until < $1 AND attempts >= max_attempts"
    ))
    .bind(now)
    .execute(&db.writes)
    .await?;
    if dead.rows_affected() > 0 {
        bury_older_twins(db).await?;
    } else if merged.rows_affected() > 0 {
        archive_done(db).await?;
    }
    Ok(merged.rows_affected() + dead.rows_affected())
}

/// Puts a job back untried, due after `delay`, its claim's attempt not counted.
pub async fn defer(db: &Db, claimed: &Claimed, worker_id: &str, delay: std::time::Duration) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let deferred = sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = attempts - 1, run_at = $1, locked_by = NULL, \
         locked_until = NULL, updated_at = $2 WHERE id = $3 AND locked_by = $4",
    )
    .bind(now + lease_ms(delay))
    .bind(now)
    .bind(claimed.id)
    .bind(worker_id)
    .execute(&db.writes)
    .await;
    match deferred {
        // A twin waits already: it will do this one's work.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => merge_into_twin(db, claimed, worker_id, None).await,
        other => other.map(drop),
    }
}

/// Ends a claimed job whose waiting twin will do its work; `error` says why it stopped, if it failed.
async fn merge_into_twin(db: &Db, claimed: &Claimed, worker_id: &str, error: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET status = 'done', last_error = COALESCE($1, last_error), locked_by = NULL, \
         locked_until = NULL, updated_at = $2 WHERE id = $3 AND locked_by = $4",
    )
    .bind(error)
    .bind(now_ms())
    .bind(claimed.id)
    .bind(worker_id)
    .execute(&db.writes)
    .await?;
    archive_done(db).await?;
    Ok(())
}

/// Records a failure: retried later with backoff, merged into a twin that waits already (it
/// does the same work), or parked as a dead letter.
pub async fn fail(
    db: &Db,
    claimed: &Claimed,
    worker_id: &str,
    error: &str,
    retryable: bool,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let dead = !retryable || claimed.attempts >= MAX_ATTEMPTS;
    let failed = sqlx::query(
        "UPDATE outbox SET status = CASE WHEN $1 = 1 THEN 'dead' \
             WHEN EXISTS (SELECT 1 FROM outbox t WHERE t.dedupe_key = outbox.dedupe_key AND t.id <> outbox.id \
                          AND t.status = 'pending') THEN 'done' \
             ELSE 'pending' END, \
         run_at = $2, last_error = $3, locked_by = NULL, locked_until = NULL, updated_at = $4 \
         WHERE id = $5 AND locked_by = $6",
    )
    .bind(i64::from(dead))
    .bind(now + backoff_ms(claimed.attempts))
    .bind(error)
    .bind(now)
    .bind(claimed.id)
    .bind(worker_id)
    .execute(&db.writes)
    .await;
    match failed {
        // A twin was enqueued between the check and the write (PostgreSQL): merge into it.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            merge_into_twin(db, claimed, worker_id, Some(error)).await
        }
        Ok(_) if dead => bury_older_twins(db).await,
        Ok(_) => archive_done(db).await.map(drop),
        Err(other) => Err(other),
    }
}

/// Keeps one dead letter per dedupe key, the newest: jobs of one key do the same work (they read
/// current state when they run), so older dead twins would only be the same failure listed
/// again, and replaying any one would do all of their work. The older ones are archived with a
/// note saying so.
async fn bury_older_twins(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET status = 'done', updated_at = $1, \
         last_error = 'a newer dead letter of the same work replaces it; ' || COALESCE(last_error, '') \
         WHERE status = 'dead' AND EXISTS (SELECT 1 FROM outbox t WHERE t.dedupe_key = outbox.dedupe_key \
                                           AND t.status = 'dead' AND t.id > outbox.id)",
    )
    .bind(now_ms())
    .execute(&db.writes)
    .await?;
    archive_done(db).await.map(drop)
}

/// After the first failure 1 s, then 2 s, 4 s … capped at 30 minutes, each with up to 50 % random
/// jitter so retries spread out.
pub fn backoff_ms(attempts: i64) -> i64 {
    let base = 1000_i64 << (attempts - 1).clamp(0, 20);
    let base = base.min(30 * 60 * 1000);
    base + rand::rng().random_range(0..=base / 2)
}

/// How long the oldest job that is due has waited, in milliseconds; `None` when none is due.
pub async fn oldest_due_age_ms(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    let now = now_ms();
    let (oldest,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(run_at) FROM outbox WHERE status = 'pending' AND run_at <= $1")
            .bind(now)
            .fetch_one(&db.pool)
            .await?;
    Ok(oldest.map(|run_at| now - run_at))
}

/// Jobs of one kind in one state, as [`census`] counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCount {
    pub kind: String,
    /// `pending`, `running` or `dead`.
    pub status: String,
    /// Some job of the group has failed before (a pending one is waiting to be retried).
    pub retried: bool,
    /// Its run time has come.
    pub due: bool,
    pub jobs: i64,
    /// The earliest run time of the group (Unix ms).
    pub oldest_run_at: i64,
}

/// How many jobs wait, run and lie dead, by kind: one grouped read of the queue table.
pub async fn census(db: &Db) -> Result<Vec<QueueCount>, sqlx::Error> {
    // Flags as 0/1 integers: SQLite has no boolean to decode.
    let rows: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT kind, status, retried, due, COUNT(*), MIN(run_at) FROM \
         (SELECT kind, status, run_at, CASE WHEN attempts > 0 THEN 1 ELSE 0 END AS retried, \
                 CASE WHEN run_at <= $1 THEN 1 ELSE 0 END AS due FROM outbox WHERE status <> 'done') jobs \
         GROUP BY kind, status, retried, due",
    )
    .bind(now_ms())
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, status, retried, due, jobs, oldest_run_at)| QueueCount {
            kind,
            status,
            retried: retried == 1,
            due: due == 1,
            jobs,
            oldest_run_at,
        })
        .collect())
}

/// A job about a payment, waiting, dead or done, as the console's timeline shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRecord {
    pub kind: String,
    /// pending, running, dead, or done.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    /// When it finished (done), or last changed.
    pub at: i64,
}

/// The jobs whose own key is one of `keys`, or one of them, a colon and more (a payment's jobs
/// are keyed by its id, its reminders by id and step), oldest first. Dedupe keys are the kind,
/// a colon, and the job's own key.
pub async fn jobs_about(db: &Db, keys: &[String]) -> Result<Vec<JobRecord>, sqlx::Error> {
    let mut jobs = Vec::new();
    for key in keys {
        let key = key.replace(['%', '_'], "");
        let (exact, longer) = (format!("%:{key}"), format!("%:{key}:%"));
        jobs.extend(
            sqlx::query_as::<_, JobRecord>(
                "SELECT kind, status, attempts, last_error, created_at, updated_at AS at FROM outbox \
                 WHERE dedupe_key LIKE $1 OR dedupe_key LIKE $2 \
                 UNION ALL SELECT kind, 'done' AS status, attempts, last_error, created_at, finished_at AS at \
                 FROM outbox_done WHERE dedupe_key LIKE $1 OR dedupe_key LIKE $2",
            )
            .bind(&exact)
            .bind(&longer)
            .fetch_all(&db.pool)
            .await?,
        );
    }
    jobs.sort_by_key(|job| (job.created_at, job.at));
    Ok(jobs)
}

pub async fn list(db: &Db, dead_only: bool) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let filter = if dead_only { "WHERE status = 'dead'" } else { "WHERE status <> 'done'" };
    sqlx::query_as(&format!(
        "SELECT id, kind, payload, status, attempts, run_at, last_error FROM outbox {filter} ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await
}

/// Which dead letters to replay.
#[derive(Debug, Clone, Copy)]
pub enum Replay<'a> {
    All,
    One(i64),
    /// Those of these kinds (a class's, say): compile-time job names, never user input.
    Kinds(&'a [&'a str]),
}

/// Puts dead letters back in the queue; returns how many.
pub async fn replay(db: &Db, which: Replay<'_>) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let dead: Vec<(i64,)> = match which {
        Replay::One(id) => {
            sqlx::query_as("SELECT id FROM outbox WHERE id = $1 AND status = 'dead'")
                .bind(id)
                .fetch_all(&db.pool)
                .await?
        }
        Replay::All => {
            sqlx::query_as("SELECT id FROM outbox WHERE status = 'dead' ORDER BY id").fetch_all(&db.pool).await?
        }
        Replay::Kinds(kinds) => {
            sqlx::query_as(&format!(
                "SELECT id FROM outbox WHERE status = 'dead' AND kind IN ({}) ORDER BY id",
                kind_list(kinds)
            ))
            .fetch_all(&db.pool)
            .await?
        }
    };
    let mut replayed = 0;
    for (id,) in dead {
        let result = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, run_at = $1, updated_at = $1 WHERE id = $2 AND status = 'dead'",
        )
        .bind(now)
        .bind(id)
        .execute(&db.writes)
        .await;
        match result {
            Ok(done) => replayed += done.rows_affected(),
            // The same job is already waiting: it will do this one's work.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                sqlx::query("UPDATE outbox SET status = 'done', updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&db.writes)
                    .await?;
                archive_done(db).await?;
                replayed += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(replayed)
}
