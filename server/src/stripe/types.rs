//! The fields Remit reads from Stripe's objects. Unknown fields are ignored, as Stripe adds fields
//! within an API version.

use std::collections::HashMap;

use serde::Deserialize;

pub type Metadata = HashMap<String, String>;

#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// The hosted payment page; null once the session is complete or expired.
    pub url: Option<String>,
    /// `open`, `complete` or `expired`.
    pub status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    pub payment_intent: Option<String>,
    pub customer: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub client_reference_id: Option<String>,
    pub expires_at: i64,
    #[serde(default)]
    pub metadata: Metadata,
}

impl CheckoutSession {
    pub fn is_open(&self) -> bool {
        self.status.as_deref() == Some("open")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub latest_charge: Option<String>,
    pub last_payment_error: Option<PaymentError>,
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentError {
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub paid: bool,
    pub refunded: bool,
    pub payment_intent: Option<String>,
    pub receipt_url: Option<String>,
    pub payment_method_details: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// A page of a list endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// A page of a search endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResult<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_page: Option<String>,
}

/// A refund, as Remit reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    pub payment_intent: Option<String>,
}

/// An invoice, as Remit reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Invoice {
    pub id: String,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: Option<String>,
    pub customer: Option<String>,
    pub amount_due: i64,
    pub currency: String,
    /// The page where the payer pays; set once the invoice is finalized.
    pub hosted_invoice_url: Option<String>,
    pub number: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
}

/// What ties an invoice to a payment collecting it (a PaymentIntent).
#[derive(Debug, Clone, Deserialize)]
pub struct InvoicePayment {
    pub id: String,
    pub payment: InvoicePaymentTarget,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InvoicePaymentTarget {
    pub payment_intent: Option<String>,
}

/// A subscription, as Remit reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub cancel_at_period_end: bool,
}

/// A customer portal session: its short-lived page.
#[derive(Debug, Clone, Deserialize)]
pub struct PortalSession {
    pub id: String,
    pub url: String,
}

/// A pending charge on a customer, billed by the next invoice it joins.
#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceItem {
    pub id: String,
    pub amount: i64,
    pub invoice: Option<String>,
}
