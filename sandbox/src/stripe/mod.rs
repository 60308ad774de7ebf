//! The Stripe stand-in: customers, Checkout sessions with a hosted test payment page, payment
//! intents, charges, invoices with a hosted invoice page, subscriptions (Checkout's subscription
//! mode, renewals, cancels, a customer portal), events, and signed webhook delivery. Requests use Stripe's format, answers
//! use Stripe's object shapes and error bodies.

mod api;
mod checkout;
mod dashboard;
mod delivery;
mod error;
mod invoices;
mod money_back;
mod params;
mod state;
mod subscriptions;

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
    lost_answers: Arc<AtomicU64>,
}

impl Stripe {
    pub fn new(base_url: String, target: Option<WebhookTarget>) -> Self {
        Self {
            state: Arc::new(Mutex::new(StripeState::default())),
            base_url,
            webhooks: delivery::Deliverer::new(target),
            held: Arc::new(tokio::sync::watch::channel(false).0),
            api_requests: Arc::new(AtomicU64::new(0)),
            lost_answers: Arc::new(AtomicU64::new(0)),
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

    /// The bank returns a refund, as Stripe reports a refund failing days later (`refund.failed`).
    pub fn fail_refund(&self, id: &str) {
        money_back::fail_refund(&mut self.lock(), id);
        self.webhooks.flush(self);
    }

    /// The bank completes a pending refund (`refund.updated`, succeeded).
    pub fn complete_refund(&self, id: &str) {
        money_back::complete_refund(&mut self.lock(), id);
        self.webhooks.flush(self);
    }

    /// The payer's bank disputes a paid charge (`charge.dispute.created`).
    pub fn open_dispute(&self, charge_id: &str) {
        money_back::open_dispute(&mut self.lock(), charge_id);
        self.webhooks.flush(self);
    }

    /// An open dispute is decided (`charge.dispute.closed`, won or lost).
    pub fn close_dispute(&self, id: &str, won: bool) {
        money_back::close_dispute(&mut self.lock(), id, won);
        self.webhooks.flush(self);
    }

    /// Every dispute opened, oldest first.
    pub fn disputes(&self) -> Vec<serde_json::Value> {
        let mut disputes: Vec<serde_json::Value> = self.lock().disputes.values().cloned().collect();
        disputes.sort_by_key(|d| d["created"].as_i64());
        disputes
    }

    /// An invoice in Stripe's shape.
    pub fn invoice(&self, id: &str) -> Option<serde_json::Value> {
        self.lock().invoices.get(id).cloned()
    }

    /// Every invoice, oldest first.
    pub fn invoices(&self) -> Vec<serde_json::Value> {
        let mut invoices: Vec<serde_json::Value> = self.lock().invoices.values().cloned().collect();
        invoices.sort_by_key(|i| i["created"].as_i64());
        invoices
    }

    /// The payer pays an open invoice on its hosted page, by a card that succeeds or is declined
    /// (`invoice.paid` or `invoice.payment_failed`). False when no such invoice is open.
    pub fn pay_invoice(&self, id: &str, succeeds: bool) -> bool {
        let paid = invoices::pay(&mut self.lock(), id, succeeds).is_some();
        self.webhooks.flush(self);
        paid
    }

    /// Every subscription, oldest first.
    pub fn subscriptions(&self) -> Vec<serde_json::Value> {
        let mut subscriptions: Vec<serde_json::Value> = self.lock().subscriptions.values().cloned().collect();
        subscriptions.sort_by_key(|s| s["created"].as_i64());
        subscriptions
    }

    /// A subscription's next period starts now, its invoice paid or failed (then past due).
    /// False for one that ended or does not exist.
    pub fn renew_subscription(&self, id: &str, paid: bool) -> bool {
        let renewed = subscriptions::renew(&mut self.lock(), id, paid, &self.base_url);
        self.webhooks.flush(self);
        renewed
    }

    /// Cancels a subscription at once (`customer.subscription.deleted`).
    pub fn cancel_subscription(&self, id: &str) -> bool {
        let canceled = subscriptions::cancel(&mut self.lock(), id).is_some();
        self.webhooks.flush(self);
        canceled
    }

    /// The next `count` API answers to POSTs are lost after Stripe acted on them, as when a
    /// connection drops: the caller gets Stripe's 500 `api_error` and cannot know what happened.
    pub fn lose_answers(&self, count: u64) {
        self.lost_answers.store(count, Ordering::SeqCst);
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
            .route("/v1/invoiceitems", post(invoices::create_invoice_item))
            .route("/v1/invoices", post(invoices::create_invoice))
            .route("/v1/invoices/{id}", get(invoices::retrieve_invoice))
            .route("/v1/invoices/{id}/finalize", post(invoices::finalize_invoice))
            .route("/v1/invoices/{id}/send", post(invoices::send_invoice))
            .route("/v1/invoices/{id}/void", post(invoices::void_invoice))
            .route("/i/{id}", get(invoices::page).post(invoices::submit))
            .route(
                "/v1/subscriptions/{id}",
                get(subscriptions::retrieve).post(subscriptions::modify).delete(subscriptions::delete),
            )
            .route("/v1/billing_portal/sessions", post(subscriptions::create_portal_session))
            .route("/v1/invoice_payments", get(invoices::list_invoice_payments))
            .route("/p/session/{id}", get(subscriptions::portal_page).post(subscriptions::portal_submit))
            .route("/c/pay/{id}", get(checkout::page).post(checkout::submit))
            .route("/test/dashboard", get(dashboard::page).post(dashboard::act))
            .fallback(unknown_url)
            .layer(axum::middleware::from_fn_with_state(self.clone(), count_and_hold))
            .with_state(self.clone())
    }
}

async fn count_and_hold(State(stripe): State<Stripe>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    stripe.api_requests.fetch_add(1, Ordering::SeqCst);
    let mut held = stripe.held.subscribe();
    let _ = held.wait_for(|held| !held).await;
    let post = request.method() == Method::POST;
    let response = next.run(request).await;
    let lose =
        post && stripe.lost_answers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if lose {
        let lost = error::ApiError {
            status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            kind: "api_error",
            code: None,
            message: "An error occurred with our connection to Stripe. Request was retried 2 times.".into(),
            param: None,
        };
        return axum::response::IntoResponse::into_response(lost);
    }
    response
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
