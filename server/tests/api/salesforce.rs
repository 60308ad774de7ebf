//! The Salesforce sync against the Salesforce stand-in: what each payment state writes, both token
//! grants, expiring sessions, outages, limits, and permanent errors that wait for an admin.

use std::time::Duration;

use sandbox::Fault;
use serde_json::{Value, json};
use server::{
    config::{SalesforceAuth, SalesforceConfig},
    salesforce::{SalesforceClient, soql},
};

use crate::helpers::{ALL_JOBS, Mode, TestApp, WEBHOOK_SECRET, link_request};

const OPPORTUNITY: &str = "0065g00000AbCdEAAV";

fn event(id: &str, kind: &str, object: Value) -> String {
    json!({ "id": id, "object": "event", "type": kind, "created": 1_800_000_000, "data": { "object": object } })
        .to_string()
}

async fn new_payment(app: &TestApp) -> String {
    let body: Value = app.post_link(&link_request()).await.json().await.unwrap();
    body["payment_id"].as_str().unwrap().to_owned()
}

async fn succeed(app: &TestApp, payment: &str, n: u32) {
    let body = event(
        &format!("evt_ok{n}"),
        "payment_intent.succeeded",
        json!({ "id": "pi_sf", "object": "payment_intent", "metadata": { "remit_payment_id": payment } }),
    );
    assert_eq!(app.post_webhook(&body, WEBHOOK_SECRET).await.status(), 200);
}

async fn decline(app: &TestApp, payment: &str, n: u32) {
    let body = event(
        &format!("evt_no{n}"),
        "payment_intent.payment_failed",
        json!({ "id": "pi_sf", "object": "payment_intent", "metadata": { "remit_payment_id": payment }, "latest_charge": format!("ch_{n}"), "last_payment_error": { "code": "card_declined", "decline_code": "insufficient_funds" } }),
    );
    assert_eq!(app.post_webhook(&body, WEBHOOK_SECRET).await.status(), 200);
}

fn opportunity(app: &TestApp) -> Value {
    app.salesforce().records("Opportunity").into_iter().find(|o| o["Id"] == OPPORTUNITY).unwrap()
}

/// Waits (bounded) until the stand-in's Opportunity shows `status`.
async fn opportunity_shows(app: &TestApp, status: &str) -> Value {
    for _ in 0..600 {
        let record = opportunity(app);
        if record["Payment_Status__c"] == status {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let jobs: Vec<(String, String, i64, Option<String>)> =
        sqlx::query_as("SELECT kind, status, attempts, last_error FROM outbox ORDER BY id")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    panic!("the Opportunity never showed {status}: {}; jobs: {jobs:?}", opportunity(app));
}

#[tokio::test]
async fn a_new_link_shows_pending_on_the_opportunity_with_its_link_and_customer() {
    let app = TestApp::spawn().await;
    let payment = new_payment(&app).await;
    let record = opportunity_shows(&app, "Pending").await;
    assert_eq!(
        record["Payment_Link__c"].as_str().unwrap(),
        format!("{}/pay/", app.address) + record["Payment_Link__c"].as_str().unwrap().rsplit('/').next().unwrap()
    );
    assert!(record["Stripe_Customer_ID__c"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(record["StageName"], "Prospecting", "not won yet");
    app.outbox_idle().await;
    let account = app.salesforce().records("Account").into_iter().find(|a| a["Id"] == "0015g00000XyZaBAAV").unwrap();
    assert_eq!(account["Stripe_Customer_ID__c"], record["Stripe_Customer_ID__c"]);
    let payments = app.salesforce().records("Payment__c");
    assert_eq!(payments[0]["Remit_Payment_ID__c"], payment.as_str());
    assert_eq!(payments[0]["Payment_Status__c"], "Pending");
    assert_eq!(payments[0]["Opportunity__c"], OPPORTUNITY);
    assert_eq!(payments[0]["Amount__c"], 125.0);
    assert_eq!(payments[0]["Currency__c"], "USD");
}

#[tokio::test]
async fn paid_sets_the_won_stage_close_date_amount_and_payment_record() {
    let app = TestApp::spawn().await;
    let payment = new_payment(&app).await;
    succeed(&app, &payment, 1).await;
    let record = opportunity_shows(&app, "Paid").await;
    assert_eq!(record["StageName"], "Closed Won");
    assert_eq!(record["CloseDate"], "2027-01-15", "the day Stripe says it was paid");
    assert_eq!(record["Amount"], 125.0);
    app.outbox_idle().await;
    let payments = app.salesforce().records("Payment__c");
    assert_eq!(payments.len(), 1, "upserted, not duplicated");
    assert_eq!(payments[0]["Payment_Status__c"], "Paid");
    assert_eq!(payments[0]["Stripe_Payment_Intent_ID__c"], "pi_sf");
    assert!(payments[0]["Paid_At__c"].as_str().unwrap().starts_with("2027-01-15T"));
}

#[tokio::test]
async fn a_renamed_won_stage_is_found_by_its_won_flag() {
    let app = TestApp::spawn().await;
    app.salesforce().rename_won_stage("Won - Signed");
    let payment = new_payment(&app).await;
    succeed(&app, &payment, 1).await;
    assert_eq!(opportunity_shows(&app, "Paid").await["StageName"], "Won - Signed");
}

#[tokio::test]
async fn each_failed_attempt_makes_one_high_priority_task_even_across_retries() {
    let app = TestApp::spawn().await;
    let payment = new_payment(&app).await;
    opportunity_shows(&app, "Pending").await;
    app.outbox_idle().await;
    // The first try of the failure's sync meets an outage: the retry must not add a second Task.
    app.salesforce().inject(
        Fault { status: 503, error_code: "SERVER_UNAVAILABLE".into(), message: "Server unavailable".into() },
        1,
    );
    decline(&app, &payment, 1).await;
    opportunity_shows(&app, "Failed").await;
    app.outbox_idle().await;
    decline(&app, &payment, 2).await;
    app.eventually(&format!("SELECT CAST(failed_attempts AS TEXT) FROM payments WHERE id = '{payment}'"), "2").await;
    app.outbox_idle().await;
    succeed(&app, &payment, 3).await;
    opportunity_shows(&app, "Paid").await;
    app.outbox_idle().await;

    let tasks = app.salesforce().records("Task");
    assert_eq!(tasks.len(), 2, "one per failed attempt: {tasks:?}");
    for task in &tasks {
        assert_eq!(task["Subject"], "Payment Failed - Immediate Action Required");
        assert_eq!(task["Priority"], "High");
        assert_eq!(task["Status"], "Not Started");
        assert_eq!(task["WhatId"], OPPORTUNITY);
        assert_eq!(task["OwnerId"], "0055g00000IntUsAAJ", "the Opportunity's owner");
        let description = task["Description"].as_str().unwrap();
        assert!(description.contains("125.00 USD") && description.contains("insufficient_funds"), "{description}");
        assert!(task["ActivityDate"].is_string());
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await, 0);
}

#[tokio::test]
async fn refunds_and_cancels_reach_the_opportunity() {
    let app = TestApp::spawn().await;
    let payment = new_payment(&app).await;
    succeed(&app, &payment, 1).await;
    opportunity_shows(&app, "Paid").await;
    let refund = event(
        "evt_rf",
        "charge.refunded",
        json!({ "id": "ch_rf", "object": "charge", "payment_intent": "pi_sf", "amount_refunded": 5000 }),
    );
    app.post_webhook(&refund, WEBHOOK_SECRET).await;
    opportunity_shows(&app, "Partially Refunded").await;

    let other = TestApp::spawn().await;
    let canceled = new_payment(&other).await;
    other.api_post(&format!("/api/v1/payments/{canceled}/cancel"), &json!({})).await;
    opportunity_shows(&other, "Canceled").await;
}

#[tokio::test]
async fn the_mapping_can_make_a_cancel_show_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remit.toml");
    std::fs::write(&path, "[salesforce]\ncancel_sets_failed = true\n").unwrap();
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_CONFIG", path.to_str().unwrap())]).await;
    let payment = new_payment(&app).await;
    app.api_post(&format!("/api/v1/payments/{payment}/cancel"), &json!({})).await;
    opportunity_shows(&app, "Failed").await;
}

#[tokio::test]
async fn the_jwt_bearer_grant_authenticates_with_the_connected_apps_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("connected-app.key");
    std::fs::write(&key, sandbox::salesforce::TEST_PRIVATE_KEY_PEM).unwrap();
    let username = sandbox::SalesforceCredentials::default().username;
    let app = TestApp::spawn_with(
        Mode::Live,
        &[
            ("SALESFORCE_CLIENT_SECRET", ""),
            ("SALESFORCE_USERNAME", &username),
            ("SALESFORCE_PRIVATE_KEY_FILE", key.to_str().unwrap()),
        ],
    )
    .await;
    new_payment(&app).await;
    opportunity_shows(&app, "Pending").await;
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_mid_run() {
    let app = TestApp::spawn().await;
    let payment = new_payment(&app).await;
    opportunity_shows(&app, "Pending").await;
    app.salesforce().expire_sessions();
    succeed(&app, &payment, 1).await;
    opportunity_shows(&app, "Paid").await;
    app.outbox_idle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await, 0);
}

#[tokio::test]
async fn an_outage_delays_but_loses_nothing() {
    let app = TestApp::spawn().await;
    app.salesforce().inject(
        Fault { status: 503, error_code: "SERVER_UNAVAILABLE".into(), message: "down for maintenance".into() },
        3,
    );
    let payment = new_payment(&app).await;
    succeed(&app, &payment, 1).await;
    opportunity_shows(&app, "Paid").await;
    app.outbox_idle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await, 0);
    assert!(
        app.count(&format!("SELECT MAX(attempts) FROM {ALL_JOBS} WHERE kind = 'sync_payment'")).await >= 2,
        "it was retried"
    );
}

#[tokio::test]
async fn request_limit_exceeded_is_retried_not_dead_lettered() {
    let app = TestApp::spawn().await;
    app.salesforce().set_daily_limit(0);
    let payment = new_payment(&app).await;
    app.eventually(
        &format!("SELECT CASE WHEN last_error LIKE '%REQUEST_LIMIT_EXCEEDED%' THEN status ELSE '' END FROM outbox WHERE dedupe_key = 'sync_payment:{payment}'"),
        "pending",
    )
    .await;
    app.salesforce().set_daily_limit(100_000);
    // The backoff grows; the limit's reset is the operator's cue to replay rather than wait.
    sqlx::query("UPDATE outbox SET run_at = 0 WHERE status = 'pending'").execute(&app.db.pool).await.unwrap();
    opportunity_shows(&app, "Pending").await;
}

#[tokio::test]
async fn writes_slow_down_past_the_configured_share_of_the_daily_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remit.toml");
    std::fs::write(&path, "[salesforce]\nslow_down_at = 0.5\nslow_down_secs = 600\n").unwrap();
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_CONFIG", path.to_str().unwrap())]).await;
    app.salesforce().set_daily_limit(2);
    let payment = new_payment(&app).await;
    opportunity_shows(&app, "Pending").await;
    succeed(&app, &payment, 1).await;
    app.eventually(
        &format!("SELECT CASE WHEN last_error LIKE '%slowing down%' THEN status ELSE '' END FROM outbox WHERE dedupe_key = 'sync_payment:{payment}' AND status = 'pending'"),
        "pending",
    )
    .await;
    assert_eq!(opportunity(&app)["Payment_Status__c"], "Pending", "held back, not lost");
}

#[tokio::test]
async fn a_permanent_error_dead_letters_with_salesforces_message_and_replays_once_the_mapping_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remit.toml");
    std::fs::write(&path, "[salesforce.fields]\npayment_failure_reason = \"Failure_Reson__c\"\n").unwrap();
    let mut app = TestApp::spawn_with(Mode::Live, &[("REMIT_CONFIG", path.to_str().unwrap())]).await;
    let payment = new_payment(&app).await;
    app.eventually(&format!("SELECT status FROM outbox WHERE dedupe_key = 'sync_payment:{payment}'"), "dead").await;
    let (error,): (String,) =
        sqlx::query_as("SELECT last_error FROM outbox WHERE status = 'dead'").fetch_one(&app.db.pool).await.unwrap();
    assert!(error.contains("INVALID_FIELD") && error.contains("Failure_Reson__c"), "{error}");
    assert!(app.salesforce().records("Payment__c").is_empty(), "all or none: nothing half-written");

    // The admin fixes the mapping and restarts Remit; the dead letter is replayed.
    app.stop().await;
    std::fs::write(&path, "").unwrap();
    let fixed = app.spawn_sharing_database_with(&[("REMIT_CONFIG", path.to_str().unwrap())]).await;
    assert_eq!(server::outbox::replay(&fixed.db, server::outbox::Replay::All).await.unwrap(), 1);
    opportunity_shows(&fixed, "Pending").await;
    fixed.outbox_idle().await;
    assert_eq!(fixed.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await, 0);
}

#[tokio::test]
async fn a_missing_opportunity_is_resolved_by_its_stripe_customer_or_dead_lettered() {
    let app = TestApp::spawn().await;
    let mut request = link_request();
    request["opportunity_id"] = json!("0065g00000GoNe1");
    let body: Value = app.post_link(&request).await.json().await.unwrap();
    let payment = body["payment_id"].as_str().unwrap();
    app.eventually(&format!("SELECT status FROM outbox WHERE dedupe_key = 'sync_payment:{payment}'"), "dead").await;

    // Another sync of the payment fails the same way: one dead letter stays, the newest.
    let (first,): (i64,) =
        sqlx::query_as("SELECT id FROM outbox WHERE status = 'dead'").fetch_one(&app.db.pool).await.unwrap();
    let mut conn = app.db.writes.acquire().await.unwrap();
    server::outbox::enqueue(&mut conn, &server::jobs::SyncPayment { payment_id: payment.into() }).await.unwrap();
    drop(conn);
    app.outbox_idle().await;
    // The older letter is archived just after the newer one dies.
    for _ in 0..200 {
        if app.count(&format!("SELECT COUNT(*) FROM outbox_done WHERE id = {first}")).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let dead: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM outbox WHERE status = 'dead'").fetch_all(&app.db.pool).await.unwrap();
    assert_eq!(dead.len(), 1, "one dead letter for the one failing sync");
    assert!(dead[0].0 > first, "the newest stays");
    let (note,): (String,) = sqlx::query_as(&format!("SELECT last_error FROM outbox_done WHERE id = {first}"))
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(note.starts_with("a newer dead letter of the same work replaces it; Opportunity"), "{note}");

    // The Opportunity was merged into one that carries the same Stripe customer.
    let (customer,): (String,) = sqlx::query_as("SELECT stripe_customer_id FROM payments WHERE id = $1")
        .bind(payment)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let survivor = app.salesforce().insert(
        "Opportunity",
        json!({ "Name": "Merged", "OwnerId": "0055g00000IntUsAAJ", "StageName": "Prospecting", "Stripe_Customer_ID__c": customer }),
    );
    server::outbox::replay(&app.db, server::outbox::Replay::All).await.unwrap();
    app.outbox_idle().await;
    let record = app.salesforce().records("Opportunity").into_iter().find(|o| o["Id"] == survivor.as_str()).unwrap();
    assert_eq!(record["Payment_Status__c"], "Pending");
}

#[tokio::test]
async fn soql_literals_with_quotes_and_backslashes_find_exactly_their_record() {
    let sandbox = sandbox::Sandbox::spawn().await.unwrap();
    let tricky = r"O'Brien \ Sons' OR Name = 'x";
    let id = sandbox.salesforce.insert("Account", json!({ "Name": tricky }));
    sandbox.salesforce.insert("Account", json!({ "Name": "x" }));
    let credentials = sandbox::SalesforceCredentials::default();
    let client = SalesforceClient::new(
        SalesforceConfig {
            login_url: sandbox.salesforce_url.parse().unwrap(),
            client_id: credentials.client_id,
            auth: SalesforceAuth::ClientCredentials { client_secret: credentials.client_secret.into() },
            api_version: "64.0".into(),
        },
        Duration::from_secs(5),
    );
    let rows =
        client.query(&format!("SELECT Id, Name FROM Account WHERE Name = {}", soql::literal(tricky))).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Id"], id.as_str());
    assert_eq!(rows[0]["Name"], tricky);
    let usage = client.api_usage().expect("Sforce-Limit-Info was read");
    assert!(usage.used >= 1 && usage.limit > usage.used);
}

#[tokio::test]
async fn when_many_payments_wait_they_go_out_in_collections_not_one_call_each() {
    let app = TestApp::spawn().await;
    let org = app.salesforce();
    org.set_daily_limit(0);
    let mut opportunities = Vec::new();
    for n in 0..30 {
        let id = org.insert(
            "Opportunity",
            json!({ "Name": format!("Batch {n}"), "OwnerId": "0055g00000IntUsAAJ", "StageName": "Prospecting" }),
        );
        let mut request = link_request();
        request["opportunity_id"] = json!(id);
        request.as_object_mut().unwrap().remove("account_id");
        assert_eq!(app.post_link(&request).await.status(), 201);
        opportunities.push(id);
    }
    // Every sync has met the limit once and waits.
    app.eventually("SELECT CAST(COUNT(*) AS TEXT) FROM outbox WHERE kind = 'sync_payment' AND attempts >= 1 AND status = 'pending'", "30").await;
    org.set_daily_limit(100_000);
    let before = org.api_usage();
    sqlx::query("UPDATE outbox SET run_at = 0 WHERE status = 'pending'").execute(&app.db.pool).await.unwrap();
    app.outbox_idle().await;
    let calls = org.api_usage() - before;
    assert_eq!(calls, 1, "30 payments go out in one composite call of collections");
    let records = org.records("Opportunity");
    for id in &opportunities {
        let record = records.iter().find(|o| o["Id"] == id.as_str()).unwrap();
        assert_eq!(record["Payment_Status__c"], "Pending", "{record}");
    }
    assert_eq!(org.records("Payment__c").len(), 30);
}

#[tokio::test]
async fn a_composite_call_carries_at_most_five_collections_as_salesforce_allows() {
    let sandbox = sandbox::Sandbox::spawn().await.unwrap();
    let credentials = sandbox::SalesforceCredentials::default();
    let client = SalesforceClient::new(
        SalesforceConfig {
            login_url: sandbox.salesforce_url.parse().unwrap(),
            client_id: credentials.client_id,
            auth: SalesforceAuth::ClientCredentials { client_secret: credentials.client_secret.into() },
            api_version: "64.0".into(),
        },
        Duration::from_secs(5),
    );
    let opportunity = sandbox.salesforce.insert("Opportunity", json!({ "Name": "Five", "StageName": "Prospecting" }));
    let collection = |n: usize| server::salesforce::Subrequest {
        method: "PATCH",
        url: "/services/data/v64.0/composite/sobjects".into(),
        reference_id: format!("update{n}"),
        body: Some(json!({ "allOrNone": false, "records": [
            { "attributes": { "type": "Opportunity" }, "Id": opportunity, "Name": format!("Pass {n}") }
        ] })),
    };
    let five: Vec<_> = (0..5).map(collection).collect();
    let results = client.composite(false, &five).await.expect("five collections are taken");
    assert!(results.iter().all(|r| r.status == 200 && r.body[0]["success"] == true), "{results:?}");
    let six: Vec<_> = (0..6).map(collection).collect();
    let refused = client.composite(false, &six).await.expect_err("six are refused");
    assert!(refused.has_code("LIMIT_EXCEEDED"), "{refused}");
}

fn dispute_event(id: &str, kind: &str, status: &str) -> String {
    event(
        id,
        kind,
        json!({ "id": "dp_sf", "object": "dispute", "amount": 12_500, "currency": "usd", "charge": "ch_sf",
                "payment_intent": "pi_sf", "reason": "fraudulent", "status": status,
                "evidence_details": { "due_by": 1_900_000_000 } }),
    )
}

fn dispute_tasks(app: &TestApp) -> Vec<Value> {
    app.salesforce()
        .records("Task")
        .into_iter()
        .filter(|t| t["Subject"].as_str().is_some_and(|s| s.starts_with(server::sync::DISPUTE_TASK_SUBJECT)))
        .collect()
}

#[tokio::test]
async fn a_dispute_opens_one_owner_task_with_its_due_date_and_a_won_dispute_is_paid_again() {
    let app = TestApp::spawn().await;
    let payment = new_payment(&app).await;
    succeed(&app, &payment, 1).await;
    opportunity_shows(&app, "Paid").await;
    app.outbox_idle().await;
    // The first try of the dispute's sync meets an outage: the retry must not add a second Task.
    app.salesforce().inject(
        Fault { status: 503, error_code: "SERVER_UNAVAILABLE".into(), message: "Server unavailable".into() },
        1,
    );
    let created = dispute_event("evt_dp1", "charge.dispute.created", "needs_response");
    assert_eq!(app.post_webhook(&created, WEBHOOK_SECRET).await.status(), 200);
    opportunity_shows(&app, "Disputed").await;
    app.outbox_idle().await;
    // Stripe delivers again, and the dispute moves on.
    app.post_webhook(&created, WEBHOOK_SECRET).await;
    app.post_webhook(&dispute_event("evt_dp2", "charge.dispute.funds_withdrawn", "needs_response"), WEBHOOK_SECRET)
        .await;
    app.post_webhook(&dispute_event("evt_dp3", "charge.dispute.updated", "under_review"), WEBHOOK_SECRET).await;
    app.outbox_idle().await;
    let tasks = dispute_tasks(&app);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["Subject"], "Payment Disputed - Respond by 2030-03-17");
    assert_eq!(tasks[0]["Priority"], "High");
    assert_eq!(tasks[0]["WhatId"], OPPORTUNITY);
    let description = tasks[0]["Description"].as_str().unwrap();
    assert!(description.contains("125.00 USD") && description.contains("fraudulent"), "{description}");
    assert!(description.contains("https://dashboard.stripe.com/disputes/dp_sf"), "{description}");

    app.post_webhook(&dispute_event("evt_dp4", "charge.dispute.closed", "won"), WEBHOOK_SECRET).await;
    opportunity_shows(&app, "Paid").await;
    app.outbox_idle().await;
    assert_eq!(dispute_tasks(&app).len(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await, 0);
}

#[tokio::test]
async fn a_lost_dispute_is_refunded_by_the_disputed_amount() {
    let app = TestApp::spawn().await;
    let payment = new_payment(&app).await;
    succeed(&app, &payment, 1).await;
    opportunity_shows(&app, "Paid").await;
    // Out of order: the closing event first.
    app.post_webhook(&dispute_event("evt_dl2", "charge.dispute.closed", "lost"), WEBHOOK_SECRET).await;
    app.post_webhook(&dispute_event("evt_dl1", "charge.dispute.created", "needs_response"), WEBHOOK_SECRET).await;
    opportunity_shows(&app, "Refunded").await;
    app.outbox_idle().await;
    let record = app
        .salesforce()
        .records("Payment__c")
        .into_iter()
        .find(|r| r["Remit_Payment_ID__c"] == payment.as_str())
        .unwrap();
    assert_eq!(record["Refunded_Amount__c"], 125.0);
    assert!(dispute_tasks(&app).is_empty(), "a dispute already closed needs no response");
}
