//! A burst of 5,000 payments paid at once, pushed to the Salesforce stand-in (a benchmark, not a
//! test): Salesforce API calls used, payments per call, and latency from webhook receipt to the
//! Salesforce write (p50/p99). The release `remit` binary runs as its own process on SQLite; the
//! webhooks come over 64 keep-alive connections.
//!
//! Run: `cargo bench -p server --bench salesforce_burst` (REMIT_BENCH_PAYMENTS changes the count).

#[path = "support/mod.rs"]
mod support;

use std::{collections::HashMap, sync::Arc, time::Instant};

use serde_json::json;
use server::db::Db;
use support::Remit;
use time::{OffsetDateTime, PrimitiveDateTime, macros::format_description};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count: usize = std::env::var("REMIT_BENCH_PAYMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    println!("machine: {}", support::machine());
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let sandbox = support::sandbox_for(port).await;
    let database_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut remit = Remit::new(port, &database_url, dir.path(), &sandbox, &[]);
    remit.start().await;
    let key = remit.api_key().await;
    let db = Db::connect(&database_url.parse().unwrap()).await.unwrap();
    let org = &sandbox.salesforce;

    eprintln!("setting up {count} Opportunities and payment links…");
    let links = support::payment_links(&remit, &key, org, count, false).await;
    support::drained(&db, &[]).await;

    eprintln!("burst: {count} payment_intent.succeeded webhooks…");
    let requests: Vec<_> = links
        .iter()
        .enumerate()
        .map(|(n, (payment, _, amount))| {
            let object = json!({ "id": format!("pi_bench_{n}"), "object": "payment_intent", "status": "succeeded", "amount": amount, "amount_received": amount, "currency": "usd", "metadata": { "remit_payment_id": payment } });
            let body = support::event(&format!("evt_bench_{n}"), "payment_intent.succeeded", object);
            (vec![("Stripe-Signature".to_owned(), support::signature(&body))], body)
        })
        .collect();
    let calls_before = org.api_usage();
    let sent = OffsetDateTime::now_utc();
    let started = Instant::now();
    let ack = support::load(&format!("{}/webhooks/stripe", remit.address), Arc::new(requests), 64).await;
    support::drained(&db, &["sync_payment", "apply_stripe_event"]).await;
    let elapsed = started.elapsed();
    let calls = org.api_usage() - calls_before;

    // A webhook counts as received when Remit answered it (stored durably).
    let received: HashMap<&str, OffsetDateTime> =
        links.iter().zip(&ack.answered).map(|((_, opportunity, _), at)| (opportunity.as_str(), sent + *at)).collect();
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");
    let mut latencies: Vec<f64> = org
        .records("Opportunity")
        .iter()
        .filter(|o| o["Payment_Status__c"] == "Paid")
        .filter_map(|o| {
            let sent = received.get(o["Id"].as_str()?)?;
            let written = PrimitiveDateTime::parse(o["LastModifiedDate"].as_str()?, &format).ok()?.assume_utc();
            Some((written - *sent).as_seconds_f64() * 1000.0)
        })
        .collect();
    assert_eq!(latencies.len(), count, "every payment reached Salesforce as Paid");
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!("payments: {count}");
    println!("webhooks acknowledged in: {:.2} s ({:.0}/s)", ack.wall.as_secs_f64(), ack.per_second());
    println!("burst wall time (first webhook to last Salesforce write): {:.2} s", elapsed.as_secs_f64());
    println!("Salesforce API calls: {calls}");
    println!("payments per call: {:.1}", count as f64 / calls.max(1) as f64);
    println!("webhook receipt → Salesforce write: p50 {:.0} ms, p99 {:.0} ms", percentile(0.50), percentile(0.99));
    remit.kill().await;
}
