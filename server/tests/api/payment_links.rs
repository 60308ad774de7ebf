//! `POST /api/v1/payment-links` and the pay link, against the Stripe stand-in.

use serde_json::{Value, json};

use crate::helpers::{TestApp, link_request};

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn a_new_opportunity_gets_a_new_payment_and_its_stable_link() {
    let app = TestApp::spawn().await;
    let response = app.post_link(&link_request()).await;
    assert_eq!(response.status(), 201);
    let body = json(response).await;
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/pay/", app.address)), "{url}");
    let token = url.rsplit('/').next().unwrap();
    assert!(token.len() >= 32, "at least 128 bits: {token}");
    assert_eq!(body["message"], format!("Here is your payment link: {url}"));
    assert_eq!(body["status"], "open");
    assert_eq!(body["amount_minor"], 12500);
    assert_eq!(body["currency"], "USD");
}

#[tokio::test]
async fn the_same_request_again_returns_the_same_payment_with_200() {
    let app = TestApp::spawn().await;
    let first = json(app.post_link(&link_request()).await).await;
    let again = app.post_link(&link_request()).await;
    assert_eq!(again.status(), 200);
    let again = json(again).await;
    assert_eq!(again["payment_id"], first["payment_id"]);
    assert_eq!(again["url"], first["url"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 1);
}

#[tokio::test]
async fn a_new_amount_updates_the_unpaid_payment_and_expires_its_open_checkout_session() {
    let app = TestApp::spawn().await;
    let first = json(app.post_link(&link_request()).await).await;
    app.checkout_location(first["url"].as_str().unwrap()).await;
    let session_id: (String,) =
        sqlx::query_as("SELECT stripe_checkout_session_id FROM payments").fetch_one(&app.db.pool).await.unwrap();

    let mut changed = link_request();
    changed["amount"] = json!("150.50");
    let response = app.post_link(&changed).await;
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(body["payment_id"], first["payment_id"]);
    assert_eq!(body["url"], first["url"], "the link never changes");
    assert_eq!(body["amount_minor"], 15050);
    assert_eq!(app.stripe().session(&session_id.0).unwrap()["status"], "expired");

    // The next press opens a new session for the new amount.
    let location = app.checkout_location(first["url"].as_str().unwrap()).await;
    let new_session_id = location.rsplit('/').next().unwrap();
    assert_ne!(new_session_id, session_id.0);
    assert_eq!(app.stripe().session(new_session_id).unwrap()["amount_total"], 15050);
}

#[tokio::test]
async fn a_paid_payment_answers_409_saying_so() {
    let app = TestApp::spawn().await;
    let first = json(app.post_link(&link_request()).await).await;
    // The webhook path that marks payments paid belongs to another capability; arrange it here.
    sqlx::query("UPDATE payments SET status = 'paid' WHERE id = $1")
        .bind(first["payment_id"].as_str().unwrap())
        .execute(&app.db.pool)
        .await
        .unwrap();

    let mut changed = link_request();
    changed["amount"] = json!("99.00");
    let response = app.post_link(&changed).await;
    assert_eq!(response.status(), 409);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "already_paid");
    assert!(body["error"]["message"].as_str().unwrap().contains("already paid"), "{body}");
}

#[tokio::test]
async fn two_concurrent_identical_requests_create_one_payment_and_one_stripe_customer() {
    let app = TestApp::spawn().await;
    let request = link_request();
    let (a, b) = tokio::join!(app.post_link(&request), app.post_link(&request));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201]);
    let (a, b) = (json(a).await, json(b).await);
    assert_eq!(a["payment_id"], b["payment_id"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 1);
    assert_eq!(app.stripe().customers().len(), 1);
}

#[tokio::test]
async fn the_accounts_stripe_customer_is_reused_across_opportunities() {
    let app = TestApp::spawn().await;
    app.post_link(&link_request()).await;
    let mut other = link_request();
    other["opportunity_id"] = json!("0065g00000ZzZzZ");
    assert_eq!(app.post_link(&other).await.status(), 201);
    let customers = app.stripe().customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["metadata"]["salesforce_account_id"], "0015g00000XyZaBAAV");
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_customers").await, 1);
}

#[tokio::test]
async fn an_existing_stripe_customer_is_found_by_its_account_metadata() {
    let app = TestApp::spawn().await;
    let stripe = reqwest::Client::new();
    let made: Value = stripe
        .post(format!("{}/v1/customers", app.sandbox.as_ref().unwrap().stripe_url))
        .bearer_auth(sandbox::STRIPE_SECRET_KEY)
        .form(&[("email", "ana@example.com"), ("metadata[salesforce_account_id]", "0015g00000XyZaBAAV")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.post_link(&link_request()).await;
    assert_eq!(app.stripe().customers().len(), 1);
    let (customer,): (String,) =
        sqlx::query_as("SELECT stripe_customer_id FROM payments").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(customer, made["id"].as_str().unwrap());
}

#[tokio::test]
async fn every_invalid_field_is_a_422_naming_it_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let cases: &[(&str, Value, &str)] = &[
        ("opportunity_id", json!("not-an-id"), "opportunity_id"),
        ("opportunity_id", json!("0065g00000AbCdEAAA"), "opportunity_id"),
        ("opportunity_id", json!("0015g00000XyZaB"), "opportunity_id"),
        ("account_id", json!("0065g00000AbCdE"), "account_id"),
        ("contact_id", json!("003"), "contact_id"),
        ("currency", json!("usx"), "currency"),
        ("currency", json!(null), "currency"),
        ("amount", json!("12.345"), "amount"),
        ("amount", json!("-5"), "amount"),
        ("amount", json!("0.10"), "amount"),
        ("amount", json!("1000000.00"), "amount"),
        ("payer_email", json!("ana-at-example"), "payer_email"),
        ("payer_email", json!(null), "payer_email"),
        ("brand", json!("no-such-brand"), "brand"),
    ];
    for (field, value, named) in cases {
        let mut body = link_request();
        body[*field] = value.clone();
        let response = app.post_link(&body).await;
        assert_eq!(response.status(), 422, "{field} = {value}");
        let body = json(response).await;
        assert_eq!(body["error"]["field"], *named, "{field} = {value}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let mut zero_decimal = link_request();
    zero_decimal["currency"] = json!("JPY");
    zero_decimal["amount"] = json!("5000.5");
    let body = json(app.post_link(&zero_decimal).await).await;
    assert_eq!(body["error"]["field"], "amount", "{body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 0);
    assert!(app.stripe().customers().is_empty());
}

#[tokio::test]
async fn zero_and_three_decimal_currencies_are_stored_in_their_minor_unit() {
    let app = TestApp::spawn().await;
    let mut yen = link_request();
    yen["currency"] = json!("jpy");
    yen["amount"] = json!(5000);
    assert_eq!(json(app.post_link(&yen).await).await["amount_minor"], 5000);
    let mut dinar = link_request();
    dinar["opportunity_id"] = json!("0065g00000KwDkW");
    dinar["currency"] = json!("KWD");
    dinar["amount"] = json!("12.34");
    assert_eq!(json(app.post_link(&dinar).await).await["amount_minor"], 12340);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/api/v1/payment-links", app.address))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json(response).await["error"]["code"], "bad_request");
}

#[tokio::test]
async fn a_missing_wrong_or_revoked_api_key_is_a_401() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/v1/payment-links", app.address);
    let missing = app.client.post(&url).json(&link_request()).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(json(missing).await["error"]["code"], "unauthorized");
    let wrong = app.client.post(&url).bearer_auth("remit_wrong").json(&link_request()).send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    let (id, key) = server::api_keys::create(&app.db, "soon revoked").await.unwrap();
    assert!(server::api_keys::revoke(&app.db, &id).await.unwrap());
    let revoked = app.client.post(&url).bearer_auth(key).json(&link_request()).send().await.unwrap();
    assert_eq!(revoked.status(), 401);
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 0);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = TestApp::spawn().await;
    let send = |body: Value| {
        app.client
            .post(format!("{}/api/v1/payment-links", app.address))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", "flow-run-42")
            .json(&body)
            .send()
    };
    let first = send(link_request()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first = json(first).await;
    let replayed = send(link_request()).await.unwrap();
    assert_eq!(replayed.status(), 201, "the first answer, status included");
    assert_eq!(json(replayed).await, first);

    let mut other = link_request();
    other["amount"] = json!("1.00");
    let refused = send(other).await.unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(json(refused).await["error"]["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn a_key_whose_request_is_still_running_is_refused_not_run_twice() {
    let app = TestApp::spawn().await;
    let send = || {
        app.client
            .post(format!("{}/api/v1/payment-links", app.address))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", "flow-run-7")
            .json(&link_request())
            .send()
    };
    app.stripe().hold_api_requests(true);
    let before = app.stripe().api_requests();
    let first = tokio::spawn(send());
    // Bounded wait until the first request is held at Stripe, mid-way through its work.
    for _ in 0..400 {
        if app.stripe().api_requests() > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(app.stripe().api_requests() > before, "the first request reached Stripe");

    let second = tokio::time::timeout(std::time::Duration::from_secs(20), send())
        .await
        .expect("the second request was answered without waiting for the first")
        .unwrap();
    assert_eq!(second.status(), 409);
    assert_eq!(json(second).await["error"]["code"], "idempotency_key_in_use");

    app.stripe().hold_api_requests(false);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 201);
    let first = json(first).await;
    assert_eq!(json(send().await.unwrap()).await, first, "a retry now gets the first answer");
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 1);
}

#[tokio::test]
async fn payments_can_be_read_listed_and_canceled() {
    let app = TestApp::spawn().await;
    let created = json(app.post_link(&link_request()).await).await;
    let id = created["payment_id"].as_str().unwrap();

    let payment = json(app.api_get(&format!("/api/v1/payments/{id}")).await).await;
    assert_eq!(payment["opportunity_id"], "0065g00000AbCdEAAV");
    assert_eq!(payment["status"], "open");
    assert_eq!(payment["url"], created["url"]);
    assert!(payment["receipt_url"].is_null());

    let listed = json(app.api_get("/api/v1/payments?opportunity_id=0065g00000AbCdE").await).await;
    assert_eq!(listed["payments"].as_array().unwrap().len(), 1);

    let canceled = app.api_post(&format!("/api/v1/payments/{id}/cancel"), &json!({})).await;
    assert_eq!(canceled.status(), 200);
    assert_eq!(json(canceled).await["status"], "canceled");
    // A new request for the Opportunity starts a new payment.
    assert_eq!(app.post_link(&link_request()).await.status(), 201);
    assert_eq!(app.api_get("/api/v1/payments/no-such-id").await.status(), 404);
}

#[tokio::test]
async fn the_pay_page_shows_the_payment_and_an_unknown_token_is_a_branded_404() {
    let app = TestApp::spawn().await;
    let created = json(app.post_link(&link_request()).await).await;
    let url = created["url"].as_str().unwrap();
    let page = app.client.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Annual membership"), "{html}");
    assert!(html.contains("125.00 USD"), "{html}");
    assert!(html.contains("Pay securely"), "{html}");

    let unknown = app.get("/pay/00000000000000000000000000000000").await;
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn the_pay_button_reuses_the_open_session_with_the_metadata_stripe_needs() {
    let app = TestApp::spawn().await;
    let created = json(app.post_link(&link_request()).await).await;
    let url = created["url"].as_str().unwrap();
    let location = app.checkout_location(url).await;
    assert_eq!(app.checkout_location(url).await, location, "the open session is reused");

    let session = app.stripe().session(location.rsplit('/').next().unwrap()).unwrap();
    assert_eq!(session["metadata"]["remit_payment_id"], created["payment_id"]);
    assert_eq!(session["metadata"]["salesforce_opportunity_id"], "0065g00000AbCdEAAV");
    assert_eq!(session["metadata"]["salesforce_account_id"], "0015g00000XyZaBAAV");
    assert_eq!(session["success_url"], format!("{}/success?session_id={{CHECKOUT_SESSION_ID}}", app.address));
    assert_eq!(session["cancel_url"], format!("{}/cancel?session_id={{CHECKOUT_SESSION_ID}}", app.address));
    assert!(session["customer"].as_str().unwrap().starts_with("cus_"));
}

#[tokio::test]
async fn a_paid_payments_pay_page_says_already_paid_and_offers_no_button() {
    let app = TestApp::spawn().await;
    let created = json(app.post_link(&link_request()).await).await;
    sqlx::query("UPDATE payments SET status = 'paid'").execute(&app.db.pool).await.unwrap();
    let html = app.client.get(created["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("already been made"), "{html}");
    assert!(!html.contains("Pay securely"), "{html}");
    // A button pressed on a page opened before the payment was made leads back to the pay page,
    // never to Checkout.
    let pressed = app.press_pay(created["url"].as_str().unwrap()).await;
    let back = format!("/pay/{}", created["url"].as_str().unwrap().rsplit('/').next().unwrap());
    assert!(pressed.headers()["location"].to_str().unwrap().starts_with(&back));
    assert_eq!(app.count("SELECT COUNT(*) FROM payments WHERE stripe_checkout_session_id IS NOT NULL").await, 0);
}

/// A loopback address where Stripe cannot be reached: every connection is dropped unanswered.
/// The port stays held for the test, so no other test's server can take it meanwhile (a port
/// merely freed was, once, and answered 404).
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            drop(connection);
        }
    });
    url
}

#[tokio::test]
async fn when_stripe_is_unreachable_a_link_request_is_a_503_and_changes_nothing() {
    let stripe = closed_port_url().await;
    let app = TestApp::spawn_with(crate::helpers::Mode::Live, &[("STRIPE_API_BASE", &stripe)]).await;
    let response = app.post_link(&link_request()).await;
    assert_eq!(response.status(), 503);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "stripe_unavailable");
    assert!(!body.to_string().contains("127.0.0.1"), "no internal detail leaks: {body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 0);
}

#[tokio::test]
async fn when_stripe_is_unreachable_the_pay_button_returns_to_the_pay_page_saying_so() {
    let stripe = closed_port_url().await;
    let app = TestApp::spawn_with(crate::helpers::Mode::Live, &[("STRIPE_API_BASE", &stripe)]).await;
    // Without an Account there is no customer to look up: the link needs no Stripe call.
    let mut no_account = link_request();
    no_account.as_object_mut().unwrap().remove("account_id");
    let created = json(app.post_link(&no_account).await).await;
    let pressed = app.press_pay(created["url"].as_str().unwrap()).await;
    assert_eq!(pressed.status(), 303);
    let location = pressed.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("?problem=unavailable"), "{location}");
    let html = app.get(&location).await.text().await.unwrap();
    assert!(html.contains("could not reach our payment provider"), "{html}");
}

#[tokio::test]
async fn a_pay_button_post_without_the_pages_csrf_token_goes_nowhere() {
    let app = TestApp::spawn().await;
    let created = json(app.post_link(&link_request()).await).await;
    let token = created["url"].as_str().unwrap().rsplit('/').next().unwrap();
    let forged = app
        .client
        .post(format!("{}/fn/start-checkout", app.address))
        .header("Accept", "text/html")
        .form(&[("token", token), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.headers()["location"].to_str().unwrap(), format!("/pay/{token}?problem=expired"));
    assert_eq!(app.count("SELECT COUNT(*) FROM payments WHERE stripe_checkout_session_id IS NOT NULL").await, 0);
}
