//! The Stripe stand-in is as strict as Stripe where Remit could go wrong: request format, errors,
//! idempotency, Checkout outcomes and signed webhooks.

use std::sync::{Arc, Mutex};

use sandbox::{Sandbox, SandboxOptions, WebhookTarget};
use serde_json::Value;

struct Stand {
    sandbox: Sandbox,
    http: reqwest::Client,
}

impl Stand {
    async fn new() -> Self {
        Self::with(SandboxOptions::default()).await
    }

    async fn with(options: SandboxOptions) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { sandbox: Sandbox::spawn_with(options).await.unwrap(), http }
    }

    async fn post(&self, path: &str, form: &[(&str, &str)], key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.sandbox.stripe_url))
            .bearer_auth(sandbox::STRIPE_SECRET_KEY)
            .form(form);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.sandbox.stripe_url))
            .bearer_auth(sandbox::STRIPE_SECRET_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn session(&self) -> Value {
        let (status, session) = self
            .post(
                "/v1/checkout/sessions",
                &[
                    ("mode", "payment"),
                    ("success_url", "http://127.0.0.1:1/success?session_id={CHECKOUT_SESSION_ID}"),
                    ("cancel_url", "http://127.0.0.1:1/cancel"),
                    ("customer_email", "ana@example.com"),
                    ("line_items[0][quantity]", "1"),
                    ("line_items[0][price_data][currency]", "usd"),
                    ("line_items[0][price_data][unit_amount]", "12500"),
                    ("line_items[0][price_data][product_data][name]", "Annual membership"),
                    ("metadata[remit_payment_id]", "pay_1"),
                    ("payment_intent_data[metadata][remit_payment_id]", "pay_1"),
                ],
                None,
            )
            .await;
        assert_eq!(status, 200, "{session}");
        session
    }

    async fn pay(&self, session: &Value, outcome: &str) -> reqwest::Response {
        self.http.post(session["url"].as_str().unwrap()).form(&[("outcome", outcome)]).send().await.unwrap()
    }
}

#[tokio::test]
async fn an_unknown_parameter_is_refused_as_stripe_refuses_it() {
    let stand = Stand::new().await;
    let (status, body) = stand.post("/v1/customers", &[("email", "a@b.co"), ("colour", "red")], None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "parameter_unknown");
    assert_eq!(body["error"]["param"], "colour");
    assert_eq!(body["error"]["message"], "Received unknown parameter: colour");
}

#[tokio::test]
async fn a_request_without_a_secret_key_is_a_401() {
    let stand = Stand::new().await;
    let response = stand.http.get(format!("{}/v1/customers/cus_x", stand.sandbox.stripe_url)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = stand
        .http
        .get(format!("{}/v1/customers/cus_x", stand.sandbox.stripe_url))
        .bearer_auth("sk_live_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn an_idempotency_key_replays_and_refuses_other_parameters() {
    let stand = Stand::new().await;
    let (_, first) = stand.post("/v1/customers", &[("email", "a@b.co")], Some("k")).await;
    let (_, again) = stand.post("/v1/customers", &[("email", "a@b.co")], Some("k")).await;
    assert_eq!(first["id"], again["id"]);
    let (status, conflict) = stand.post("/v1/customers", &[("email", "other@b.co")], Some("k")).await;
    assert_eq!(status, 400);
    assert_eq!(conflict["error"]["type"], "idempotency_error");
    assert_eq!(stand.sandbox.stripe.customers().len(), 1);
}

#[tokio::test]
async fn session_creation_checks_what_stripe_checks() {
    let stand = Stand::new().await;
    let (status, body) =
        stand.post("/v1/checkout/sessions", &[("mode", "payment"), ("success_url", "http://x.test/s")], None).await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("line_items")));
    let (status, body) = stand
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("success_url", "http://x.test/s"),
                ("customer", "cus_nope"),
                ("line_items[0][quantity]", "1"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "49"),
                ("line_items[0][price_data][product_data][name]", "Too small"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "customer");
}

#[tokio::test]
async fn a_new_session_has_stripes_shape() {
    let stand = Stand::new().await;
    let session = stand.session().await;
    assert_eq!(session["object"], "checkout.session");
    assert!(session["id"].as_str().unwrap().starts_with("cs_test_"));
    assert_eq!(session["status"], "open");
    assert_eq!(session["payment_status"], "unpaid");
    assert_eq!(session["amount_total"], 12500);
    assert!(session["payment_intent"].is_null(), "created when the payer pays, as on Stripe");
    assert!(session["expires_at"].as_i64().unwrap() > session["created"].as_i64().unwrap());
    let items = stand.get(&format!("/v1/checkout/sessions/{}/line_items", session["id"].as_str().unwrap())).await;
    assert_eq!(items["data"][0]["description"], "Annual membership");
    assert_eq!(items["data"][0]["amount_total"], 12500);
}

#[tokio::test]
async fn paying_with_the_good_card_completes_the_session_and_records_events() {
    let stand = Stand::new().await;
    let session = stand.session().await;
    let id = session["id"].as_str().unwrap();
    let page = stand.http.get(session["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("125.00 USD") && page.contains("Annual membership"), "{page}");

    let response = stand.pay(&session, "card_succeeds").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], format!("http://127.0.0.1:1/success?session_id={id}"));

    let session = stand.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(session["status"], "complete");
    assert_eq!(session["payment_status"], "paid");
    let intent = stand.get(&format!("/v1/payment_intents/{}", session["payment_intent"].as_str().unwrap())).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["metadata"]["remit_payment_id"], "pay_1");
    let charge = stand.get(&format!("/v1/charges/{}", intent["latest_charge"].as_str().unwrap())).await;
    assert_eq!(charge["payment_method_details"]["card"]["last4"], "4242");

    let events = stand.get("/v1/events").await;
    let types: Vec<&str> = events["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"checkout.session.completed") && types.contains(&"payment_intent.succeeded"), "{types:?}");
}

#[tokio::test]
async fn a_declined_card_leaves_the_session_open_and_says_why() {
    let stand = Stand::new().await;
    let session = stand.session().await;
    let response = stand.pay(&session, "card_declined").await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Your card was declined."));
    let session = stand.get(&format!("/v1/checkout/sessions/{}", session["id"].as_str().unwrap())).await;
    assert_eq!(session["status"], "open");
    let intent = stand.get(&format!("/v1/payment_intents/{}", session["payment_intent"].as_str().unwrap())).await;
    assert_eq!(intent["last_payment_error"]["decline_code"], "generic_decline");
}

#[tokio::test]
async fn an_expired_session_cannot_be_expired_again_or_paid() {
    let stand = Stand::new().await;
    let session = stand.session().await;
    let id = session["id"].as_str().unwrap();
    let (status, expired) = stand.post(&format!("/v1/checkout/sessions/{id}/expire"), &[], None).await;
    assert_eq!((status, expired["status"].as_str()), (200, Some("expired")));
    assert!(expired["url"].is_null());
    let (status, _) = stand.post(&format!("/v1/checkout/sessions/{id}/expire"), &[], None).await;
    assert_eq!(status, 400);
    let page = stand.pay(&session, "card_succeeds").await.text().await.unwrap();
    assert!(page.contains("no longer available"));
}

#[tokio::test]
async fn webhooks_are_delivered_signed_with_the_configured_secret() {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let signature = headers["stripe-signature"].to_str().unwrap().to_owned();
                sink.lock().unwrap().push((signature, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let secret = "whsec_sandbox_test";
    let stand = Stand::with(SandboxOptions {
        webhook: Some(WebhookTarget { url, secret: secret.into() }),
        ..SandboxOptions::default()
    })
    .await;
    let session = stand.session().await;
    stand.pay(&session, "card_succeeds").await;
    for _ in 0..200 {
        if received.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let received = received.lock().unwrap();
    assert!(received.len() >= 3, "{} deliveries", received.len());
    for (signature, body) in received.iter() {
        let timestamp: i64 = signature.split(',').next().unwrap().strip_prefix("t=").unwrap().parse().unwrap();
        assert_eq!(*signature, sandbox::stripe::sign(secret, timestamp, body));
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["object"], "event");
    }
}

/// A monthly subscription's Checkout session, with the link's metadata on the subscription.
async fn subscription_session(stand: &Stand, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("mode", "subscription"),
        ("success_url", "http://127.0.0.1:1/success?session_id={CHECKOUT_SESSION_ID}"),
        ("customer_email", "ana@example.com"),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "2000"),
        ("line_items[0][price_data][product_data][name]", "Membership"),
        ("line_items[0][price_data][recurring][interval]", "month"),
        ("subscription_data[metadata][remit_payment_id]", "pay_1"),
    ];
    form.extend_from_slice(extra);
    stand.post("/v1/checkout/sessions", &form, None).await
}

fn event_types(events: &Value) -> Vec<String> {
    let mut types: Vec<String> =
        events["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    types.reverse();
    types
}

#[tokio::test]
async fn subscription_mode_is_checked_as_stripe_checks_it() {
    let stand = Stand::new().await;
    let (status, error) = subscription_session(&stand, &[("payment_intent_data[metadata][a]", "b")]).await;
    assert_eq!((status, error["error"]["param"].as_str()), (400, Some("payment_intent_data")));
    let (status, error) =
        subscription_session(&stand, &[("line_items[0][price_data][recurring][interval]", "fortnight")]).await;
    assert_eq!(
        (status, error["error"]["param"].as_str()),
        (400, Some("line_items[0][price_data][recurring][interval]"))
    );
    let (status, error) = subscription_session(&stand, &[("subscription_data[trial_period_days]", "0")]).await;
    assert_eq!((status, error["error"]["param"].as_str()), (400, Some("subscription_data[trial_period_days]")));
    let (status, error) = stand
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("success_url", "http://127.0.0.1:1/ok"),
                ("line_items[0][quantity]", "1"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "2000"),
                ("line_items[0][price_data][product_data][name]", "Membership"),
                ("line_items[0][price_data][recurring][interval]", "month"),
            ],
            None,
        )
        .await;
    assert_eq!((status, error["error"]["param"].as_str()), (400, Some("line_items[0][price_data][recurring]")));
}

#[tokio::test]
async fn a_subscription_starts_in_checkout_renews_fails_recovers_and_is_canceled_in_the_portal() {
    let stand = Stand::new().await;
    let (status, session) = subscription_session(&stand, &[]).await;
    assert_eq!(status, 200, "{session}");
    let page = stand.http.get(session["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("20.00 USD per month"), "{page}");
    assert_eq!(stand.pay(&session, "card_declined").await.status(), 200);
    assert!(stand.sandbox.stripe.subscriptions().is_empty(), "a declined card makes nothing");
    assert_eq!(stand.pay(&session, "card_succeeds").await.status(), 303);

    let id = session["id"].as_str().unwrap();
    let session = stand.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!((session["status"].as_str(), session["payment_status"].as_str()), (Some("complete"), Some("paid")));
    let sub_id = session["subscription"].as_str().unwrap().to_owned();
    let subscription = stand.get(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(subscription["status"], "active");
    assert_eq!(subscription["metadata"]["remit_payment_id"], "pay_1");
    assert_eq!(subscription["customer"], session["customer"]);
    let item = &subscription["items"]["data"][0];
    assert_eq!(
        (item["price"]["unit_amount"].as_i64(), item["price"]["recurring"]["interval"].as_str()),
        (Some(2000), Some("month"))
    );
    let first = stand.sandbox.stripe.invoice(subscription["latest_invoice"].as_str().unwrap()).unwrap();
    assert_eq!(
        (first["status"].as_str(), first["billing_reason"].as_str()),
        (Some("paid"), Some("subscription_create"))
    );
    assert_eq!(first["parent"]["subscription_details"]["subscription"], sub_id.as_str());
    let types = event_types(&stand.get("/v1/events?limit=100").await);
    let started: Vec<&str> = types
        .iter()
        .map(String::as_str)
        .filter(|t| {
            t.starts_with("customer.subscription") || *t == "invoice.paid" || *t == "checkout.session.completed"
        })
        .collect();
    assert_eq!(
        started,
        [
            "customer.subscription.created",
            "invoice.paid",
            "customer.subscription.updated",
            "checkout.session.completed"
        ]
    );

    // A renewal fails: past due, retried; the retry pays: active again.
    assert!(stand.sandbox.stripe.renew_subscription(&sub_id, false));
    let subscription = stand.get(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(subscription["status"], "past_due");
    let renewal = stand.sandbox.stripe.invoice(subscription["latest_invoice"].as_str().unwrap()).unwrap();
    assert_eq!((renewal["status"].as_str(), renewal["attempt_count"].as_i64()), (Some("open"), Some(1)));
    assert!(renewal["next_payment_attempt"].as_i64().is_some(), "Stripe retries it");
    // The invoice's events do not say why it failed; its PaymentIntent does, found through its payments.
    let payments = stand.get(&format!("/v1/invoice_payments?invoice={}", renewal["id"].as_str().unwrap())).await;
    let intent = payments["data"][0]["payment"]["payment_intent"].as_str().unwrap().to_owned();
    assert_eq!(payments["data"][0]["status"], "open");
    let declined = stand.get(&format!("/v1/payment_intents/{intent}")).await;
    assert_eq!(declined["last_payment_error"]["decline_code"], "generic_decline");
    assert!(stand.sandbox.stripe.pay_invoice(renewal["id"].as_str().unwrap(), true));
    assert_eq!(stand.get(&format!("/v1/subscriptions/{sub_id}")).await["status"], "active");
    let payments = stand.get(&format!("/v1/invoice_payments?invoice={}", renewal["id"].as_str().unwrap())).await;
    assert_eq!(payments["data"].as_array().unwrap().len(), 1, "the retry uses the same PaymentIntent");
    assert_eq!(
        (payments["data"][0]["status"].as_str(), payments["data"][0]["amount_paid"].as_i64()),
        (Some("paid"), Some(2000))
    );
    assert!(stand.sandbox.stripe.renew_subscription(&sub_id, true));

    // The payer cancels in the customer portal.
    let (status, portal) = stand
        .post(
            "/v1/billing_portal/sessions",
            &[("customer", session["customer"].as_str().unwrap()), ("return_url", "http://127.0.0.1:1/account")],
            None,
        )
        .await;
    assert_eq!(status, 200, "{portal}");
    let url = portal["url"].as_str().unwrap();
    let page = stand.http.get(url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Membership")
            && page.contains("Cancel subscription")
            && page.contains("http://127.0.0.1:1/account"),
        "{page}"
    );
    let canceled =
        stand.http.post(url).form(&[("subscription", sub_id.as_str())]).send().await.unwrap().text().await.unwrap();
    assert!(canceled.contains("Your subscription has been canceled."));
    assert_eq!(stand.get(&format!("/v1/subscriptions/{sub_id}")).await["status"], "canceled");
    assert!(!stand.sandbox.stripe.renew_subscription(&sub_id, true), "a canceled subscription does not renew");
    let types = event_types(&stand.get("/v1/events?limit=100").await);
    assert_eq!(types.last().map(String::as_str), Some("customer.subscription.deleted"));
}

#[tokio::test]
async fn a_trial_starts_free_and_trialing() {
    let stand = Stand::new().await;
    let (_, session) = subscription_session(&stand, &[("subscription_data[trial_period_days]", "14")]).await;
    stand.pay(&session, "card_succeeds").await;
    let subscription = &stand.sandbox.stripe.subscriptions()[0];
    assert_eq!(subscription["status"], "trialing");
    assert_eq!(
        subscription["trial_end"].as_i64().unwrap() - subscription["trial_start"].as_i64().unwrap(),
        14 * 86_400
    );
    let session = stand.get(&format!("/v1/checkout/sessions/{}", session["id"].as_str().unwrap())).await;
    assert_eq!(session["payment_status"], "no_payment_required");
}

#[tokio::test]
async fn a_subscription_told_to_end_with_its_period_ends_instead_of_renewing() {
    let stand = Stand::new().await;
    let (_, session) = subscription_session(&stand, &[]).await;
    assert_eq!(stand.pay(&session, "card_succeeds").await.status(), 303);
    let id = session["id"].as_str().unwrap();
    let sub_id = stand.get(&format!("/v1/checkout/sessions/{id}")).await["subscription"].as_str().unwrap().to_owned();
    let path = format!("/v1/subscriptions/{sub_id}");
    let (status, body) = stand.post(&path, &[("cancel_at_period_end", "maybe")], None).await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("cancel_at_period_end")), "{body}");
    let (status, ending) = stand.post(&path, &[("cancel_at_period_end", "true")], Some("end-1")).await;
    assert_eq!(status, 200, "{ending}");
    assert_eq!((ending["status"].as_str(), ending["cancel_at_period_end"].as_bool()), (Some("active"), Some(true)));
    assert_eq!(ending["cancel_at"], ending["items"]["data"][0]["current_period_end"]);
    let invoices = stand.sandbox.stripe.invoices().len();
    assert!(stand.sandbox.stripe.renew_subscription(&sub_id, true));
    assert_eq!(stand.get(&path).await["status"], "canceled");
    assert_eq!(stand.sandbox.stripe.invoices().len(), invoices, "no invoice for a period it does not have");
    let (status, _) = stand.post(&path, &[("cancel_at_period_end", "false")], None).await;
    assert_eq!(status, 400, "a canceled subscription cannot come back");
    let (status, tagged) = stand.post(&path, &[("metadata[note]", "ended")], None).await;
    assert_eq!((status, tagged["metadata"]["note"].as_str()), (200, Some("ended")), "its metadata it can");
}
