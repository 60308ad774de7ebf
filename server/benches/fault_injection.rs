//! Fault injection (a benchmark target, not a test): `kill -9` of the Remit process, again and
//! again, during a burst of payment events while the Salesforce stand-in fails a third of its
//! calls. Prints what was lost or doubled (all must be 0) and how long after the last kill
//! Salesforce showed every payment as Remit has it, and the outbox was empty.
//!
//! Run: `cargo bench -p server --bench fault_injection` (REMIT_FAULT_PAYMENTS, default 1000;
//! REMIT_FAULT_KILLS, default 20).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use rand::Rng;
use serde_json::{Value, json};
use server::db::Db;
use tokio::sync::Mutex;

mod support;

use support::{Remit, event, signature};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count: usize = std::env::var("REMIT_FAULT_PAYMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let kills: usize = std::env::var("REMIT_FAULT_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let sandbox = support::sandbox_for(port).await;
    let database_url = format!("sqlite://{}", dir.path().join("fault.db").display());
    let mail_dir = dir.path().join("mail");
    // A killed worker's jobs are taken over after this.
    let mut remit = Remit::new(port, &database_url, dir.path(), &sandbox, &[("REMIT_JOB_LEASE_SECS", "3")]);
    let address = remit.address.clone();
    remit.start().await;
    let key = remit.api_key().await;
    let db = Db::connect(&database_url.parse().unwrap()).await.unwrap();
    let org = &sandbox.salesforce;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    eprintln!("setting up {count} Opportunities and payment links…");
    let mut payments = Vec::with_capacity(count);
    for n in 0..count {
        let opportunity = org.insert(
            "Opportunity",
            json!({ "Name": format!("Fault {n}"), "OwnerId": "0055g00000IntUsAAJ", "StageName": "Prospecting" }),
        );
        let body = json!({ "opportunity_id": opportunity, "amount_minor": 5000 + n, "currency": "usd", "payer_email": format!("payer{n}@example.com"), "send_email": true });
        let created: Value = http
            .post(format!("{address}/api/v1/payment-links"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        payments.push(created["payment_id"].as_str().expect("a payment").to_owned());
    }
    // Every third payment is declined once before it is paid.
    let events: Vec<(String, String)> = payments
        .iter()
        .enumerate()
        .flat_map(|(n, payment)| {
            let declined = (n % 3 == 0).then(|| {
                let object = json!({ "id": format!("pi_f{n}"), "object": "payment_intent", "metadata": { "remit_payment_id": payment }, "latest_charge": format!("ch_f{n}"), "last_payment_error": { "code": "card_declined" } });
                (format!("evt_no{n}"), event(&format!("evt_no{n}"), "payment_intent.payment_failed", object))
            });
            let object = json!({ "id": format!("pi_f{n}"), "object": "payment_intent", "metadata": { "remit_payment_id": payment } });
            declined.into_iter().chain([(format!("evt_ok{n}"), event(&format!("evt_ok{n}"), "payment_intent.succeeded", object))])
        })
        .collect();

    org.disruptions.fail_share(1.0 / 3.0);
    eprintln!("burst: {} events, {kills} kill -9 cycles, a third of Salesforce calls failing…", events.len());
    let remit = Arc::new(Mutex::new(remit));
    let killer = tokio::spawn({
        let remit = remit.clone();
        async move {
            for _ in 0..kills {
                let pause = rand::rng().random_range(200..900);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let mut remit = remit.lock().await;
                remit.kill().await;
                remit.start().await;
            }
        }
    });
    let acknowledged = send_all(&http, &address, events).await;
    killer.await.unwrap();
    let (salesforce_matched, outbox_empty) = converge(&db, org, Duration::from_secs(1800)).await;

    let stored: HashSet<String> = sqlx::query_as::<_, (String,)>("SELECT id FROM stripe_events")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(id,)| id)
        .collect();
    let lost = acknowledged.iter().filter(|id| !stored.contains(*id)).count();
    let tasks = org.records("Task");
    let mut per_cause: BTreeMap<String, usize> = BTreeMap::new();
    for task in &tasks {
        *per_cause.entry(task["Remit_Attempt_ID__c"].as_str().unwrap_or("none").to_owned()).or_default() += 1;
    }
    let duplicate_tasks: usize = per_cause.values().map(|n| n - 1).sum();
    let receipts = mails(&mail_dir, "receipt.");
    let links = mails(&mail_dir, "payment-link.");
    let differing = differing_payments(&db, org).await;
    let seconds = |at: Option<Duration>| {
        at.map_or_else(|| "not within 30 min".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
    };
    remit.lock().await.kill().await;

    println!(
        "machine: {} cores; SQLite; {count} payments, {kills} kill -9 cycles, Salesforce failing 1/3 of calls",
        cores()
    );
    println!("| figure | value |\n| --- | --- |");
    println!("| events acknowledged | {} |", acknowledged.len());
    println!("| acknowledged events lost | {lost} |");
    println!("| failure Tasks (expected {}) | {} |", count.div_ceil(3), tasks.len());
    println!("| duplicate Tasks | {duplicate_tasks} |");
    println!("| payments without exactly one receipt email | {} |", missing_or_doubled(&payments, &receipts));
    println!("| payments without their link email | {} |", payments.iter().filter(|p| !links.contains_key(*p)).count());
    println!("| payments whose Salesforce state differs from Remit's | {differing} |");
    println!(
        "| after the last kill: Salesforce shows every payment as Remit has it | {} |",
        seconds(salesforce_matched)
    );
    println!(
        "| after the last kill: the outbox is empty (retries and their backoff included) | {} |",
        seconds(outbox_empty)
    );
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

async fn send_all(http: &reqwest::Client, address: &str, events: Vec<(String, String)>) -> Vec<String> {
    let mut sends = tokio::task::JoinSet::new();
    let mut acknowledged = Vec::new();
    for (id, body) in events {
        let (http, url) = (http.clone(), format!("{address}/webhooks/stripe"));
        sends.spawn(async move {
            for _ in 0..2400 {
                let signature = signature(&body);
                let sent = http.post(&url).header("Stripe-Signature", signature).body(body.clone()).send().await;
                if sent.is_ok_and(|r| r.status() == 200) {
                    return id;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("event {id} was never acknowledged");
        });
        if sends.len() >= 16 {
            acknowledged.push(sends.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(id) = sends.join_next().await {
        acknowledged.push(id.unwrap());
    }
    acknowledged
}

/// Waits (bounded) until Salesforce shows every payment as Remit has it and the outbox has
/// nothing left to do: how long each took, if it happened within `limit`.
async fn converge(db: &Db, org: &sandbox::Salesforce, limit: Duration) -> (Option<Duration>, Option<Duration>) {
    let started = Instant::now();
    let mut matched = None;
    while started.elapsed() < limit {
        if matched.is_none() && differing_payments(db, org).await == 0 {
            matched = Some(started.elapsed());
        }
        let busy: Result<(i64,), _> =
            sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'running')")
                .fetch_one(&db.pool)
                .await;
        if matched.is_some() && busy.is_ok_and(|(n,)| n == 0) {
            return (matched, Some(started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (matched, None)
}

/// Messages written, by payment id, for Message-IDs that start with `prefix` (`.eml` files are
/// named by their Message-ID).
fn mails(dir: &std::path::Path, prefix: &str) -> HashMap<String, usize> {
    let mut found = HashMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(prefix) {
            let payment: String = rest.chars().take(36).collect();
            *found.entry(payment).or_default() += 1;
        }
    }
    found
}

fn missing_or_doubled(payments: &[String], receipts: &HashMap<String, usize>) -> usize {
    payments.iter().filter(|p| receipts.get(*p) != Some(&1)).count()
}

/// Payments whose Payment__c does not show Remit's state (every one ends Paid).
async fn differing_payments(db: &Db, org: &sandbox::Salesforce) -> usize {
    let remit: HashMap<String, String> = sqlx::query_as::<_, (String, String)>("SELECT id, status FROM payments")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let salesforce: HashMap<String, String> = org
        .records("Payment__c")
        .into_iter()
        .filter_map(|p| {
            Some((p["Remit_Payment_ID__c"].as_str()?.to_owned(), p["Payment_Status__c"].as_str()?.to_owned()))
        })
        .collect();
    remit
        .iter()
        .filter(|(id, status)| {
            let expected = if status.as_str() == "paid" { "Paid" } else { "Pending" };
            salesforce.get(*id).map(String::as_str) != Some(expected) || status.as_str() != "paid"
        })
        .count()
}
