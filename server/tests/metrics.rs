//! `/metrics`: Prometheus's text format, read back by a Prometheus text-format parser, behind its
//! token, with counters and gauges that move as a payment flows. A test binary of its own: the
//! metrics recorder is process-wide, so no other test's payments may move these figures.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::{Mode, TestApp, link_request};
use prometheus_parse::{Scrape, Value};
use serde_json::Value as Json;

const TOKEN: &str = "metrics-token-for-tests";

async fn scrape(app: &TestApp) -> Scrape {
    let response =
        app.client.get(format!("{}/metrics", app.address)).bearer_auth(TOKEN).send().await.expect("answered");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format")
}

/// The value of the sample `metric` whose labels include every pair of `labels` (a histogram's
/// observation count), or 0 when there is none yet.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test]
async fn metrics_need_their_token_and_move_as_a_payment_flows() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_METRICS_TOKEN", TOKEN)]).await;
    let anonymous = app.get("/metrics").await;
    assert_eq!(anonymous.status(), 401);
    let wrong = app.client.get(format!("{}/metrics", app.address)).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    let before = scrape(&app).await;
    assert_eq!(value(&before, "remit_payments", &[("status", "paid")]), 0.0);
    assert_eq!(value(&before, "remit_dead_letters", &[]), 0.0);
    assert_eq!(value(&before, "remit_outbox_jobs", &[("class", "sync"), ("state", "due")]), 0.0, "reported as 0");

    let link: Json = app.post_link(&link_request()).await.json().await.unwrap();
    assert_eq!(app.client.get(link["url"].as_str().unwrap()).send().await.unwrap().status(), 200);
    let location = app.checkout_location(link["url"].as_str().unwrap()).await;
    app.client.post(location).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    let id = link["payment_id"].as_str().unwrap();
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "paid").await;
    app.outbox_idle().await;

    let after = scrape(&app).await;
    let moved = |metric: &str, labels: &[(&str, &str)]| value(&after, metric, labels) - value(&before, metric, labels);
    assert_eq!(value(&after, "remit_payments", &[("status", "paid")]), 1.0);
    let completed = [("type", "checkout.session.completed"), ("outcome", "stored")];
    assert_eq!(moved("remit_webhooks_received_total", &completed), 1.0);
    let link_requests = [("method", "POST"), ("route", "/api/v1/payment-links"), ("status", "201")];
    assert_eq!(moved("remit_http_request_duration_seconds", &link_requests), 1.0);
    let mails = std::fs::read_dir(&app.mail_dir).map(|d| d.count()).unwrap_or(0);
    assert!(mails >= 1, "the receipt at least");
    assert_eq!(moved("remit_emails_total", &[("outcome", "sent")]), mails as f64, "one per email written");
    assert!(moved("remit_jobs_total", &[("kind", "sync_payment"), ("outcome", "succeeded")]) >= 1.0);
    assert!(moved("remit_job_duration_seconds", &[("class", "sync"), ("outcome", "succeeded")]) >= 1.0);
    assert!(moved("remit_stripe_calls_total", &[("outcome", "ok")]) >= 2.0, "a customer and a session at least");
    assert!(moved("remit_salesforce_calls_total", &[("outcome", "ok")]) >= 1.0);
    assert!(value(&after, "remit_salesforce_daily_api_remaining", &[]) > 0.0);
    assert_eq!(value(&after, "remit_outbox_jobs", &[("class", "events"), ("state", "due")]), 0.0);
    assert_eq!(value(&after, "remit_dead_letters", &[]), 0.0);
    let pay_token = link["url"].as_str().unwrap().rsplit('/').next().unwrap();
    let routes: Vec<&str> = after.samples.iter().filter_map(|s| s.labels.get("route")).collect();
    assert!(routes.contains(&"/pay/:token"), "the pay page was timed: {routes:?}");
    assert!(!routes.iter().any(|r| r.contains(pay_token)), "routes are patterns, never paths with tokens");

    // Salesforce refuses the next sync for good: it ends as a dead letter, and the figures say so.
    let refused = sandbox::Fault { status: 400, error_code: "INVALID_FIELD".into(), message: "No such column".into() };
    app.salesforce().inject(refused, 5);
    let mut second = link_request();
    second["opportunity_id"] = serde_json::json!("0065g00000Dead1");
    let second: Json = app.post_link(&second).await.json().await.unwrap();
    let dedupe = format!("sync_payment:{}", second["payment_id"].as_str().unwrap());
    app.eventually(&format!("SELECT status FROM outbox WHERE dedupe_key = '{dedupe}'"), "dead").await;
    let dead = scrape(&app).await;
    assert_eq!(value(&dead, "remit_dead_letters", &[]), 1.0);
    assert_eq!(value(&dead, "remit_outbox_jobs", &[("class", "sync"), ("state", "dead")]), 1.0);
    let failed = [("kind", "sync_payment"), ("outcome", "failed_permanently")];
    assert_eq!(value(&dead, "remit_jobs_total", &failed) - value(&after, "remit_jobs_total", &failed), 1.0);
    assert!(value(&dead, "remit_salesforce_calls_total", &[("outcome", "error")]) >= 1.0);
}
