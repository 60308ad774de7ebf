//! The one place with SQL on `payments`, `stripe_events` and `audit_log`. Every query runs on
//! SQLite and PostgreSQL alike. Functions that take a connection run inside the caller's
//! transaction; those that take the [`Db`] stand alone.

use rand::Rng;
use sqlx::AnyConnection;

use super::{Currency, PaymentStatus, events::Change};
use crate::{
    db::{Db, Dialect, now_ms},
    subscriptions::{Interval, Invoice, Recurring, SubscriptionSnapshot},
};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Payment {
    pub id: String,
    pub opportunity_id: String,
    pub account_id: Option<String>,
    pub contact_id: Option<String>,
    pub brand: String,
    pub record_type: Option<String>,
    pub description: Option<String>,
    pub payer_email: String,
    pub payer_name: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub pay_token: String,
    /// Set once paid: the receipt's own token and its number in the brand's sequence.
    pub receipt_token: Option<String>,
    pub receipt_number: Option<i64>,
    pub stripe_customer_id: Option<String>,
    pub stripe_checkout_session_id: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub failure_reason: Option<String>,
    pub failed_attempts: i64,
    /// Unix milliseconds.
    pub paid_at: Option<i64>,
    /// What was collected, when it is known (it may differ from `amount_minor`, see `events.rs`).
    pub paid_amount_minor: Option<i64>,
    /// Lowercase, as Stripe writes it.
    pub paid_currency: Option<String>,
    /// JSON of the link's [`CheckoutOptions`](super::CheckoutOptions), brand defaults applied.
    pub checkout_options: Option<String>,
    /// When the link stops taking payments (Unix milliseconds).
    pub expires_at: Option<i64>,
    /// `on`, `off` (the link asked for none), `stopped` (by the payer) or `done` (all sent).
    pub reminders: String,
    /// Reminder steps sent.
    pub reminder_step: i64,
    /// When the link email first went out: reminders count from it.
    pub link_emailed_at: Option<i64>,
    pub next_reminder_at: Option<i64>,
    pub last_reminder_at: Option<i64>,
    pub reminders_stopped_at: Option<i64>,
    /// Refunded so far, as Stripe's events say (minor units).
    pub refunded_minor: i64,
    /// `checkout` or `invoice` (see [`Collection`]).
    pub collection: String,
    pub days_until_due: Option<i64>,
    pub stripe_invoice_id: Option<String>,
    pub hosted_invoice_url: Option<String>,
    /// Bumped by each change of terms: an invoice is issued once per version.
    pub terms_version: i64,
    /// A recurring link's terms (collection `subscription`).
    pub recurring_interval: Option<String>,
    pub recurring_interval_count: Option<i64>,
    pub trial_days: Option<i64>,
    pub cycles: Option<i64>,
    /// The subscription a recurring link started.
    pub stripe_subscription_id: Option<String>,
    /// A subscription's later paid invoice: the link payment that started the subscription.
    pub renewal_of: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, opportunity_id, account_id, contact_id, brand, record_type, description, \
    payer_email, payer_name, amount_minor, currency, status, pay_token, receipt_token, receipt_number, stripe_customer_id, \
    stripe_checkout_session_id, stripe_payment_intent_id, failure_reason, failed_attempts, paid_at, paid_amount_minor, \
    paid_currency, checkout_options, expires_at, reminders, reminder_step, link_emailed_at, next_reminder_at, \
    last_reminder_at, reminders_stopped_at, refunded_minor, collection, days_until_due, stripe_invoice_id, \
    hosted_invoice_url, terms_version, recurring_interval, recurring_interval_count, trial_days, cycles, \
    stripe_subscription_id, renewal_of, created_at, updated_at";

impl Payment {
    /// A USD 125.00 payment of brand `acme` in `status`, for unit tests.
    #[cfg(test)]
    pub fn sample(status: PaymentStatus) -> Payment {
        Payment {
            id: "p1".into(),
            opportunity_id: "006000000000001AAA".into(),
            account_id: None,
            contact_id: None,
            brand: "acme".into(),
            record_type: None,
            description: None,
            payer_email: "ana@example.com".into(),
            payer_name: None,
            amount_minor: 12_500,
            currency: "USD".into(),
            status: status.as_str().into(),
            pay_token: "t".into(),
            receipt_token: None,
            receipt_number: None,
            stripe_customer_id: None,
            stripe_checkout_session_id: Some("cs_1".into()),
            stripe_payment_intent_id: None,
            failure_reason: None,
            failed_attempts: 0,
            paid_at: None,
            paid_amount_minor: None,
            paid_currency: None,
            checkout_options: None,
            expires_at: None,
            reminders: "on".into(),
            reminder_step: 0,
            link_emailed_at: None,
            next_reminder_at: None,
            last_reminder_at: None,
            reminders_stopped_at: None,
            refunded_minor: 0,
            collection: "checkout".into(),
            days_until_due: None,
            stripe_invoice_id: None,
            hosted_invoice_url: None,
            terms_version: 0,
            recurring_interval: None,
            recurring_interval_count: None,
            trial_days: None,
            cycles: None,
            stripe_subscription_id: None,
            renewal_of: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Open)
    }

    pub fn collection(&self) -> Collection {
        let interval = self.recurring_interval.as_deref().and_then(Interval::parse);
        match (self.collection.as_str(), self.days_until_due, interval) {
            ("invoice", Some(days), _) => Collection::Invoice { days_until_due: days },
            ("subscription", _, Some(interval)) => Collection::Subscription(Recurring {
                interval,
                interval_count: self.recurring_interval_count.unwrap_or(1),
                trial_days: self.trial_days.unwrap_or(0),
                cycles: self.cycles,
            }),
            _ => Collection::Checkout,
        }
    }

    /// A recurring link's terms; none for one payment.
    pub fn recurring(&self) -> Option<Recurring> {
        match self.collection() {
            Collection::Subscription(recurring) => Some(recurring),
            _ => None,
        }
    }

    pub fn currency(&self) -> Currency {
        Currency::parse(&self.currency).expect("stored currencies were validated")
    }

    /// Whether the link's time ran out by `now` (the payment itself may not be marked yet).
    pub fn link_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    pub fn paid_at(&self) -> Option<time::OffsetDateTime> {
        self.paid_at.and_then(time_of)
    }

    /// The amount as people read it: "12.50 USD".
    pub fn amount_display(&self) -> String {
        let currency = self.currency();
        format!("{} {currency}", currency.format_major(self.amount_minor))
    }

    /// What was collected, in minor units of [`Payment::collected_currency`]: the paid amount
    /// once Stripe said it, else what the payment asks.
    pub fn collected_minor(&self) -> i64 {
        self.paid_amount_minor.unwrap_or(self.amount_minor)
    }

    pub fn collected_currency(&self) -> Currency {
        self.paid_currency.as_deref().and_then(|c| Currency::parse(c).ok()).unwrap_or_else(|| self.currency())
    }

    /// Paid, but not what the payment asks.
    pub fn paid_amount_differs(&self) -> bool {
        self.paid_amount_minor.is_some()
            && (self.collected_minor() != self.amount_minor || self.collected_currency() != self.currency())
    }
}

/// `'canceled', 'expired'`: the states a rule of [`PaymentStatus`] picks, as an SQL list, so SQL
/// never restates the rule in literals of its own.
fn states_where(rule: fn(PaymentStatus) -> bool) -> String {
    PaymentStatus::ALL.into_iter().filter(|s| rule(*s)).map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
}

/// `updated_at` moves forward on every change, even two within one millisecond, so that a reader
/// can tell the payment changed since it read it (see [`record_checkout_session`]; the success
/// page's cache keys on it too). `now` is the placeholder that carries the time.
fn strictly_later_than(now: &str) -> String {
    format!("CASE WHEN updated_at >= {now} THEN updated_at + 1 ELSE {now} END")
}

/// 128 bits of randomness, URL-safe: the token of a pay link or a receipt.
/// A Unix-millisecond time as a date and time.
pub fn time_of(ms: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn new_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

// --- reading payments ----------------------------------------------------------------------------

/// The payment whose `column` holds `value`. Columns are this file's own names, never input.
async fn one_by(db: &Db, column: &str, value: &str) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE {column} = $1"))
        .bind(value)
        .fetch_optional(&db.pool)
        .await
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<Payment>, sqlx::Error> {
    one_by(db, "id", id).await
}

pub async fn by_pay_token(db: &Db, token: &str) -> Result<Option<Payment>, sqlx::Error> {
    one_by(db, "pay_token", token).await
}

pub async fn by_receipt_token(db: &Db, token: &str) -> Result<Option<Payment>, sqlx::Error> {
    one_by(db, "receipt_token", token).await
}

pub async fn by_checkout_session(db: &Db, session_id: &str) -> Result<Option<Payment>, sqlx::Error> {
    one_by(db, "stripe_checkout_session_id", session_id).await
}

pub async fn by_payment_intent(db: &Db, intent_id: &str) -> Result<Option<Payment>, sqlx::Error> {
    one_by(db, "stripe_payment_intent_id", intent_id).await
}

/// Every payment for an Opportunity, newest first.
pub async fn by_opportunity(db: &Db, opportunity_id: &str) -> Result<Vec<Payment>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE opportunity_id = $1 ORDER BY created_at DESC, id"))
        .bind(opportunity_id)
        .fetch_all(&db.pool)
        .await
}

/// The Opportunity's payment that is not closed (at most one: a unique index says so).
pub async fn live_for_opportunity(db: &Db, opportunity_id: &str) -> Result<Option<Payment>, sqlx::Error> {
    let closed = states_where(PaymentStatus::is_closed);
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE opportunity_id = $1 AND status NOT IN ({closed}) AND renewal_of IS NULL"
    ))
    .bind(opportunity_id)
    .fetch_optional(&db.pool)
    .await
}

/// A payment made with `email` (any case); `None` for anyone else's.
pub async fn of_payer(db: &Db, id: &str, email: &str) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1 AND LOWER(payer_email) = LOWER($2)"))
        .bind(id)
        .bind(email)
        .fetch_optional(&db.pool)
        .await
}

/// Which payments an export or a list takes; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// A payer's email (any case), or a Remit, Opportunity, Checkout session, payment intent or
    /// customer or invoice id.
    pub search: Option<String>,
    pub status: Option<String>,
    pub brand: Option<String>,
    /// ISO 4217, any case.
    pub currency: Option<String>,
    /// Created at or after (Unix ms).
    pub created_from: Option<i64>,
    /// Created before (Unix ms).
    pub created_before: Option<i64>,
}

/// The condition of a [`PaymentFilter`] on binds `$1`–`$6`; every part is bound, a missing one as
/// NULL: one statement whatever the filter.
const FILTER: &str = "($1 IS NULL OR status = $1) AND ($2 IS NULL OR brand = $2) \
     AND ($3 IS NULL OR LOWER(currency) = $3) AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR created_at < $5) \
     AND ($6 IS NULL OR LOWER(payer_email) = LOWER($6) OR id = $6 OR opportunity_id = $6 \
          OR stripe_checkout_session_id = $6 OR stripe_payment_intent_id = $6 OR stripe_customer_id = $6 OR stripe_invoice_id = $6)";

fn bind_filter<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    filter: &'q PaymentFilter,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    query
        .bind(&filter.status)
        .bind(&filter.brand)
        .bind(filter.currency.as_ref().map(|c| c.to_lowercase()))
        .bind(filter.created_from)
        .bind(filter.created_before)
        .bind(&filter.search)
}

/// Up to `limit` payments the filter takes, oldest first, after `after` (the created time and id
/// of the last one of the previous page): pages that stay stable while payments are added.
pub async fn filtered(
    db: &Db,
    filter: &PaymentFilter,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<Payment>, sqlx::Error> {
    let (after_created, after_id) = after.map_or((None, None), |(created, id)| (Some(created), Some(id)));
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE {FILTER} \
         AND ($7 IS NULL OR created_at > $7 OR (created_at = $7 AND id > $8)) ORDER BY created_at, id LIMIT $9"
    );
    bind_filter(sqlx::query_as(&sql), filter).bind(after_created).bind(after_id).bind(limit).fetch_all(&db.pool).await
}

/// Up to `limit` payments the filter takes, newest first, after skipping `offset`: the console's
/// pages, which people read from the top.
pub async fn newest_filtered(
    db: &Db,
    filter: &PaymentFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Payment>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM payments WHERE {FILTER} ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8");
    bind_filter(sqlx::query_as(&sql), filter).bind(limit).bind(offset).fetch_all(&db.pool).await
}

/// Payments created since `since` (Unix ms) by status and currency: (status, currency, how many,
/// their amounts in minor units).
pub async fn totals_since(db: &Db, since: i64) -> Result<Vec<(String, String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, UPPER(currency), COUNT(*), CAST(SUM(amount_minor) AS BIGINT) FROM payments \
         WHERE created_at >= $1 GROUP BY status, UPPER(currency) ORDER BY status, UPPER(currency)",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await
}

/// How many payments are in each status.
pub async fn count_by_status(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT status, COUNT(*) FROM payments GROUP BY status").fetch_all(&db.pool).await
}

/// Up to `limit` payments made with `email` (any case), newest first, after skipping `offset`.
pub async fn page_of_payer(db: &Db, email: &str, limit: i64, offset: i64) -> Result<Vec<Payment>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE LOWER(payer_email) = LOWER($1) ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
    ))
    .bind(email)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await
}

// --- writing payments ----------------------------------------------------------------------------

/// The fields a link request sets, and a repeated one may change on an unpaid payment.
pub struct Terms<'a> {
    pub collection: Collection,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub description: Option<&'a str>,
    pub payer_email: &'a str,
    pub payer_name: Option<&'a str>,
    pub brand: &'a str,
    pub customer: Option<&'a str>,
    /// JSON of the Checkout options; `None` for Stripe's defaults.
    pub checkout_options: Option<&'a str>,
    /// When the link expires (Unix milliseconds). Not a term the Checkout page shows, so a
    /// change of it alone keeps the open Checkout session.
    pub expires_at: Option<i64>,
}

impl Terms<'_> {
    /// Whether the payment already carries these terms (the customer aside: it never changes).
    pub fn are_those_of(&self, payment: &Payment) -> bool {
        payment.collection() == self.collection
            && payment.amount_minor == self.amount_minor
            && payment.currency == self.currency
            && payment.description.as_deref() == self.description
            && payment.payer_email == self.payer_email
            && payment.payer_name.as_deref() == self.payer_name
            && payment.brand == self.brand
            && payment.checkout_options.as_deref() == self.checkout_options
    }
}

/// How a payment is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// The pay link opens Stripe Checkout.
    Checkout,
    /// Remit issues a Stripe invoice, due this many days after it is sent.
    Invoice { days_until_due: i64 },
    /// The pay link opens Checkout in subscription mode: a subscription on these terms.
    Subscription(Recurring),
}

impl Collection {
    /// The pay link opens Stripe Checkout (for a one-off payment or a subscription).
    pub fn by_checkout(self) -> bool {
        !matches!(self, Self::Invoice { .. })
    }
}

/// A [`Collection`] as its columns store it.
struct CollectionColumns {
    name: &'static str,
    days_until_due: Option<i64>,
    interval: Option<&'static str>,
    interval_count: Option<i64>,
    trial_days: Option<i64>,
    cycles: Option<i64>,
}

impl Collection {
    fn columns(self) -> CollectionColumns {
        let none = CollectionColumns {
            name: "checkout",
            days_until_due: None,
            interval: None,
            interval_count: None,
            trial_days: None,
            cycles: None,
        };
        match self {
            Self::Checkout => none,
            Self::Invoice { days_until_due } => {
                CollectionColumns { name: "invoice", days_until_due: Some(days_until_due), ..none }
            }
            Self::Subscription(r) => CollectionColumns {
                name: "subscription",
                interval: Some(r.interval.as_str()),
                interval_count: Some(r.interval_count),
                trial_days: Some(r.trial_days),
                cycles: r.cycles,
                ..none
            },
        }
    }
}

/// Who a new payment is for, besides its terms.
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub opportunity_id: &'a str,
    pub account_id: Option<&'a str>,
    pub contact_id: Option<&'a str>,
    pub record_type: Option<&'a str>,
    /// Whether unpaid, it is reminded on its schedule.
    pub send_reminders: bool,
    pub terms: Terms<'a>,
}

/// Inserts an open payment unless the Opportunity has a live one; true when inserted.
pub async fn insert_unless_live(conn: &mut AnyConnection, new: &NewPayment<'_>) -> Result<bool, sqlx::Error> {
    let closed = states_where(PaymentStatus::is_closed);
    let terms = &new.terms;
    let collection = terms.collection.columns();
    let inserted = sqlx::query(&format!(
        "INSERT INTO payments (id, opportunity_id, account_id, contact_id, brand, record_type, description, \
         payer_email, payer_name, amount_minor, currency, status, pay_token, stripe_customer_id, checkout_options, \
         expires_at, reminders, collection, days_until_due, recurring_interval, recurring_interval_count, trial_days, \
         cycles, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $19, $20, $21, $22, $23, \
         $24, $18, $18) \
         ON CONFLICT (opportunity_id) WHERE status NOT IN ({closed}) AND renewal_of IS NULL DO NOTHING"
    ))
    .bind(new.id)
    .bind(new.opportunity_id)
    .bind(new.account_id)
    .bind(new.contact_id)
    .bind(terms.brand)
    .bind(new.record_type)
    .bind(terms.description)
    .bind(terms.payer_email)
    .bind(terms.payer_name)
    .bind(terms.amount_minor)
    .bind(terms.currency)
    .bind(PaymentStatus::Open.as_str())
    .bind(new_token())
    .bind(terms.customer)
    .bind(terms.checkout_options)
    .bind(terms.expires_at)
    .bind(if new.send_reminders { "on" } else { "off" })
    .bind(now_ms())
    .bind(collection.name)
    .bind(collection.days_until_due)
    .bind(collection.interval)
    .bind(collection.interval_count)
    .bind(collection.trial_days)
    .bind(collection.cycles)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// New terms for a payment that is still payable (its old Checkout session and invoice
/// forgotten, its terms version one up); false when it moved on meanwhile.
pub async fn update_terms(conn: &mut AnyConnection, id: &str, terms: &Terms<'_>) -> Result<bool, sqlx::Error> {
    let payable = states_where(PaymentStatus::is_payable);
    let collection = terms.collection.columns();
    let updated = sqlx::query(&format!(
        "UPDATE payments SET amount_minor = $1, currency = $2, description = $3, payer_email = $4, payer_name = $5, \
         brand = $6, stripe_customer_id = COALESCE($7, stripe_customer_id), stripe_checkout_session_id = NULL, \
         checkout_options = $10, expires_at = $11, collection = $12, days_until_due = $13, stripe_invoice_id = NULL, \
         recurring_interval = $14, recurring_interval_count = $15, trial_days = $16, cycles = $17, \
         hosted_invoice_url = NULL, terms_version = terms_version + 1, updated_at = {later} \
         WHERE id = $9 AND status IN ({payable})",
        later = strictly_later_than("$8")
    ))
    .bind(terms.amount_minor)
    .bind(terms.currency)
    .bind(terms.description)
    .bind(terms.payer_email)
    .bind(terms.payer_name)
    .bind(terms.brand)
    .bind(terms.customer)
    .bind(now_ms())
    .bind(id)
    .bind(terms.checkout_options)
    .bind(terms.expires_at)
    .bind(collection.name)
    .bind(collection.days_until_due)
    .bind(collection.interval)
    .bind(collection.interval_count)
    .bind(collection.trial_days)
    .bind(collection.cycles)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// A new expiry for a payable payment whose terms stay as they are; false when it moved on.
pub async fn set_expiry(conn: &mut AnyConnection, id: &str, expires_at: Option<i64>) -> Result<bool, sqlx::Error> {
    let payable = states_where(PaymentStatus::is_payable);
    let updated = sqlx::query(&format!(
        "UPDATE payments SET expires_at = $1, updated_at = {later} WHERE id = $3 AND status IN ({payable})",
        later = strictly_later_than("$2")
    ))
    .bind(expires_at)
    .bind(now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Records that the link email went out; the first time, the first reminder is due at `first_reminder_at`.
pub async fn link_emailed(db: &Db, id: &str, now: i64, first_reminder_at: Option<i64>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET next_reminder_at = CASE WHEN link_emailed_at IS NULL AND reminder_step = 0 \
         AND reminders = 'on' THEN $1 ELSE next_reminder_at END, link_emailed_at = COALESCE(link_emailed_at, $2) \
         WHERE id = $3",
    )
    .bind(first_reminder_at)
    .bind(now)
    .bind(id)
    .execute(&db.writes)
    .await?;
    Ok(())
}

/// Payable payments with a reminder due by `now`, the longest due first.
pub async fn due_reminders(db: &Db, now: i64, limit: i64) -> Result<Vec<Payment>, sqlx::Error> {
    let payable = states_where(PaymentStatus::is_payable);
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE next_reminder_at IS NOT NULL AND next_reminder_at <= $1 \
         AND reminders = 'on' AND status IN ({payable}) ORDER BY next_reminder_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Marks reminder `step` sent, with the next one due at `next` (`None`: it was the last, and the
/// reminders are done). Conditional on the step, so it is won by one tick of one instance.
pub async fn advance_reminder(
    conn: &mut AnyConnection,
    id: &str,
    step: i64,
    now: i64,
    next: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let payable = states_where(PaymentStatus::is_payable);
    let updated = sqlx::query(&format!(
        "UPDATE payments SET reminder_step = $1 + 1, last_reminder_at = $2, next_reminder_at = $3, \
         reminders = CASE WHEN $3 IS NULL THEN 'done' ELSE reminders END, updated_at = {later} \
         WHERE id = $4 AND reminder_step = $1 AND reminders = 'on' AND status IN ({payable})",
        later = strictly_later_than("$2")
    ))
    .bind(step)
    .bind(now)
    .bind(next)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The payer stopped the reminders of the payment with this link; false when none were coming.
pub async fn stop_reminders(db: &Db, pay_token: &str, now: i64) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE payments SET reminders = 'stopped', reminders_stopped_at = $1, next_reminder_at = NULL \
         WHERE pay_token = $2 AND reminders = 'on'",
    )
    .bind(now)
    .bind(pay_token)
    .execute(&db.writes)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Payable payments whose link expired by `now`, oldest expiry first.
pub async fn expiring(db: &Db, now: i64, limit: i64) -> Result<Vec<Payment>, sqlx::Error> {
    let payable = states_where(PaymentStatus::is_payable);
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE expires_at IS NOT NULL AND expires_at <= $1 AND status IN ({payable}) \
         ORDER BY expires_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Marks a payment expired if it is still payable and its link has expired by `now`; false
/// when another instance did, or it moved on (paid, new terms) meanwhile.
pub async fn expire(conn: &mut AnyConnection, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let payable = states_where(PaymentStatus::is_payable);
    let updated = sqlx::query(&format!(
        "UPDATE payments SET status = $1, updated_at = {later} \
         WHERE id = $3 AND status IN ({payable}) AND expires_at IS NOT NULL AND expires_at <= $2",
        later = strictly_later_than("$2")
    ))
    .bind(PaymentStatus::Expired.as_str())
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The Opportunity's latest payment if it is expired: the one a new link request reopens.
pub async fn latest_if_expired(conn: &mut AnyConnection, opportunity_id: &str) -> Result<Option<Payment>, sqlx::Error> {
    let latest: Option<Payment> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE opportunity_id = $1 AND renewal_of IS NULL \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(opportunity_id)
    .fetch_optional(conn)
    .await?;
    Ok(latest.filter(|p| p.status() == PaymentStatus::Expired))
}

/// An expired payment open again, its link the same and its reminders to start over from its next
/// link email (unless the payer stopped them); false when it is no longer expired. Fails
/// with a unique violation when the Opportunity got a live payment meanwhile.
pub async fn reopen(conn: &mut AnyConnection, id: &str) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(&format!(
        "UPDATE payments SET status = $1, stripe_checkout_session_id = NULL, updated_at = {later}, \
         reminder_step = 0, link_emailed_at = NULL, next_reminder_at = NULL, \
         reminders = CASE WHEN reminders = 'done' THEN 'on' ELSE reminders END \
         WHERE id = $4 AND status = $2",
        later = strictly_later_than("$3")
    ))
    .bind(PaymentStatus::Open.as_str())
    .bind(PaymentStatus::Expired.as_str())
    .bind(now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Cancels a payment that is still payable; false when it moved on meanwhile.
pub async fn cancel(conn: &mut AnyConnection, id: &str) -> Result<bool, sqlx::Error> {
    let payable = states_where(PaymentStatus::is_payable);
    let updated = sqlx::query(&format!(
        "UPDATE payments SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ({payable})"
    ))
    .bind(PaymentStatus::Canceled.as_str())
    .bind(now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Records the Checkout session made from `payment` as it was read, unless the payment has
/// changed since (any write moves `updated_at`) or cannot be paid any more; true when recorded.
pub async fn record_checkout_session(db: &Db, payment: &Payment, session_id: &str) -> Result<bool, sqlx::Error> {
    let payable = states_where(PaymentStatus::is_payable);
    // Strictly later, so that the change it records is seen as one by the next reader.
    let now = now_ms().max(payment.updated_at + 1);
    let recorded = sqlx::query(&format!(
        "UPDATE payments SET stripe_checkout_session_id = $1, updated_at = $2 \
         WHERE id = $3 AND updated_at = $4 AND status IN ({payable})"
    ))
    .bind(session_id)
    .bind(now)
    .bind(&payment.id)
    .bind(payment.updated_at)
    .execute(&db.writes)
    .await?;
    Ok(recorded.rows_affected() == 1)
}

/// Records the invoice issued for `version` of a payable payment's terms; false when the terms
/// changed meanwhile (that invoice is then voided) or an invoice is recorded already.
pub async fn record_invoice(
    conn: &mut AnyConnection,
    payment: &Payment,
    invoice_id: &str,
    hosted_url: &str,
) -> Result<bool, sqlx::Error> {
    let payable = states_where(PaymentStatus::is_payable);
    let recorded = sqlx::query(&format!(
        "UPDATE payments SET stripe_invoice_id = $1, hosted_invoice_url = $2, updated_at = {later} \
         WHERE id = $4 AND terms_version = $5 AND stripe_invoice_id IS NULL AND status IN ({payable})",
        later = strictly_later_than("$3")
    ))
    .bind(invoice_id)
    .bind(hosted_url)
    .bind(now_ms())
    .bind(&payment.id)
    .bind(payment.terms_version)
    .execute(conn)
    .await?;
    Ok(recorded.rows_affected() == 1)
}

/// Writes what applying an event decided: the payment's derived fields, the audit row of a
/// status move, and a newly paid payment's receipt number.
pub async fn save_change(conn: &mut AnyConnection, change: &Change, event_id: &str) -> Result<(), sqlx::Error> {
    if change.writes() {
        sqlx::query(
            "UPDATE payments SET status = $1, failure_reason = $2, failed_attempts = $3, \
             paid_at = COALESCE(paid_at, $4), stripe_payment_intent_id = COALESCE($5, stripe_payment_intent_id), \
             stripe_checkout_session_id = CASE WHEN $6 = 1 THEN NULL ELSE stripe_checkout_session_id END, \
             paid_amount_minor = COALESCE($9, paid_amount_minor), paid_currency = COALESCE($10, paid_currency), \
             refunded_minor = $11, \
             updated_at = CASE WHEN updated_at >= $7 THEN updated_at + 1 ELSE $7 END WHERE id = $8",
        )
        .bind(change.to.as_str())
        .bind(&change.failure_reason)
        .bind(change.failed_attempts)
        .bind(change.paid_at_ms)
        .bind(&change.payment_intent)
        .bind(i64::from(change.forget_session))
        .bind(now_ms())
        .bind(&change.payment_id)
        .bind(change.paid_amount.as_ref().map(|(amount, _)| *amount))
        .bind(change.paid_amount.as_ref().map(|(_, currency)| currency.as_str()))
        .bind(change.refunded_minor)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(difference) = &change.newly_differs {
        let cause = format!("paid amount differs: {difference}");
        let entry = Audit {
            payment_id: &change.payment_id,
            from: Some(change.to),
            to: change.to,
            cause: &cause,
            event_id: Some(event_id),
        };
        audit(&mut *conn, &entry).await?;
    }
    if change.moved() {
        let entry = Audit {
            payment_id: &change.payment_id,
            from: Some(change.from),
            to: change.to,
            cause: &change.cause,
            event_id: Some(event_id),
        };
        audit(&mut *conn, &entry).await?;
    }
    if let Some(brand) = &change.issue_receipt_for_brand {
        issue_receipt(conn, &change.payment_id, brand).await?;
    }
    Ok(())
}

/// Gives a newly paid payment the next receipt number of its brand and a token of its own. Two
/// payments of one brand paid at once on PostgreSQL may race for a number: the unique index
/// refuses the second, whose job then runs again.
async fn issue_receipt(conn: &mut AnyConnection, payment_id: &str, brand: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET receipt_token = $1, \
         receipt_number = (SELECT COALESCE(MAX(receipt_number), 0) + 1 FROM payments WHERE brand = $2), \
         updated_at = CASE WHEN updated_at >= $4 THEN updated_at + 1 ELSE $4 END \
         WHERE id = $3 AND receipt_number IS NULL",
    )
    .bind(new_token())
    .bind(brand)
    .bind(payment_id)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

// --- subscriptions -------------------------------------------------------------------------------

/// A subscription as the payer's account shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: String,
    pub payment_id: String,
    pub status: String,
    pub customer: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub recurring_interval: Option<String>,
    pub interval_count: i64,
    /// Unix seconds: when the next invoice is due.
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: i64,
}

/// Saves a recurring link's subscription as its events now say, and names it on the payment;
/// true when anything Salesforce shows of it changed.
pub async fn save_subscription(
    conn: &mut AnyConnection,
    payment_id: &str,
    latest: &SubscriptionSnapshot,
) -> Result<bool, sqlx::Error> {
    let saved = sqlx::query(
        "INSERT INTO subscriptions (id, payment_id, status, customer, amount_minor, currency, recurring_interval, \
         interval_count, current_period_end, cancel_at_period_end, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, customer = excluded.customer, \
         amount_minor = excluded.amount_minor, currency = excluded.currency, \
         recurring_interval = excluded.recurring_interval, interval_count = excluded.interval_count, \
         current_period_end = excluded.current_period_end, cancel_at_period_end = excluded.cancel_at_period_end, \
         updated_at = excluded.updated_at \
         WHERE subscriptions.status <> excluded.status OR subscriptions.amount_minor <> excluded.amount_minor \
         OR COALESCE(subscriptions.current_period_end, -1) <> COALESCE(excluded.current_period_end, -1) \
         OR subscriptions.cancel_at_period_end <> excluded.cancel_at_period_end \
         OR subscriptions.interval_count <> excluded.interval_count",
    )
    .bind(&latest.id)
    .bind(payment_id)
    .bind(latest.status.as_str())
    .bind(&latest.customer)
    .bind(latest.amount_minor)
    .bind(&latest.currency)
    .bind(latest.interval.map(Interval::as_str))
    .bind(latest.interval_count)
    .bind(latest.current_period_end)
    .bind(i64::from(latest.cancel_at_period_end))
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE payments SET stripe_subscription_id = $1, updated_at = CASE WHEN updated_at >= $3 THEN updated_at + 1 ELSE $3 END \
         WHERE id = $2 AND stripe_subscription_id IS NULL",
    )
    .bind(&latest.id)
    .bind(payment_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(saved.rows_affected() == 1)
}

/// Makes a subscription's later paid invoice a payment of its own (paid, numbered, on the
/// link's Opportunity); its id when this made it, `None` when it exists already.
pub async fn insert_renewal(
    conn: &mut AnyConnection,
    link: &Payment,
    invoice: &Invoice,
) -> Result<Option<String>, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO payments (id, opportunity_id, account_id, contact_id, brand, record_type, description, \
         payer_email, payer_name, amount_minor, currency, status, pay_token, stripe_customer_id, reminders, collection, \
         recurring_interval, recurring_interval_count, trial_days, cycles, stripe_invoice_id, hosted_invoice_url, \
         stripe_subscription_id, renewal_of, paid_at, paid_amount_minor, paid_currency, created_at, updated_at) \
         SELECT $1, opportunity_id, account_id, contact_id, brand, record_type, description, payer_email, payer_name, \
         $2, currency, $3, $4, stripe_customer_id, 'off', collection, recurring_interval, recurring_interval_count, \
         trial_days, cycles, $5, $6, $7, id, $8, $2, $9, $10, $10 FROM payments WHERE id = $11 \
         ON CONFLICT (stripe_invoice_id) WHERE renewal_of IS NOT NULL DO NOTHING",
    )
    .bind(&id)
    .bind(invoice.amount_paid)
    .bind(PaymentStatus::Paid.as_str())
    .bind(new_token())
    .bind(&invoice.id)
    .bind(&invoice.hosted_invoice_url)
    .bind(&invoice.subscription)
    .bind(invoice.paid_at.map_or(now, |at| at * 1000))
    .bind(&invoice.currency)
    .bind(now)
    .bind(&link.id)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(None);
    }
    let cause = format!("subscription renewed: invoice {} paid", invoice.id);
    let entry = Audit { payment_id: &id, from: None, to: PaymentStatus::Paid, cause: &cause, event_id: None };
    audit(&mut *conn, &entry).await?;
    issue_receipt(conn, &id, &link.brand).await?;
    Ok(Some(id))
}

/// The subscriptions the payer's links started, newest first.
pub async fn subscriptions_of_payer(db: &Db, email: &str) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.payment_id, s.status, s.customer, s.amount_minor, s.currency, s.recurring_interval, \
         s.interval_count, s.current_period_end, s.cancel_at_period_end FROM subscriptions s \
         JOIN payments p ON p.id = s.payment_id WHERE p.payer_email = $1 ORDER BY p.created_at DESC, s.id",
    )
    .bind(email)
    .fetch_all(&db.pool)
    .await
}

// --- the audit log -------------------------------------------------------------------------------

/// One line of a payment's history: a status move, or something that happened to it.
pub struct Audit<'a> {
    pub payment_id: &'a str,
    pub from: Option<PaymentStatus>,
    pub to: PaymentStatus,
    pub cause: &'a str,
    pub event_id: Option<&'a str>,
}

pub async fn audit(conn: &mut AnyConnection, entry: &Audit<'_>) -> Result<(), sqlx::Error> {
    write_audit(conn, entry, "").await
}

/// Writes `entry` unless the payment's log holds a line for its `event_id` already.
pub async fn audit_once(db: &Db, entry: &Audit<'_>) -> Result<(), sqlx::Error> {
    let unless_written = " WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE payment_id = $1 AND event_id = $5)";
    write_audit(&mut *db.pool.acquire().await?, entry, unless_written).await
}

async fn write_audit(conn: &mut AnyConnection, entry: &Audit<'_>, condition: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO audit_log (payment_id, from_status, to_status, cause, event_id, at) \
         SELECT $1, $2, $3, $4, $5, $6{condition}"
    ))
    .bind(entry.payment_id)
    .bind(entry.from.map(PaymentStatus::as_str))
    .bind(entry.to.as_str())
    .bind(entry.cause)
    .bind(entry.event_id)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

// --- Stripe events -------------------------------------------------------------------------------

/// Stores events `(id, type, payload)` in one statement, skipping those stored already; the ids
/// of those it stored.
pub async fn insert_events(
    conn: &mut AnyConnection,
    events: &[(&str, &str, &str)],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|n| format!("(${}, ${}, ${}, ${})", 4 * n + 1, 4 * n + 2, 4 * n + 3, 4 * n + 4))
        .collect();
    let sql = format!(
        "INSERT INTO stripe_events (id, event_type, payload, received_at) VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id",
        rows.join(", ")
    );
    let now = now_ms();
    let mut query = sqlx::query_as::<_, (String,)>(&sql);
    for (id, event_type, payload) in events {
        query = query.bind(*id).bind(*event_type).bind(*payload).bind(now);
    }
    Ok(query.fetch_all(conn).await?.into_iter().map(|(id,)| id).collect())
}

pub async fn event_payload(db: &Db, event_id: &str) -> Result<String, sqlx::Error> {
    let (payload,): (String,) =
        sqlx::query_as("SELECT payload FROM stripe_events WHERE id = $1").bind(event_id).fetch_one(&db.pool).await?;
    Ok(payload)
}

pub async fn mark_event_unmatched(conn: &mut AnyConnection, event_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stripe_events SET outcome = 'unmatched', processed_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(event_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the payment for one event's application and marks the event applied to it, then reads
/// the payment. One event of a payment at a time, so later ones see every earlier one's facts: on
/// PostgreSQL by locking the payment's row; on SQLite the transaction's first statement is a
/// write, which takes the database's one write lock (a read first could not upgrade later).
pub async fn take_for_event(
    conn: &mut AnyConnection,
    dialect: Dialect,
    payment_id: &str,
    event_id: &str,
) -> Result<Payment, sqlx::Error> {
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT id FROM payments WHERE id = $1 FOR UPDATE").bind(payment_id).execute(&mut *conn).await?;
    }
    sqlx::query("UPDATE stripe_events SET payment_id = $1, outcome = 'applied', processed_at = $2 WHERE id = $3")
        .bind(payment_id)
        .bind(now_ms())
        .bind(event_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1")).bind(payment_id).fetch_one(conn).await
}

/// The payloads of every event applied to the payment.
pub async fn applied_events(conn: &mut AnyConnection, payment_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT payload FROM stripe_events WHERE payment_id = $1 AND outcome = 'applied'")
            .bind(payment_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(payload,)| payload).collect())
}

/// Events kept because they matched no payment, newest first: (id, type, received_at).
/// The events that matched no payment, newest first: (id, type, received at, payload).
pub async fn unmatched_events(db: &Db) -> Result<Vec<(String, String, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_type, received_at, payload FROM stripe_events WHERE outcome = 'unmatched' \
         ORDER BY received_at DESC",
    )
    .fetch_all(&db.pool)
    .await
}

/// A payment's events, as received: (id, type, received at, outcome).
pub async fn events_of(db: &Db, payment_id: &str) -> Result<Vec<(String, String, i64, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_type, received_at, outcome FROM stripe_events WHERE payment_id = $1 ORDER BY received_at, id",
    )
    .bind(payment_id)
    .fetch_all(&db.pool)
    .await
}

/// When the last Stripe event came (Unix ms), if any ever did.
pub async fn last_event_received(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    let (at,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(received_at) FROM stripe_events").fetch_one(&db.pool).await?;
    Ok(at)
}

/// A payment's audit trail, oldest first: (from, to, cause, event id, at).
pub async fn audit_of(
    db: &Db,
    payment_id: &str,
) -> Result<Vec<(Option<String>, String, String, Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT from_status, to_status, cause, event_id, at FROM audit_log WHERE payment_id = $1 ORDER BY at, id",
    )
    .bind(payment_id)
    .fetch_all(&db.pool)
    .await
}

// --- reconciliation with Stripe's event list ----------------------------------------------------

/// Where reconciliation stands.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reconciliation {
    pub created_gte: Option<i64>,
    pub resume_after: Option<String>,
    pub pass_started_at: Option<i64>,
}

/// Takes the reconciliation lease for `owner` until `until_ms`, unless another instance holds it.
pub async fn take_reconciliation(db: &Db, owner: &str, until_ms: i64) -> Result<Option<Reconciliation>, sqlx::Error> {
    let now = now_ms();
    let taken = sqlx::query(
        "UPDATE reconciliation SET lease_owner = $1, lease_until = $2, updated_at = $3 \
         WHERE name = 'stripe_events' AND (lease_until IS NULL OR lease_until < $3 OR lease_owner = $1)",
    )
    .bind(owner)
    .bind(until_ms)
    .bind(now)
    .execute(&db.writes)
    .await?;
    if taken.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query_as("SELECT created_gte, resume_after, pass_started_at FROM reconciliation WHERE name = 'stripe_events'")
        .fetch_optional(&db.pool)
        .await
}

/// When reconciliation last finished or gave up a pass (Unix ms), if it ever ran.
pub async fn last_reconciliation(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    let at: Option<(i64,)> = sqlx::query_as(
        "SELECT updated_at FROM reconciliation WHERE name = 'stripe_events' AND pass_started_at IS NOT NULL",
    )
    .fetch_optional(&db.pool)
    .await?;
    Ok(at.map(|(at,)| at))
}

/// Records where the pass got to and gives the lease back.
pub async fn release_reconciliation(db: &Db, owner: &str, state: &Reconciliation) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reconciliation SET created_gte = $1, resume_after = $2, pass_started_at = $3, lease_owner = NULL, \
         lease_until = NULL, updated_at = $4 WHERE name = 'stripe_events' AND lease_owner = $5",
    )
    .bind(state.created_gte)
    .bind(&state.resume_after)
    .bind(state.pass_started_at)
    .bind(now_ms())
    .bind(owner)
    .execute(&db.writes)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_payment_rule_is_the_one_the_unique_index_states() {
        let closed = states_where(PaymentStatus::is_closed);
        for migration in [
            include_str!("../../../migrations/sqlite/0001_initial.sql"),
            include_str!("../../../migrations/postgres/0001_initial.sql"),
        ] {
            assert!(migration.contains(&format!("WHERE status NOT IN ({closed})")), "the index says otherwise");
        }
        assert_eq!(states_where(PaymentStatus::is_payable), "'open', 'failed'");
    }
}

// --- refunds -------------------------------------------------------------------------------------

/// A refund Remit asked Stripe for.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    /// The caller's Idempotency-Key (with its API key), when the request had one.
    pub request_key: Option<String>,
    pub stripe_refund_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub note: Option<String>,
    /// `pending`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The brand whose credit notes it is numbered among, and its number there, once the refund
    /// has succeeded.
    pub credit_note_brand: Option<String>,
    pub credit_note_number: Option<i64>,
    /// The credit note's download token.
    pub credit_note_token: Option<String>,
    /// When Remit learned the refund succeeded and numbered its credit note.
    pub credit_note_issued_at: Option<i64>,
}

impl Refund {
    /// Its credit note was issued, then the bank returned the refund (or it was canceled).
    pub fn is_void(&self) -> bool {
        self.credit_note_number.is_some() && matches!(self.status.as_str(), "failed" | "canceled")
    }

    /// Its credit note's number as printed: `ACME-CN-000001`.
    pub fn credit_note(&self) -> Option<String> {
        let (brand, number) = (self.credit_note_brand.as_ref()?, self.credit_note_number?);
        Some(format!("{}-CN-{number:06}", brand.to_uppercase()))
    }

    /// "25.00 USD".
    pub fn amount_display(&self) -> String {
        match Currency::parse(&self.currency) {
            Ok(currency) => format!("{} {currency}", currency.format_major(self.amount_minor)),
            Err(_) => format!("{} {}", self.amount_minor, self.currency.to_uppercase()),
        }
    }
}

/// What a refund is recorded with; its credit note columns are set by [`issue_credit_notes`].
const REFUND_COLUMNS: &str = "id, payment_id, request_key, stripe_refund_id, amount_minor, currency, reason, note, \
    status, created_at, updated_at";
const REFUND_SELECT: &str = "id, payment_id, request_key, stripe_refund_id, amount_minor, currency, reason, note, \
    status, created_at, updated_at, credit_note_brand, credit_note_number, credit_note_token, credit_note_issued_at";

/// The payment's refunds, oldest first.
pub async fn refunds_of(db: &Db, payment_id: &str) -> Result<Vec<Refund>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {REFUND_SELECT} FROM refunds WHERE payment_id = $1 ORDER BY created_at, id"))
        .bind(payment_id)
        .fetch_all(&db.pool)
        .await
}

/// The refund an earlier request with this key made, if any.
pub async fn refund_for_request(db: &Db, payment_id: &str, request_key: &str) -> Result<Option<Refund>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {REFUND_SELECT} FROM refunds WHERE payment_id = $1 AND request_key = $2"))
        .bind(payment_id)
        .bind(request_key)
        .fetch_optional(&db.pool)
        .await
}

/// Records a refund about to be asked of Stripe; false when a request with its key got there first.
pub async fn insert_refund(db: &Db, refund: &Refund) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(&format!(
        "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (payment_id, request_key) WHERE request_key IS NOT NULL DO NOTHING"
    ))
    .bind(&refund.id)
    .bind(&refund.payment_id)
    .bind(&refund.request_key)
    .bind(&refund.stripe_refund_id)
    .bind(refund.amount_minor)
    .bind(&refund.currency)
    .bind(&refund.reason)
    .bind(&refund.note)
    .bind(&refund.status)
    .bind(refund.created_at)
    .bind(refund.updated_at)
    .execute(&db.writes)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A refund's status only moves on: pending → succeeded → failed or canceled, whatever order
/// Stripe's answers and events arrive in.
fn later_refund_status(new: &str, current: &str) -> String {
    let rank = |s: &str| format!("CASE {s} WHEN 'pending' THEN 0 WHEN 'succeeded' THEN 1 ELSE 2 END");
    format!("CASE WHEN {} > {} THEN {new} ELSE {current} END", rank(new), rank(current))
}

/// What Stripe answered for a refund.
pub async fn set_refund_outcome(
    db: &Db,
    id: &str,
    stripe_refund_id: Option<&str>,
    status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE refunds SET stripe_refund_id = COALESCE($1, stripe_refund_id), status = {}, updated_at = $3 WHERE id = $4",
        later_refund_status("$2", "status")
    ))
    .bind(stripe_refund_id)
    .bind(status)
    .bind(now_ms())
    .bind(id)
    .execute(&db.writes)
    .await?;
    Ok(())
}

/// A refund's own event: Remit's refund (by the id in its metadata) takes its status; one made in
/// Stripe's Dashboard is recorded the first time an event shows it.
pub async fn record_refund_seen(
    conn: &mut AnyConnection,
    payment_id: &str,
    seen: &super::events::RefundSeen,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    if let Some(id) = &seen.remit_refund_id {
        sqlx::query(&format!(
            "UPDATE refunds SET stripe_refund_id = COALESCE(stripe_refund_id, $1), status = {}, updated_at = $3 \
             WHERE id = $4 AND payment_id = $5",
            later_refund_status("$2", "status")
        ))
        .bind(&seen.stripe_refund_id)
        .bind(&seen.status)
        .bind(now)
        .bind(id)
        .bind(payment_id)
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    sqlx::query(&format!(
        "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ($1, $2, NULL, $3, $4, $5, $6, NULL, $7, $8, $8) \
         ON CONFLICT (stripe_refund_id) WHERE stripe_refund_id IS NOT NULL \
         DO UPDATE SET status = {}, updated_at = $8",
        later_refund_status("excluded.status", "refunds.status")
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(payment_id)
    .bind(&seen.stripe_refund_id)
    .bind(seen.amount_minor)
    .bind(&seen.currency)
    .bind(&seen.reason)
    .bind(&seen.status)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Gives each succeeded refund of the payment that has no credit note the next number of the
/// brand's credit notes and a download token; the ids of the refunds numbered now, whose notes are
/// to be sent. Two at once on PostgreSQL may race for a number: the unique index refuses the
/// second, whose transaction (an event batch) then runs again.
pub async fn issue_credit_notes(
    conn: &mut AnyConnection,
    payment_id: &str,
    brand: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let unnumbered: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM refunds WHERE payment_id = $1 AND status = 'succeeded' AND credit_note_number IS NULL \
         ORDER BY created_at, id",
    )
    .bind(payment_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut issued = Vec::with_capacity(unnumbered.len());
    for (id,) in unnumbered {
        let numbered = sqlx::query(
            "UPDATE refunds SET credit_note_brand = $1, credit_note_token = $2, credit_note_issued_at = $3, \
             credit_note_number = (SELECT COALESCE(MAX(credit_note_number), 0) + 1 FROM refunds WHERE credit_note_brand = $1) \
             WHERE id = $4 AND credit_note_number IS NULL",
        )
        .bind(brand)
        .bind(new_token())
        .bind(now_ms())
        .bind(&id)
        .execute(&mut *conn)
        .await?;
        if numbered.rows_affected() == 1 {
            issued.push(id);
        }
    }
    Ok(issued)
}

pub async fn refund_by_id(db: &Db, id: &str) -> Result<Option<Refund>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {REFUND_SELECT} FROM refunds WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await
}

pub async fn refund_by_credit_note_token(db: &Db, token: &str) -> Result<Option<Refund>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {REFUND_SELECT} FROM refunds WHERE credit_note_token = $1"))
        .bind(token)
        .fetch_optional(&db.pool)
        .await
}

/// Every credit note of the payments made with `email` (any case), oldest first.
pub async fn credit_notes_of_payer(db: &Db, email: &str) -> Result<Vec<Refund>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {REFUND_SELECT} FROM refunds WHERE credit_note_number IS NOT NULL \
         AND payment_id IN (SELECT id FROM payments WHERE LOWER(payer_email) = LOWER($1)) ORDER BY created_at, id"
    ))
    .bind(email)
    .fetch_all(&db.pool)
    .await
}
