//! The Stripe client against local servers: typed errors, retries with the same idempotency key,
//! timeouts, and the real stand-in.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, http::HeaderMap, http::StatusCode, response::IntoResponse, routing::post};
use secrecy::SecretString;
use serde_json::json;
use server::stripe::{Form, InvoiceStep, StripeClient, StripeError};

/// A server that answers each request with the next canned reply and records the headers it got.
async fn scripted(replies: Vec<(StatusCode, serde_json::Value)>) -> (String, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let replies = Arc::new(Mutex::new(replies.into_iter()));
    let recorded = seen.clone();
    let app = Router::new().route(
        "/v1/customers",
        post(move |headers: HeaderMap| {
            let replies = replies.clone();
            let recorded = recorded.clone();
            async move {
                recorded.lock().unwrap().push(headers);
                let (status, body) = replies.lock().unwrap().next().expect("a reply for every request");
                (status, axum::Json(body)).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn client(url: &str, timeout: Duration) -> StripeClient {
    StripeClient::new(url.parse().unwrap(), SecretString::from("sk_test_client"), timeout)
}

fn customer() -> serde_json::Value {
    json!({ "id": "cus_123", "object": "customer", "email": "a@b.co", "name": null, "metadata": {} })
}

#[tokio::test]
async fn a_post_carries_the_key_the_pinned_version_and_an_idempotency_key() {
    let (url, seen) = scripted(vec![(StatusCode::OK, customer())]).await;
    let made = client(&url, Duration::from_secs(5))
        .create_customer(&Form::new().set("email", "a@b.co"), "key-1")
        .await
        .unwrap();
    assert_eq!(made.id, "cus_123");
    let headers = &seen.lock().unwrap()[0];
    assert_eq!(headers["authorization"], "Bearer sk_test_client");
    assert_eq!(headers["stripe-version"], server::stripe::STRIPE_VERSION);
    assert_eq!(headers["idempotency-key"], "key-1");
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_with_the_same_idempotency_key() {
    let (url, seen) = scripted(vec![
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "error": { "type": "invalid_request_error", "message": "Too many requests" } }),
        ),
        (StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": { "type": "api_error", "message": "oops" } })),
        (StatusCode::OK, customer()),
    ])
    .await;
    let made = client(&url, Duration::from_secs(5)).create_customer(&Form::new(), "same-key").await.unwrap();
    assert_eq!(made.id, "cus_123");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|h| h["idempotency-key"] == "same-key"));
}

#[tokio::test]
async fn persistent_server_errors_end_as_a_retryable_error() {
    let reply = (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": { "type": "api_error" } }));
    let (url, seen) = scripted(vec![reply.clone(), reply.clone(), reply]).await;
    let error = client(&url, Duration::from_secs(5)).create_customer(&Form::new(), "k").await.unwrap_err();
    assert!(matches!(error, StripeError::Server(503)), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn stripe_errors_become_typed_errors_and_are_not_retried() {
    let cases = [
        (
            StatusCode::PAYMENT_REQUIRED,
            json!({ "error": { "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds." } }),
        ),
        (
            StatusCode::BAD_REQUEST,
            json!({ "error": { "type": "invalid_request_error", "code": "parameter_unknown", "param": "colour", "message": "Received unknown parameter: colour" } }),
        ),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "error": { "type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_***" } }),
        ),
    ];
    let (url, seen) = scripted(cases.to_vec()).await;
    let stripe = client(&url, Duration::from_secs(5));
    let card = stripe.create_customer(&Form::new(), "a").await.unwrap_err();
    assert!(matches!(&card, StripeError::Card { decline_code: Some(d), .. } if d == "insufficient_funds"), "{card:?}");
    let invalid = stripe.create_customer(&Form::new(), "b").await.unwrap_err();
    assert!(
        matches!(&invalid, StripeError::InvalidRequest { param: Some(p), status: 400, .. } if p == "colour"),
        "{invalid:?}"
    );
    let auth = stripe.create_customer(&Form::new(), "c").await.unwrap_err();
    assert!(matches!(auth, StripeError::Authentication(_)), "{auth:?}");
    assert!(!card.is_retryable() && !invalid.is_retryable());
    assert_eq!(seen.lock().unwrap().len(), 3, "no retries");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accept connections and say nothing.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let error = client(&url, Duration::from_millis(200)).retrieve_customer("cus_1").await.unwrap_err();
    assert!(matches!(error, StripeError::Timeout), "{error:?}");
}

#[tokio::test]
async fn the_client_and_the_stand_in_agree_on_customers_and_search() {
    let sandbox = sandbox::Sandbox::spawn().await.unwrap();
    let stripe = StripeClient::new(
        sandbox.stripe_url.parse().unwrap(),
        SecretString::from(sandbox::STRIPE_SECRET_KEY),
        Duration::from_secs(5),
    );
    let form = Form::new().set("email", "o'brien@example.com").set("metadata[salesforce_account_id]", "001'quoted\\id");
    let made = stripe.create_customer(&form, "k1").await.unwrap();
    let again = stripe.create_customer(&form, "k1").await.unwrap();
    assert_eq!(made.id, again.id, "an idempotent replay returns the same customer");
    let found = stripe.search_customers_by_metadata("salesforce_account_id", "001'quoted\\id").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, made.id);
    let updated = stripe.update_customer(&made.id, &Form::new().set("name", "Ana"), "k2").await.unwrap();
    assert_eq!(updated.name.as_deref(), Some("Ana"));
    assert_eq!(stripe.retrieve_customer(&made.id).await.unwrap().metadata["salesforce_account_id"], "001'quoted\\id");
}

#[tokio::test]
async fn the_stand_in_refuses_checkout_options_stripe_refuses_naming_the_parameter() {
    let sandbox = sandbox::Sandbox::spawn().await.unwrap();
    let stripe = StripeClient::new(
        sandbox.stripe_url.parse().unwrap(),
        SecretString::from(sandbox::STRIPE_SECRET_KEY),
        Duration::from_secs(5),
    );
    let session = || {
        Form::new()
            .set("mode", "payment")
            .set("success_url", "https://example.org/ok")
            .set("line_items[0][quantity]", 1)
            .set("line_items[0][price_data][currency]", "usd")
            .set("line_items[0][price_data][unit_amount]", 1000)
            .set("line_items[0][price_data][product_data][name]", "Gift")
    };
    let cases = [
        (session().set("submit_type", "subscribe"), "submit_type"),
        (session().set("submit_type", "give"), "submit_type"),
        (session().set("locale", "klingon"), "locale"),
        (session().set("payment_method_types[0]", "bitcoin"), "payment_method_types[0]"),
        (session().set("allow_promotion_codes", "yes"), "allow_promotion_codes"),
        (session().set("custom_text[submit][message]", "x".repeat(1201)), "custom_text[submit][message]"),
        (
            session().set("custom_text[terms_of_service_acceptance][message]", "I agree"),
            "custom_text[terms_of_service_acceptance][message]",
        ),
        (session().set("phone_number_collection[enabled]", "maybe"), "phone_number_collection[enabled]"),
        (session().set("shipping_options[0][shipping_rate]", "shr_1"), "shipping_options[0][shipping_rate]"),
    ];
    for (i, (form, param)) in cases.into_iter().enumerate() {
        match stripe.create_checkout_session(&form, &format!("bad-{i}")).await {
            Err(StripeError::InvalidRequest { param: Some(got), .. }) => assert_eq!(got, param),
            other => panic!("{param}: {other:?}"),
        }
    }
    let good = session().set("submit_type", "donate").set("custom_text[submit][message]", "x".repeat(1200));
    assert!(stripe.create_checkout_session(&good, "good").await.is_ok());
}

#[tokio::test]
async fn an_invoice_is_issued_paid_on_its_hosted_page_and_only_an_open_one_is_voided() {
    let sandbox = sandbox::Sandbox::spawn().await.unwrap();
    let stripe = StripeClient::new(
        sandbox.stripe_url.parse().unwrap(),
        SecretString::from(sandbox::STRIPE_SECRET_KEY),
        Duration::from_secs(5),
    );
    let customer = stripe.create_customer(&Form::new().set("email", "ap@example.com"), "c1").await.unwrap();
    let draft = || {
        Form::new()
            .set("customer", &customer.id)
            .set("collection_method", "send_invoice")
            .set("days_until_due", 30)
            .set("currency", "jpy")
            .set("metadata[remit_payment_id]", "pay-1")
    };
    let no_due_date = stripe
        .create_invoice(&Form::new().set("customer", &customer.id).set("collection_method", "send_invoice"), "i0")
        .await
        .unwrap_err();
    assert!(matches!(&no_due_date, StripeError::InvalidRequest { param: Some(p), .. } if p == "days_until_due"));

    let invoice = stripe.create_invoice(&draft(), "i1").await.unwrap();
    assert_eq!((invoice.status.as_deref(), invoice.amount_due), (Some("draft"), 0));
    let item = |invoice: &str| {
        Form::new()
            .set("customer", &customer.id)
            .set("invoice", invoice)
            .set("amount", 5000)
            .set("currency", "jpy")
            .set("description", "Workshop")
    };
    let usd = stripe.create_invoice_item(&item(&invoice.id).set("currency", "usd"), "ii0").await.unwrap_err();
    assert!(matches!(&usd, StripeError::InvalidRequest { param: Some(p), .. } if p == "currency"), "{usd:?}");
    let added = stripe.create_invoice_item(&item(&invoice.id), "ii1").await.unwrap();
    assert_eq!(added.invoice.as_deref(), Some(invoice.id.as_str()));
    let open = stripe.invoice_step(&invoice.id, InvoiceStep::Finalize, "f1").await.unwrap();
    assert_eq!((open.status.as_deref(), open.amount_due), (Some("open"), 5000));
    let url = open.hosted_invoice_url.clone().expect("a finalized invoice has a hosted page");
    assert!(open.number.is_some());
    stripe.invoice_step(&invoice.id, InvoiceStep::Send, "s1").await.unwrap();
    let late_item = stripe.create_invoice_item(&item(&invoice.id), "ii2").await.unwrap_err();
    assert!(matches!(late_item, StripeError::InvalidRequest { .. }), "items join drafts only");

    // The payer's card is declined once, then pays.
    let http = reqwest::Client::new();
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("5000 JPY") && page.contains("Pay with card •••• 4242 (succeeds)"), "{page}");
    let declined = http.post(&url).form(&[("outcome", "card_declined")]).send().await.unwrap().text().await.unwrap();
    assert!(declined.contains("Your card was declined."));
    let paid = http.post(&url).form(&[("outcome", "card_succeeds")]).send().await.unwrap().text().await.unwrap();
    assert!(paid.contains("This invoice has been paid."));
    let invoice_now = sandbox.stripe.invoice(&invoice.id).unwrap();
    assert_eq!((invoice_now["status"].as_str(), invoice_now["attempt_count"].as_i64()), (Some("paid"), Some(2)));
    let types: Vec<String> = stripe
        .list_events(0, None)
        .await
        .unwrap()
        .data
        .into_iter()
        .filter(|e| e.data.object["id"] == invoice.id.as_str())
        .map(|e| e.event_type)
        .collect();
    for expected in ["invoice.created", "invoice.finalized", "invoice.sent", "invoice.payment_failed", "invoice.paid"] {
        assert!(types.iter().any(|t| t == expected), "{expected} in {types:?}");
    }
    let paid_void = stripe.invoice_step(&invoice.id, InvoiceStep::Void, "v1").await.unwrap_err();
    assert!(matches!(paid_void, StripeError::InvalidRequest { .. }), "a paid invoice cannot be voided");

    let second = stripe.create_invoice(&draft(), "i2").await.unwrap();
    stripe.create_invoice_item(&item(&second.id), "ii3").await.unwrap();
    stripe.invoice_step(&second.id, InvoiceStep::Finalize, "f2").await.unwrap();
    let void = stripe.invoice_step(&second.id, InvoiceStep::Void, "v2").await.unwrap();
    assert_eq!(void.status.as_deref(), Some("void"));
    let gone = http.get(void.hosted_invoice_url.unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(gone.contains("no longer payable"));
}

#[tokio::test]
async fn the_stand_ins_subscription_events_add_up_to_remits_view_of_the_subscription() {
    use server::subscriptions::{InvoiceStatus, SubscriptionStatus, events::fact_of, invoices, subscriptions};
    let sandbox = sandbox::Sandbox::spawn().await.unwrap();
    let stripe = StripeClient::new(
        sandbox.stripe_url.parse().unwrap(),
        SecretString::from(sandbox::STRIPE_SECRET_KEY),
        Duration::from_secs(5),
    );
    let form = Form::new()
        .set("mode", "subscription")
        .set("success_url", "https://example.org/ok")
        .set("customer_email", "ana@example.com")
        .set("line_items[0][quantity]", 1)
        .set("line_items[0][price_data][currency]", "usd")
        .set("line_items[0][price_data][unit_amount]", 1000)
        .set("line_items[0][price_data][product_data][name]", "Weekly box")
        .set("line_items[0][price_data][recurring][interval]", "week")
        .set("subscription_data[metadata][remit_payment_id]", "pay-1");
    let session = stripe.create_checkout_session(&form, "s1").await.unwrap();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let paid = browser.post(session.url.unwrap()).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    assert_eq!(paid.status(), 303, "back to the success page");
    let id = sandbox.stripe.subscriptions()[0]["id"].as_str().unwrap().to_owned();
    assert!(sandbox.stripe.renew_subscription(&id, false));
    let renewal = sandbox.stripe.subscriptions()[0]["latest_invoice"].as_str().unwrap().to_owned();
    assert!(sandbox.stripe.pay_invoice(&renewal, true));
    assert!(sandbox.stripe.cancel_subscription(&id));

    let events = stripe.list_events(0, None).await.unwrap().data;
    let facts: Vec<_> = events.iter().filter_map(|e| fact_of(&e.event_type, &e.data.object, e.created)).collect();
    let subscription = &subscriptions(&facts)[&id];
    let path: Vec<SubscriptionStatus> = subscription.transitions.iter().map(|t| t.to).collect();
    use SubscriptionStatus::{Active, Canceled, Incomplete, PastDue};
    assert_eq!(path, [Incomplete, Active, PastDue, Active, Canceled]);
    assert_eq!(subscription.latest.remit_payment_id.as_deref(), Some("pay-1"));
    let revenue = server::subscriptions::revenue(
        subscription.latest.amount_minor,
        subscription.latest.interval.unwrap(),
        subscription.latest.interval_count,
    );
    assert_eq!((revenue.monthly_minor, revenue.annual_minor), (4333, 52_000));
    let invoices = invoices(&facts);
    assert_eq!(invoices[&renewal].status, InvoiceStatus::Paid);
    assert_eq!(invoices[&renewal].failures.len(), 1);
    assert!(invoices.values().all(|i| i.subscription.as_deref() == Some(id.as_str())));
}
