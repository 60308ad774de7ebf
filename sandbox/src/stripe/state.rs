//! What the Stripe stand-in remembers: its objects, events, and idempotent responses.
//! New objects start from Stripe's own published example of that object, so every field Stripe
//! sends is there with Stripe's name and type.

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, distr::Alphanumeric};
use serde_json::{Value, json};

pub const SANDBOX_SECRET_KEY: &str = "sk_test_remit_sandbox";

#[derive(Default)]
pub struct StripeState {
    pub customers: BTreeMap<String, Value>,
    pub sessions: BTreeMap<String, Value>,
    pub line_items: HashMap<String, Vec<Value>>,
    /// `payment_intent_data` given at session creation, used when the payer pays.
    pub session_intent_data: HashMap<String, Value>,
    pub payment_intents: BTreeMap<String, Value>,
    pub charges: BTreeMap<String, Value>,
    pub refunds: BTreeMap<String, Value>,
    pub disputes: BTreeMap<String, Value>,
    pub invoices: BTreeMap<String, Value>,
    pub subscriptions: BTreeMap<String, Value>,
    /// `subscription_data` given at session creation, used when the payer subscribes.
    pub session_subscription_data: HashMap<String, Value>,
    pub portal_sessions: HashMap<String, Value>,
    pub invoice_items: BTreeMap<String, Value>,
    /// What ties each invoice to the PaymentIntent that collects it.
    pub invoice_payments: BTreeMap<String, Value>,
    /// Invoices finalized so far: the sequence of their numbers.
    pub invoice_numbers: u64,
    /// Oldest first.
    pub events: Vec<Value>,
    /// Events recorded but not yet handed to webhook delivery.
    pub undelivered: Vec<Value>,
    /// Idempotency-Key → (request fingerprint, status, response body).
    pub idempotent: HashMap<String, (String, u16, Value)>,
}

pub fn random_id(prefix: &str, len: usize) -> String {
    let tail: String = rand::rng().sample_iter(Alphanumeric).take(len).map(char::from).collect();
    format!("{prefix}{tail}")
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "customer" => include_str!("../../fixtures/stripe/customer.json"),
        "checkout_session" => include_str!("../../fixtures/stripe/checkout_session.json"),
        "payment_intent" => include_str!("../../fixtures/stripe/payment_intent.json"),
        "charge" => include_str!("../../fixtures/stripe/charge.json"),
        "line_item" => include_str!("../../fixtures/stripe/line_item.json"),
        "refund" => include_str!("../../fixtures/stripe/refund.json"),
        "dispute" => include_str!("../../fixtures/stripe/dispute.json"),
        "invoice" => include_str!("../../fixtures/stripe/invoice.json"),
        "invoiceitem" => include_str!("../../fixtures/stripe/invoiceitem.json"),
        "subscription" => include_str!("../../fixtures/stripe/subscription.json"),
        "invoice_payment" => include_str!("../../fixtures/stripe/invoice_payment.json"),
        _ => unreachable!("no fixture {name}"),
    };
    serde_json::from_str(text).expect("fixtures are valid JSON")
}

/// Stripe's example object with `fields` laid over it; fields the example fills with
/// placeholder values are reset to what a fresh object has.
pub fn object(name: &str, fields: Value) -> Value {
    let mut object = fixture(name);
    let resets = match name {
        "customer" => {
            json!({ "discount": null, "currency": null, "shipping": null, "invoice_prefix": random_id("", 8).to_uppercase() })
        }
        "checkout_session" => json!({
            "after_expiration": null, "shipping_address_collection": null, "shipping_cost": null,
            "currency_conversion": null, "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "invoice_creation": { "enabled": false, "invoice_data": { "account_tax_ids": null, "custom_fields": null, "description": null, "footer": null, "issuer": null, "metadata": {}, "rendering_options": null } },
            "collected_information": null, "customer_details": null, "payment_intent": null, "discounts": [],
            "adaptive_pricing": { "enabled": false }, "managed_payments": { "enabled": false },
            "payment_method_configuration_details": null, "consent_collection": null,
            "automatic_tax": { "enabled": false, "liability": null, "status": null, "provider": null },
        }),
        "payment_intent" => json!({
            "amount_details": { "tip": {} }, "canceled_at": null, "last_payment_error": null, "next_action": null,
            "payment_method_configuration_details": null, "processing": null, "transfer_data": null, "shipping": null,
            "managed_payments": { "enabled": false },
        }),
        "charge" => json!({ "balance_transaction": null }),
        "line_item" => json!({ "adjustable_quantity": null }),
        _ => json!({}),
    };
    merge(&mut object, resets);
    merge(&mut object, fields);
    object
}

fn merge(target: &mut Value, fields: Value) {
    if let (Some(target), Value::Object(fields)) = (target.as_object_mut(), fields) {
        for (key, value) in fields {
            target.insert(key, value);
        }
    }
}

impl StripeState {
    /// Records an event about `object` and returns it for delivery.
    pub fn event(&mut self, event_type: &str, object: &Value) -> Value {
        let event = json!({
            "id": random_id("evt_", 24),
            "object": "event",
            "api_version": super::STRIPE_VERSION,
            "created": now(),
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": event_type,
        });
        self.events.push(event.clone());
        event
    }
}
