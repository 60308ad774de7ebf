//! Invoices: invoice items, draft invoices that are finalized, sent and voided, and the hosted
//! invoice page at `hosted_invoice_url` where the payer pays by card (one that succeeds, one that
//! is declined). Each step records the event Stripe would send.

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

const INVOICE_ITEM_PARAMS: &[&str] = &["customer", "invoice", "amount", "currency", "description", "metadata[*]"];

pub async fn create_invoice_item(State(stripe): State<Stripe>, headers: HeaderMap, body: Bytes) -> ApiResult {
    idempotent(&stripe, &headers, "/v1/invoiceitems", &body, |state| {
        let params = params::parse(&body, INVOICE_ITEM_PARAMS)?;
        let customer = params.required("customer")?;
        if !state.customers.contains_key(customer) {
            return Err(ApiError::no_such("customer", customer, "customer"));
        }
        let amount = params.integer("amount")?.ok_or_else(|| ApiError::missing("amount"))?;
        let currency = params.required("currency")?.to_lowercase();
        let invoice = match params.str("invoice") {
            None => None,
            Some(id) => {
                let invoice = state.invoices.get(id).ok_or_else(|| ApiError::no_such("invoice", id, "invoice"))?;
                if invoice["status"] != "draft" {
                    return Err(ApiError::invalid(
                        format!("You can only add invoice items to draft invoices. Invoice {id} is not a draft."),
                        "invoice",
                    ));
                }
                if invoice["currency"] != currency.as_str() {
                    return Err(ApiError::invalid(
                        format!(
                            "The currency of the invoice item ({currency}) must match the currency of the invoice ({}).",
                            invoice["currency"].as_str().unwrap_or_default()
                        ),
                        "currency",
                    ));
                }
                if invoice["customer"] != customer {
                    return Err(ApiError::invalid(
                        "The invoice and the invoice item must belong to the same customer.",
                        "invoice",
                    ));
                }
                Some(id.to_owned())
            }
        };
        let id = random_id("ii_", 24);
        let item = object(
            "invoiceitem",
            json!({
                "id": id, "amount": amount, "currency": currency, "customer": customer, "date": now(),
                "description": params.str("description"), "invoice": invoice, "metadata": params.map("metadata"),
                "parent": null, "period": { "start": now(), "end": now() }, "net_amount": amount,
                "quantity": 1, "quantity_decimal": "1", "proration": false,
            }),
        );
        state.invoice_items.insert(id, item.clone());
        Ok(item)
    })
}

const INVOICE_PARAMS: &[&str] = &[
    "customer",
    "collection_method",
    "days_until_due",
    "description",
    "auto_advance",
    "currency",
    "pending_invoice_items_behavior",
    "metadata[*]",
];

pub async fn create_invoice(State(stripe): State<Stripe>, headers: HeaderMap, body: Bytes) -> ApiResult {
    idempotent(&stripe, &headers, "/v1/invoices", &body, |state| {
        let params = params::parse(&body, INVOICE_PARAMS)?;
        let customer = params.required("customer")?;
        let Some(customer_object) = state.customers.get(customer) else {
            return Err(ApiError::no_such("customer", customer, "customer"));
        };
        let method = params.str("collection_method").unwrap_or("charge_automatically");
        if !["charge_automatically", "send_invoice"].contains(&method) {
            return Err(ApiError::invalid(format!("Invalid collection_method: {method}"), "collection_method"));
        }
        let days_until_due = params.integer("days_until_due")?;
        if method == "send_invoice" && days_until_due.is_none() {
            return Err(ApiError::invalid(
                "Invoices with `collection_method=send_invoice` require either `days_until_due` or `due_date`.",
                "days_until_due",
            ));
        }
        if method == "charge_automatically" && days_until_due.is_some() {
            return Err(ApiError::invalid(
                "You may only specify `days_until_due` when `collection_method` is `send_invoice`.",
                "days_until_due",
            ));
        }
        let id = random_id("in_", 24);
        let created = now();
        // Pending items join only when asked: `exclude` has been the default since 2022-08-01.
        if params.str("pending_invoice_items_behavior") == Some("include") {
            for item in state.invoice_items.values_mut() {
                if item["customer"] == customer && item["invoice"].is_null() {
                    item["invoice"] = json!(id);
                }
            }
        }
        let invoice = object(
            "invoice",
            json!({
                "id": id, "created": created, "customer": customer, "collection_method": method,
                // As Stripe: the customer's currency unless the invoice names one.
                "currency": params.str("currency").or(customer_object["currency"].as_str()).unwrap_or("usd").to_lowercase(),
                "customer_email": customer_object["email"], "customer_name": customer_object["name"],
                "days_until_due": days_until_due, "due_date": null, "description": params.str("description"),
                "auto_advance": params.str("auto_advance") == Some("true"), "metadata": params.map("metadata"),
                "status": "draft", "number": null, "hosted_invoice_url": null, "invoice_pdf": null,
                "attempt_count": 0, "attempted": false, "amount_paid": 0, "amount_overpaid": 0,
                "next_payment_attempt": null, "parent": null, "subscription": null, "from_invoice": null,
                "last_finalization_error": null, "effective_at": null, "webhooks_delivered_at": null,
                "period_start": created, "period_end": created, "billing_reason": "manual",
                "shipping_cost": null,
                "status_transitions": { "finalized_at": null, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null },
            }),
        );
        state.invoices.insert(id.clone(), invoice);
        let invoice = with_lines(state, &id);
        let event = state.event("invoice.created", &invoice);
        stripe_queue(state, event);
        Ok(invoice)
    })
}

/// The invoice with its lines and totals as its items now make them.
fn with_lines(state: &mut StripeState, id: &str) -> Value {
    let items: Vec<Value> = state.invoice_items.values().filter(|item| item["invoice"] == id).cloned().collect();
    let lines: Vec<Value> = items
        .iter()
        .map(|item| {
            json!({
                "id": format!("il_{}", &item["id"].as_str().unwrap_or_default()[3..]), "object": "line_item",
                "amount": item["amount"], "currency": item["currency"], "description": item["description"],
                "invoice": id, "livemode": false, "metadata": item["metadata"], "period": item["period"],
                "quantity": 1, "discount_amounts": [], "discountable": true, "discounts": [],
                "parent": { "type": "invoice_item_details", "invoice_item_details": { "invoice_item": item["id"], "proration": false, "proration_details": { "credited_items": null }, "subscription": null }, "subscription_item_details": null },
                "pretax_credit_amounts": [], "taxes": [], "subtotal": item["amount"],
                "pricing": { "type": "price_details", "unit_amount_decimal": item["amount"].to_string() },
            })
        })
        .collect();
    let total: i64 = items.iter().map(|item| item["amount"].as_i64().unwrap_or(0)).sum();
    let invoice = state.invoices.get_mut(id).expect("the caller looked it up");
    let paid = invoice["amount_paid"].as_i64().unwrap_or(0);
    let (count, url) = (lines.len(), format!("/v1/invoices/{id}/lines"));
    invoice["lines"] = json!({ "object": "list", "data": lines, "has_more": false, "url": url, "total_count": count });
    for key in ["subtotal", "subtotal_excluding_tax", "total", "total_excluding_tax", "amount_due"] {
        invoice[key] = json!(total);
    }
    invoice["amount_remaining"] = json!((total - paid).max(0));
    invoice.clone()
}

fn invoice_of<'a>(state: &'a StripeState, id: &str) -> Result<&'a Value, ApiError> {
    state.invoices.get(id).ok_or_else(|| ApiError::no_such("invoice", id, "invoice"))
}

fn not_in_state(id: &str, status: &Value, wanted: &str) -> ApiError {
    ApiError::invalid(format!("This invoice can only be {wanted}; invoice {id} is {status}."), "invoice")
}

pub async fn finalize_invoice(
    State(stripe): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let path = format!("/v1/invoices/{id}/finalize");
    let base = stripe.base_url.clone();
    idempotent(&stripe, &headers, &path, &body, |state| {
        params::parse(&body, &["auto_advance"])?;
        let invoice = invoice_of(state, &id)?;
        if invoice["status"] != "draft" {
            return Err(not_in_state(&id, &invoice["status"], "finalized from draft"));
        }
        let prefix = state
            .customers
            .get(invoice["customer"].as_str().unwrap_or_default())
            .and_then(|c| c["invoice_prefix"].as_str())
            .unwrap_or("SANDBOX")
            .to_owned();
        state.invoice_numbers += 1;
        let number = format!("{prefix}-{:04}", state.invoice_numbers);
        let finalized = now();
        let invoice = state.invoices.get_mut(&id).expect("looked up above");
        let due = invoice["days_until_due"].as_i64().map(|days| finalized + days * 86_400);
        invoice["status"] = json!("open");
        invoice["number"] = json!(number);
        invoice["hosted_invoice_url"] = json!(format!("{base}/i/{id}"));
        invoice["invoice_pdf"] = json!(format!("{base}/i/{id}/pdf"));
        invoice["due_date"] = json!(due);
        invoice["effective_at"] = json!(finalized);
        invoice["status_transitions"]["finalized_at"] = json!(finalized);
        let invoice = with_lines(state, &id);
        let event = state.event("invoice.finalized", &invoice);
        stripe_queue(state, event);
        Ok(invoice)
    })
}

pub async fn send_invoice(
    State(stripe): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let path = format!("/v1/invoices/{id}/send");
    idempotent(&stripe, &headers, &path, &body, |state| {
        params::parse(&body, &[])?;
        let invoice = invoice_of(state, &id)?;
        if invoice["collection_method"] != "send_invoice" {
            return Err(ApiError::invalid(
                "You can only send invoices that have `collection_method=send_invoice`.",
                "invoice",
            ));
        }
        if invoice["status"] != "open" {
            return Err(not_in_state(&id, &invoice["status"], "sent while open"));
        }
        let invoice = invoice.clone();
        let event = state.event("invoice.sent", &invoice);
        stripe_queue(state, event);
        Ok(invoice)
    })
}

pub async fn void_invoice(
    State(stripe): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let path = format!("/v1/invoices/{id}/void");
    idempotent(&stripe, &headers, &path, &body, |state| {
        params::parse(&body, &[])?;
        let invoice = invoice_of(state, &id)?;
        if !["open", "uncollectible"].contains(&invoice["status"].as_str().unwrap_or_default()) {
            return Err(not_in_state(&id, &invoice["status"], "voided while open or uncollectible"));
        }
        let invoice = state.invoices.get_mut(&id).expect("looked up above");
        invoice["status"] = json!("void");
        invoice["status_transitions"]["voided_at"] = json!(now());
        let invoice = invoice.clone();
        let event = state.event("invoice.voided", &invoice);
        stripe_queue(state, event);
        Ok(invoice)
    })
}

pub async fn retrieve_invoice(State(stripe): State<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    read(&stripe, &headers, |state| invoice_of(state, &id).cloned())
}

/// The payer pays (or fails to pay) an open invoice; `None` when there is no such open invoice.
pub(super) fn pay(state: &mut StripeState, id: &str, succeeds: bool) -> Option<Value> {
    let invoice = state.invoices.get_mut(id).filter(|i| i["status"] == "open")?;
    let attempts = invoice["attempt_count"].as_i64().unwrap_or(0) + 1;
    invoice["attempt_count"] = json!(attempts);
    invoice["attempted"] = json!(true);
    if succeeds {
        let paid = now();
        invoice["status"] = json!("paid");
        invoice["amount_paid"] = invoice["amount_due"].clone();
        invoice["amount_remaining"] = json!(0);
        invoice["status_transitions"]["paid_at"] = json!(paid);
        invoice["next_payment_attempt"] = Value::Null;
    } else if invoice["collection_method"] == "charge_automatically" {
        // As Stripe's smart retries: again in three days.
        invoice["next_payment_attempt"] = json!(now() + 3 * 86_400);
    }
    let invoice = invoice.clone();
    attempt_payment(state, &invoice, succeeds);
    let kinds: &[&str] =
        if succeeds { &["invoice.payment_succeeded", "invoice.paid"] } else { &["invoice.payment_failed"] };
    for kind in kinds {
        let event = state.event(kind, &invoice);
        stripe_queue(state, event);
    }
    super::subscriptions::invoice_settled(state, &invoice);
    Some(invoice)
}

/// One attempt to collect an invoice, as Stripe makes it: the invoice's PaymentIntent (made at
/// its first attempt and tried again at each retry, as Stripe does) succeeds or is declined, with
/// its `payment_intent.*` event, and the invoice_payment that ties the two says so. The invoice's
/// own events carry no decline code: whoever wants it reads it here, as from Stripe.
fn attempt_payment(state: &mut StripeState, invoice: &Value, succeeds: bool) {
    let invoice_id = invoice["id"].as_str().unwrap_or_default().to_owned();
    let amount = invoice["amount_due"].as_i64().unwrap_or(0);
    let known = state.invoice_payments.values().find(|p| p["invoice"] == invoice_id.as_str()).cloned();
    let intent_id = known
        .as_ref()
        .and_then(|p| p["payment"]["payment_intent"].as_str().map(str::to_owned))
        .unwrap_or_else(|| random_id("pi_", 24));
    let mut intent = state.payment_intents.get(&intent_id).cloned().unwrap_or_else(|| {
        object(
            "payment_intent",
            json!({
                "id": intent_id, "created": now(), "amount": amount, "currency": invoice["currency"],
                "customer": invoice["customer"], "metadata": {}, "description": null, "receipt_email": null,
                "client_secret": format!("{intent_id}_secret_{}", random_id("", 24)),
                "amount_received": 0, "status": "requires_payment_method", "latest_charge": null,
                "last_payment_error": null, "payment_method_types": ["card"],
            }),
        )
    });
    if succeeds {
        intent["status"] = json!("succeeded");
        intent["amount_received"] = json!(amount);
        intent["last_payment_error"] = Value::Null;
    } else {
        intent["status"] = json!("requires_payment_method");
        intent["last_payment_error"] = json!({
            "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined.",
        });
    }
    state.payment_intents.insert(intent_id.clone(), intent.clone());
    let payment_id =
        known.as_ref().and_then(|p| p["id"].as_str().map(str::to_owned)).unwrap_or_else(|| random_id("inpay_", 24));
    let created = known.as_ref().map_or_else(|| json!(now()), |p| p["created"].clone());
    let payment = object(
        "invoice_payment",
        json!({
            "id": payment_id, "created": created, "amount_paid": succeeds.then_some(amount), "amount_requested": amount,
            "currency": invoice["currency"], "invoice": invoice_id, "is_default": true, "livemode": false,
            "payment": { "type": "payment_intent", "payment_intent": intent_id },
            "status": if succeeds { "paid" } else { "open" },
            "status_transitions": { "canceled_at": null, "paid_at": succeeds.then(now) },
        }),
    );
    state.invoice_payments.insert(payment_id, payment);
    let kind = if succeeds { "payment_intent.succeeded" } else { "payment_intent.payment_failed" };
    let event = state.event(kind, &intent);
    stripe_queue(state, event);
}

const INVOICE_PAYMENT_PARAMS: &[&str] = &["invoice", "limit", "payment[type]", "payment[payment_intent]", "status"];

/// `GET /v1/invoice_payments?invoice=…`: an invoice's payments, newest first.
pub async fn list_invoice_payments(
    State(stripe): State<Stripe>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> ApiResult {
    let query = query.unwrap_or_default();
    read(&stripe, &headers, |state| {
        let params = params::parse(query.as_bytes(), INVOICE_PAYMENT_PARAMS)?;
        let invoice = params.str("invoice");
        let mut payments: Vec<&Value> =
            state.invoice_payments.values().filter(|p| invoice.is_none_or(|i| p["invoice"] == i)).collect();
        payments.sort_by_key(|p| std::cmp::Reverse(p["created"].as_i64()));
        Ok(json!({ "object": "list", "url": "/v1/invoice_payments", "has_more": false, "data": payments }))
    })
}

pub async fn page(State(stripe): State<Stripe>, Path(id): Path<String>) -> Response {
    render(&stripe.lock(), &id, None)
}

#[derive(Deserialize)]
pub struct Submission {
    outcome: String,
}

pub async fn submit(State(stripe): State<Stripe>, Path(id): Path<String>, Form(form): Form<Submission>) -> Response {
    let succeeds = form.outcome == "card_succeeds";
    let paid = pay(&mut stripe.lock(), &id, succeeds);
    stripe.webhooks.flush(&stripe);
    let error = (paid.is_some() && !succeeds).then_some("Your card was declined.");
    render(&stripe.lock(), &id, error)
}

fn render(state: &StripeState, id: &str, error: Option<&str>) -> Response {
    let Some(invoice) = state.invoices.get(id).filter(|i| i["status"] != "draft") else {
        return (StatusCode::NOT_FOUND, Html(shell("Not found", "<p>This invoice does not exist.</p>")))
            .into_response();
    };
    let currency = invoice["currency"].as_str().unwrap_or_default();
    let amount = format_amount(invoice["amount_due"].as_i64().unwrap_or(0), currency);
    let number = escape(invoice["number"].as_str().unwrap_or_default());
    let description = escape(invoice["description"].as_str().unwrap_or("Invoice"));
    let action = match invoice["status"].as_str() {
        Some("open") => {
            let error =
                error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))).unwrap_or_default();
            format!(
                r#"{error}<form method="post">
  <button name="outcome" value="card_succeeds">Pay with card •••• 4242 (succeeds)</button>
  <button name="outcome" value="card_declined">Pay with card •••• 0002 (declined)</button>
</form>"#
            )
        }
        Some("paid") => r#"<p class="paid" role="status">This invoice has been paid. Thank you.</p>"#.to_owned(),
        _ => "<p>This invoice is no longer payable.</p>".to_owned(),
    };
    let body = format!(
        r#"<p class="test">TEST MODE · Remit sandbox</p>
<h1>Invoice {number}</h1>
<p>{description}</p>
<p class="amount">{amount} {currency_upper}</p>
{action}"#,
        currency_upper = currency.to_uppercase(),
    );
    Html(shell(&format!("Invoice {number}"), &body)).into_response()
}

fn shell(title: &str, body: &str) -> String {
    hosted_page(&format!("{title} · Sandbox invoice"), body)
}
