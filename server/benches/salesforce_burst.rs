//! A burst of 5,000 payment changes pushed to the Salesforce stand-in: Salesforce API calls used,
//! payments per call, and latency from webhook receipt to the Salesforce write (p50/p99).
//!
//! Run: `cargo bench -p server --bench salesforce_burst` (REMIT_BENCH_PAYMENTS changes the count).

use std::{collections::HashMap, time::Instant};

use sandbox::{Sandbox, SandboxOptions, WebhookTarget};
use serde_json::{Value, json};
use server::{Application, config::Config, db::Db};
use time::{OffsetDateTime, PrimitiveDateTime, macros::format_description};

const SECRET: &str = "whsec_bench";

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count: usize = std::env::var("REMIT_BENCH_PAYMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let sandbox = Sandbox::spawn_with(SandboxOptions {
        webhook: Some(WebhookTarget { url: format!("{address}/webhooks/stripe"), secret: SECRET.into() }),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let credentials = sandbox::SalesforceCredentials::default();
    let database_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let env: HashMap<String, String> = HashMap::from([
        ("REMIT_PUBLIC_URL".into(), address.clone()),
        ("DATABASE_URL".into(), database_url.clone()),
        ("REMIT_MAIL_DIR".into(), dir.path().join("mail").display().to_string()),
        ("STRIPE_SECRET_KEY".into(), sandbox::STRIPE_SECRET_KEY.into()),
        ("STRIPE_WEBHOOK_SECRET".into(), SECRET.into()),
        ("STRIPE_API_BASE".into(), sandbox.stripe_url.clone()),
        ("SALESFORCE_LOGIN_URL".into(), sandbox.salesforce_url.clone()),
        ("SALESFORCE_CLIENT_ID".into(), credentials.client_id),
        ("SALESFORCE_CLIENT_SECRET".into(), credentials.client_secret),
    ]);
    let app = Application::build_on(Config::load(&env).unwrap(), listener).await.unwrap();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let db = Db::connect(&database_url.parse().unwrap()).await.unwrap();
    let (_, key) = server::api_keys::create(&db, "bench").await.unwrap();
    let http = reqwest::Client::new();
    let org = &sandbox.salesforce;

    eprintln!("setting up {count} Opportunities and payment links…");
    let mut payments = Vec::with_capacity(count);
    for n in 0..count {
        let opportunity = org.insert(
            "Opportunity",
            json!({ "Name": format!("Bench {n}"), "OwnerId": "0055g00000IntUsAAJ", "StageName": "Prospecting" }),
        );
        let body = json!({ "opportunity_id": opportunity, "amount_minor": 5000 + n, "currency": "usd", "payer_email": format!("payer{n}@example.com") });
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
        payments.push((created["payment_id"].as_str().unwrap().to_owned(), opportunity));
    }
    idle(&db).await;

    eprintln!("burst: {count} payment_intent.succeeded webhooks…");
    let calls_before = org.api_usage();
    let mut received_at = HashMap::new();
    let started = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    for (n, (payment, opportunity)) in payments.iter().enumerate() {
        let event = json!({ "id": format!("evt_bench_{n}"), "object": "event", "type": "payment_intent.succeeded", "created": OffsetDateTime::now_utc().unix_timestamp(), "data": { "object": { "id": format!("pi_bench_{n}"), "object": "payment_intent", "metadata": { "remit_payment_id": payment } } } }).to_string();
        let signature = server::stripe::signature::sign(
            &SECRET.to_owned().into(),
            OffsetDateTime::now_utc().unix_timestamp(),
            event.as_bytes(),
        );
        let http = http.clone();
        let url = format!("{address}/webhooks/stripe");
        let opportunity = opportunity.clone();
        sends.spawn(async move {
            let sent = OffsetDateTime::now_utc();
            let status = http
                .post(url)
                .header("Stripe-Signature", signature)
                .body(event)
                .send()
                .await
                .map(|r| r.status().as_u16());
            (opportunity, sent, status)
        });
        if sends.len() >= 32 {
            let (opportunity, sent, status) = sends.join_next().await.unwrap().unwrap();
            assert_eq!(status.ok(), Some(200));
            received_at.insert(opportunity, sent);
        }
    }
    while let Some(done) = sends.join_next().await {
        let (opportunity, sent, status) = done.unwrap();
        assert_eq!(status.ok(), Some(200));
        received_at.insert(opportunity, sent);
    }
    idle(&db).await;
    let elapsed = started.elapsed();
    let calls = org.api_usage() - calls_before;

    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");
    let mut latencies: Vec<f64> = org
        .records("Opportunity")
        .iter()
        .filter(|o| o["Payment_Status__c"] == "Paid")
        .filter_map(|o| {
            let sent = received_at.get(o["Id"].as_str()?)?;
            let written = PrimitiveDateTime::parse(o["LastModifiedDate"].as_str()?, &format).ok()?.assume_utc();
            Some((written - *sent).as_seconds_f64() * 1000.0)
        })
        .collect();
    assert_eq!(latencies.len(), count, "every payment reached Salesforce as Paid");
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!("payments: {count}");
    println!("burst wall time: {:.1} s", elapsed.as_secs_f64());
    println!("Salesforce API calls: {calls}");
    println!("payments per call: {:.1}", count as f64 / calls.max(1) as f64);
    println!("webhook receipt → Salesforce write: p50 {:.0} ms, p99 {:.0} ms", percentile(0.50), percentile(0.99));
}

/// Waits until the outbox has nothing left to do.
async fn idle(db: &Db) {
    loop {
        let (busy,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'running')")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if busy == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
