//! `/test/dashboard`: the stand-in's answer to Stripe's Dashboard in test mode, for a person
//! trying Remit by hand: each paid charge with its refunds and disputes, and buttons for what
//! the bank does later (return a refund, open a dispute, decide it), and each subscription with
//! buttons to renew it now (paid or declined), pay its overdue invoice or cancel it. Plain HTML
//! forms.

use axum::{
    Form,
    extract::State,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    Stripe,
    checkout::{escape, format_amount},
    invoices, money_back, subscriptions,
};

pub async fn page(State(stripe): State<Stripe>) -> Html<String> {
    let state = stripe.lock();
    let mut charges: Vec<&Value> = state.charges.values().filter(|c| c["status"] == "succeeded").collect();
    charges.sort_by_key(|c| std::cmp::Reverse(c["created"].as_i64()));
    let rows: String = charges
        .iter()
        .map(|charge| {
            let refunds: Vec<&Value> = state.refunds.values().filter(|r| r["charge"] == charge["id"]).collect();
            let disputes: Vec<&Value> = state.disputes.values().filter(|d| d["charge"] == charge["id"]).collect();
            charge_section(charge, &refunds, &disputes)
        })
        .collect();
    let mut subscriptions: Vec<&Value> = state.subscriptions.values().collect();
    subscriptions.sort_by_key(|s| std::cmp::Reverse(s["created"].as_i64()));
    let subscriptions: String = subscriptions.iter().map(|s| subscription_section(s)).collect();
    let body = if rows.is_empty() && subscriptions.is_empty() {
        "<p>No payments yet: pay a link first.</p>".to_owned()
    } else {
        subscriptions + &rows
    };
    Html(shell(&body))
}

/// A subscription with what its payer's bank and the clock can do to it: the next period now
/// (its invoice paid or declined), an overdue invoice paid, the subscription canceled.
fn subscription_section(subscription: &Value) -> String {
    let id = text(&subscription["id"]);
    let status = text(&subscription["status"]);
    let mut html = format!(
        r#"<section aria-labelledby="{id}"><h2 id="{id}">Subscription {id}</h2><p>Status {status} · customer {customer}</p>"#,
        id = escape(&id),
        status = escape(&status),
        customer = escape(&text(&subscription["customer"])),
    );
    if !matches!(status.as_str(), "canceled" | "incomplete_expired") {
        html += &button("renew_paid", &id, &format!("Renew {id} now: the invoice is paid"));
        html += &button("renew_failed", &id, &format!("Renew {id} now: the card is declined"));
        if status == "past_due" {
            html += &button("pay_latest_invoice", &id, &format!("The retry of {id}'s overdue invoice is paid"));
        }
        html += &button("cancel_subscription", &id, &format!("Cancel {id}"));
    }
    html + "</section>"
}

fn charge_section(charge: &Value, refunds: &[&Value], disputes: &[&Value]) -> String {
    let id = text(&charge["id"]);
    let currency = text(&charge["currency"]);
    let money =
        |v: &Value| format!("{} {}", format_amount(v.as_i64().unwrap_or(0), &currency), currency.to_uppercase());
    let mut html = format!(
        r#"<section aria-labelledby="{id}"><h2 id="{id}">{amount} · {description}</h2><p>Charge {id} · refunded {refunded}</p>"#,
        amount = money(&charge["amount"]),
        description = escape(
            [&charge["description"], &charge["receipt_email"], &charge["billing_details"]["email"]]
                .into_iter()
                .find_map(Value::as_str)
                .unwrap_or("Payment")
        ),
        refunded = money(&charge["amount_refunded"]),
    );
    for refund in refunds {
        let refund_id = text(&refund["id"]);
        html += &format!("<p>Refund {refund_id}: {} · {}</p>", money(&refund["amount"]), text(&refund["status"]));
        if refund["status"] == "pending" {
            html += &button("complete_refund", &refund_id, &format!("The bank completes refund {refund_id}"));
        }
        if matches!(refund["status"].as_str(), Some("pending" | "succeeded")) {
            html += &button("fail_refund", &refund_id, &format!("The bank returns refund {refund_id}"));
        }
    }
    for dispute in disputes {
        let dispute_id = text(&dispute["id"]);
        html += &format!("<p>Dispute {dispute_id}: {}</p>", text(&dispute["status"]));
        if !matches!(dispute["status"].as_str(), Some("won" | "lost")) {
            html += &button("win_dispute", &dispute_id, &format!("Dispute {dispute_id} is won"));
            html += &button("lose_dispute", &dispute_id, &format!("Dispute {dispute_id} is lost"));
        }
    }
    if charge["disputed"] != true {
        html += &button("open_dispute", &id, &format!("The payer's bank disputes charge {id}"));
    }
    html + "</section>"
}

fn button(action: &str, id: &str, label: &str) -> String {
    format!(
        r#"<form method="post"><input type="hidden" name="action" value="{action}"><input type="hidden" name="id" value="{id}"><button>{label}</button></form>"#,
        id = escape(id),
        label = escape(label),
    )
}

#[derive(Deserialize)]
pub struct Action {
    action: String,
    id: String,
}

pub async fn act(State(stripe): State<Stripe>, Form(form): Form<Action>) -> Response {
    {
        let mut state = stripe.lock();
        match form.action.as_str() {
            "complete_refund" => money_back::complete_refund(&mut state, &form.id),
            "fail_refund" => money_back::fail_refund(&mut state, &form.id),
            "open_dispute" => money_back::open_dispute(&mut state, &form.id),
            "win_dispute" => money_back::close_dispute(&mut state, &form.id, true),
            "lose_dispute" => money_back::close_dispute(&mut state, &form.id, false),
            "renew_paid" | "renew_failed" => {
                subscriptions::renew(&mut state, &form.id, form.action == "renew_paid", &stripe.base_url);
            }
            "pay_latest_invoice" => {
                let latest =
                    state.subscriptions.get(&form.id).and_then(|s| s["latest_invoice"].as_str().map(str::to_owned));
                if let Some(invoice) = latest {
                    invoices::pay(&mut state, &invoice, true);
                }
            }
            "cancel_subscription" => {
                subscriptions::cancel(&mut state, &form.id);
            }
            _ => return (axum::http::StatusCode::BAD_REQUEST, Html(shell("<p>Unknown action.</p>"))).into_response(),
        }
    }
    stripe.webhooks.flush(&stripe);
    Redirect::to("/test/dashboard").into_response()
}

fn text(value: &Value) -> String {
    escape(value.as_str().unwrap_or_default())
}

fn shell(body: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sandbox Stripe dashboard</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}}
section{{border-top:1px solid #c1c9d2;padding:.5rem 0}}h2{{font-size:1.1rem}}
button{{margin:.25rem 0;padding:.6rem .8rem;font:inherit;border:0;border-radius:6px;background:#635bff;color:#fff;cursor:pointer}}
.test{{background:#ffde92;color:#5c3d00;padding:.25rem .5rem;display:inline-block;border-radius:4px}}</style>
</head><body><main><p class="test">TEST MODE · Remit sandbox</p><h1>Payments</h1>
<p>What the bank does after a payment, on request: each button sends the webhook Stripe would.</p>{body}</main></body></html>"#
    )
}
