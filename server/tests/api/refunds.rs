//! Refunds from Salesforce: full and partial, what is left, what cannot be refunded, and one
//! Stripe refund per Idempotency-Key; the refund's own events move the payment.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, link_request};

/// A payment paid by card through the stand-in's Checkout page.
pub(crate) async fn paid_payment(app: &TestApp, opportunity: &str) -> String {
    let mut request = link_request();
    request["opportunity_id"] = json!(opportunity);
    let link: Value = app.post_link(&request).await.json().await.unwrap();
    let location = app.checkout_location(link["url"].as_str().unwrap()).await;
    app.client.post(location).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    let id = link["payment_id"].as_str().unwrap().to_owned();
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "paid").await;
    id
}

pub(crate) async fn refund(app: &TestApp, payment: &str, body: Value, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/v1/payments/{payment}/refunds", app.address))
        .bearer_auth(&app.api_key)
        .json(&body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

fn status_of(payment: &str) -> String {
    format!("SELECT status FROM payments WHERE id = '{payment}'")
}

#[tokio::test]
async fn a_full_refund_refunds_everything_and_the_payment_follows_its_events() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    let (status, body) = refund(&app, &payment, json!({ "reason": "requested_by_customer" }), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["amount_minor"], 12_500);
    assert_eq!(body["message"], "Refunded 125.00 USD.");
    let stripe = app.stripe().refunds();
    assert_eq!(stripe.len(), 1);
    assert_eq!(stripe[0]["metadata"]["remit_payment_id"], payment.as_str());
    assert_eq!(stripe[0]["metadata"]["remit_refund_id"], body["refund_id"]);
    assert_eq!(stripe[0]["reason"], "requested_by_customer");
    app.eventually(&status_of(&payment), "refunded").await;

    let (status, body) = refund(&app, &payment, json!({}), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let listed: Value = app.api_get(&format!("/api/v1/payments/{payment}/refunds")).await.json().await.unwrap();
    assert_eq!(listed["refunds"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn two_partial_refunds_that_sum_to_the_total_end_refunded_and_more_is_a_422() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    let (status, body) = refund(&app, &payment, json!({ "amount": "25.00" }), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.eventually(&status_of(&payment), "partially_refunded").await;
    salesforce_shows(&app, &payment, "Partially Refunded", 25.0).await;

    let (status, body) = refund(&app, &payment, json!({ "amount": "100.01" }), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "amount");
    assert!(body["error"]["message"].as_str().unwrap().contains("100.00 USD left"), "{body}");
    let (status, body) = refund(&app, &payment, json!({ "amount": "1.001" }), None).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("amount")));
    let (status, body) = refund(&app, &payment, json!({ "reason": "changed_mind" }), None).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("reason")));

    let (status, body) = refund(&app, &payment, json!({ "amount_minor": 10_000 }), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.eventually(&status_of(&payment), "refunded").await;
    salesforce_shows(&app, &payment, "Refunded", 125.0).await;
    assert_eq!(app.stripe().refunds().len(), 2);
}

/// Waits (bounded) until Payment__c shows the status and refunded amount.
async fn salesforce_shows(app: &TestApp, payment: &str, status: &str, refunded: f64) {
    let mut last = Value::Null;
    for _ in 0..600 {
        let records = app.salesforce().records("Payment__c");
        if let Some(record) = records.into_iter().find(|r| r["Remit_Payment_ID__c"] == payment) {
            if record["Payment_Status__c"] == status && record["Refunded_Amount__c"].as_f64() == Some(refunded) {
                return;
            }
            last = record;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("Payment__c never showed {status} with {refunded} refunded: {last}");
}

#[tokio::test]
async fn an_unpaid_payment_cannot_be_refunded() {
    let app = TestApp::spawn().await;
    let link: Value = app.post_link(&link_request()).await.json().await.unwrap();
    let (status, body) = refund(&app, link["payment_id"].as_str().unwrap(), json!({}), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_refundable");
    let (status, _) = refund(&app, "no-such-payment", json!({}), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(app.stripe().refunds().is_empty());
}

#[tokio::test]
async fn the_same_idempotency_key_twice_makes_one_stripe_refund() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    let body = json!({ "amount": "10.00" });
    let (first_status, first) = refund(&app, &payment, body.clone(), Some("flow-run-1")).await;
    let (second_status, second) = refund(&app, &payment, body, Some("flow-run-1")).await;
    assert_eq!((first_status, second_status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["refund_id"], second["refund_id"]);
    assert_eq!(app.stripe().refunds().len(), 1);
}

#[tokio::test]
async fn a_retry_after_stripes_answer_was_lost_makes_no_second_refund() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    // Stripe makes the refund, and every answer to it (Remit's own retries included) is lost.
    app.stripe().lose_answers(3);
    let (status, body) = refund(&app, &payment, json!({ "amount": "10.00" }), Some("flow-run-7")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(app.stripe().refunds().len(), 1, "Stripe made the refund; Remit could not know");

    let (status, body) = refund(&app, &payment, json!({ "amount": "10.00" }), Some("flow-run-7")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "succeeded");
    let made = app.stripe().refunds();
    assert_eq!(made.len(), 1, "the retry asked Stripe with the same Idempotency-Key: {made:?}");
    assert_eq!(made[0]["metadata"]["remit_refund_id"], body["refund_id"]);
    app.eventually(&status_of(&payment), "partially_refunded").await;
}

#[tokio::test]
async fn a_dashboard_refund_is_recorded_and_refund_events_never_undo_a_later_status() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    let (intent,): (String,) = sqlx::query_as("SELECT stripe_payment_intent_id FROM payments WHERE id = $1")
        .bind(&payment)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let event = |id: &str, kind: &str, object: Value| {
        json!({ "id": id, "object": "event", "type": kind, "created": 1_800_000_000, "data": { "object": object } })
            .to_string()
    };
    // Stripe's Dashboard: the refund's event, pending, then succeeded — delivered in reverse.
    let dashboard = |status: &str| {
        json!({ "id": "re_dash", "object": "refund", "amount": 2_000, "currency": "usd", "payment_intent": intent,
                "status": status, "reason": "requested_by_customer", "metadata": {} })
    };
    let secret = crate::helpers::WEBHOOK_SECRET;
    app.post_webhook(&event("evt_r2", "refund.updated", dashboard("succeeded")), secret).await;
    app.post_webhook(&event("evt_r1", "refund.created", dashboard("pending")), secret).await;
    app.outbox_idle().await;
    let listed: Value = app.api_get(&format!("/api/v1/payments/{payment}/refunds")).await.json().await.unwrap();
    let refunds = listed["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{listed}");
    assert_eq!(refunds[0]["status"], "succeeded", "a later status is never undone by an earlier event");
    assert_eq!(refunds[0]["amount_minor"], 2_000);

    // Remit's own refund takes the status its events say, too.
    let (status, body) = refund(&app, &payment, json!({ "amount": "1.00" }), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let failed = json!({ "id": app.stripe().refunds()[0]["id"], "object": "refund", "amount": 100, "currency": "usd",
                         "payment_intent": intent, "status": "failed",
                         "metadata": { "remit_payment_id": payment, "remit_refund_id": body["refund_id"] } });
    app.post_webhook(&event("evt_r3", "refund.failed", failed), secret).await;
    app.outbox_idle().await;
    let listed: Value = app.api_get(&format!("/api/v1/payments/{payment}/refunds")).await.json().await.unwrap();
    let ours =
        listed["refunds"].as_array().unwrap().iter().find(|r| r["refund_id"] == body["refund_id"]).unwrap().clone();
    assert_eq!(ours["status"], "failed");
}

#[tokio::test]
async fn a_refund_the_bank_returns_moves_the_payment_back_to_paid() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    let (status, _) = refund(&app, &payment, json!({ "amount": "25.00" }), None).await;
    assert_eq!(status, StatusCode::CREATED);
    app.eventually(&status_of(&payment), "partially_refunded").await;
    salesforce_shows(&app, &payment, "Partially Refunded", 25.0).await;
    let made = app.stripe().refunds()[0]["id"].as_str().unwrap().to_owned();
    app.stripe().fail_refund(&made);
    app.eventually(&status_of(&payment), "paid").await;
    salesforce_shows(&app, &payment, "Paid", 0.0).await;
    // What was returned can be refunded again.
    let (status, body) = refund(&app, &payment, json!({}), None).await;
    assert_eq!((status, body["amount_minor"].clone()), (StatusCode::CREATED, json!(12_500)), "{body}");
}

/// The stand-in's test dashboard, as a person uses it: its page, and one of its buttons pressed.
async fn dashboard(app: &TestApp, press: Option<(&str, &str)>) -> String {
    let url = format!("{}/test/dashboard", app.stripe_url());
    if let Some((action, id)) = press {
        let response = app.client.post(&url).form(&[("action", action), ("id", id)]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "a button's post answers with the page again");
    }
    app.client.get(&url).send().await.unwrap().text().await.unwrap()
}

/// The `id` of the first form on the page whose action is `action`.
fn form_id(page: &str, action: &str) -> String {
    let marker = format!(r#"name="action" value="{action}"><input type="hidden" name="id" value=""#);
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {action} button: {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_sandbox_dashboard_returns_a_refund_and_disputes_and_decides_a_paid_payment() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    let page = dashboard(&app, None).await;
    assert!(page.contains("<h2") && page.contains("125.00 USD"), "{page}");

    let (status, _) = refund(&app, &payment, json!({ "amount": "25.00" }), None).await;
    assert_eq!(status, StatusCode::CREATED);
    app.eventually(&status_of(&payment), "partially_refunded").await;
    let page = dashboard(&app, None).await;
    let refund_id = form_id(&page, "fail_refund");
    let page = dashboard(&app, Some(("fail_refund", &refund_id))).await;
    assert!(page.contains(&format!("Refund {refund_id}: 25.00 USD · failed")), "{page}");
    app.eventually(&status_of(&payment), "paid").await;

    let charge = form_id(&page, "open_dispute");
    let page = dashboard(&app, Some(("open_dispute", &charge))).await;
    app.eventually(&status_of(&payment), "disputed").await;
    assert!(!page.contains(r#"value="open_dispute""#), "a charge is disputed once: {page}");
    let dispute = form_id(&page, "lose_dispute");
    dashboard(&app, Some(("lose_dispute", &dispute))).await;
    app.eventually(&status_of(&payment), "refunded").await;
    let disputes = app.stripe().disputes();
    assert_eq!((disputes.len(), disputes[0]["status"].as_str()), (1, Some("lost")));
}
