use serde::{Deserialize, Serialize};

use super::Context;
use crate::{mail, outbox::JobError};

/// Email the payer the credit note of a succeeded refund, the PDF attached.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmailCreditNote {
    pub refund_id: String,
}

#[async_trait::async_trait]
impl crate::outbox::Job for EmailCreditNote {
    const KIND: &'static str = "email_credit_note";
    /// Rendered and sent by the receipts' workers: the same kind of work, never in a sync's way.
    const CLASS: &'static str = "receipts";
    type Context = Context;

    fn dedupe_key(&self) -> String {
        self.refund_id.clone()
    }

    /// Sends the credit note once (the outbox runs each job to completion once; the note was
    /// numbered, and this job enqueued, in the transaction that first saw the refund succeed).
    async fn run(&self, context: &Context) -> Result<(), JobError> {
        let Some(note) = context.payments.credit_note(&self.refund_id).await? else {
            return Err(JobError::permanent(format!("refund {} has no credit note", self.refund_id)));
        };
        let pdf = context.payments.render_credit_note(&note)?;
        context.mailer.send(mail::credit_note(&context.payments, &note, pdf)?).await?;
        tracing::info!(payment = %note.payment.id, refund = %self.refund_id, number = %note.number, "credit note emailed");
        Ok(())
    }
}
