use serde::{Deserialize, Serialize};

use super::Context;
use crate::{db::now_ms, mail, outbox::JobError};

/// Remind the payer of an unpaid link: step `step` of the payment's schedule.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmailReminder {
    pub payment_id: String,
    pub step: i64,
}

#[async_trait::async_trait]
impl crate::outbox::Job for EmailReminder {
    const KIND: &'static str = "email_reminder";
    const CLASS: &'static str = "mail";
    const BATCH_SIZE: usize = 32;
    type Context = Context;

    fn dedupe_key(&self) -> String {
        format!("{}:{}", self.payment_id, self.step)
    }

    /// Sends the reminder unless, since it fell due, the payment was paid (or started paying),
    /// closed, expired, or the payer stopped reminders.
    async fn run(&self, context: &Context) -> Result<(), JobError> {
        let payments = &context.payments;
        let payment = context.payment(&self.payment_id).await?;
        let step = usize::try_from(self.step).ok().and_then(|step| payments.reminder_step(&payment, step));
        let wanted = payment.status().is_payable()
            && !payment.link_expired(now_ms())
            && matches!(payment.reminders.as_str(), "on" | "done");
        let Some(step) = step.filter(|_| wanted) else {
            tracing::info!(payment = %payment.id, step = self.step, "reminder skipped: nothing to remind of");
            return Ok(());
        };
        context.mailer.send(mail::reminder(payments, &payment, self.step, step)?).await?;
        tracing::info!(payment = %payment.id, step = self.step, "payment reminder emailed");
        Ok(())
    }
}
