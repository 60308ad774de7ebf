//! A paid payment's receipt: what it says, gathered from the payment, its events and Stripe.

use super::{Payment, Payments, Refund, store};
use crate::{
    receipts::{self, Receipt, RefundLine},
    stripe::StripeError,
};

/// A rendered receipt, ready to send.
pub struct ReceiptPdf {
    pub filename: String,
    pub bytes: Vec<u8>,
    /// Changes when anything on the receipt could have changed.
    pub etag: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("cannot render the receipt: {0}")]
    Render(String),
}

/// What a download gets: the PDF, or word that the copy it has is current.
pub enum ReceiptAnswer {
    Pdf(ReceiptPdf),
    /// The client's `If-None-Match` names the current version: nothing rendered, nothing asked of Stripe.
    Unchanged {
        etag: String,
    },
}

/// What the receipt says that can change, as its ETag: the payment, and each credit note (a
/// refund returned by the bank voids its note).
fn etag(number: &str, payment: &Payment, refunded_minor: i64, credited: &[Refund]) -> String {
    let notes: String = credited
        .iter()
        .map(|r| format!(".{}{}", r.credit_note_number.unwrap_or(0), if r.is_void() { "v" } else { "" }))
        .collect();
    format!("\"{number}-{}-{refunded_minor}{notes}\"", payment.updated_at)
}

/// Whether the receipt needs a "Refunded in all" line beside its refund lines: not when one line
/// says it all, nor when nothing is refunded (every refund returned).
fn needs_refunded_in_all(credited: &[Refund], refunded_minor: i64) -> bool {
    let standing: Vec<&Refund> = credited.iter().filter(|r| !r.is_void()).collect();
    match standing[..] {
        [] => refunded_minor > 0,
        [one] => one.amount_minor != refunded_minor,
        _ => true,
    }
}

/// What the receipt is made of beside the payment: what was refunded, and which of its refunds
/// have credit notes.
struct Refunded {
    minor: i64,
    credited: Vec<Refund>,
}

impl Payments {
    /// The receipt behind a receipt token: only for payments that were paid (refunded and
    /// disputed ones included); `None` for anything else.
    pub async fn receipt_by_token(
        &self,
        token: &str,
        if_none_match: Option<&str>,
    ) -> Result<Option<ReceiptAnswer>, ReceiptError> {
        let payment = store::by_receipt_token(&self.db, token).await?;
        self.receipt_answer(payment, if_none_match).await
    }

    /// The receipt of one of a signed-in payer's own paid payments; `None` for anyone else's.
    pub async fn receipt_of_payer(
        &self,
        payment_id: &str,
        email: &str,
        if_none_match: Option<&str>,
    ) -> Result<Option<ReceiptAnswer>, ReceiptError> {
        let payment = store::of_payer(&self.db, payment_id, email).await?;
        self.receipt_answer(payment, if_none_match).await
    }

    /// A conditional request is answered from the database alone, before any rendering.
    async fn receipt_answer(
        &self,
        payment: Option<Payment>,
        if_none_match: Option<&str>,
    ) -> Result<Option<ReceiptAnswer>, ReceiptError> {
        let Some(payment) = payment.filter(|p| p.status().is_settled()) else { return Ok(None) };
        let refunded = self.refunded(&payment).await?;
        let etag = etag(&self.receipt_number(&payment), &payment, refunded.minor, &refunded.credited);
        if if_none_match == Some(etag.as_str()) {
            return Ok(Some(ReceiptAnswer::Unchanged { etag }));
        }
        Ok(Some(ReceiptAnswer::Pdf(self.render_receipt(&payment, &refunded).await?)))
    }

    async fn refunded(&self, payment: &Payment) -> Result<Refunded, sqlx::Error> {
        let minor = self.derived(payment).await?.refunded_minor;
        let mut credited = store::refunds_of(&self.db, &payment.id).await?;
        credited.retain(|r| r.credit_note_number.is_some());
        Ok(Refunded { minor, credited })
    }

    /// The receipt's number as printed, once the payment has a receipt.
    pub fn receipt_number_of(&self, payment: &Payment) -> Option<String> {
        payment.receipt_number.map(|_| self.receipt_number(payment))
    }

    /// `ACME-000042`.
    pub(super) fn receipt_number(&self, payment: &Payment) -> String {
        format!("{}-{:06}", self.brand_of(payment).key.to_uppercase(), payment.receipt_number.unwrap_or(0))
    }

    pub async fn receipt(&self, payment: &Payment) -> Result<ReceiptPdf, ReceiptError> {
        let refunded = self.refunded(payment).await?;
        self.render_receipt(payment, &refunded).await
    }

    async fn render_receipt(&self, payment: &Payment, refunded: &Refunded) -> Result<ReceiptPdf, ReceiptError> {
        let number = self.receipt_number(payment);
        let collected = payment.collected_currency();
        let description = self.display_name(payment);
        let method = match self.receipt_methods.get(&payment.id) {
            Some(method) => method,
            None => match self.payment_method(payment).await {
                Ok(method) => {
                    self.receipt_methods.insert(&payment.id, method.clone());
                    method
                }
                Err(error) => {
                    // The receipt is still worth having without the method line; asking again
                    // helps only when the failure may pass.
                    if !error.is_retryable() {
                        self.receipt_methods.insert(&payment.id, None);
                    }
                    tracing::warn!(%error, payment = %payment.id, "receipt: cannot read the payment method from Stripe");
                    None
                }
            },
        };
        let receipt = Receipt {
            brand: self.brand_of(payment),
            number: number.clone(),
            payer_name: payment.payer_name.as_deref(),
            payer_email: &payment.payer_email,
            paid_on: payment.paid_at(),
            description: &description,
            amount: payment.amount_display(),
            method,
            refunds: refunded
                .credited
                .iter()
                .map(|refund| RefundLine {
                    on: refund.credit_note_issued_at.and_then(super::store::time_of),
                    amount: refund.amount_display(),
                    credit_note: refund.credit_note().unwrap_or_default(),
                    void: refund.is_void(),
                })
                .collect(),
            // Refunds are in what was collected, which may differ from what the link asked.
            refunded_in_all: needs_refunded_in_all(&refunded.credited, refunded.minor)
                .then(|| format!("{} {collected}", collected.format_major(refunded.minor))),
            reference: payment.stripe_payment_intent_id.as_deref(),
        };
        let bytes = receipts::render(&receipt).map_err(ReceiptError::Render)?;
        Ok(ReceiptPdf {
            filename: format!("receipt-{number}.pdf"),
            etag: etag(&number, payment, refunded.minor, &refunded.credited),
            bytes,
        })
    }

    /// "Visa •••• 4242", from the charge Stripe made.
    async fn payment_method(&self, payment: &Payment) -> Result<Option<String>, StripeError> {
        let Some(intent) = &payment.stripe_payment_intent_id else { return Ok(None) };
        let intent = self.stripe.retrieve_payment_intent(intent).await?;
        let Some(charge) = intent.latest_charge else { return Ok(None) };
        let details = self.stripe.retrieve_charge(&charge).await?.payment_method_details.unwrap_or_default();
        let last4 = |kind: &str| details[kind]["last4"].as_str().map(str::to_owned);
        Ok(match details["type"].as_str() {
            Some("card") => last4("card").map(|digits| {
                let brand = match details["card"]["brand"].as_str().unwrap_or("card") {
                    "amex" => "American Express".to_owned(),
                    "mastercard" => "Mastercard".to_owned(),
                    other => capitalize(other),
                };
                format!("{brand} •••• {digits}")
            }),
            Some("us_bank_account") => last4("us_bank_account").map(|digits| {
                let bank = details["us_bank_account"]["bank_name"].as_str().unwrap_or("Bank account");
                format!("{bank} •••• {digits}")
            }),
            Some(other) => Some(capitalize(&other.replace('_', " "))),
            None => None,
        })
    }
}

/// How each paid payment was paid, as its receipt says it: a charge's method never changes, so
/// Stripe is asked once per payment and process, not once per download. Bounded: past its
/// capacity it forgets what it knew.
#[derive(Clone, Default)]
pub struct ReceiptMethods(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Option<String>>>>);

const METHODS_KEPT: usize = 10_000;

impl ReceiptMethods {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Option<String>>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, payment_id: &str) -> Option<Option<String>> {
        self.lock().get(payment_id).cloned()
    }

    fn insert(&self, payment_id: &str, method: Option<String>) {
        let mut methods = self.lock();
        if methods.len() >= METHODS_KEPT {
            methods.clear();
        }
        methods.insert(payment_id.to_owned(), method);
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
