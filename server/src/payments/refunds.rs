//! Refunds Salesforce asks for (DESIGN §3, 7): checked against what is left to refund, recorded,
//! then created in Stripe with an Idempotency-Key derived from Remit's refund id. The refund's
//! own events (`charge.refunded`) move the payment, as a Dashboard refund's do.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Currency, Payment, PaymentStatus, Payments, ValidationError, store};
use crate::{
    db::now_ms,
    stripe::{Form, StripeError},
};

pub use store::Refund;

/// The JSON body of `POST /api/v1/payments/{id}/refunds`, before any check.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRefundRequest {
    /// Major units as a JSON number or string, read from its exact text.
    pub amount: Option<Box<RawValue>>,
    pub amount_minor: Option<i64>,
    pub reason: Option<String>,
    pub note: Option<String>,
}

/// A refund request that passed its checks; `None` amount: all that is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub amount_minor: Option<i64>,
    pub reason: Option<String>,
    pub note: Option<String>,
}

/// Stripe's refund reasons.
pub const REASONS: &[&str] = &["duplicate", "fraudulent", "requested_by_customer"];

fn invalid(field: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError { field, message: message.into() }
}

impl RawRefundRequest {
    /// Checks the request against the payment's currency (its scale, Stripe's rules).
    pub fn validate(self, currency: &Currency) -> Result<RefundRequest, ValidationError> {
        let amount_minor = match (self.amount, self.amount_minor) {
            (Some(_), Some(_)) => return Err(invalid("amount", "give amount or amount_minor, not both")),
            (Some(raw), None) => {
                let text = raw.get();
                let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
                Some(currency.parse_major(text).map_err(|e| invalid("amount", e.to_string()))?)
            }
            (None, Some(minor)) if minor <= 0 => return Err(invalid("amount_minor", "must be positive")),
            (None, minor) => minor,
        };
        if let Some(reason) = &self.reason
            && !REASONS.contains(&reason.as_str())
        {
            return Err(invalid("reason", format!("{reason:?} is not one of {}", REASONS.join(", "))));
        }
        let note = self.note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
            return Err(invalid("note", "must be at most 500 characters"));
        }
        Ok(RefundRequest { amount_minor, reason: self.reason, note })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no such payment")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("the payment is {0}: nothing to refund")]
    NotRefundable(PaymentStatus),
    /// Collected by a Stripe invoice (an invoice link, a subscription's): Remit knows no payment
    /// intent to refund.
    #[error("the payment was collected by a Stripe invoice")]
    CollectedByInvoice,
    #[error("everything paid has been refunded")]
    NothingLeft,
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What is left to refund of what was collected, given what was refunded.
pub fn refundable(payment: &Payment, refunded_minor: i64) -> i64 {
    (payment.collected_minor() - refunded_minor).max(0)
}

impl Payments {
    /// Refunds (part of) a paid payment. A request repeated with the same `request_key` (the
    /// caller's Idempotency-Key) finds its refund, and a retry after an unknown answer asks Stripe
    /// with the same Idempotency-Key: one refund however often it is asked.
    pub async fn refund(
        &self,
        payment_id: &str,
        raw: RawRefundRequest,
        request_key: Option<&str>,
    ) -> Result<Refund, RefundError> {
        let payment = store::by_id(&self.db, payment_id).await?.ok_or(RefundError::NotFound)?;
        if let Some(key) = request_key
            && let Some(earlier) = store::refund_for_request(&self.db, payment_id, key).await?
        {
            return self.ask_stripe(&payment, earlier).await;
        }
        let request = raw.validate(&payment.collected_currency())?;
        let status = payment.status();
        if !matches!(status, PaymentStatus::Paid | PaymentStatus::PartiallyRefunded) {
            return Err(RefundError::NotRefundable(status));
        }
        if payment.stripe_payment_intent_id.is_none() {
            return Err(RefundError::CollectedByInvoice);
        }
        let recorded: i64 = store::refunds_of(&self.db, payment_id)
            .await?
            .iter()
            .filter(|r| matches!(r.status.as_str(), "pending" | "succeeded"))
            .map(|r| r.amount_minor)
            .sum();
        let left = refundable(&payment, payment.refunded_minor.max(recorded));
        if left == 0 {
            return Err(RefundError::NothingLeft);
        }
        let amount = request.amount_minor.unwrap_or(left);
        if amount > left {
            let currency = payment.collected_currency();
            return Err(invalid(
                "amount",
                format!("is more than the {} {currency} left to refund", currency.format_major(left)),
            )
            .into());
        }
        let now = now_ms();
        let refund = Refund {
            id: uuid::Uuid::new_v4().to_string(),
            payment_id: payment.id.clone(),
            request_key: request_key.map(str::to_owned),
            stripe_refund_id: None,
            amount_minor: amount,
            currency: payment.collected_currency().code().to_owned(),
            reason: request.reason,
            note: request.note,
            status: "pending".into(),
            created_at: now,
            updated_at: now,
            credit_note_brand: None,
            credit_note_number: None,
            credit_note_token: None,
            credit_note_issued_at: None,
        };
        if !store::insert_refund(&self.db, &refund).await? {
            // A request with the same key got there first: it is the one refund.
            let key = request_key.unwrap_or_default();
            let earlier = store::refund_for_request(&self.db, payment_id, key).await?.ok_or(RefundError::NotFound)?;
            return self.ask_stripe(&payment, earlier).await;
        }
        self.ask_stripe(&payment, refund).await
    }

    /// Creates the refund in Stripe unless it has been already; Stripe answers a repeat of the
    /// same Idempotency-Key with the refund it made.
    async fn ask_stripe(&self, payment: &Payment, mut refund: Refund) -> Result<Refund, RefundError> {
        if refund.stripe_refund_id.is_some() || refund.status == "failed" {
            return Ok(refund);
        }
        let intent = payment.stripe_payment_intent_id.as_deref().ok_or(RefundError::NotRefundable(payment.status()))?;
        let mut form = Form::new()
            .set("payment_intent", intent)
            .set("amount", refund.amount_minor)
            .set("metadata[remit_payment_id]", &payment.id)
            .set("metadata[remit_refund_id]", &refund.id);
        if let Some(reason) = &refund.reason {
            form = form.set("reason", reason);
        }
        match self.stripe.create_refund(&form, &format!("remit-refund-{}", refund.id)).await {
            Ok(made) => {
                let status = if made.status == "requires_action" { "pending" } else { made.status.as_str() };
                store::set_refund_outcome(&self.db, &refund.id, Some(&made.id), status).await?;
                refund.stripe_refund_id = Some(made.id);
                refund.status = status.to_owned();
                Ok(refund)
            }
            Err(error @ StripeError::InvalidRequest { .. }) => {
                store::set_refund_outcome(&self.db, &refund.id, None, "failed").await?;
                Err(error.into())
            }
            // Stripe's answer is unknown: the refund stays pending and a retry asks again, alike.
            Err(error) => Err(error.into()),
        }
    }

    pub async fn refunds(&self, payment_id: &str) -> Result<Option<Vec<Refund>>, sqlx::Error> {
        if store::by_id(&self.db, payment_id).await?.is_none() {
            return Ok(None);
        }
        store::refunds_of(&self.db, payment_id).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str, currency: &str) -> Result<RefundRequest, ValidationError> {
        serde_json::from_str::<RawRefundRequest>(json).unwrap().validate(&Currency::parse(currency).unwrap())
    }

    #[test]
    fn amounts_follow_the_currencys_scale_and_reasons_stripes_list() {
        assert_eq!(parse(r#"{"amount":"12.50"}"#, "usd").unwrap().amount_minor, Some(1250));
        assert_eq!(parse(r#"{"amount":500}"#, "jpy").unwrap().amount_minor, Some(500));
        assert_eq!(parse(r#"{"amount":"1.230"}"#, "kwd").unwrap().amount_minor, Some(1230));
        assert_eq!(parse("{}", "usd").unwrap().amount_minor, None, "all that is left");
        assert_eq!(parse(r#"{"amount":"1.5"}"#, "jpy").unwrap_err().field, "amount");
        assert_eq!(parse(r#"{"amount":"1.001"}"#, "usd").unwrap_err().field, "amount");
        assert_eq!(parse(r#"{"amount_minor":0}"#, "usd").unwrap_err().field, "amount_minor");
        assert_eq!(parse(r#"{"amount":"1","amount_minor":100}"#, "usd").unwrap_err().field, "amount");
        assert_eq!(parse(r#"{"reason":"changed_mind"}"#, "usd").unwrap_err().field, "reason");
        assert!(parse(r#"{"reason":"requested_by_customer","note":"asked by phone"}"#, "usd").is_ok());
    }
}
