use serde::{Deserialize, Serialize};

use super::Context;
use crate::outbox::JobError;

/// Apply a stored Stripe event to its payment.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApplyStripeEvent {
    pub event_id: String,
}

#[async_trait::async_trait]
impl crate::outbox::Job for ApplyStripeEvent {
    const KIND: &'static str = "apply_stripe_event";
    const CLASS: &'static str = "events";
    /// Applied together in one transaction: one commit for many events.
    const BATCH_SIZE: usize = 64;
    type Context = Context;

    fn dedupe_key(&self) -> String {
        self.event_id.clone()
    }

    async fn run(&self, context: &Context) -> Result<(), JobError> {
        Ok(context.payments.apply_event(&self.event_id).await?)
    }

    async fn run_batch(jobs: &[Self], context: &Context) -> Vec<Result<(), JobError>> {
        let ids: Vec<&str> = jobs.iter().map(|job| job.event_id.as_str()).collect();
        context.payments.apply_events(&ids).await.into_iter().map(|outcome| outcome.map_err(JobError::from)).collect()
    }
}
