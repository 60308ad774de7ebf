//! The hosted test payment page at a session's `url`: pay with a card that succeeds, a card that
//! is declined, a bank debit that settles (or fails) a few seconds later, or go back to `cancel_url`.

use std::time::Duration;

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Stripe,
    api::stripe_queue,
    state::{StripeState, now, object, random_id},
};

/// How long a bank debit takes to settle in the sandbox.
const SETTLE_AFTER: Duration = Duration::from_secs(3);

const ZERO_DECIMAL: &[&str] =
    &["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"];
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

pub fn format_amount(minor: i64, currency: &str) -> String {
    let exponent = if ZERO_DECIMAL.contains(&currency) {
        0
    } else if THREE_DECIMAL.contains(&currency) {
        3
    } else {
        2
    };
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10_i64.pow(exponent);
    format!("{}.{:0width$}", minor / scale, minor % scale, width = exponent as usize)
}

/// Stripe's minimum charge for the currencies whose minimum it publishes, in minor units.
pub fn minimum_charge(currency: &str) -> Option<i64> {
    let minimum = match currency {
        "usd" | "eur" | "aud" | "cad" | "chf" | "nzd" | "sgd" | "brl" | "inr" => 50,
        "gbp" => 30,
        "jpy" => 50,
        "aed" | "myr" | "pln" | "ron" => 200,
        "hkd" => 400,
        "mxn" | "thb" => 1000,
        _ => return None,
    };
    Some(minimum)
}

pub async fn page(State(stripe): State<Stripe>, Path(id): Path<String>) -> Response {
    render(&stripe, &id, None)
}

fn render(stripe: &Stripe, id: &str, error: Option<&str>) -> Response {
    let state = stripe.lock();
    let Some(session) = state.sessions.get(id) else {
        return (StatusCode::NOT_FOUND, Html(shell("Not found", "<p>This payment page does not exist.</p>")))
            .into_response();
    };
    if session["status"] != "open" {
        let body = "<h1>This Checkout Session is no longer available</h1><p>It has been paid or has expired.</p>";
        return Html(shell("Unavailable", body)).into_response();
    }
    let currency = session["currency"].as_str().unwrap_or_default();
    let amount = format_amount(session["amount_total"].as_i64().unwrap_or(0), currency);
    let description = state
        .line_items
        .get(id)
        .and_then(|items| items.first())
        .and_then(|item| item["description"].as_str())
        .unwrap_or("Payment");
    let cancel = session["cancel_url"].as_str().map(|url| url.replace("{CHECKOUT_SESSION_ID}", id));
    let error = error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))).unwrap_or_default();
    let back = cancel.map(|url| format!(r#"<p><a href="{}">← Back</a></p>"#, escape(&url))).unwrap_or_default();
    // As on Stripe's page: the button says what the session's submit_type says, the submit
    // message stands beside it.
    let verb = match session["submit_type"].as_str() {
        Some("donate") => "Donate",
        Some("book") => "Book",
        _ => "Pay",
    };
    let message = session["custom_text"]["submit"]["message"]
        .as_str()
        .map(|m| format!(r#"<p class="custom-text">{}</p>"#, escape(m)))
        .unwrap_or_default();
    let recurring =
        state.line_items.get(id).and_then(|items| items.first()).map(|item| item["price"]["recurring"].clone());
    if let Some(recurring) = recurring.filter(|r| !r.is_null()) {
        let every = match recurring["interval_count"].as_i64().unwrap_or(1) {
            1 => format!("per {}", recurring["interval"].as_str().unwrap_or("month")),
            n => format!("every {n} {}s", recurring["interval"].as_str().unwrap_or("month")),
        };
        let body = format!(
            r#"<p class="test">TEST MODE · Remit sandbox</p>
<h1>Subscribe to {description}</h1>
<p class="amount">{amount} {currency_upper} {every}</p>
{error}
<form method="post">
  <button name="outcome" value="card_succeeds">Subscribe with card •••• 4242 (succeeds)</button>
  <button name="outcome" value="card_declined">Subscribe with card •••• 0002 (declined)</button>
</form>
{back}"#,
            description = escape(description),
            currency_upper = currency.to_uppercase(),
        );
        return Html(shell("Subscribe", &body)).into_response();
    }
    let body = format!(
        r#"<p class="test">TEST MODE · Remit sandbox</p>
<h1>{description}</h1>
<p class="amount">{amount} {currency_upper}</p>
{error}
<form method="post">
  <button name="outcome" value="card_succeeds">{verb} with card •••• 4242 (succeeds)</button>
  <button name="outcome" value="card_declined">{verb} with card •••• 0002 (declined)</button>
  <button name="outcome" value="card_disputed">{verb} with card •••• 0259 (paid, then disputed)</button>
  <button name="outcome" value="debit_settles">{verb} by bank debit (settles in a few seconds)</button>
  <button name="outcome" value="debit_fails">{verb} by bank debit (fails in a few seconds)</button>
</form>
{message}
{back}"#,
        description = escape(description),
        currency_upper = currency.to_uppercase(),
    );
    Html(shell("Pay", &body)).into_response()
}

fn shell(title: &str, body: &str) -> String {
    hosted_page(&format!("{title} · Sandbox Checkout"), body)
}

/// A page Stripe hosts for the payer (Checkout, an invoice), as plain HTML.
pub(super) fn hosted_page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}}
button{{display:block;width:100%;margin:.5rem 0;padding:.8rem;font:inherit;border:0;border-radius:6px;background:#635bff;color:#fff;cursor:pointer}}
.test{{background:#ffde92;color:#5c3d00;padding:.25rem .5rem;display:inline-block;border-radius:4px}}.amount{{font-size:2rem;font-weight:700}}.error{{color:#b3093c}}</style>
</head><body>{body}</body></html>"#
    )
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[derive(Deserialize)]
pub struct Submission {
    outcome: String,
}

pub async fn submit(State(stripe): State<Stripe>, Path(id): Path<String>, Form(form): Form<Submission>) -> Response {
    let outcome = {
        let mut state = stripe.lock();
        pay(&mut state, &id, &form.outcome, &stripe.base_url)
    };
    stripe.webhooks.flush(&stripe);
    match outcome {
        Outcome::Redirect { url, settle } => {
            if let Some((intent, succeeds)) = settle {
                let stripe = stripe.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(SETTLE_AFTER).await;
                    let mut state = stripe.lock();
                    settle_debit(&mut state, &id, &intent, succeeds);
                    drop(state);
                    stripe.webhooks.flush(&stripe);
                });
            }
            Redirect::to(&url).into_response()
        }
        Outcome::Declined(message) => render(&stripe, &id, Some(&message)),
        Outcome::Gone => render(&stripe, &id, None),
    }
}

enum Outcome {
    /// Back to the merchant; a bank debit settles later (payment intent, whether it succeeds).
    Redirect {
        url: String,
        settle: Option<(String, bool)>,
    },
    Declined(String),
    Gone,
}

fn pay(state: &mut StripeState, id: &str, outcome: &str, base_url: &str) -> Outcome {
    let Some(session) = state.sessions.get(id).cloned() else { return Outcome::Gone };
    if session["status"] != "open" {
        return Outcome::Gone;
    }
    if session["mode"] == "subscription" {
        // A declined card in subscription mode leaves no trace but the message: nothing is made.
        return match outcome {
            "card_succeeds" => match super::subscriptions::start(state, id, base_url) {
                Some(_) => Outcome::Redirect {
                    url: session["success_url"].as_str().unwrap_or_default().replace("{CHECKOUT_SESSION_ID}", id),
                    settle: None,
                },
                None => Outcome::Gone,
            },
            "card_declined" => Outcome::Declined("Your card was declined.".into()),
            _ => Outcome::Gone,
        };
    }
    let intent_id = session["payment_intent"].as_str().map_or_else(|| random_id("pi_", 24), str::to_owned);
    let intent_data = state.session_intent_data.get(id).cloned().unwrap_or(json!({}));
    let amount = session["amount_total"].as_i64().unwrap_or(0);
    let currency = session["currency"].as_str().unwrap_or_default().to_owned();
    let mut intent = state.payment_intents.get(&intent_id).cloned().unwrap_or_else(|| {
        object(
            "payment_intent",
            json!({
                "id": intent_id, "created": now(), "amount": amount, "currency": currency,
                "customer": session["customer"], "metadata": intent_data.get("metadata").cloned().unwrap_or(json!({})),
                "description": intent_data.get("description"), "receipt_email": intent_data.get("receipt_email"),
                "client_secret": format!("{intent_id}_secret_{}", random_id("", 24)),
                "amount_received": 0, "status": "requires_payment_method",
            }),
        )
    });
    let success_url = session["success_url"].as_str().unwrap_or_default().replace("{CHECKOUT_SESSION_ID}", id);
    let (payment_method, status) = match outcome {
        "card_succeeds" => (card_details("4242", "visa"), "succeeded"),
        "card_disputed" => (card_details("0259", "visa"), "succeeded"),
        "card_declined" => (card_details("0002", "visa"), "requires_payment_method"),
        "debit_settles" | "debit_fails" => (
            json!({ "type": "us_bank_account", "us_bank_account": { "bank_name": "STRIPE TEST BANK", "last4": "6789", "account_type": "checking" } }),
            "processing",
        ),
        _ => return Outcome::Gone,
    };
    let charge = new_charge(&intent, &payment_method, status == "succeeded", outcome == "card_declined");
    intent["status"] = json!(status);
    intent["latest_charge"] = charge["id"].clone();
    intent["payment_method_types"] = json!([payment_method["type"]]);
    state.charges.insert(charge["id"].as_str().unwrap_or_default().to_owned(), charge.clone());

    if outcome == "card_declined" {
        intent["last_payment_error"] = json!({
            "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined.", "charge": charge["id"],
        });
        state.payment_intents.insert(intent_id.clone(), intent.clone());
        if let Some(session) = state.sessions.get_mut(id) {
            session["payment_intent"] = json!(intent_id);
        }
        let charge_event = state.event("charge.failed", &charge);
        let intent_event = state.event("payment_intent.payment_failed", &intent);
        stripe_queue(state, charge_event);
        stripe_queue(state, intent_event);
        return Outcome::Declined("Your card was declined.".into());
    }

    intent["last_payment_error"] = Value::Null;
    if status == "succeeded" {
        intent["amount_received"] = json!(amount);
    }
    state.payment_intents.insert(intent_id.clone(), intent.clone());
    let customer_email = session["customer_email"].clone();
    let session = {
        let session = state.sessions.get_mut(id).expect("looked up above");
        session["status"] = json!("complete");
        session["url"] = Value::Null;
        session["payment_intent"] = json!(intent_id);
        session["payment_status"] = json!(if status == "succeeded" { "paid" } else { "unpaid" });
        session["customer_details"] = json!({
            "address": null, "email": customer_email, "name": null, "phone": null, "tax_exempt": "none", "tax_ids": [],
            "business_name": null, "individual_name": null,
        });
        session.clone()
    };
    if status == "succeeded" {
        let event = state.event("charge.succeeded", &charge);
        stripe_queue(state, event);
        let event = state.event("payment_intent.succeeded", &intent);
        stripe_queue(state, event);
    } else {
        let event = state.event("payment_intent.processing", &intent);
        stripe_queue(state, event);
    }
    let event = state.event("checkout.session.completed", &session);
    stripe_queue(state, event);
    if outcome == "card_disputed" {
        super::money_back::open_dispute(state, charge["id"].as_str().unwrap_or_default());
    }
    let settle = (status == "processing").then(|| (intent_id, outcome == "debit_settles"));
    Outcome::Redirect { url: success_url, settle }
}

fn card_details(last4: &str, brand: &str) -> Value {
    json!({ "type": "card", "card": { "brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034, "country": "US", "funding": "credit", "network": brand } })
}

fn new_charge(intent: &Value, payment_method: &Value, paid: bool, failed: bool) -> Value {
    let amount = intent["amount"].as_i64().unwrap_or(0);
    let id = random_id("ch_", 24);
    object(
        "charge",
        json!({
            "id": id, "created": now(), "amount": amount, "amount_captured": if paid { amount } else { 0 },
            "amount_refunded": 0, "currency": intent["currency"], "customer": intent["customer"],
            "description": intent["description"], "metadata": intent["metadata"], "paid": paid, "captured": paid,
            "refunded": false, "disputed": false, "payment_intent": intent["id"],
            "payment_method": random_id("pm_", 24), "payment_method_details": payment_method,
            "status": if failed { "failed" } else if paid { "succeeded" } else { "pending" },
            "failure_code": if failed { json!("card_declined") } else { Value::Null },
            "failure_message": if failed { json!("Your card was declined.") } else { Value::Null },
            "receipt_email": intent["receipt_email"], "receipt_url": format!("https://pay.stripe.com/receipts/sandbox/{id}"),
            "outcome": { "network_status": if failed { "declined_by_network" } else { "approved_by_network" }, "reason": if failed { json!("generic_decline") } else { Value::Null }, "risk_level": "normal", "seller_message": if failed { "The bank did not return any further details with this decline." } else { "Payment complete." }, "type": if failed { "issuer_declined" } else { "authorized" } },
        }),
    )
}

/// A bank debit completes (or fails) some time after the payer submitted it.
fn settle_debit(state: &mut StripeState, session_id: &str, intent_id: &str, succeeds: bool) {
    let Some(mut intent) = state.payment_intents.get(intent_id).cloned() else { return };
    if intent["status"] != "processing" {
        return;
    }
    let charge_id = intent["latest_charge"].as_str().unwrap_or_default().to_owned();
    let amount = intent["amount"].clone();
    if succeeds {
        intent["status"] = json!("succeeded");
        intent["amount_received"] = amount.clone();
    } else {
        intent["status"] = json!("requires_payment_method");
        intent["last_payment_error"] = json!({ "type": "invalid_request_error", "code": "payment_method_provider_decline", "message": "The bank account could not be debited." });
    }
    state.payment_intents.insert(intent_id.to_owned(), intent.clone());
    if let Some(charge) = state.charges.get_mut(&charge_id) {
        charge["status"] = json!(if succeeds { "succeeded" } else { "failed" });
        charge["paid"] = json!(succeeds);
        charge["captured"] = json!(succeeds);
        charge["amount_captured"] = if succeeds { amount } else { json!(0) };
    }
    let session = state.sessions.get_mut(session_id).map(|session| {
        if succeeds {
            session["payment_status"] = json!("paid");
        }
        session.clone()
    });
    let intent_event =
        state.event(if succeeds { "payment_intent.succeeded" } else { "payment_intent.payment_failed" }, &intent);
    stripe_queue(state, intent_event);
    if let Some(session) = session {
        let kind =
            if succeeds { "checkout.session.async_payment_succeeded" } else { "checkout.session.async_payment_failed" };
        let event = state.event(kind, &session);
        stripe_queue(state, event);
    }
}
