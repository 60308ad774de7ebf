use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use rand::Rng;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::DeserializeOwned};
use url::Url;

use super::{CheckoutSession, Customer, Event, Form, List, PaymentIntent, STRIPE_VERSION, SearchResult};

/// The steps of an invoice's life that Remit takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStep {
    /// Draft → open: numbered, payable at its hosted page.
    Finalize,
    /// Stripe emails it to the customer.
    Send,
    /// Open → void: it can no longer be paid.
    Void,
}

impl InvoiceStep {
    fn as_str(self) -> &'static str {
        match self {
            Self::Finalize => "finalize",
            Self::Send => "send",
            Self::Void => "void",
        }
    }
}

/// What went wrong with a Stripe call, in Stripe's own classes.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("card declined ({code}): {message}")]
    Card { code: String, decline_code: Option<String>, message: String },
    #[error("invalid request ({status}): {message}")]
    InvalidRequest { status: u16, code: Option<String>, param: Option<String>, message: String },
    #[error("Stripe refused the API key: {0}")]
    Authentication(String),
    #[error("Stripe rate limit reached")]
    RateLimited,
    #[error("idempotency conflict: {0}")]
    Idempotency(String),
    #[error("Stripe server error ({0})")]
    Server(u16),
    #[error("Stripe did not answer in time")]
    Timeout,
    #[error("cannot reach Stripe: {0}")]
    Transport(String),
    #[error("unexpected answer from Stripe: {0}")]
    Decode(String),
}

/// A Stripe call's outcome as its metric says it: ok, or the class of its error.
fn outcome_of<T>(result: &Result<T, StripeError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(StripeError::Card { .. }) => "card_error",
        Err(StripeError::InvalidRequest { .. } | StripeError::Idempotency(_)) => "invalid_request",
        Err(StripeError::Authentication(_)) => "authentication",
        Err(StripeError::RateLimited) => "rate_limited",
        Err(StripeError::Server(_)) => "server_error",
        Err(StripeError::Timeout | StripeError::Transport(_)) => "unreachable",
        Err(StripeError::Decode(_)) => "unexpected_answer",
    }
}

impl StripeError {
    /// Worth another try later: Stripe or the network may be better then.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited | Self::Server(_) | Self::Timeout | Self::Transport(_) | Self::Idempotency(_))
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: String,
    code: Option<String>,
    decline_code: Option<String>,
    param: Option<String>,
    message: Option<String>,
}

/// Stripe's API over HTTP. Cheap to clone.
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base: Url,
    secret_key: SecretString,
    max_attempts: u32,
    /// When recent calls failed on Stripe's side or the network's, for the console's last hour.
    failures: Arc<Mutex<VecDeque<Instant>>>,
}

/// How far back [`StripeClient::failures_in_last_hour`] looks.
const FAILURE_WINDOW: Duration = Duration::from_secs(3600);

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl StripeClient {
    pub fn new(base: Url, secret_key: SecretString, timeout: Duration) -> Self {
        Self { http: crate::outbound::client(timeout), base, secret_key, max_attempts: 3, failures: Arc::default() }
    }

    /// Calls of this process that Stripe (or the way to it) failed in the last hour: server
    /// errors, rate limits, timeouts, refused keys. Declined cards and refused requests are
    /// answers, not failures.
    pub fn failures_in_last_hour(&self) -> usize {
        self.recent_failures().len()
    }

    /// The failures of the last hour, older ones forgotten.
    fn recent_failures(&self) -> MutexGuard<'_, VecDeque<Instant>> {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while failures.front().is_some_and(|at| at.elapsed() > FAILURE_WINDOW) {
            failures.pop_front();
        }
        failures
    }

    pub async fn create_customer(&self, form: &Form, idempotency_key: &str) -> Result<Customer, StripeError> {
        self.post("/v1/customers", form, idempotency_key).await
    }

    pub async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeError> {
        self.get(&format!("/v1/customers/{id}"), &[]).await
    }

    pub async fn update_customer(&self, id: &str, form: &Form, idempotency_key: &str) -> Result<Customer, StripeError> {
        self.post(&format!("/v1/customers/{id}"), form, idempotency_key).await
    }

    /// Search by a metadata value. Stripe's search is eventually consistent: a customer created
    /// seconds ago may not show yet, so callers also use a deterministic idempotency key.
    pub async fn search_customers_by_metadata(&self, key: &str, value: &str) -> Result<Vec<Customer>, StripeError> {
        let query = format!("metadata['{}']:'{}'", search_escape(key), search_escape(value));
        let found: SearchResult<Customer> = self.get("/v1/customers/search", &[("query", &query)]).await?;
        Ok(found.data)
    }

    pub async fn create_checkout_session(
        &self,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.post("/v1/checkout/sessions", form, idempotency_key).await
    }

    pub async fn retrieve_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        self.get(&format!("/v1/checkout/sessions/{id}"), &[]).await
    }

    pub async fn expire_checkout_session(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.post(&format!("/v1/checkout/sessions/{id}/expire"), &Form::new(), idempotency_key).await
    }

    pub async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        self.get(&format!("/v1/payment_intents/{id}"), &[]).await
    }

    pub async fn create_refund(&self, form: &Form, idempotency_key: &str) -> Result<super::Refund, StripeError> {
        self.post("/v1/refunds", form, idempotency_key).await
    }

    pub async fn retrieve_charge(&self, id: &str) -> Result<super::Charge, StripeError> {
        self.get(&format!("/v1/charges/{id}"), &[]).await
    }

    pub async fn create_invoice(&self, form: &Form, idempotency_key: &str) -> Result<super::Invoice, StripeError> {
        self.post("/v1/invoices", form, idempotency_key).await
    }

    pub async fn create_invoice_item(
        &self,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<super::InvoiceItem, StripeError> {
        self.post("/v1/invoiceitems", form, idempotency_key).await
    }

    pub async fn retrieve_invoice(&self, id: &str) -> Result<super::Invoice, StripeError> {
        self.get(&format!("/v1/invoices/{id}"), &[]).await
    }

    /// `finalize`, `send` or `void`: the invoice's next step, which answers with the invoice.
    pub async fn invoice_step(
        &self,
        id: &str,
        step: InvoiceStep,
        idempotency_key: &str,
    ) -> Result<super::Invoice, StripeError> {
        self.post(&format!("/v1/invoices/{id}/{}", step.as_str()), &Form::new(), idempotency_key).await
    }

    /// The payments collecting an invoice, newest first.
    pub async fn list_invoice_payments(&self, invoice: &str) -> Result<List<super::InvoicePayment>, StripeError> {
        self.get("/v1/invoice_payments", &[("invoice", invoice)]).await
    }

    /// Changes a subscription (`cancel_at_period_end`, say); answers with it.
    pub async fn update_subscription(
        &self,
        id: &str,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<super::Subscription, StripeError> {
        self.post(&format!("/v1/subscriptions/{id}"), form, idempotency_key).await
    }

    /// A customer portal session: where the payer updates their card or cancels a subscription.
    pub async fn create_portal_session(
        &self,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<super::PortalSession, StripeError> {
        self.post("/v1/billing_portal/sessions", form, idempotency_key).await
    }

    /// Events created at or after `created_gte` (Unix seconds), newest first, a page at a time.
    pub async fn list_events(
        &self,
        created_gte: i64,
        starting_after: Option<&str>,
    ) -> Result<List<Event>, StripeError> {
        let created = created_gte.to_string();
        let mut query = vec![("created[gte]", created.as_str()), ("limit", "100")];
        if let Some(after) = starting_after {
            query.push(("starting_after", after));
        }
        self.get("/v1/events", &query).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, StripeError> {
        self.send(Method::GET, path, query, None, None).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        self.send(Method::POST, path, &[], Some(form), Some(idempotency_key)).await
    }

    /// One logical call: retried on 429, 5xx and network failures with the same idempotency key.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        form: Option<&Form>,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let mut url = self.base.join(path).map_err(|e| StripeError::Decode(format!("bad path {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(self.secret_key.expose_secret())
                .header("Stripe-Version", STRIPE_VERSION);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(form) = form {
                request = request.header("Content-Type", "application/x-www-form-urlencoded").body(form.encode());
            }
            let result = match request.send().await {
                Ok(response) => Self::read(response).await,
                Err(error) if error.is_timeout() => Err(StripeError::Timeout),
                Err(error) => Err(StripeError::Transport(without_url(&error))),
            };
            let outcome = outcome_of(&result);
            metrics::counter!("remit_stripe_calls_total", "outcome" => outcome).increment(1);
            if !matches!(outcome, "ok" | "card_error" | "invalid_request") {
                self.recent_failures().push_back(Instant::now());
            }
            match result {
                Err(error) if error.is_retryable() && attempt < self.max_attempts => {
                    let delay = backoff(attempt);
                    tracing::warn!(%error, attempt, delay_ms = delay.as_millis() as u64, path, "Stripe call failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn read<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, StripeError> {
        let status = response.status();
        let body = response.bytes().await.map_err(|e| StripeError::Transport(without_url(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| StripeError::Decode(e.to_string()));
        }
        if status.is_server_error() {
            return Err(StripeError::Server(status.as_u16()));
        }
        let detail = serde_json::from_slice::<ErrorBody>(&body).map(|b| b.error).ok();
        let message = detail.as_ref().and_then(|d| d.message.clone()).unwrap_or_else(|| status.to_string());
        Err(match (status, detail) {
            (StatusCode::TOO_MANY_REQUESTS, _) => StripeError::RateLimited,
            (StatusCode::UNAUTHORIZED, _) => StripeError::Authentication(message),
            (_, Some(d)) if d.kind == "card_error" => StripeError::Card {
                code: d.code.unwrap_or_else(|| "card_declined".into()),
                decline_code: d.decline_code,
                message,
            },
            (_, Some(d)) if d.kind == "idempotency_error" => StripeError::Idempotency(message),
            (_, detail) => StripeError::InvalidRequest {
                status: status.as_u16(),
                code: detail.as_ref().and_then(|d| d.code.clone()),
                param: detail.and_then(|d| d.param),
                message,
            },
        })
    }
}

/// reqwest errors print the URL; Remit's Stripe URLs hold no secrets, but keep messages short.
fn without_url(error: &reqwest::Error) -> String {
    let mut error = error.to_string();
    if let Some(i) = error.find(" for url") {
        error.truncate(i);
    }
    error
}

/// Exponential backoff with full jitter: 0–250 ms, 0–500 ms, …
fn backoff(attempt: u32) -> Duration {
    let ceiling = 250_u64 << attempt.min(6);
    Duration::from_millis(rand::rng().random_range(ceiling / 4..=ceiling))
}

/// Quotes and backslashes inside a search query string are escaped with a backslash.
fn search_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}
