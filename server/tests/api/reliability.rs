//! The pipeline under concurrency and faults (DESIGN.md §3 invariants): one sync of a payment at a
//! time, every Task once, nothing stuck while Salesforce misbehaves, jobs that crash or hang end
//! as dead letters, and a panicking job fails alone.

use std::time::Duration;

use serde_json::{Value, json};
use server::outbox;

use crate::helpers::{ALL_JOBS, Mode, TestApp, WEBHOOK_SECRET, link_request};

const OPPORTUNITY: &str = "0065g00000AbCdEAAV";

fn event(id: &str, kind: &str, object: Value) -> String {
    json!({ "id": id, "object": "event", "type": kind, "created": 1_800_000_000, "data": { "object": object } })
        .to_string()
}

async fn new_payment(app: &TestApp, opportunity: &str) -> String {
    let mut request = link_request();
    request["opportunity_id"] = json!(opportunity);
    let body: Value = app.post_link(&request).await.json().await.unwrap();
    body["payment_id"].as_str().unwrap_or_else(|| panic!("no payment: {body}")).to_owned()
}

async fn decline(app: &TestApp, payment: &str, n: u32) {
    let body = event(
        &format!("evt_no{n}_{payment}"),
        "payment_intent.payment_failed",
        json!({ "id": format!("pi_{n}"), "object": "payment_intent", "metadata": { "remit_payment_id": payment }, "latest_charge": format!("ch_{n}"), "last_payment_error": { "code": "card_declined", "decline_code": "insufficient_funds" } }),
    );
    assert_eq!(app.post_webhook(&body, WEBHOOK_SECRET).await.status(), 200);
}

async fn succeed(app: &TestApp, payment: &str, n: u32) {
    let body = event(
        &format!("evt_ok{n}_{payment}"),
        "payment_intent.succeeded",
        json!({ "id": format!("pi_{n}"), "object": "payment_intent", "metadata": { "remit_payment_id": payment } }),
    );
    assert_eq!(app.post_webhook(&body, WEBHOOK_SECRET).await.status(), 200);
}

/// Waits (bounded) until the stand-in holds `n` calls, and returns them.
async fn held_calls(app: &TestApp, n: usize) -> Vec<String> {
    for _ in 0..600 {
        let held = app.salesforce().disruptions.held();
        if held.len() >= n {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("Salesforce never held {n} calls: {:?}", app.salesforce().disruptions.held());
}

fn opportunity_status(app: &TestApp, id: &str) -> Value {
    let record = app.salesforce().records("Opportunity").into_iter().find(|o| o["Id"] == id).unwrap();
    record["Payment_Status__c"].clone()
}

fn failure_tasks(app: &TestApp) -> Vec<Value> {
    let tasks = app.salesforce().records("Task");
    tasks.into_iter().filter(|t| t["Subject"] == "Payment Failed - Immediate Action Required").collect()
}

#[tokio::test]
async fn two_syncs_of_one_payment_never_run_at_once_and_the_last_sends_the_current_state() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_WORKERS", "sync=2")]).await;
    let other = app.salesforce().insert("Opportunity", json!({ "Name": "Other", "StageName": "Prospecting" }));
    let payment = new_payment(&app, OPPORTUNITY).await;
    app.outbox_idle().await;

    app.salesforce().disruptions.hold(true);
    decline(&app, &payment, 1).await;
    held_calls(&app, 1).await; // the failure's sync is on its way, held
    succeed(&app, &payment, 2).await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{payment}'"), "paid").await;
    // The second sync worker is free: it must pass over the paid sync, whose twin still runs, and
    // take the next payment's instead.
    let second = new_payment(&app, &other).await;
    let held = held_calls(&app, 2).await;
    assert!(!held[1].contains(&payment), "a second sync of {payment} ran while the first did: {}", held[1]);
    assert!(held[1].contains(&second), "{}", held[1]);

    app.salesforce().disruptions.hold(false);
    app.outbox_idle().await;
    assert_eq!(opportunity_status(&app, OPPORTUNITY), "Paid", "the last sync sent the state current when it started");
    assert_eq!(failure_tasks(&app).len(), 1, "one Task for the one failed attempt");
}

#[tokio::test]
async fn a_task_committed_by_a_call_whose_answer_never_came_is_not_made_again() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_SALESFORCE_TIMEOUT_SECS", "1")]).await;
    let payment = new_payment(&app, OPPORTUNITY).await;
    app.outbox_idle().await;
    // Salesforce carries out the next call, then answers after Remit has given up on it.
    app.salesforce().disruptions.commit_then_stall(1, Duration::from_secs(3));
    decline(&app, &payment, 1).await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{payment}'"), "failed").await;
    app.outbox_idle().await;
    assert!(
        app.count(&format!("SELECT MAX(attempts) FROM {ALL_JOBS} WHERE kind = 'sync_payment'")).await >= 2,
        "it was retried"
    );
    let tasks = failure_tasks(&app);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["Remit_Attempt_ID__c"], format!("{payment}-failed-ch_1"));
}

#[tokio::test]
async fn a_login_server_answering_503_with_an_html_page_is_retried_not_dead_lettered() {
    let app = TestApp::spawn().await;
    app.salesforce().disruptions.html_outage_of_login(2);
    new_payment(&app, OPPORTUNITY).await;
    app.outbox_idle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await, 0);
    assert_eq!(opportunity_status(&app, OPPORTUNITY), "Pending");
    assert!(
        app.count(&format!("SELECT MAX(attempts) FROM {ALL_JOBS} WHERE kind = 'sync_payment'")).await >= 3,
        "two outages, then through"
    );
}

#[tokio::test]
async fn a_running_job_keeps_its_claim_past_the_lease() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_WORKERS", "sync=2"), ("REMIT_JOB_LEASE_SECS", "1")]).await;
    app.salesforce().disruptions.hold(true);
    new_payment(&app, OPPORTUNITY).await;
    held_calls(&app, 1).await;
    // Three leases long: a claim that were not renewed would have expired, and the other sync
    // worker would have taken the job over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app.salesforce().disruptions.held().len(), 1, "{:?}", app.salesforce().disruptions.held());
    app.salesforce().disruptions.hold(false);
    app.outbox_idle().await;
    assert_eq!(app.count(&format!("SELECT MAX(attempts) FROM {ALL_JOBS} WHERE kind = 'sync_payment'")).await, 1);
}

#[tokio::test]
async fn a_job_that_keeps_stopping_its_worker_ends_as_a_dead_letter_and_a_taken_over_one_counts_the_attempt() {
    let app = TestApp::spawn().await;
    let crashing = new_payment(&app, OPPORTUNITY).await;
    app.outbox_idle().await;
    let mut conn = app.db.pool.acquire().await.unwrap();
    outbox::enqueue(&mut conn, &server::jobs::EmailPaymentLink { payment_id: crashing.clone() }).await.unwrap();
    // As a worker that was killed while running it, for the last of its attempts.
    sqlx::query(
        "UPDATE outbox SET status = 'running', locked_by = 'killed', locked_until = 1, attempts = max_attempts \
         WHERE kind = 'email_payment_link'",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    app.eventually("SELECT status FROM outbox WHERE kind = 'email_payment_link'", "dead").await;
    let (error,): (String,) = sqlx::query_as("SELECT last_error FROM outbox WHERE kind = 'email_payment_link'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(error.contains("its worker stopped before finishing it"), "{error}");

    outbox::enqueue(&mut conn, &server::jobs::EmailReceipt { payment_id: crashing.clone() }).await.unwrap();
    sqlx::query(
        "UPDATE outbox SET status = 'running', locked_by = 'killed', locked_until = 1, attempts = 3 WHERE kind = 'email_receipt'",
    )
    .execute(&app.db.pool)
    .await
    .unwrap();
    // Taken over and run (it fails for good: the payment has no receipt), its fourth attempt.
    app.eventually("SELECT status FROM outbox WHERE kind = 'email_receipt'", "dead").await;
    assert_eq!(app.count("SELECT attempts FROM outbox WHERE kind = 'email_receipt'").await, 4);
}

#[tokio::test]
async fn a_failure_while_a_twin_waits_merges_into_the_twin() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_WORKERS", "events=0,sync=0,mail=0,receipts=0")]).await;
    let payment = new_payment(&app, OPPORTUNITY).await;
    let job = server::jobs::EmailPaymentLink { payment_id: payment.clone() };
    let mut conn = app.db.pool.acquire().await.unwrap();
    outbox::enqueue(&mut conn, &job).await.unwrap();
    let kinds = ["email_payment_link"];
    let claimed = outbox::claim(&app.db, "w1", &kinds, 1, Duration::from_secs(300)).await.unwrap().pop().unwrap();
    // The payment's terms change while the email is being sent: a twin waits.
    outbox::enqueue(&mut conn, &job).await.unwrap();
    outbox::fail(&app.db, &claimed, "w1", "the mail server is down", true).await.expect("the failure is recorded");
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT status FROM outbox WHERE kind = 'email_payment_link' ORDER BY id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let statuses: Vec<&str> = rows.iter().map(|(s,)| s.as_str()).collect();
    assert_eq!(statuses, ["pending"], "one email left to send");
    let merged: Vec<(String,)> =
        sqlx::query_as("SELECT COALESCE(last_error, '') FROM outbox_done WHERE kind = 'email_payment_link'")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(merged, [("the mail server is down".to_owned(),)], "the failed one merged into its twin");
}

#[tokio::test]
async fn while_salesforce_hangs_webhooks_and_receipts_go_on() {
    let app = TestApp::spawn().await;
    let other = app.salesforce().insert("Opportunity", json!({ "Name": "Other", "StageName": "Prospecting" }));
    app.salesforce().disruptions.hold(true);
    let first = new_payment(&app, OPPORTUNITY).await;
    let second = new_payment(&app, &other).await;
    held_calls(&app, 1).await;
    succeed(&app, &first, 1).await;
    succeed(&app, &second, 2).await;
    for payment in [&first, &second] {
        app.eventually(&format!("SELECT status FROM payments WHERE id = '{payment}'"), "paid").await;
    }
    for _ in 0..600 {
        if receipt_mails(&app) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(receipt_mails(&app), 2, "both receipts were emailed while Salesforce hung");
    app.salesforce().disruptions.hold(false);
    app.outbox_idle().await;
    assert_eq!(opportunity_status(&app, OPPORTUNITY), "Paid");
}

fn receipt_mails(app: &TestApp) -> usize {
    let Ok(entries) = std::fs::read_dir(&app.mail_dir) else { return 0 };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains("Subject: Your receipt from"))
        .count()
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_its_worker_goes_on() {
    let app = TestApp::spawn().await;
    let broken = new_payment(&app, OPPORTUNITY).await;
    app.outbox_idle().await;
    // A row no code path writes: syncing it panics where the currency is read.
    sqlx::query("UPDATE payments SET currency = 'XXX' WHERE id = $1")
        .bind(&broken)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let mut conn = app.db.pool.acquire().await.unwrap();
    outbox::enqueue(&mut conn, &server::jobs::SyncPayment { payment_id: broken.clone() }).await.unwrap();
    app.eventually(
        &format!(
            "SELECT CASE WHEN last_error LIKE '%panicked%' THEN status ELSE '' END FROM outbox \
             WHERE dedupe_key = 'sync_payment:{broken}' AND attempts >= 1 AND status <> 'done'"
        ),
        "pending",
    )
    .await;
    let other = app.salesforce().insert("Opportunity", json!({ "Name": "Other", "StageName": "Prospecting" }));
    new_payment(&app, &other).await;
    for _ in 0..600 {
        if opportunity_status(&app, &other) == "Pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(opportunity_status(&app, &other), "Pending", "the sync worker went on after the panic");
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["workers"]["sync"], json!({ "started": 1, "running": 1 }), "{ready}");
    assert_eq!(ready["status"], "ready");
}

#[tokio::test]
async fn after_repeated_outages_syncs_wait_for_salesforce_and_readyz_says_since_when() {
    let app = TestApp::spawn().await;
    app.salesforce().inject(
        sandbox::Fault { status: 503, error_code: "SERVER_UNAVAILABLE".into(), message: "down".into() },
        server::sync::OPEN_AFTER,
    );
    new_payment(&app, OPPORTUNITY).await;
    let mut ready = Value::Null;
    for _ in 0..600 {
        // Past the retry backoff at once, so the outages come one after another.
        sqlx::query("UPDATE outbox SET run_at = 0 WHERE status = 'pending'").execute(&app.db.pool).await.unwrap();
        ready = app.get("/readyz").await.json().await.unwrap();
        if ready["salesforce"]["reachable"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(ready["salesforce"]["reachable"], false, "{ready}");
    assert!(ready["salesforce"]["unreachable_since"].is_string(), "{ready}");
    assert_eq!(ready["status"], "ready", "webhooks are still taken: {ready}");

    // The faults are spent: the next probe gets through, and the sync with it (a probe every
    // few seconds; a loaded machine may take a while).
    for _ in 0..2400 {
        if opportunity_status(&app, OPPORTUNITY) == "Pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(opportunity_status(&app, OPPORTUNITY), "Pending");
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["salesforce"]["reachable"], true, "{ready}");
    let attempts = app.count(&format!("SELECT MAX(attempts) FROM {ALL_JOBS} WHERE kind = 'sync_payment'")).await;
    assert_eq!(attempts, i64::from(server::sync::OPEN_AFTER) + 1, "waiting for the probe costs no attempts");
}

#[tokio::test]
async fn a_client_that_sends_its_headers_too_slowly_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_HEADER_TIMEOUT_SECS", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: remit\r\n").await.unwrap(); // never the blank line
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was still open after 20 s");
    // A client that sends its headers in time is served as ever.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_session_made_while_the_terms_changed_is_not_the_one_the_payer_pays() {
    let app = TestApp::spawn().await;
    let link: Value = app.post_link(&link_request()).await.json().await.unwrap();
    let url = link["url"].as_str().unwrap().to_owned();
    app.stripe().hold_api_requests(true);
    let asked = app.stripe().api_requests();
    let pressed = tokio::spawn({
        let (address, url) = (app.address.clone(), url.clone());
        async move { press_pay(&address, &url).await }
    });
    for _ in 0..400 {
        if app.stripe().api_requests() > asked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Stripe is making the session from 125.00 while Salesforce asks for 130.00.
    let mut repriced = link_request();
    repriced["amount"] = json!("130.00");
    assert_eq!(app.post_link(&repriced).await.status(), 200);
    app.stripe().hold_api_requests(false);

    let location = pressed.await.unwrap();
    let session_id = location.rsplit('/').next().unwrap();
    let session = app.stripe().session(session_id).expect("the session the payer was sent to");
    assert_eq!(session["amount_total"], 13_000, "the payer pays what the payment asks now");
}

/// The pay button as a browser presses it; where it leads.
async fn press_pay(address: &str, pay_url: &str) -> String {
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let html = browser.get(pay_url).send().await.unwrap().text().await.unwrap();
    let csrf = html.split(r#"name="csrf" value=""#).nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    let token = pay_url.rsplit('/').next().unwrap();
    let response = browser
        .post(format!("{address}/fn/start-checkout"))
        .header("Accept", "text/html")
        .form(&[("token", token), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_paid_amount_that_differs_is_recorded_shown_and_tasked_never_a_silent_paid() {
    let app = TestApp::spawn().await;
    let payment = new_payment(&app, OPPORTUNITY).await;
    app.outbox_idle().await;
    let completed = json!({ "id": "cs_test_old", "object": "checkout.session", "payment_status": "paid", "status": "complete", "amount_total": 12_000, "currency": "usd", "payment_intent": "pi_old", "metadata": { "remit_payment_id": payment } });
    let intent = json!({ "id": "pi_old", "object": "payment_intent", "amount_received": 12_000, "currency": "usd", "metadata": { "remit_payment_id": payment } });
    for _ in 0..2 {
        app.post_webhook(&event("evt_old_cs", "checkout.session.completed", completed.clone()), WEBHOOK_SECRET).await;
        app.post_webhook(&event("evt_old_pi", "payment_intent.succeeded", intent.clone()), WEBHOOK_SECRET).await;
    }
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{payment}'"), "paid").await;
    app.outbox_idle().await;

    let body: Value = app.api_get(&format!("/api/v1/payments/{payment}")).await.json().await.unwrap();
    assert_eq!((body["amount_minor"].clone(), body["paid_amount_minor"].clone()), (json!(12_500), json!(12_000)));
    assert_eq!(body["paid_currency"], "USD");
    let audit =
        format!("SELECT COUNT(*) FROM audit_log WHERE payment_id = '{payment}' AND cause LIKE 'paid amount differs%'");
    assert_eq!(app.count(&audit).await, 1);
    let record =
        app.salesforce().records("Payment__c").into_iter().find(|p| p["Remit_Payment_ID__c"] == payment).unwrap();
    assert_eq!(record["Amount__c"], 120.0, "Salesforce shows what was paid");
    let tasks: Vec<Value> =
        app.salesforce().records("Task").into_iter().filter(|t| t["Subject"] == "Paid amount differs").collect();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let description = tasks[0]["Description"].as_str().unwrap();
    assert!(description.contains("120.00 USD") && description.contains("125.00 USD"), "{description}");
}

/// The race behind a sync that ran on a payment's old state and none after it: an event applied
/// in a transaction coalesced its sync into one already waiting, a worker claimed that one and
/// read the payment before the transaction committed. On PostgreSQL the coalesced twin now stays
/// locked until the commit, so no claim takes it early. (On SQLite the one writer already keeps a
/// claim from running inside another transaction; this test would only wait there.)
#[tokio::test]
async fn a_waiting_job_an_open_transaction_coalesces_into_is_not_claimed_before_it_commits() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_WORKERS", "events=0,sync=0,mail=0,receipts=0")]).await;
    if app.db.dialect != server::db::Dialect::Postgres {
        return;
    }
    let job = server::jobs::SyncPayment { payment_id: "payment-being-changed".into() };
    let kinds = ["sync_payment"];
    let lease = Duration::from_secs(300);
    outbox::enqueue(&mut app.db.pool.acquire().await.unwrap(), &job).await.unwrap();

    let mut changing = app.db.writes.begin().await.unwrap();
    outbox::enqueue(&mut changing, &job).await.unwrap();
    let early = outbox::claim(&app.db, "w1", &kinds, 10, lease).await.unwrap();
    assert!(early.is_empty(), "claimed while the change it must sync was uncommitted: {early:?}");
    changing.commit().await.unwrap();
    let claimed = outbox::claim(&app.db, "w1", &kinds, 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1, "one job for the key, claimed once the change is committed");
}
