//! Subscriptions: started by a Checkout session in subscription mode, renewed (the next invoice
//! paid or failed), canceled, and managed by the payer in a customer portal session. Each step
//! records the events Stripe would send, in Stripe's order: a subscription paid at once is
//! created `incomplete` and made `active` in the same second.

use axum::{
    Form,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Stripe,
    api::{ApiResult, idempotent, read, stripe_queue},
    checkout::{escape, format_amount, hosted_page},
    error::ApiError,
    params,
    state::{StripeState, now, object, random_id},
};

const DAY: i64 = 86_400;

/// When a period that starts at `start` ends (months of 30 days and years of 365: the sandbox
/// has no calendar, and nothing Remit decides depends on one).
fn period_end(start: i64, recurring: &Value) -> i64 {
    let count = recurring["interval_count"].as_i64().unwrap_or(1);
    let days = match recurring["interval"].as_str() {
        Some("day") => 1,
        Some("week") => 7,
        Some("year") => 365,
        _ => 30,
    };
    start + count * days * DAY
}

/// The payer completes a subscription-mode Checkout session by card: the customer (made now if
/// the session had none), the subscription, its first invoice (paid, or free during a trial) and
/// the completed session, with their events.
pub(super) fn start(state: &mut StripeState, session_id: &str, base_url: &str) -> Option<Value> {
    let session = state.sessions.get(session_id)?.clone();
    let item = state.line_items.get(session_id)?.first()?.clone();
    let data = state.session_subscription_data.get(session_id).cloned().unwrap_or(json!({}));
    let customer = match session["customer"].as_str() {
        Some(id) => id.to_owned(),
        None => {
            let id = random_id("cus_", 14);
            let customer =
                object("customer", json!({ "id": id, "created": now(), "email": session["customer_email"] }));
            state.customers.insert(id.clone(), customer.clone());
            let event = state.event("customer.created", &customer);
            stripe_queue(state, event);
            id
        }
    };
    let started = now();
    let trial_days = data["trial_period_days"].as_str().and_then(|d| d.parse::<i64>().ok()).unwrap_or(0);
    let price = item["price"].clone();
    let quantity = item["quantity"].as_i64().unwrap_or(1);
    let end = if trial_days > 0 { started + trial_days * DAY } else { period_end(started, &price["recurring"]) };
    let id = random_id("sub_", 24);
    let metadata = data.get("metadata").cloned().unwrap_or(json!({}));
    let items = json!({ "object": "list", "has_more": false, "url": format!("/v1/subscription_items?subscription={id}"), "data": [{
        "id": random_id("si_", 14), "object": "subscription_item", "created": started, "metadata": {},
        "price": price, "quantity": quantity, "subscription": id, "discounts": [], "tax_rates": [],
        "current_period_start": started, "current_period_end": end, "billing_thresholds": null,
    }] });
    let subscription = object(
        "subscription",
        json!({
            "id": id, "created": started, "start_date": started, "billing_cycle_anchor": end, "customer": customer,
            "currency": price["currency"], "status": "incomplete", "metadata": metadata,
            "description": item["description"], "cancel_at": null, "cancel_at_period_end": false,
            "canceled_at": null, "ended_at": null, "latest_invoice": null, "schedule": null, "test_clock": null,
            "trial_start": (trial_days > 0).then_some(started), "trial_end": (trial_days > 0).then_some(end),
            "pause_collection": null, "pending_update": null, "pending_setup_intent": null, "discounts": [],
            "collection_method": "charge_automatically", "days_until_due": null, "items": items,
        }),
    );
    state.subscriptions.insert(id.clone(), subscription.clone());
    let created = state.event("customer.subscription.created", &subscription);
    stripe_queue(state, created);
    let amount = if trial_days > 0 { 0 } else { price["unit_amount"].as_i64().unwrap_or(0) * quantity };
    let invoice = bill(state, &id, "subscription_create", amount, started, base_url, true);
    let status = if trial_days > 0 { "trialing" } else { "active" };
    let subscription = update(state, &id, |s| {
        s["status"] = json!(status);
        s["latest_invoice"] = invoice["id"].clone();
    });
    let session = {
        let session = state.sessions.get_mut(session_id)?;
        session["status"] = json!("complete");
        session["url"] = Value::Null;
        session["customer"] = json!(customer);
        session["subscription"] = json!(id);
        session["invoice"] = invoice["id"].clone();
        session["payment_status"] = json!(if amount == 0 { "no_payment_required" } else { "paid" });
        session.clone()
    };
    let completed = state.event("checkout.session.completed", &session);
    stripe_queue(state, completed);
    Some(subscription)
}

/// Changes a subscription and records `customer.subscription.updated` if it now differs.
fn update(state: &mut StripeState, id: &str, change: impl FnOnce(&mut Value)) -> Value {
    let Some(subscription) = state.subscriptions.get_mut(id) else { return Value::Null };
    let before = subscription.clone();
    change(subscription);
    let after = subscription.clone();
    if after != before {
        let mut event = state.event("customer.subscription.updated", &after);
        // As Stripe: what changed, as it was.
        let previous: serde_json::Map<String, Value> = after
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, value)| before.get(key.as_str()) != Some(value))
            .map(|(key, _)| (key.clone(), before[key.as_str()].clone()))
            .collect();
        event["data"]["previous_attributes"] = Value::Object(previous);
        if let Some(stored) = state.events.last_mut() {
            *stored = event.clone();
        }
        stripe_queue(state, event);
    }
    after
}

/// The invoice of one billing period, finalized and collected at once: paid, or failed with a
/// retry scheduled. Records its events and returns it.
fn bill(
    state: &mut StripeState,
    subscription_id: &str,
    reason: &str,
    amount: i64,
    start: i64,
    base_url: &str,
    paid: bool,
) -> Value {
    let subscription = state.subscriptions.get(subscription_id).cloned().unwrap_or_default();
    let item = &subscription["items"]["data"][0];
    let end = period_end(start, &item["price"]["recurring"]);
    let id = random_id("in_", 24);
    state.invoice_numbers += 1;
    let number = format!("SUB-{:04}", state.invoice_numbers);
    let currency = subscription["currency"].clone();
    let details = json!({ "subscription": subscription_id, "metadata": subscription["metadata"] });
    let line = json!({
        "id": random_id("il_", 24), "object": "line_item", "amount": amount, "currency": currency,
        "description": subscription["description"], "invoice": id, "livemode": false, "metadata": {},
        "period": { "start": start, "end": end }, "quantity": item["quantity"], "discount_amounts": [],
        "discountable": true, "discounts": [], "pretax_credit_amounts": [], "taxes": [], "subtotal": amount,
        "parent": { "type": "subscription_item_details", "invoice_item_details": null, "subscription_item_details": {
            "invoice_item": null, "proration": false, "proration_details": { "credited_items": null },
            "subscription": subscription_id, "subscription_item": item["id"] } },
        "pricing": { "type": "price_details", "price_details": { "price": item["price"]["id"], "product": item["price"]["product"] }, "unit_amount_decimal": item["price"]["unit_amount_decimal"] },
    });
    let at = now();
    let lines = json!({ "object": "list", "data": [line], "has_more": false, "total_count": 1, "url": format!("/v1/invoices/{id}/lines") });
    let transitions =
        json!({ "finalized_at": at, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null });
    let invoice = object(
        "invoice",
        json!({
            "id": id, "created": at, "customer": subscription["customer"], "currency": currency,
            "collection_method": "charge_automatically", "billing_reason": reason, "status": "open",
            "number": number, "hosted_invoice_url": format!("{base_url}/i/{id}"), "invoice_pdf": format!("{base_url}/i/{id}/pdf"),
            "amount_due": amount, "amount_paid": 0, "amount_remaining": amount, "amount_overpaid": 0,
            "subtotal": amount, "subtotal_excluding_tax": amount, "total": amount, "total_excluding_tax": amount,
            "attempt_count": 0, "attempted": false, "auto_advance": true, "metadata": {}, "description": null,
            "parent": { "type": "subscription_details", "quote_details": null, "subscription_details": details },
            "subscription": null, "period_start": start, "period_end": end, "due_date": null, "effective_at": at,
            "next_payment_attempt": null, "from_invoice": null, "last_finalization_error": null,
            "shipping_cost": null, "webhooks_delivered_at": null, "days_until_due": null,
            "lines": lines, "status_transitions": transitions,
        }),
    );
    state.invoices.insert(id.clone(), invoice.clone());
    for kind in ["invoice.created", "invoice.finalized"] {
        let event = state.event(kind, &invoice);
        stripe_queue(state, event);
    }
    super::invoices::pay(state, &id, paid).unwrap_or(invoice)
}

/// The next billing period begins now, as if Stripe's clock had reached the current one's end: its
/// invoice is paid (the subscription active) or fails (past due, retried in three days). False for a subscription that has ended or does not exist.
pub(super) fn renew(state: &mut StripeState, id: &str, paid: bool, base_url: &str) -> bool {
    let Some(subscription) = state.subscriptions.get(id).cloned() else { return false };
    if subscription["status"] == "canceled" {
        return false;
    }
    if subscription["cancel_at_period_end"] == true {
        // Its last period ran out: Stripe ends it instead of billing another.
        return cancel_as(state, id, "cancellation_requested").is_some();
    }
    let item = &subscription["items"]["data"][0];
    let amount = item["price"]["unit_amount"].as_i64().unwrap_or(0) * item["quantity"].as_i64().unwrap_or(1);
    // As when Stripe's clock reaches the period's end: the next period starts where it ended.
    let start = item["current_period_end"].as_i64().unwrap_or_else(now);
    let invoice = bill(state, id, "subscription_cycle", amount, start, base_url, paid);
    let end = period_end(start, &item["price"]["recurring"]);
    update(state, id, |s| {
        s["latest_invoice"] = invoice["id"].clone();
        s["items"]["data"][0]["current_period_start"] = json!(start);
        s["items"]["data"][0]["current_period_end"] = json!(end);
        s["status"] = json!(if paid { "active" } else { "past_due" });
    });
    true
}

/// After one of its invoices is paid or fails again: a subscription that was past due is active
/// again once paid; its status follows otherwise.
pub(super) fn invoice_settled(state: &mut StripeState, invoice: &Value) {
    let Some(id) = invoice["parent"]["subscription_details"]["subscription"].as_str().map(str::to_owned) else {
        return;
    };
    if invoice["status"] == "paid" && state.subscriptions.get(&id).is_some_and(|s| s["status"] == "past_due") {
        update(state, &id, |s| s["status"] = json!("active"));
    }
}

/// Cancels at once: `customer.subscription.deleted`. False when there is nothing to cancel.
pub(super) fn cancel(state: &mut StripeState, id: &str) -> Option<Value> {
    cancel_as(state, id, "cancellation_requested")
}

fn cancel_as(state: &mut StripeState, id: &str, reason: &str) -> Option<Value> {
    let subscription = state.subscriptions.get_mut(id).filter(|s| s["status"] != "canceled")?;
    let at = now();
    subscription["status"] = json!("canceled");
    subscription["canceled_at"] = json!(at);
    subscription["ended_at"] = json!(at);
    subscription["cancellation_details"] = json!({ "comment": null, "feedback": null, "reason": reason });
    let subscription = subscription.clone();
    let event = state.event("customer.subscription.deleted", &subscription);
    stripe_queue(state, event);
    Some(subscription)
}

pub async fn retrieve(State(stripe): State<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    read(&stripe, &headers, |state| existing(state, &id).cloned())
}

fn existing<'a>(state: &'a StripeState, id: &str) -> Result<&'a Value, ApiError> {
    state.subscriptions.get(id).ok_or_else(|| ApiError::no_such("subscription", id, "id"))
}

/// As Stripe: a canceled subscription takes nothing but metadata (and why it was canceled).
fn refuse_if_canceled(subscription: &Value, id: &str) -> Result<(), ApiError> {
    if subscription["status"] == "canceled" {
        return Err(ApiError::invalid(
            format!("A canceled subscription can only update its cancellation_details and metadata. ({id})"),
            "id",
        ));
    }
    Ok(())
}

/// `POST /v1/subscriptions/{id}`: the stand-in takes `cancel_at_period_end` (the subscription
/// then ends when its current period does, instead of renewing) and `metadata`.
pub async fn modify(
    State(stripe): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let path = format!("/v1/subscriptions/{id}");
    idempotent(&stripe, &headers, &path, &body, |state| {
        let params = params::parse(&body, &["cancel_at_period_end", "metadata[*]"])?;
        let ending = match params.str("cancel_at_period_end") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::invalid(format!("Invalid boolean: {other}"), "cancel_at_period_end"));
            }
        };
        let subscription = existing(state, &id)?;
        if ending.is_some() {
            refuse_if_canceled(subscription, &id)?;
        }
        let metadata = params.map("metadata");
        Ok(update(state, &id, |s| {
            if let Some(ending) = ending {
                s["cancel_at_period_end"] = json!(ending);
                s["cancel_at"] = if ending { s["items"]["data"][0]["current_period_end"].clone() } else { Value::Null };
            }
            if let Some(added) = metadata.as_object() {
                for (key, value) in added {
                    s["metadata"][key] = value.clone();
                }
            }
        }))
    })
}

/// `DELETE /v1/subscriptions/{id}`: Stripe's cancel.
pub async fn delete(
    State(stripe): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let path = format!("/v1/subscriptions/{id}");
    idempotent(&stripe, &headers, &path, &body, |state| {
        params::parse(&body, &["invoice_now", "prorate"])?;
        refuse_if_canceled(existing(state, &id)?, &id)?;
        Ok(cancel(state, &id).unwrap_or_default())
    })
}

const PORTAL_PARAMS: &[&str] = &["customer", "return_url", "locale"];

/// `POST /v1/billing_portal/sessions`: a short-lived page where the customer manages their
/// subscriptions.
pub async fn create_portal_session(State(stripe): State<Stripe>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let base = stripe.base_url.clone();
    idempotent(&stripe, &headers, "/v1/billing_portal/sessions", &body, |state| {
        let params = params::parse(&body, PORTAL_PARAMS)?;
        let customer = params.required("customer")?;
        if !state.customers.contains_key(customer) {
            return Err(ApiError::no_such("customer", customer, "customer"));
        }
        let id = random_id("bps_", 24);
        let session = json!({
            "id": id, "object": "billing_portal.session", "configuration": "bpc_sandbox", "created": now(),
            "customer": customer, "flow": null, "livemode": false, "locale": params.str("locale"),
            "on_behalf_of": null, "return_url": params.str("return_url"), "url": format!("{base}/p/session/{id}"),
        });
        state.portal_sessions.insert(id, session.clone());
        Ok(session)
    })
}

pub async fn portal_page(State(stripe): State<Stripe>, Path(id): Path<String>) -> Response {
    render_portal(&stripe.lock(), &id, None)
}

#[derive(Deserialize)]
pub struct PortalAction {
    subscription: String,
}

pub async fn portal_submit(
    State(stripe): State<Stripe>,
    Path(id): Path<String>,
    Form(action): Form<PortalAction>,
) -> Response {
    let notice = {
        let mut state = stripe.lock();
        let customer = state.portal_sessions.get(&id).and_then(|s| s["customer"].as_str().map(str::to_owned));
        let owned = state
            .subscriptions
            .get(&action.subscription)
            .is_some_and(|s| s["customer"].as_str() == customer.as_deref());
        (owned && cancel(&mut state, &action.subscription).is_some()).then_some("Your subscription has been canceled.")
    };
    stripe.webhooks.flush(&stripe);
    render_portal(&stripe.lock(), &id, notice)
}

fn render_portal(state: &StripeState, id: &str, notice: Option<&str>) -> Response {
    let Some(session) = state.portal_sessions.get(id) else {
        return (
            StatusCode::NOT_FOUND,
            Html(hosted_page("Not found · Sandbox billing portal", "<p>This portal session does not exist.</p>")),
        )
            .into_response();
    };
    let customer = session["customer"].as_str().unwrap_or_default();
    let rows: String = state
        .subscriptions
        .values()
        .filter(|s| s["customer"] == customer)
        .map(|s| {
            let item = &s["items"]["data"][0];
            let currency = s["currency"].as_str().unwrap_or_default();
            let amount = format_amount(item["price"]["unit_amount"].as_i64().unwrap_or(0), currency);
            let interval = item["price"]["recurring"]["interval"].as_str().unwrap_or("month");
            let status = s["status"].as_str().unwrap_or_default();
            let sub = escape(s["id"].as_str().unwrap_or_default());
            let action = if status == "canceled" {
                String::new()
            } else {
                format!(r#"<form method="post"><input type="hidden" name="subscription" value="{sub}"><button>Cancel subscription</button></form>"#)
            };
            format!(
                r#"<li class="subscription"><strong>{name}</strong> · {amount} {upper} per {interval} · <span class="status">{status}</span>{action}</li>"#,
                name = escape(s["description"].as_str().unwrap_or("Subscription")),
                upper = currency.to_uppercase(),
            )
        })
        .collect();
    let notice = notice.map(|n| format!(r#"<p role="status">{n}</p>"#)).unwrap_or_default();
    let back = session["return_url"]
        .as_str()
        .map(|url| format!(r#"<p><a href="{}">Return to the merchant</a></p>"#, escape(url)))
        .unwrap_or_default();
    let body = format!(
        r#"<p class="test">TEST MODE · Remit sandbox</p>
<h1>Your subscriptions</h1>
{notice}<ul>{rows}</ul>
{back}"#
    );
    Html(hosted_page("Billing portal · Sandbox", &body)).into_response()
}
