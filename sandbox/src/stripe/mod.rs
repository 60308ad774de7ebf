//! The Stripe stand-in: customers, Checkout sessions with a hosted test payment page, payment
//! intents, charges, events, and signed webhook delivery. Requests use Stripe's format, answers
//! use Stripe's object shapes and error bodies.

mod api;
mod checkout;
mod delivery;
mod error;
mod params;
mod state;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use axum::{
    Router,
    extract::{Request, State},
    http::{Method, Uri},
    middleware::Next,
    response::Response,
    routing::{get, post},
};
pub use delivery::{WebhookTarget, sign};
pub use state::SANDBOX_SECRET_KEY;
use state::StripeState;

/// The API version the stand-in speaks (the one Remit pins).
pub const STRIPE_VERSION: &str = "2025-06-30.basil";

/// Shared by the API handlers, the hosted checkout page and webhook delivery.
#[derive(Clone)]
pub struct Stripe {
    pub(crate) state: Arc<Mutex<StripeState>>,
    pub(crate) base_url: String,
    pub(crate) webhooks: delivery::Deliverer,
    /// While true, API requests wait before they are answered (a test's way to hold one open).
    held: Arc<tokio::sync::watch::Sender<bool>>,
    api_requests: Arc<AtomicU64>,
}

impl Stripe {
    pub fn new(base_url: String, target: Option<WebhookTarget>) -> Self {
        Self {
            state: Arc::new(Mutex::new(StripeState::default())),
            base_url,
            webhooks: delivery::Deliverer::new(target),
            held: Arc::new(tokio::sync::watch::channel(false).0),
            api_requests: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Holds every API request that arrives from now on until released (`false`).
    pub fn hold_api_requests(&self, held: bool) {
        self.held.send_replace(held);
    }

    /// How many API requests have arrived so far, held ones included.
    pub fn api_requests(&self) -> u64 {
        self.api_requests.load(Ordering::SeqCst)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, StripeState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every customer the stand-in holds, in Stripe's shape.
    pub fn customers(&self) -> Vec<serde_json::Value> {
        self.lock().customers.values().cloned().collect()
    }

    /// Every refund made, oldest first.
    pub fn refunds(&self) -> Vec<serde_json::Value> {
        let mut refunds: Vec<serde_json::Value> = self.lock().refunds.values().cloned().collect();
        refunds.sort_by_key(|r| r["created"].as_i64());
        refunds
    }

    /// A Checkout session in Stripe's shape.
    pub fn session(&self, id: &str) -> Option<serde_json::Value> {
        self.lock().sessions.get(id).cloned()
    }

    /// The bank returns a refund, as Stripe reports a refund failing days later: the refund is
    /// `failed`, its amount is back on the charge, and `refund.failed` is delivered.
    pub fn fail_refund(&self, id: &str) {
        {
            let mut state = self.lock();
            let Some(mut refund) = state.refunds.get(id).cloned() else { return };
            refund["status"] = serde_json::json!("failed");
            refund["failure_reason"] = serde_json::json!("lost_or_stolen_card");
            state.refunds.insert(id.to_owned(), refund.clone());
            let charge_id = refund["charge"].as_str().unwrap_or_default().to_owned();
            if let Some(charge) = state.charges.get_mut(&charge_id) {
                let back = charge["amount_refunded"].as_i64().unwrap_or(0) - refund["amount"].as_i64().unwrap_or(0);
                charge["amount_refunded"] = serde_json::json!(back.max(0));
                charge["refunded"] = serde_json::json!(false);
            }
            let event = state.event("refund.failed", &refund);
            api::stripe_queue(&mut state, event);
        }
        self.webhooks.flush(self);
    }

    /// While withheld, events are recorded (and listed by `/v1/events`) but not delivered.
    pub fn withhold_webhooks(&self, withheld: bool) {
        self.webhooks.set_withheld(withheld);
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/customers", post(api::create_customer))
            .route("/v1/customers/search", get(api::search_customers))
            .route("/v1/customers/{id}", get(api::retrieve_customer).post(api::update_customer))
            .route("/v1/checkout/sessions", post(api::create_session))
            .route("/v1/checkout/sessions/{id}", get(api::retrieve_session))
            .route("/v1/checkout/sessions/{id}/expire", post(api::expire_session))
            .route("/v1/checkout/sessions/{id}/line_items", get(api::list_line_items))
            .route("/v1/payment_intents/{id}", get(api::retrieve_payment_intent))
            .route("/v1/charges/{id}", get(api::retrieve_charge))
            .route("/v1/refunds", post(api::create_refund))
            .route("/v1/refunds/{id}", get(api::retrieve_refund))
            .route("/v1/events", get(api::list_events))
            .route("/c/pay/{id}", get(checkout::page).post(checkout::submit))
            .fallback(unknown_url)
            .layer(axum::middleware::from_fn_with_state(self.clone(), count_and_hold))
            .with_state(self.clone())
    }
}

async fn count_and_hold(State(stripe): State<Stripe>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/v1/") {
        stripe.api_requests.fetch_add(1, Ordering::SeqCst);
        let mut held = stripe.held.subscribe();
        let _ = held.wait_for(|held| !held).await;
    }
    next.run(request).await
}

async fn unknown_url(method: Method, uri: Uri) -> error::ApiError {
    error::ApiError {
        status: axum::http::StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: None,
        message: format!(
            "Unrecognized request URL ({method}: {}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
            uri.path()
        ),
        param: None,
    }
}
