//! `POST /webhooks/stripe` and the payment state machine, end to end with the Stripe stand-in.

use std::process::Command;

use serde_json::{Value, json};

use crate::{
    helpers::{ALL_JOBS, Mode, TestApp, WEBHOOK_SECRET, link_request},
    python::python,
};

fn event(id: &str, kind: &str, object: Value) -> String {
    json!({ "id": id, "object": "event", "type": kind, "created": 1_800_000_000, "livemode": false, "data": { "object": object } })
        .to_string()
}

async fn new_payment(app: &TestApp) -> (String, String) {
    let body: Value = app.post_link(&link_request()).await.json().await.unwrap();
    (body["payment_id"].as_str().unwrap().to_owned(), body["url"].as_str().unwrap().to_owned())
}

/// Presses "Pay securely", then the given button on the stand-in's Checkout page.
async fn pay(app: &TestApp, pay_url: &str, outcome: &str) -> reqwest::Response {
    let location = app.checkout_location(pay_url).await;
    app.client.post(location).form(&[("outcome", outcome)]).send().await.unwrap()
}

fn status_of(id: &str) -> String {
    format!("SELECT status FROM payments WHERE id = '{id}'")
}

#[tokio::test]
async fn a_signed_event_is_stored_once_and_a_duplicate_is_a_200_no_op() {
    let app = TestApp::spawn().await;
    let body = event("evt_dup", "customer.created", json!({ "id": "cus_1", "object": "customer" }));
    let first = app.post_webhook(&body, WEBHOOK_SECRET).await;
    assert_eq!(first.status(), 200);
    let again = app.post_webhook(&body, WEBHOOK_SECRET).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["duplicate"], true);
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events").await, 1);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM {ALL_JOBS} WHERE kind = 'apply_stripe_event'")).await, 1);
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_a_400_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let body = event("evt_bad", "payment_intent.succeeded", json!({ "id": "pi_1", "object": "payment_intent" }));
    assert_eq!(app.post_webhook(&body, "whsec_wrong").await.status(), 400);
    let unsigned = app.client.post(format!("{}/webhooks/stripe", app.address)).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 400);
    let old =
        server::stripe::signature::sign(&secrecy::SecretString::from(WEBHOOK_SECRET), 1_000_000_000, body.as_bytes());
    let stale = app
        .client
        .post(format!("{}/webhooks/stripe", app.address))
        .header("Stripe-Signature", old)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 400);
    assert_eq!(stale.json::<Value>().await.unwrap()["error"]["code"], "invalid_signature");
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events").await, 0);
}

#[tokio::test]
async fn while_rolling_secrets_events_signed_with_either_are_accepted() {
    let app = TestApp::spawn_with(Mode::Live, &[("STRIPE_WEBHOOK_SECRET", "whsec_old, whsec_new")]).await;
    let a = event("evt_a", "customer.created", json!({ "id": "cus_1" }));
    let b = event("evt_b", "customer.created", json!({ "id": "cus_2" }));
    assert_eq!(app.post_webhook(&a, "whsec_old").await.status(), 200);
    assert_eq!(app.post_webhook(&b, "whsec_new").await.status(), 200);
}

#[tokio::test]
async fn signatures_agree_with_stripes_official_python_library() {
    let app = TestApp::spawn().await;
    let body = event("evt_py", "customer.created", json!({ "id": "cus_py" }));
    // Stripe's library signs; Remit verifies.
    let script = r#"
import sys, time, stripe
payload, secret = sys.argv[1], sys.argv[2]
t = int(time.time())
print(f"t={t},v1=" + stripe.WebhookSignature._compute_signature(f"{t}.{payload}", secret))
"#;
    let output = Command::new(python()).args(["-c", script, &body, WEBHOOK_SECRET]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let header = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let response = app
        .client
        .post(format!("{}/webhooks/stripe", app.address))
        .header("Stripe-Signature", header)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Remit signs; Stripe's library verifies (and refuses a tampered body).
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = server::stripe::signature::sign(&secrecy::SecretString::from(WEBHOOK_SECRET), now, body.as_bytes());
    let verify = r#"
import sys, stripe
payload, header, secret = sys.argv[1], sys.argv[2], sys.argv[3]
stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=300)
try:
    stripe.WebhookSignature.verify_header(payload + " ", header, secret, tolerance=300)
    sys.exit("a tampered payload verified")
except stripe.SignatureVerificationError:
    pass
"#;
    let output = Command::new(python()).args(["-c", verify, &body, &header, WEBHOOK_SECRET]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn paying_with_a_good_card_makes_the_payment_paid_through_the_webhook() {
    let app = TestApp::spawn().await;
    let (id, url) = new_payment(&app).await;
    let back = pay(&app, &url, "card_succeeds").await;
    assert_eq!(back.status(), 303);
    app.eventually(&status_of(&id), "paid").await;
    app.outbox_idle().await;
    let payment: Value = app.api_get(&format!("/api/v1/payments/{id}")).await.json().await.unwrap();
    assert_eq!(payment["status"], "paid");
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE payment_id = '{id}' AND to_status = 'paid'")).await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events WHERE outcome IS NULL").await, 0, "every event processed");
    // And Salesforce shows it.
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await, 0);
    let org = &app.sandbox.as_ref().unwrap().salesforce;
    let opportunity = org.records("Opportunity").into_iter().find(|o| o["Id"] == "0065g00000AbCdEAAV").unwrap();
    assert_eq!(opportunity["Payment_Status__c"], "Paid");
    assert_eq!(opportunity["StageName"], "Closed Won");
    let payments = org.records("Payment__c");
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["Remit_Payment_ID__c"], id.as_str());
    assert_eq!(payments[0]["Payment_Status__c"], "Paid");
}

#[tokio::test]
async fn a_declined_card_records_the_reason_and_a_later_payment_still_succeeds() {
    let app = TestApp::spawn().await;
    let (id, url) = new_payment(&app).await;
    pay(&app, &url, "card_declined").await;
    app.eventually(&status_of(&id), "failed").await;
    app.eventually(&format!("SELECT failure_reason FROM payments WHERE id = '{id}'"), "generic_decline").await;
    let html = app.client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Pay securely"), "a failed payment can be paid again");
    pay(&app, &url, "card_succeeds").await;
    app.eventually(&status_of(&id), "paid").await;
}

#[tokio::test]
async fn a_bank_debit_is_processing_until_it_settles() {
    let app = TestApp::spawn().await;
    let (id, url) = new_payment(&app).await;
    pay(&app, &url, "debit_settles").await;
    app.eventually(&status_of(&id), "processing").await;
    app.eventually(&status_of(&id), "paid").await;
}

#[tokio::test]
async fn events_delivered_twice_and_in_reverse_order_end_in_the_same_state_once() {
    let app = TestApp::spawn().await;
    app.stripe().withhold_webhooks(true);
    let (id, url) = new_payment(&app).await;
    pay(&app, &url, "card_declined").await;
    pay(&app, &url, "card_succeeds").await;
    // Stripe lists newest first: deliver newest first, each twice.
    for event in app.stripe_events("limit=100").await {
        for _ in 0..2 {
            assert_eq!(app.post_webhook(&event.to_string(), WEBHOOK_SECRET).await.status(), 200);
        }
    }
    app.eventually(&status_of(&id), "paid").await;
    app.outbox_idle().await;
    let transitions: Vec<(String, String)> =
        sqlx::query_as("SELECT COALESCE(from_status, ''), to_status FROM audit_log WHERE payment_id = $1 ORDER BY id")
            .bind(&id)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    let paid = transitions.iter().filter(|(_, to)| to == "paid").count();
    assert_eq!(paid, 1, "{transitions:?}");
    let (reason, attempts): (Option<String>, i64) =
        sqlx::query_as("SELECT failure_reason, failed_attempts FROM payments WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((reason.as_deref(), attempts), (Some("generic_decline"), 1));
}

#[tokio::test]
async fn an_event_for_no_known_payment_is_kept_and_reported() {
    let app = TestApp::spawn().await;
    let body = event(
        "evt_stray",
        "payment_intent.succeeded",
        json!({ "id": "pi_unknown", "object": "payment_intent", "metadata": {} }),
    );
    assert_eq!(app.post_webhook(&body, WEBHOOK_SECRET).await.status(), 200);
    app.eventually("SELECT COALESCE(outcome, '') FROM stripe_events WHERE id = 'evt_stray'", "unmatched").await;
}

#[tokio::test]
async fn another_systems_events_cost_no_stripe_call() {
    let app = TestApp::spawn().await;
    let before = app.stripe().api_requests();
    let theirs = [
        (
            "evt_shop_pi",
            "payment_intent.succeeded",
            json!({ "id": "pi_shop", "object": "payment_intent", "metadata": {} }),
        ),
        (
            "evt_shop_ch",
            "charge.succeeded",
            json!({ "id": "ch_shop", "object": "charge", "payment_intent": "pi_shop", "metadata": { "order": "A-17" } }),
        ),
        (
            "evt_shop_cs",
            "checkout.session.completed",
            json!({ "id": "cs_shop", "object": "checkout.session", "payment_intent": "pi_shop", "metadata": { "cart": "9" } }),
        ),
    ];
    for (id, kind, object) in theirs {
        assert_eq!(app.post_webhook(&event(id, kind, object), WEBHOOK_SECRET).await.status(), 200);
    }
    app.outbox_idle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events WHERE outcome = 'unmatched'").await, 3);
    assert_eq!(app.stripe().api_requests(), before, "matching them asked Stripe nothing");
}

#[tokio::test]
async fn concurrent_deliveries_are_each_stored_once_with_their_job() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_WORKERS", "events=0,sync=0,mail=0,receipts=0")]).await;
    let bodies: Vec<String> = (0..40)
        .map(|n| {
            event(
                &format!("evt_group_{}", n % 30),
                "customer.created",
                json!({ "id": format!("cus_{n}"), "object": "customer" }),
            )
        })
        .collect();
    let answers = futures::future::join_all(bodies.iter().map(|body| app.post_webhook(body, WEBHOOK_SECRET))).await;
    let mut duplicates = 0;
    for answer in answers {
        assert_eq!(answer.status(), 200);
        duplicates += usize::from(answer.json::<Value>().await.unwrap()["duplicate"] == true);
    }
    assert_eq!(duplicates, 10, "ten were deliveries of an event stored already");
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events").await, 30);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'apply_stripe_event'").await, 30);
}

#[tokio::test]
async fn a_job_whose_worker_died_mid_job_runs_again_and_takes_effect_once() {
    let app = TestApp::spawn().await;
    let (id, _) = new_payment(&app).await;
    let body = event(
        "evt_crash",
        "payment_intent.succeeded",
        json!({ "id": "pi_crash", "object": "payment_intent", "metadata": { "remit_payment_id": id } }),
    );
    // A worker of a crashed process claims the job first and never finishes it.
    sqlx::query("INSERT INTO stripe_events (id, event_type, payload, received_at) VALUES ('evt_crash', 'payment_intent.succeeded', $1, 0)")
        .bind(&body)
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO outbox (kind, payload, dedupe_key, status, attempts, max_attempts, run_at, locked_by, locked_until, created_at, updated_at) \
         VALUES ('apply_stripe_event', $1, 'apply_stripe_event:evt_crash', 'running', 1, 10, 0, 'crashed-worker', $2, 0, 0)",
    )
    .bind(json!({ "kind": "apply_stripe_event", "event_id": "evt_crash" }).to_string())
    .bind(server::db::now_ms() - 1)
    .execute(&app.db.pool)
    .await
    .unwrap();
    // The claim has lapsed: a live worker takes the job over and applies it.
    app.eventually(&status_of(&id), "paid").await;
    app.outbox_idle().await;
    // Delivered again by Stripe afterwards: still one transition.
    app.post_webhook(&body, WEBHOOK_SECRET).await;
    app.outbox_idle().await;
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE payment_id = '{id}' AND to_status = 'paid'")).await,
        1
    );
    // The job ran to its end once: it left the queue for the finished jobs, and nothing is left.
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE dedupe_key = 'apply_stripe_event:evt_crash'").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox_done WHERE dedupe_key = 'apply_stripe_event:evt_crash'").await,
        1
    );
}

#[tokio::test]
async fn two_instances_on_one_database_apply_a_burst_of_events_once_each() {
    let first = TestApp::spawn().await;
    let second = first.spawn_sharing_database().await;
    let mut payments = Vec::new();
    for n in 0..20 {
        let mut request = link_request();
        request["opportunity_id"] = json!(format!("0065g0000{n:06}"));
        request.as_object_mut().unwrap().remove("account_id");
        let body: Value = first.post_link(&request).await.json().await.unwrap();
        payments.push(body["payment_id"].as_str().unwrap().to_owned());
    }
    // Each payment: a declined attempt, then success; half the events reach each instance.
    for (n, id) in payments.iter().enumerate() {
        let declined = event(
            &format!("evt_f{n}"),
            "payment_intent.payment_failed",
            json!({ "id": format!("pi_{n}"), "object": "payment_intent", "metadata": { "remit_payment_id": id }, "latest_charge": format!("ch_{n}"), "last_payment_error": { "code": "card_declined", "decline_code": "do_not_honor" } }),
        );
        let paid = event(
            &format!("evt_s{n}"),
            "payment_intent.succeeded",
            json!({ "id": format!("pi_{n}"), "object": "payment_intent", "metadata": { "remit_payment_id": id } }),
        );
        let (a, b) = if n % 2 == 0 { (&first, &second) } else { (&second, &first) };
        let (r1, r2) = tokio::join!(a.post_webhook(&declined, WEBHOOK_SECRET), b.post_webhook(&paid, WEBHOOK_SECRET));
        assert_eq!((r1.status().as_u16(), r2.status().as_u16()), (200, 200));
    }
    for id in &payments {
        first.eventually(&status_of(id), "paid").await;
    }
    first.outbox_idle().await;
    assert_eq!(first.count("SELECT COUNT(*) FROM stripe_events WHERE outcome = 'applied'").await, 40);
    assert_eq!(first.count("SELECT COUNT(*) FROM audit_log WHERE to_status = 'paid'").await, 20);
    assert_eq!(first.count("SELECT COUNT(*) FROM outbox_done WHERE kind = 'apply_stripe_event'").await, 40);
    assert_eq!(first.count("SELECT COUNT(*) FROM outbox WHERE kind = 'apply_stripe_event'").await, 0);
    let workers: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT locked_by FROM outbox WHERE locked_by IS NOT NULL")
        .fetch_all(&first.db.pool)
        .await
        .unwrap();
    assert!(workers.is_empty(), "no claim is left behind: {workers:?}");
}

#[tokio::test]
async fn reconciliation_recovers_a_webhook_stripe_never_delivered() {
    let app = TestApp::spawn().await;
    app.stripe().withhold_webhooks(true);
    let (id, url) = new_payment(&app).await;
    pay(&app, &url, "card_succeeds").await;
    app.outbox_idle().await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM payments WHERE id = '{id}' AND status = 'open'")).await, 1);

    let stripe_url = app.sandbox.as_ref().unwrap().stripe_url.clone();
    // tokio's Command: the stand-in serves on this test's runtime while the command runs.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_remit"))
        .args(["reconcile", "--since", "1h"])
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("STRIPE_SECRET_KEY", sandbox::STRIPE_SECRET_KEY)
        .env("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("STRIPE_API_BASE", &stripe_url)
        .env("SALESFORCE_CLIENT_ID", "remit-test-client")
        .env("SALESFORCE_CLIENT_SECRET", "remit-test-secret")
        .env("REMIT_MAIL_DIR", app.mail_dir.display().to_string())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with(|c: char| c.is_ascii_digit() && c != '0'));
    app.eventually(&status_of(&id), "paid").await;
}

#[tokio::test]
async fn refunds_and_disputes_move_a_paid_payment_forward() {
    let app = TestApp::spawn().await;
    let (id, _) = new_payment(&app).await;
    let paid = event(
        "evt_p",
        "payment_intent.succeeded",
        json!({ "id": "pi_r", "object": "payment_intent", "metadata": { "remit_payment_id": id } }),
    );
    app.post_webhook(&paid, WEBHOOK_SECRET).await;
    app.eventually(&status_of(&id), "paid").await;
    // Charges carry no Remit metadata: they are matched through their payment intent.
    let partial = event(
        "evt_r1",
        "charge.refunded",
        json!({ "id": "ch_r", "object": "charge", "payment_intent": "pi_r", "amount": 12500, "amount_refunded": 2500 }),
    );
    app.post_webhook(&partial, WEBHOOK_SECRET).await;
    app.eventually(&status_of(&id), "partially_refunded").await;
    let dispute = event(
        "evt_d",
        "charge.dispute.created",
        json!({ "id": "dp_1", "object": "dispute", "charge": "ch_r", "payment_intent": "pi_r" }),
    );
    app.post_webhook(&dispute, WEBHOOK_SECRET).await;
    app.eventually(&status_of(&id), "disputed").await;
}

#[tokio::test]
async fn an_oversized_webhook_body_is_refused() {
    let app = TestApp::spawn().await;
    let body = event("evt_big", "customer.created", json!({ "id": "cus_1", "padding": "x".repeat(600 * 1024) }));
    assert_eq!(app.post_webhook(&body, WEBHOOK_SECRET).await.status(), 413);
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events").await, 0);
}

#[tokio::test]
async fn a_job_that_fails_for_good_becomes_a_dead_letter_and_replays_once_fixed() {
    let app = TestApp::spawn().await;
    let (id, _) = new_payment(&app).await;
    let header =
        server::payments::EventHeader { id: "evt_broken".into(), event_type: "payment_intent.succeeded".into() };
    let payments_db = &app.db;
    // An event stored with a body that cannot be read: applying it fails permanently.
    sqlx::query("INSERT INTO stripe_events (id, event_type, payload, received_at) VALUES ($1, $2, '{not json', 0)")
        .bind(&header.id)
        .bind(&header.event_type)
        .execute(&payments_db.pool)
        .await
        .unwrap();
    server::outbox::enqueue(
        &mut payments_db.pool.acquire().await.unwrap(),
        &server::jobs::ApplyStripeEvent { event_id: header.id.clone() },
    )
    .await
    .unwrap();
    app.eventually("SELECT status FROM outbox WHERE dedupe_key = 'apply_stripe_event:evt_broken'", "dead").await;

    let remit = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_remit"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &app.database_url)
            .env("REMIT_MAIL_DIR", app.mail_dir.display().to_string())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let dead = remit(&["outbox", "list", "--dead"]);
    assert!(dead.contains("apply_stripe_event") && dead.contains("unreadable"), "{dead}");

    // The operator repairs what was wrong, then replays.
    let good = event(
        "evt_broken",
        "payment_intent.succeeded",
        json!({ "id": "pi_b", "object": "payment_intent", "metadata": { "remit_payment_id": id } }),
    );
    sqlx::query("UPDATE stripe_events SET payload = $1 WHERE id = 'evt_broken'")
        .bind(&good)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert!(remit(&["outbox", "replay", "--all-dead"]).starts_with("1 job"));
    app.eventually(&status_of(&id), "paid").await;
    assert_eq!(remit(&["outbox", "list", "--dead"]), "");
}

#[tokio::test]
async fn a_signature_timestamp_at_the_end_of_i64_is_refused_with_a_400() {
    let app = TestApp::spawn().await;
    for t in ["-9223372036854775808", "9223372036854775807"] {
        let response = app
            .client
            .post(format!("{}/webhooks/stripe", app.address))
            .header("Stripe-Signature", format!("t={t},v1=00"))
            .header("Content-Type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "t={t}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_signature");
    }
}

#[tokio::test]
async fn periodic_reconciliation_runs_on_one_instance_at_a_time_and_goes_on_from_its_last_run() {
    let app = TestApp::spawn().await;
    app.stripe().withhold_webhooks(true);
    let (id, url) = new_payment(&app).await;
    pay(&app, &url, "card_succeeds").await;
    let stripe_url = app.sandbox.as_ref().unwrap().stripe_url.parse().unwrap();
    let key = secrecy::SecretString::from(sandbox::STRIPE_SECRET_KEY);
    let stripe = server::stripe::StripeClient::new(stripe_url, key, std::time::Duration::from_secs(10));
    let brands = server::config::Brands::from_toml("").unwrap();
    let payments = server::payments::Payments::new(
        app.db.clone(),
        stripe,
        app.address.parse().unwrap(),
        brands,
        Default::default(),
        false,
        Default::default(),
    );

    // While one instance's run waits on Stripe, another finds it taken and does nothing.
    app.stripe().hold_api_requests(true);
    let asked = app.stripe().api_requests();
    let first = tokio::spawn({
        let payments = payments.clone();
        async move { payments.reconcile_step("instance-a").await }
    });
    for _ in 0..400 {
        if app.stripe().api_requests() > asked {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(payments.reconcile_step("instance-b").await.unwrap(), None);
    app.stripe().hold_api_requests(false);
    let first = first.await.unwrap().unwrap().expect("instance a ran");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(first.complete && first.recovered >= 1, "{first:?}");
    assert!(first.since <= now - 71 * 3600, "a first run looks back the whole window: {first:?}");
    app.eventually(&status_of(&id), "paid").await;

    let second = payments.reconcile_step("instance-b").await.unwrap().expect("the lease was given back");
    assert!(second.since >= now - 3600, "from where the last run began, not 72 hours: {second:?}");
    assert_eq!((second.calls, second.recovered), (1, 0));
}

#[tokio::test]
async fn the_stand_ins_dispute_card_pays_then_disputes_the_payment() {
    let app = TestApp::spawn().await;
    let (id, url) = new_payment(&app).await;
    pay(&app, &url, "card_disputed").await;
    app.eventually(&status_of(&id), "disputed").await;
}
