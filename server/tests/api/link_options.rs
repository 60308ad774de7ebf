//! Per-link Checkout options (and a brand's defaults) reach Stripe exactly as asked, what Stripe
//! would refuse is a 422 naming the field, and a link that expires stops taking payments: its
//! page says so, Salesforce shows Expired, an open Checkout session is ended, and a new request
//! for the Opportunity opens the same link again.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Mode, TestApp, link_request};

const OPPORTUNITY: &str = "0065g00000AbCdEAAV";

async fn new_link(app: &TestApp, request: &Value) -> Value {
    let response = app.post_link(request).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// The Checkout session the pay button made for this link, as Stripe holds it.
async fn session_of(app: &TestApp, link: &Value) -> Value {
    let location = app.checkout_location(link["url"].as_str().unwrap()).await;
    let payment = link["payment_id"].as_str().unwrap();
    let (session_id,): (String,) = sqlx::query_as("SELECT stripe_checkout_session_id FROM payments WHERE id = $1")
        .bind(payment)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(location.contains(&session_id), "{location}");
    app.stripe().session(&session_id).expect("the session exists in Stripe")
}

#[tokio::test]
async fn every_checkout_option_reaches_the_stripe_session_as_asked() {
    let app = TestApp::spawn().await;
    let mut request = link_request();
    let options = json!({
        "payment_methods": ["card", "us_bank_account"],
        "allow_promotion_codes": true,
        "submit_type": "donate",
        "locale": "fr",
        "custom_text": "Merci pour votre don.",
        "terms_of_service_url": "https://example.org/terms",
        "collect_billing_address": true,
        "collect_phone": true,
    });
    request.as_object_mut().unwrap().extend(options.as_object().unwrap().clone());
    let link = new_link(&app, &request).await;
    let session = session_of(&app, &link).await;
    assert_eq!(session["payment_method_types"], json!(["card", "us_bank_account"]));
    assert_eq!(session["allow_promotion_codes"], true);
    assert_eq!(session["submit_type"], "donate");
    assert_eq!(session["locale"], "fr");
    assert_eq!(session["custom_text"]["submit"]["message"], "Merci pour votre don.");
    assert_eq!(session["consent_collection"]["terms_of_service"], "required");
    assert!(
        session["custom_text"]["terms_of_service_acceptance"]["message"]
            .as_str()
            .unwrap()
            .contains("https://example.org/terms")
    );
    assert_eq!(session["billing_address_collection"], "required");
    assert_eq!(session["phone_number_collection"]["enabled"], true);

    // A link that asks for nothing gets Stripe's defaults: nothing sent.
    let mut plain = link_request();
    plain["opportunity_id"] = json!("0065g00000AbCdF");
    let session = session_of(&app, &new_link(&app, &plain).await).await;
    assert_eq!(session["submit_type"], "auto");
    assert_eq!(session["allow_promotion_codes"], Value::Null);
    assert_eq!(session["custom_text"]["submit"], Value::Null);
    assert_eq!(session["consent_collection"], Value::Null);
}

#[tokio::test]
async fn an_option_stripe_would_refuse_is_a_422_naming_it_and_makes_no_payment() {
    let app = TestApp::spawn().await;
    let cases = [
        ("payment_methods", json!(["card", "bitcoin"])),
        ("payment_methods", json!([])),
        ("submit_type", json!("subscribe")),
        ("locale", json!("xx")),
        ("custom_text", json!("x".repeat(1201))),
        ("terms_of_service_url", json!("http://example.org/terms")),
        ("expires_in_days", json!(0)),
        ("expires_in_days", json!(366)),
        ("expires_at", json!("tomorrow")),
        ("expires_at", json!("2020-01-01T00:00:00Z")),
    ];
    for (field, value) in cases {
        let mut request = link_request();
        request[field] = value.clone();
        let response = app.post_link(&request).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field} = {value}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let mut both = link_request();
    both["expires_at"] = json!("2099-01-01T00:00:00Z");
    both["expires_in_days"] = json!(3);
    let body: Value = app.post_link(&both).await.json().await.unwrap();
    assert_eq!(body["error"]["field"], "expires_at", "{body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 0);
}

#[tokio::test]
async fn a_brands_checkout_defaults_fill_in_what_a_link_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remit.toml");
    std::fs::write(
        &path,
        "[brands.give]\nname = \"Give\"\nlink_expires_in_days = 30\n\n[brands.give.checkout]\nsubmit_type = \"donate\"\nlocale = \"de\"\n",
    )
    .unwrap();
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_CONFIG", path.to_str().unwrap())]).await;
    let mut request = link_request();
    request["locale"] = json!("fr");
    let link = new_link(&app, &request).await;
    let session = session_of(&app, &link).await;
    assert_eq!(session["submit_type"], "donate", "the brand's");
    assert_eq!(session["locale"], "fr", "the link's own");
    let payment: Value =
        app.api_get(&format!("/api/v1/payments/{}", link["payment_id"].as_str().unwrap())).await.json().await.unwrap();
    let expires_at = time::OffsetDateTime::parse(
        payment["expires_at"].as_str().expect("the brand's expiry"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (expires_at - time::OffsetDateTime::now_utc()).whole_days();
    assert!((29..=30).contains(&days), "{days} days");
}

#[tokio::test]
async fn an_expired_link_stops_taking_payments_shows_expired_in_salesforce_and_reopens_on_a_new_request() {
    let app = TestApp::spawn().await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let mut request = link_request();
    request["expires_at"] = json!(soon.format(&time::format_description::well_known::Rfc3339).unwrap());
    let link = new_link(&app, &request).await;
    let payment = link["payment_id"].as_str().unwrap().to_owned();
    let url = link["url"].as_str().unwrap().to_owned();
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{payment}'"), "expired").await;

    // The page says so with the brand around it, and the button (if forced) makes no session.
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::GONE);
    let html = page.text().await.unwrap();
    assert!(html.contains("This payment link has expired"), "{html}");
    assert!(!html.contains("Pay securely"));
    let pressed = app.press_pay(&url).await;
    let location = pressed.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
    assert!(
        !location.contains("checkout") && !location.starts_with(&app.sandbox.as_ref().unwrap().stripe_url),
        "{location}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM payments WHERE id = '{payment}' AND stripe_checkout_session_id IS NOT NULL"
        ))
        .await,
        0
    );

    // Salesforce shows Expired.
    wait_for_opportunity(&app, "Expired").await;

    // A new request for the Opportunity opens the same payment and link again, with new terms.
    let mut again = link_request();
    again["amount"] = json!("130.00");
    let response = app.post_link(&again).await;
    assert_eq!(response.status(), StatusCode::OK);
    let reopened: Value = response.json().await.unwrap();
    assert_eq!(reopened["payment_id"], payment.as_str());
    assert_eq!(reopened["url"], url.as_str());
    assert_eq!(reopened["status"], "open");
    assert_eq!(reopened["amount_minor"], 13000);
    wait_for_opportunity(&app, "Pending").await;
    app.checkout_location(&url).await;
}

#[tokio::test]
async fn a_checkout_session_open_when_its_link_expires_is_ended_in_stripe() {
    let app = TestApp::spawn().await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let mut request = link_request();
    request["expires_at"] = json!(soon.format(&time::format_description::well_known::Rfc3339).unwrap());
    let link = new_link(&app, &request).await;
    let session = session_of(&app, &link).await;
    assert_eq!(session["status"], "open");
    let id = session["id"].as_str().unwrap().to_owned();
    app.eventually(
        &format!("SELECT status FROM payments WHERE id = '{}'", link["payment_id"].as_str().unwrap()),
        "expired",
    )
    .await;
    app.outbox_idle().await;
    assert_eq!(app.stripe().session(&id).unwrap()["status"], "expired");
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await, 0);
}

async fn wait_for_opportunity(app: &TestApp, status: &str) {
    for _ in 0..600 {
        let records = app.salesforce().records("Opportunity");
        let opportunity = records.iter().find(|r| r["Id"] == OPPORTUNITY).cloned().unwrap_or_default();
        if opportunity["Payment_Status__c"] == status {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the Opportunity never showed {status}");
}
