use serde::{Deserialize, Serialize};

use super::Context;
use crate::outbox::JobError;

/// Push the payment's current state to Salesforce.
#[derive(Debug, Serialize, Deserialize)]
pub struct SyncPayment {
    pub payment_id: String,
}

#[async_trait::async_trait]
impl crate::outbox::Job for SyncPayment {
    const KIND: &'static str = "sync_payment";
    const CLASS: &'static str = "sync";
    /// Syncs go out together when many wait: one composite call carries the Payment__c upserts
    /// and Opportunity and Account updates of 200 payments (three collections of the five
    /// Salesforce allows).
    const BATCH_SIZE: usize = 200;
    /// A burst's syncs gather for a moment, so the org's daily API allowance goes far.
    const LINGER: std::time::Duration = std::time::Duration::from_millis(200);
    type Context = Context;

    fn dedupe_key(&self) -> String {
        self.payment_id.clone()
    }

    async fn run(&self, context: &Context) -> Result<(), JobError> {
        context.sync.sync_payment(&self.payment_id).await
    }

    async fn run_batch(jobs: &[Self], context: &Context) -> Vec<Result<(), JobError>> {
        let ids: Vec<&str> = jobs.iter().map(|job| job.payment_id.as_str()).collect();
        context.sync.sync_many(&ids).await
    }
}
