//! What `synchronous = FULL` costs on SQLite: the commit of one stored webhook (the event row and
//! its job, in one transaction, as `record_event` does) with FULL, which Remit uses, and with
//! NORMAL, which may lose the last commits on power loss. Sequential commits on one connection.
//!
//! Run: `cargo bench -p server --bench sqlite_durability` (REMIT_BENCH_COMMITS, default 2000).

use std::time::Instant;

use server::db::{Db, now_ms};
use sqlx::Executor;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let commits: usize = std::env::var("REMIT_BENCH_COMMITS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    println!("| synchronous | commits/s | commit p50 | commit p99 |\n| --- | --- | --- | --- |");
    for mode in ["FULL", "NORMAL"] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let db = Db::connect(&url.parse().unwrap()).await.unwrap();
        db.migrate().await.unwrap();
        let mut conn = db.pool.acquire().await.unwrap();
        conn.execute(format!("PRAGMA synchronous = {mode}").as_str()).await.unwrap();
        let mut took = Vec::with_capacity(commits);
        let started = Instant::now();
        for n in 0..commits {
            let one = Instant::now();
            let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
            sqlx::query("INSERT INTO stripe_events (id, event_type, payload, received_at) VALUES ($1, $2, $3, $4)")
                .bind(format!("evt_{n}"))
                .bind("payment_intent.succeeded")
                .bind(r#"{"id":"evt","type":"payment_intent.succeeded","data":{"object":{}}}"#)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO outbox (kind, payload, dedupe_key, status, attempts, max_attempts, run_at, created_at, updated_at) \
                 VALUES ('apply_stripe_event', '{}', $1, 'pending', 0, 10, 0, 0, 0)",
            )
            .bind(format!("apply_stripe_event:evt_{n}"))
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
            took.push(one.elapsed().as_secs_f64() * 1000.0);
        }
        let rate = commits as f64 / started.elapsed().as_secs_f64();
        took.sort_by(f64::total_cmp);
        let percentile = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
        println!("| {mode} | {rate:.0} | {:.2} ms | {:.2} ms |", percentile(0.5), percentile(0.99));
    }
}
