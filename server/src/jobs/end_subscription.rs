use serde::{Deserialize, Serialize};

use super::Context;
use crate::outbox::JobError;

/// Tell Stripe to end a subscription with its current period: the link asked for so many paid
/// periods (`recurring.cycles`) and they are all paid.
#[derive(Debug, Serialize, Deserialize)]
pub struct EndSubscription {
    pub subscription_id: String,
}

#[async_trait::async_trait]
impl crate::outbox::Job for EndSubscription {
    const KIND: &'static str = "end_subscription";
    /// A Stripe call, as event application makes.
    const CLASS: &'static str = "events";
    type Context = Context;

    fn dedupe_key(&self) -> String {
        self.subscription_id.clone()
    }

    async fn run(&self, context: &Context) -> Result<(), JobError> {
        context.payments.end_subscription_at_period_end(&self.subscription_id).await?;
        tracing::info!(subscription = %self.subscription_id, "subscription ends with its current period: every cycle asked for is paid");
        Ok(())
    }
}
