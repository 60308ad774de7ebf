//! What each outbox job does.

use crate::{
    mail::{self, MailError, Mailer},
    outbox::{Job, JobError, JobHandler},
    payments::{ApplyError, Payment, Payments},
    sync::{SalesforceSync, SyncError},
};

pub struct Jobs {
    pub payments: Payments,
    pub mailer: Mailer,
    pub sync: SalesforceSync,
}

#[async_trait::async_trait]
impl JobHandler for Jobs {
    fn kinds(&self) -> &'static [&'static str] {
        &["email_payment_link", "apply_stripe_event", "sync_payment", "email_receipt"]
    }

    /// Salesforce syncs go out together when many wait: two collection calls for up to 100
    /// payments (Opportunity and Account updates share one call's 200 records).
    fn batch_size(&self, kind: &str) -> usize {
        if kind == "sync_payment" { 100 } else { 1 }
    }

    async fn run_batch(&self, jobs: &[&Job]) -> Vec<Result<(), JobError>> {
        let ids: Vec<&str> = jobs
            .iter()
            .filter_map(|job| match job {
                Job::SyncPayment { payment_id } => Some(payment_id.as_str()),
                _ => None,
            })
            .collect();
        if ids.len() != jobs.len() {
            let mut outcomes = Vec::new();
            for job in jobs {
                outcomes.push(self.run(job).await);
            }
            return outcomes;
        }
        self.sync.sync_many(&ids).await.into_iter().map(|outcome| outcome.map_err(sync_error)).collect()
    }

    async fn run(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::EmailPaymentLink { payment_id } => self.email_payment_link(payment_id).await,
            Job::ApplyStripeEvent { event_id } => {
                self.payments.apply_event(event_id).await.map_err(|error| match error {
                    ApplyError::Database(e) => JobError::Retryable(format!("database: {e}")),
                    ApplyError::Stripe(e) if e.is_retryable() => JobError::Retryable(format!("Stripe: {e}")),
                    other => JobError::Permanent(other.to_string()),
                })
            }
            Job::SyncPayment { payment_id } => self.sync.sync_payment(payment_id).await.map_err(sync_error),
            Job::EmailReceipt { payment_id } => self.email_receipt(payment_id).await,
        }
    }
}

impl Jobs {
    async fn payment(&self, payment_id: &str) -> Result<Payment, JobError> {
        self.payments
            .get(payment_id)
            .await
            .map_err(|e| JobError::Retryable(format!("database: {e}")))?
            .ok_or_else(|| JobError::Permanent(format!("payment {payment_id} does not exist")))
    }

    /// Sends the pay link as the payment stands now; a payment paid or canceled meanwhile needs no email.
    async fn email_payment_link(&self, payment_id: &str) -> Result<(), JobError> {
        let payment = self.payment(payment_id).await?;
        if !payment.status().is_payable() {
            tracing::info!(payment = %payment.id, status = %payment.status(), "payment link email skipped: nothing to pay");
            return Ok(());
        }
        let brand = self.payments.brands.choose(Some(&payment.brand), None);
        let email =
            mail::payment_link(&payment, brand, &self.payments.pay_url(&payment)).map_err(permanent_or_retry)?;
        self.mailer.send(email).await.map_err(permanent_or_retry)?;
        tracing::info!(payment = %payment.id, "payment link emailed");
        Ok(())
    }

    /// Sends the receipt of a paid payment, once (the outbox runs each job to completion once).
    async fn email_receipt(&self, payment_id: &str) -> Result<(), JobError> {
        let payment = self.payment(payment_id).await?;
        let Some(url) = self.payments.receipt_url(&payment) else {
            return Err(JobError::Permanent(format!("payment {payment_id} has no receipt")));
        };
        let pdf = self.payments.receipt(&payment).await.map_err(|e| JobError::Retryable(e.to_string()))?;
        let brand = self.payments.brands.choose(Some(&payment.brand), None);
        let email = mail::receipt(&payment, brand, &url, pdf).map_err(permanent_or_retry)?;
        self.mailer.send(email).await.map_err(permanent_or_retry)?;
        tracing::info!(payment = %payment.id, "receipt emailed");
        Ok(())
    }
}

fn permanent_or_retry(error: MailError) -> JobError {
    match error {
        MailError::Permanent(e) => JobError::Permanent(e),
        MailError::Transient(e) => JobError::Retryable(e),
    }
}

fn sync_error(error: SyncError) -> JobError {
    match error {
        SyncError::Retryable(e) => JobError::Retryable(e),
        SyncError::Permanent(e) => JobError::Permanent(e),
    }
}
