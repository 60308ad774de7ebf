//! The payment domain: what a payment is, how a link request becomes one, how Stripe's events
//! move it, and its receipts. Free of HTTP types: the API, the pages and the jobs call in here
//! through [`Payments`]; `store.rs` holds all of its SQL, `events.rs` all of its decisions.

mod apply;
mod checkout_options;
mod credit_notes;
mod customers;
pub mod events;
mod ids;
mod inbox;
mod invoices;
mod links;
pub mod locale;
mod money;
mod portal;
mod receipt_content;
mod reconciliation;
mod refunds;
mod reminders;
mod request;
mod returns;
mod status;
mod store;

pub use apply::{ApplyError, EventHeader, ReconcileRun};
pub use checkout_options::CheckoutOptions;
pub use credit_notes::IssuedCreditNote;
pub use ids::{EmailAddress, SalesforceId, checksum};
pub use links::{CheckoutError, LinkError, LinkOutcome};
pub use money::{Currency, MAX_AMOUNT_MINOR, MoneyError};
pub use portal::{PortalError, SubscriptionRow};
pub use receipt_content::{ReceiptAnswer, ReceiptError, ReceiptPdf};
pub use refunds::{REASONS as REFUND_REASONS, RawRefundRequest, Refund, RefundError, RefundRequest, refundable};
pub use request::{
    DEFAULT_DAYS_UNTIL_DUE, Expiry, LinkRequest, MAX_DAYS_UNTIL_DUE, MAX_EXPIRY_DAYS, RawLinkRequest, ValidationError,
};
pub use returns::ReturnError;
pub use status::PaymentStatus;
pub use store::{Collection, Payment, PaymentFilter, time_of};

use crate::{
    base_url::BaseUrl,
    config::{Brand, Brands, Reminders},
    db::Db,
    outbox::Wake,
    stripe::StripeClient,
};

/// The payment domain's entry points, with what they need. Cheap to clone.
#[derive(Clone)]
pub struct Payments {
    db: Db,
    stripe: StripeClient,
    public_url: BaseUrl,
    brands: Brands,
    reminders: Reminders,
    /// A payer leaving Checkout without paying counts as a failed attempt (the mapping's
    /// `cancel_sets_failed`); by default it changes nothing.
    abandoned_checkout_fails: bool,
    unknown_sessions: returns::UnknownSessions,
    receipt_methods: receipt_content::ReceiptMethods,
    /// Wakes this process's workers after a commit that enqueued their jobs.
    wake: Wake,
    inbox: inbox::Inbox,
}

/// Where a page of [`Payments::filtered_page`] starts: after this created time and payment id,
/// or (`None`) at the start.
pub type PageCursor = Option<(i64, String)>;

/// Payments read from the database at a time by [`Payments::filtered_page`].
const FILTERED_PAGE: i64 = 500;

impl Payments {
    pub fn new(
        db: Db,
        stripe: StripeClient,
        public_url: BaseUrl,
        brands: Brands,
        reminders: Reminders,
        abandoned_checkout_fails: bool,
        wake: Wake,
    ) -> Self {
        // Starts the task that stores webhook events in group commits.
        let inbox = inbox::Inbox::start(db.clone(), wake.clone());
        Self {
            db,
            stripe,
            public_url,
            brands,
            reminders,
            abandoned_checkout_fails,
            unknown_sessions: Default::default(),
            receipt_methods: Default::default(),
            inbox,
            wake,
        }
    }

    /// The configured brands.
    pub fn brands(&self) -> &Brands {
        &self.brands
    }

    /// Stripe calls of this process that failed on Stripe's side in the last hour.
    pub fn stripe_failures_in_last_hour(&self) -> usize {
        self.stripe.failures_in_last_hour()
    }

    /// The brand the payment is shown under.
    pub fn brand_of(&self, payment: &Payment) -> &Brand {
        self.brands.choose(Some(&payment.brand), None)
    }

    /// What the payment is for, as the payer reads it: its description, else "Payment to <brand>".
    pub fn display_name(&self, payment: &Payment) -> String {
        payment.description.clone().unwrap_or_else(|| format!("Payment to {}", self.brand_of(payment).name))
    }

    /// The stable link of a payment: `{public}/pay/{token}`.
    pub fn pay_url(&self, payment: &Payment) -> String {
        self.public_url.join(&format!("/pay/{}", payment.pay_token))
    }

    /// The link Salesforce hands the payer: an issued invoice's hosted page, else the pay link.
    pub fn link_url(&self, payment: &Payment) -> String {
        match (&payment.hosted_invoice_url, payment.collection()) {
            (Some(url), Collection::Invoice { .. }) => url.clone(),
            _ => self.pay_url(payment),
        }
    }

    /// Where a payer stops the reminders of this payment (one click, RFC 8058).
    pub fn stop_reminders_url(&self, payment: &Payment) -> String {
        self.public_url.join(&format!("/reminders/stop/{}", payment.pay_token))
    }

    /// Where a paid payment's receipt is downloaded.
    pub fn receipt_url(&self, payment: &Payment) -> Option<String> {
        let token = payment.receipt_token.as_ref()?;
        Some(self.public_url.join(&format!("/receipts/{token}.pdf")))
    }

    /// A page of the payments `filter` takes, oldest first, from `at` (the start, or where the
    /// page before ended), and where the next page starts (`None` after the last). Pages stay
    /// stable while payments are added; an export or a total of a year never sits in memory.
    pub async fn filtered_page(
        &self,
        filter: &PaymentFilter,
        at: &PageCursor,
    ) -> Result<(Vec<Payment>, Option<PageCursor>), sqlx::Error> {
        let after = at.as_ref().map(|(created, id)| (*created, id.as_str()));
        let page = store::filtered(&self.db, filter, after, FILTERED_PAGE).await?;
        let next = (page.len() as i64 == FILTERED_PAGE)
            .then(|| page.last().map(|last| (last.created_at, last.id.clone())))
            .flatten()
            .map(Some);
        Ok((page, next))
    }

    /// How many payments are in each status (`paid`, `open` …).
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        store::count_by_status(&self.db).await
    }

    pub async fn get(&self, id: &str) -> Result<Option<Payment>, sqlx::Error> {
        store::by_id(&self.db, id).await
    }

    pub async fn for_opportunity(&self, opportunity_id: &str) -> Result<Vec<Payment>, sqlx::Error> {
        store::by_opportunity(&self.db, opportunity_id).await
    }

    pub async fn by_pay_token(&self, token: &str) -> Result<Option<Payment>, sqlx::Error> {
        store::by_pay_token(&self.db, token).await
    }

    /// Up to `limit` payments made with `email` (any case), newest first, after `offset`.
    pub async fn of_payer(&self, email: &str, limit: i64, offset: i64) -> Result<Vec<Payment>, sqlx::Error> {
        store::page_of_payer(&self.db, email, limit, offset).await
    }

    /// Events kept because they matched no payment, newest first: (id, type, received_at, payload).
    pub async fn unmatched_events(&self) -> Result<Vec<(String, String, i64, String)>, sqlx::Error> {
        store::unmatched_events(&self.db).await
    }

    /// A page of the payments `filter` takes, newest first.
    pub async fn newest_filtered(
        &self,
        filter: &PaymentFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Payment>, sqlx::Error> {
        store::newest_filtered(&self.db, filter, limit, offset).await
    }

    /// (status, currency, count, amount in minor units) of the payments created since `since`.
    pub async fn totals_since(&self, since: i64) -> Result<Vec<(String, String, i64, i64)>, sqlx::Error> {
        store::totals_since(&self.db, since).await
    }

    /// A payment's Stripe events: (id, type, received at, outcome).
    pub async fn events_of(&self, payment_id: &str) -> Result<Vec<(String, String, i64, Option<String>)>, sqlx::Error> {
        store::events_of(&self.db, payment_id).await
    }

    /// A payment's state changes: (from, to, cause, event id, at).
    pub async fn audit_of(
        &self,
        payment_id: &str,
    ) -> Result<Vec<(Option<String>, String, String, Option<String>, i64)>, sqlx::Error> {
        store::audit_of(&self.db, payment_id).await
    }

    /// When the last Stripe event was received, and when reconciliation last ran (Unix ms).
    pub async fn last_heard(&self) -> Result<(Option<i64>, Option<i64>), sqlx::Error> {
        Ok((store::last_event_received(&self.db).await?, store::last_reconciliation(&self.db).await?))
    }
}
