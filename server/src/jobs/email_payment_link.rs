use serde::{Deserialize, Serialize};

use super::Context;
use crate::{mail, outbox::JobError};

/// Email the payer the payment's stable pay link.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmailPaymentLink {
    pub payment_id: String,
}

#[async_trait::async_trait]
impl crate::outbox::Job for EmailPaymentLink {
    const KIND: &'static str = "email_payment_link";
    const CLASS: &'static str = "mail";
    /// Claimed and finished link emails at a time (each sent on its own): on SQLite every claim
    /// and every finish is a commit, and commits, not rendering, were what a burst waited for.
    const BATCH_SIZE: usize = 32;
    type Context = Context;

    fn dedupe_key(&self) -> String {
        self.payment_id.clone()
    }

    /// Sends the pay link as the payment stands now; a payment paid or canceled meanwhile needs no email.
    async fn run(&self, context: &Context) -> Result<(), JobError> {
        let payment = context.payment(&self.payment_id).await?;
        if !payment.status().is_payable() {
            tracing::info!(payment = %payment.id, status = %payment.status(), "payment link email skipped: nothing to pay");
            return Ok(());
        }
        context.mailer.send(mail::payment_link(&context.payments, &payment)?).await?;
        context.payments.link_emailed(&payment).await?;
        tracing::info!(payment = %payment.id, "payment link emailed");
        Ok(())
    }
}
