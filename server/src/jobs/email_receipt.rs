use serde::{Deserialize, Serialize};

use super::Context;
use crate::{mail, outbox::JobError};

/// Email the payer their receipt, the PDF attached.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmailReceipt {
    pub payment_id: String,
}

#[async_trait::async_trait]
impl crate::outbox::Job for EmailReceipt {
    const KIND: &'static str = "email_receipt";
    const CLASS: &'static str = "receipts";
    /// Claimed and finished receipts at a time (each sent on its own): on SQLite every claim
    /// and every finish is a commit, and commits, not rendering, were what a burst waited for.
    const BATCH_SIZE: usize = 32;
    type Context = Context;

    fn dedupe_key(&self) -> String {
        self.payment_id.clone()
    }

    /// Sends the receipt of a paid payment, once (the outbox runs each job to completion once).
    async fn run(&self, context: &Context) -> Result<(), JobError> {
        let payment = context.payment(&self.payment_id).await?;
        let Some(url) = context.payments.receipt_url(&payment) else {
            return Err(JobError::permanent(format!("payment {} has no receipt", payment.id)));
        };
        let pdf = context.payments.receipt(&payment).await?;
        context.mailer.send(mail::receipt(&context.payments, &payment, url, pdf)?).await?;
        tracing::info!(payment = %payment.id, "receipt emailed");
        Ok(())
    }
}
