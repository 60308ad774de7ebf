//! What the pages ask of the server. The app defines this trait; the server implements it and
//! provides it as Leptos context, so pages know nothing of SQL, Stripe or Salesforce.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::site::BrandView;

/// Where a payment stands, as the pay page needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayState {
    /// Open, or failed and payable again.
    Payable,
    /// A delayed method (a bank debit) is settling.
    Processing,
    /// Paid (possibly refunded or disputed since).
    Paid,
    /// The link's time ran out (or the payment expired): nothing to pay through it.
    Expired,
    /// Canceled: nothing to pay.
    Closed,
}

/// A payment as its pay page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayView {
    pub token: String,
    pub brand: BrandView,
    pub description: String,
    /// Formatted for reading, e.g. "125.00 USD".
    pub amount: String,
    /// A subscription's terms in words ("Every month, until you cancel"); none for one payment.
    pub billing: Option<String>,
    pub state: PayState,
    /// Reminders of this link are still to come.
    pub reminders_coming: bool,
}

/// Where a payment stands when the payer comes back from Checkout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReturnState {
    Paid,
    /// A delayed method is settling.
    Processing,
    /// Not paid (yet): failed, or left before paying.
    Unpaid,
    /// Canceled or expired.
    Closed,
}

/// A payment as the success and cancel pages show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnView {
    pub token: String,
    pub brand: BrandView,
    pub description: String,
    /// Formatted for the payer's locale.
    pub amount: String,
    pub state: ReturnState,
    /// Why the last attempt failed, in words for the payer.
    pub failure: Option<String>,
    pub paid_on: Option<String>,
    /// A short reference the payer can quote.
    pub reference: String,
    pub payer_email: String,
    /// Where the receipt is downloaded, once the payment is paid.
    pub receipt_url: Option<String>,
}

/// One payment in the payer's account view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPayment {
    pub date: String,
    pub description: String,
    pub brand: String,
    pub amount: String,
    /// The state in words: Paid, Open, Processing…
    pub status: String,
    pub receipt_url: Option<String>,
    /// A credit note for each refund, oldest first.
    pub credit_notes: Vec<CreditNoteLink>,
    /// The stable pay link, while there is something to pay.
    pub pay_url: Option<String>,
    /// What is due, while unpaid: "Pay by 31 Jan 2027" when the link expires.
    pub due: Option<String>,
}

/// A credit note the payer can download: "Credit note ACME-CN-000001 · 25.00 USD".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNoteLink {
    pub number: String,
    pub amount: String,
    pub href: String,
    /// The bank returned the refund: the note stands, marked void.
    pub void: bool,
}

/// A subscription in the payer's account view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSubscription {
    pub id: String,
    pub description: String,
    /// "20.00 USD every month"
    pub amount: String,
    /// In words: Active, Free trial, Payment overdue, Canceled…
    pub status: String,
    /// "Next payment 07 Jan 2027", "Ends 07 Jan 2027", or none once it ended.
    pub next: Option<String>,
    /// Whether Stripe's customer portal can manage it (not once it ended).
    pub manageable: bool,
}

/// Why "Manage" could not open Stripe's customer portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortalProblem {
    SignedOut,
    NotYours,
    Unavailable,
    FormExpired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub email: String,
    pub subscriptions: Vec<AccountSubscription>,
    pub payments: Vec<AccountPayment>,
    pub page: i64,
    pub more: bool,
    /// The token every form of the page carries.
    pub csrf: String,
}

/// What became of a sign-in request; every outcome but `Sent` names what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInOutcome {
    /// Sent if the address has payments; the payer is told to check their inbox either way.
    Sent,
    InvalidEmail,
    RateLimited,
    /// The form's CSRF token did not match the session's.
    FormExpired,
}

/// Why the pay button could not lead to Checkout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutProblem {
    NotFound,
    NotPayable,
    /// The payment provider did not answer; trying again later may work.
    Unavailable,
    /// The form's CSRF token did not match the session's.
    FormExpired,
}

/// One object's records in the sandbox's Salesforce stand-in, as rows of (field, value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxObject {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The server could not produce what a page needs. The cause is kept for the server's log; a page
/// says only that the service is unavailable for now.
#[derive(Debug)]
pub struct PageError(Box<dyn std::error::Error + Send + Sync>);

impl PageError {
    pub fn new(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(cause.into())
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this page is unavailable right now")
    }
}

impl std::error::Error for PageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

#[async_trait::async_trait]
pub trait PaymentPages: Send + Sync + 'static {
    /// The payment behind a pay-link token; `None` when no payment has that token.
    async fn pay_view(&self, token: &str) -> Result<Option<PayView>, PageError>;

    /// The Stripe Checkout URL to send the payer to (when the form's CSRF token is right).
    async fn start_checkout(
        &self,
        request: &http::request::Parts,
        token: &str,
        csrf: &str,
    ) -> Result<String, CheckoutProblem>;

    /// The payment of a Checkout session the payer returned from paying, brought up to date with
    /// Stripe; `None` when the session is unknown.
    async fn success_view(
        &self,
        request: &http::request::Parts,
        session_id: &str,
    ) -> Result<Option<ReturnView>, PageError>;

    /// The payment of a Checkout session the payer left without paying.
    async fn cancel_view(
        &self,
        request: &http::request::Parts,
        session_id: &str,
    ) -> Result<Option<ReturnView>, PageError>;

    /// The CSRF token for this request's session (created when the session has none yet).
    async fn csrf_token(&self, request: &http::request::Parts) -> Result<String, PageError>;

    async fn request_sign_in(
        &self,
        request: &http::request::Parts,
        email: &str,
        csrf: &str,
    ) -> Result<SignInOutcome, PageError>;

    /// Whether a sign-in link still works, without using it.
    async fn sign_in_link_valid(&self, token: &str) -> Result<bool, PageError>;

    /// Uses a sign-in link and signs the session in (a new session id); false when the link is
    /// used, expired or unknown, or the form's CSRF token is wrong.
    async fn confirm_sign_in(&self, request: &http::request::Parts, token: &str, csrf: &str)
    -> Result<bool, PageError>;

    /// The signed-in payer's payments; `None` when nobody is signed in.
    async fn account(&self, request: &http::request::Parts, page: i64) -> Result<Option<AccountView>, PageError>;

    /// Where "Manage" leads: a Stripe customer portal session for the signed-in payer's own
    /// subscription.
    async fn manage_subscription(
        &self,
        request: &http::request::Parts,
        subscription: &str,
        csrf: &str,
    ) -> Result<String, PortalProblem>;

    /// Ends the session (when the form's CSRF token is right).
    async fn sign_out(&self, request: &http::request::Parts, csrf: &str) -> Result<(), PageError>;

    /// The Salesforce stand-in's records; `None` outside sandbox mode.
    fn sandbox_salesforce(&self) -> Option<Vec<SandboxObject>>;
}

pub type Backend = Arc<dyn PaymentPages>;
