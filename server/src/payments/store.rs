//! Payments in the database. Every query runs on SQLite and PostgreSQL alike.

use rand::Rng;

use super::{Currency, PaymentStatus};
use crate::db::{Db, now_ms};

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
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str = "id, opportunity_id, account_id, contact_id, brand, record_type, description, \
    payer_email, payer_name, amount_minor, currency, status, pay_token, receipt_token, receipt_number, stripe_customer_id, \
    stripe_checkout_session_id, stripe_payment_intent_id, failure_reason, failed_attempts, paid_at, created_at, updated_at";

impl Payment {
    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Open)
    }

    pub fn currency(&self) -> Currency {
        Currency::parse(&self.currency).expect("stored currencies were validated")
    }

    pub fn paid_at(&self) -> Option<time::OffsetDateTime> {
        self.paid_at.and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
    }

    /// The amount as people read it: "12.50 USD".
    pub fn amount_display(&self) -> String {
        let currency = self.currency();
        format!("{} {currency}", currency.format_major(self.amount_minor))
    }
}

/// 128 bits of randomness, URL-safe: the token of a pay link.
pub(super) fn new_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1")).bind(id).fetch_optional(&db.pool).await
}

pub async fn by_pay_token(db: &Db, token: &str) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE pay_token = $1"))
        .bind(token)
        .fetch_optional(&db.pool)
        .await
}

/// Every payment for an Opportunity, newest first.
pub async fn by_opportunity(db: &Db, opportunity_id: &str) -> Result<Vec<Payment>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE opportunity_id = $1 ORDER BY created_at DESC, id"))
        .bind(opportunity_id)
        .fetch_all(&db.pool)
        .await
}

pub async fn record_checkout_session(db: &Db, payment_id: &str, session_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET stripe_checkout_session_id = $1, updated_at = $2 WHERE id = $3")
        .bind(session_id)
        .bind(now_ms())
        .bind(payment_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}
