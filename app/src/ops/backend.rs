//! What the operator console asks of the server: the views it shows, already in words, and the
//! actions it takes. The server implements [`OpsConsole`] and provides it as Leptos context.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::backend::{CreditNoteLink, PageError, SignInOutcome};

/// The operator a console page is shown to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub email: String,
    /// Admins act; viewers only see.
    pub admin: bool,
    /// The token every form carries.
    pub csrf: String,
    /// What the last action did (shown once), or why it did nothing.
    pub notice: Option<Notice>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub text: String,
    /// A problem (an alert), not a success (a status).
    pub problem: bool,
}

/// A console page's data, or the reason there is none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gate<T> {
    Shown(Operator, T),
    /// Nobody is signed in to the console: the sign-in page.
    SignedOut,
    /// The page's subject does not exist.
    Missing,
}

/// One row of a table: its cells, already in words.
pub type Row = Vec<String>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// ("Today", rows of status, currency, count, amount), then 7 and 30 days.
    pub windows: Vec<(String, Vec<Row>)>,
    /// class, due, running, retrying, dead, oldest due.
    pub queue: Vec<Row>,
    /// (what, how it stands): last webhook, reconciliation, Salesforce, its API use, Stripe.
    pub health: Vec<(String, String)>,
}

/// The filter of the payments list and the finance page, as the form has it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentQuery {
    pub q: String,
    pub status: String,
    pub brand: String,
    pub currency: String,
    pub from: String,
    pub to: String,
    pub page: i64,
}

impl PaymentQuery {
    /// The query string that asks for this filter (without the page).
    pub fn filter_query(&self) -> String {
        let pairs = [
            ("q", &self.q),
            ("status", &self.status),
            ("brand", &self.brand),
            ("currency", &self.currency),
            ("from", &self.from),
            ("to", &self.to),
        ];
        pairs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentList {
    pub query: PaymentQuery,
    /// Why the filter could not be used (a date that is not one, say); the list is then empty.
    pub problem: Option<String>,
    /// (id, created, payer, description, amount, status) of each payment, newest first.
    pub payments: Vec<Row>,
    pub more: bool,
    /// (key, name) of each brand, for the filter.
    pub brands: Vec<(String, String)>,
    pub statuses: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDetail {
    pub id: String,
    pub title: String,
    /// (label, value) of what is known of it.
    pub facts: Vec<(String, String)>,
    /// (when, what, detail), oldest first: Stripe events, state changes, emails, syncs, actions.
    pub timeline: Vec<Row>,
    pub receipt_url: Option<String>,
    pub credit_notes: Vec<CreditNoteLink>,
    pub can_resend: bool,
    pub can_cancel: bool,
    /// What is left to refund ("25.00 USD"), when something is.
    pub refundable: Option<String>,
    /// The refund form's idempotency key: one per refund the form can make.
    pub refund_key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxView {
    /// (id, class, kind, attempts, failed at, error, what it is about) of each dead letter.
    pub dead: Vec<Row>,
    /// Classes with dead letters.
    pub dead_classes: Vec<String>,
    /// (event id, type, received, why it matched nothing).
    pub unmatched: Vec<Row>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeysView {
    /// (id, name, created, last used, revoked) of each key.
    pub keys: Vec<Row>,
    /// A key just created, shown this once.
    pub new_key: Option<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinanceView {
    pub query: PaymentQuery,
    pub problem: Option<String>,
    /// (day, brand, currency, payments, collected, refunded, net), newest day first.
    pub days: Vec<Row>,
    pub brands: Vec<(String, String)>,
}

/// An action an admin takes from the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    ResendLink {
        payment: String,
    },
    Cancel {
        payment: String,
    },
    Resync {
        payment: String,
    },
    /// `amount` in major units as typed ("" for all that is left); `key` names the form it came
    /// from, so a form sent twice refunds once.
    Refund {
        payment: String,
        amount: String,
        reason: String,
        key: String,
    },
    Replay {
        job: i64,
    },
    ReplayClass {
        class: String,
    },
    CreateKey {
        name: String,
    },
    RevokeKey {
        key: String,
    },
}

/// What became of an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Acted {
    /// Done or refused for a reason the operator can fix; told on the next page.
    Told,
    SignedOut,
    /// A viewer asked: 403.
    Forbidden,
    /// The form's CSRF token was wrong: 403.
    FormExpired,
}

#[async_trait::async_trait]
pub trait OpsConsole: Send + Sync + 'static {
    /// Emails a console sign-in link when `email` is an operator's; answers alike either way.
    async fn request_sign_in(
        &self,
        request: &http::request::Parts,
        email: &str,
        csrf: &str,
    ) -> Result<SignInOutcome, PageError>;

    async fn sign_in_link_valid(&self, token: &str) -> Result<bool, PageError>;

    /// Uses a console sign-in link: false when used, expired, unknown, no longer an operator's,
    /// or the CSRF token is wrong.
    async fn confirm_sign_in(&self, request: &http::request::Parts, token: &str, csrf: &str)
    -> Result<bool, PageError>;

    async fn sign_out(&self, request: &http::request::Parts, csrf: &str) -> Result<(), PageError>;

    async fn overview(&self, request: &http::request::Parts) -> Result<Gate<Overview>, PageError>;

    async fn payments(
        &self,
        request: &http::request::Parts,
        query: PaymentQuery,
    ) -> Result<Gate<PaymentList>, PageError>;

    async fn payment(&self, request: &http::request::Parts, id: &str) -> Result<Gate<PaymentDetail>, PageError>;

    async fn outbox(&self, request: &http::request::Parts) -> Result<Gate<OutboxView>, PageError>;

    async fn api_keys(&self, request: &http::request::Parts) -> Result<Gate<ApiKeysView>, PageError>;

    async fn finance(
        &self,
        request: &http::request::Parts,
        query: PaymentQuery,
    ) -> Result<Gate<FinanceView>, PageError>;

    async fn act(&self, request: &http::request::Parts, action: Action, csrf: &str) -> Result<Acted, PageError>;
}

pub type Console = Arc<dyn OpsConsole>;
