//! Webhook throughput (a benchmark, not a test): 5,000 signed Stripe events of one type sent to
//! a Remit process over 16 and over 64 keep-alive connections, on SQLite and on PostgreSQL. For
//! each run: acknowledgements per second (verified, stored durably, job enqueued, 200) with
//! p50/p99/max latency; how long until every event was applied (events per second from the first
//! event); and until the outbox was empty (the syncs to Salesforce and the receipts included).
//! In the same run, nginx answering `return 200` to the same requests over the same
//! connections is the machine's ceiling, and Remit's share of it is printed. On PostgreSQL the
//! application is measured again with two Remit instances draining one queue, each job run once.
//!
//! Run: `cargo bench -p server --bench webhook_throughput`; with
//! `REMIT_BENCH_POSTGRES_URL=postgres://user@127.0.0.1:5432/postgres` (a server with fsync on; each
//! run creates its own database) PostgreSQL too. `REMIT_BENCH_EVENTS` changes the 5,000.

#[path = "support/mod.rs"]
mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use server::db::Db;
use support::{Load, Nginx, Remit, Request};

const KINDS: [&str; 2] = ["checkout.session.completed", "payment_intent.succeeded"];
const CONNECTIONS: [usize; 2] = [16, 64];

struct Row {
    database: &'static str,
    kind: &'static str,
    connections: usize,
    instances: usize,
    ack: Load,
    applied: Duration,
    emptied: Duration,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count: usize = std::env::var("REMIT_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    println!("machine: {}", support::machine());
    let mut rows = Vec::new();
    let mut ceilings = Vec::new();

    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    rows.extend(runs("SQLite", &sqlite, dir.path(), count, false, &mut ceilings).await);
    match std::env::var("REMIT_BENCH_POSTGRES_URL") {
        Ok(admin) => {
            let url = fresh_database(&admin).await;
            rows.extend(runs("PostgreSQL", &url, dir.path(), count, true, &mut ceilings).await);
        }
        Err(_) => println!("(PostgreSQL skipped: set REMIT_BENCH_POSTGRES_URL)"),
    }

    println!();
    println!("{HEADER}");
    for row in &rows {
        println!("{}", row.line(count, &ceilings));
    }
}

const HEADER: &str = "| database | event | connections | instances | acks/s | p50 ms | p99 ms | max ms | nginx acks/s | \
                      share of nginx | applied/s | outbox empty after |\n\
                      | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

impl Row {
    /// The row of the table, with nginx's figure over as many connections beside it.
    fn line(&self, count: usize, ceilings: &[(usize, f64)]) -> String {
        let ceiling = ceilings.iter().find(|(c, _)| *c == self.connections).map_or(0.0, |(_, rate)| *rate);
        let share = if ceiling > 0.0 { format!("{:.2}", self.ack.per_second() / ceiling) } else { "-".into() };
        format!(
            "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} | {share} | {:.0} | {:.1} s |",
            self.database,
            self.kind,
            self.connections,
            self.instances,
            self.ack.per_second(),
            self.ack.percentile_ms(0.50),
            self.ack.percentile_ms(0.99),
            self.ack.max_ms(),
            ceiling,
            count as f64 / self.applied.as_secs_f64(),
            self.emptied.as_secs_f64(),
        )
    }
}

/// Every event type over every connection count on one database (and, with `two_instances`,
/// one more run drained by two instances); the nginx ceiling measured beside the first runs.
async fn runs(
    database: &'static str,
    url: &str,
    dir: &std::path::Path,
    count: usize,
    two_instances: bool,
    ceilings: &mut Vec<(usize, f64)>,
) -> Vec<Row> {
    let port = support::free_port();
    let sandbox = support::sandbox_for(port).await;
    // REMIT_BENCH_WORKERS sets the instance's REMIT_WORKERS ("events=0,…" measures acknowledging alone).
    let workers = std::env::var("REMIT_BENCH_WORKERS").unwrap_or_else(|_| "events=2,sync=1,mail=1,receipts=1".into());
    let mut remit = Remit::new(port, url, dir, &sandbox, &[("REMIT_WORKERS", &workers)]);
    remit.start().await;
    let key = remit.api_key().await;
    let db = Db::connect(&url.parse().unwrap()).await.unwrap();
    let mut rows = Vec::new();
    let mut run = 0;
    for kind in KINDS {
        for connections in CONNECTIONS {
            run += 1;
            eprintln!("{database}: {count} {kind} over {connections} connections…");
            let requests = prepared(&remit, &key, &sandbox, &db, count, kind, run).await;
            if ceilings.len() < CONNECTIONS.len() && !ceilings.iter().any(|(c, _)| *c == connections) {
                ceilings.push((connections, ceiling(&requests, connections).await));
            }
            let (ack, applied, emptied) = measure(&remit, &db, requests, connections).await;
            let row = Row { database, kind, connections, instances: 1, ack, applied, emptied };
            eprintln!("{}", row.line(count, ceilings));
            rows.push(row);
        }
    }
    if two_instances {
        let mut second = Remit::new(support::free_port(), url, dir, &sandbox, &[]);
        second.start_command(&["worker"]).await;
        run += 1;
        let (kind, connections) = (KINDS[1], 64);
        eprintln!("{database}: {count} {kind} over {connections} connections, two instances draining…");
        let requests = prepared(&remit, &key, &sandbox, &db, count, kind, run).await;
        let (ack, applied, emptied) = measure(&remit, &db, requests, connections).await;
        let row = Row { database, kind, connections, instances: 2, ack, applied, emptied };
        eprintln!("{}", row.line(count, ceilings));
        rows.push(row);
        assert_each_job_ran_once(&db).await;
        second.kill().await;
    }
    remit.kill().await;
    rows
}

/// `count` fresh payment links and one signed `kind` event for each, paying it.
async fn prepared(
    remit: &Remit,
    key: &str,
    sandbox: &sandbox::Sandbox,
    db: &Db,
    count: usize,
    kind: &str,
    run: usize,
) -> Arc<Vec<Request>> {
    let links = support::payment_links(remit, key, &sandbox.salesforce, count, false).await;
    support::drained(db, &[]).await;
    let events = links
        .iter()
        .enumerate()
        .map(|(n, (payment, _, amount))| {
            let body = support::event(&format!("evt_r{run}_{n}"), kind, object(kind, run, n, payment, *amount));
            (vec![("Stripe-Signature".to_owned(), support::signature(&body))], body)
        })
        .collect();
    Arc::new(events)
}

/// Stripe's example object of the event's type, made this payment's.
fn object(kind: &str, run: usize, n: usize, payment: &str, amount: i64) -> Value {
    let intent = format!("pi_r{run}_{n}");
    let mut object = if kind == "checkout.session.completed" {
        let mut session = support::stripe_example("checkout.session");
        for (field, value) in [
            ("id", json!(format!("cs_r{run}_{n}"))),
            ("status", json!("complete")),
            ("payment_status", json!("paid")),
            ("amount_total", json!(amount)),
            ("amount_subtotal", json!(amount)),
            ("currency", json!("usd")),
            ("payment_intent", json!(intent)),
            ("mode", json!("payment")),
        ] {
            session[field] = value;
        }
        session
    } else {
        let mut intent_object = support::stripe_example("payment_intent");
        for (field, value) in [
            ("id", json!(intent)),
            ("status", json!("succeeded")),
            ("amount", json!(amount)),
            ("amount_received", json!(amount)),
            ("currency", json!("usd")),
        ] {
            intent_object[field] = value;
        }
        intent_object
    };
    object["metadata"] = json!({ "remit_payment_id": payment });
    object
}

/// nginx answering the same requests over the same number of connections.
async fn ceiling(requests: &Arc<Vec<Request>>, connections: usize) -> f64 {
    let root = tempfile::tempdir().unwrap();
    let Some(nginx) = Nginx::start(root.path(), r#"{"received":true,"duplicate":false}"#) else {
        println!("(nginx not found: apt-get install nginx-light for the ceiling)");
        return 0.0;
    };
    support::load(&format!("{}/webhook", nginx.address), requests.clone(), connections).await.per_second()
}

/// The acknowledgements, then how long from the first event until every event was applied and
/// until the outbox was empty.
async fn measure(
    remit: &Remit,
    db: &Db,
    requests: Arc<Vec<Request>>,
    connections: usize,
) -> (Load, Duration, Duration) {
    let started = Instant::now();
    let ack = support::load(&format!("{}/webhooks/stripe", remit.address), requests, connections).await;
    if std::env::var("REMIT_BENCH_WORKERS").is_ok_and(|w| w.contains("events=0")) {
        // Acknowledging alone: nothing applies the events.
        return (ack, Duration::MAX, Duration::MAX);
    }
    support::drained(db, &["apply_stripe_event"]).await;
    let applied = started.elapsed();
    support::drained(db, &[]).await;
    (ack, applied, started.elapsed())
}

/// No job ran to its end twice: each finished job's key appears once among the finished jobs of
/// its kind, and every payment moved to paid once.
async fn assert_each_job_ran_once(db: &Db) {
    let (twice,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM (SELECT dedupe_key FROM outbox_done WHERE kind = 'apply_stripe_event' \
         GROUP BY dedupe_key HAVING COUNT(*) > 1) doubled",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(twice, 0, "an event's job ran twice");
    let (paid_twice,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM (SELECT payment_id FROM audit_log WHERE to_status = 'paid' \
         GROUP BY payment_id HAVING COUNT(*) > 1) doubled",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(paid_twice, 0, "a payment moved to paid twice");
    println!("two instances: no job ran twice, no payment moved twice");
}

/// A new, empty database on the server `admin` names; its URL.
async fn fresh_database(admin: &str) -> String {
    let name = format!("remit_bench_{}", std::process::id());
    let pool = sqlx::PgPool::connect(admin).await.expect("the PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.unwrap();
    let (base, _) = admin.rsplit_once('/').expect("a database URL");
    format!("{base}/{name}")
}
