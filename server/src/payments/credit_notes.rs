//! Credit notes: one for each refund that succeeded, numbered per brand (`ACME-CN-000001`) in the
//! transaction that first saw it succeed (`store::issue_credit_notes`), emailed once, and
//! downloaded by a token of its own or from the payer's account.

use super::{
    Payment, Payments, Refund,
    receipt_content::{ReceiptAnswer, ReceiptError, ReceiptPdf},
    store,
};
use crate::receipts::{self, CreditNote};

/// A refund's credit note with the payment it credits.
pub struct IssuedCreditNote {
    pub payment: Payment,
    pub refund: Refund,
    /// As printed: `ACME-CN-000001`.
    pub number: String,
}

impl IssuedCreditNote {
    /// What the note says that can change (only that the bank returned the refund), as its ETag.
    fn etag(&self) -> String {
        format!("\"{}{}\"", self.number, if self.refund.is_void() { "-void" } else { "" })
    }
}

impl Payments {
    /// The credit note of a refund, if it has one.
    pub async fn credit_note(&self, refund_id: &str) -> Result<Option<IssuedCreditNote>, sqlx::Error> {
        let refund = store::refund_by_id(&self.db, refund_id).await?;
        self.with_payment(refund).await
    }

    /// The credit note behind a download token.
    pub async fn credit_note_by_token(
        &self,
        token: &str,
        if_none_match: Option<&str>,
    ) -> Result<Option<ReceiptAnswer>, ReceiptError> {
        let refund = store::refund_by_credit_note_token(&self.db, token).await?;
        let note = self.with_payment(refund).await?;
        self.credit_note_answer(note, if_none_match)
    }

    /// A signed-in payer's own credit note; `None` for anyone else's.
    pub async fn credit_note_of_payer(
        &self,
        refund_id: &str,
        email: &str,
        if_none_match: Option<&str>,
    ) -> Result<Option<ReceiptAnswer>, ReceiptError> {
        let note = self.credit_note(refund_id).await?.filter(|n| n.payment.payer_email.eq_ignore_ascii_case(email));
        self.credit_note_answer(note, if_none_match)
    }

    /// Every credit note of the payments made with `email`, oldest first.
    pub async fn credit_notes_of_payer(&self, email: &str) -> Result<Vec<Refund>, sqlx::Error> {
        store::credit_notes_of_payer(&self.db, email).await
    }

    async fn with_payment(&self, refund: Option<Refund>) -> Result<Option<IssuedCreditNote>, sqlx::Error> {
        let Some((refund, number)) = refund.and_then(|r| r.credit_note().map(|number| (r, number))) else {
            return Ok(None);
        };
        let Some(payment) = store::by_id(&self.db, &refund.payment_id).await? else { return Ok(None) };
        Ok(Some(IssuedCreditNote { payment, refund, number }))
    }

    fn credit_note_answer(
        &self,
        note: Option<IssuedCreditNote>,
        if_none_match: Option<&str>,
    ) -> Result<Option<ReceiptAnswer>, ReceiptError> {
        let Some(note) = note else { return Ok(None) };
        let etag = note.etag();
        if if_none_match == Some(etag.as_str()) {
            return Ok(Some(ReceiptAnswer::Unchanged { etag }));
        }
        Ok(Some(ReceiptAnswer::Pdf(self.render_credit_note(&note)?)))
    }

    /// Where a credit note is downloaded, once the refund has one.
    pub fn credit_note_url(&self, refund: &Refund) -> Option<String> {
        let token = refund.credit_note_token.as_ref()?;
        Some(self.public_url.join(&format!("/credit-notes/{token}.pdf")))
    }

    pub fn render_credit_note(&self, note: &IssuedCreditNote) -> Result<ReceiptPdf, ReceiptError> {
        let payment = &note.payment;
        let description = self.display_name(payment);
        let paid = payment.collected_currency();
        let document = CreditNote {
            brand: self.brand_of(payment),
            number: note.number.clone(),
            payer_name: payment.payer_name.as_deref(),
            payer_email: &payment.payer_email,
            issued_on: note.refund.credit_note_issued_at.and_then(store::time_of),
            receipt_number: self.receipt_number(payment),
            description: &description,
            amount_paid: format!("{} {paid}", paid.format_major(payment.collected_minor())),
            amount_credited: note.refund.amount_display(),
            reason: note.refund.reason.as_deref().and_then(receipts::reason_in_words),
            reference: note.refund.stripe_refund_id.as_deref(),
            void: note.refund.is_void(),
        };
        let bytes = receipts::render_credit_note(&document).map_err(ReceiptError::Render)?;
        Ok(ReceiptPdf { filename: format!("credit-note-{}.pdf", note.number), etag: note.etag(), bytes })
    }
}
