use serde::{Deserialize, Serialize};

use super::Context;
use crate::outbox::JobError;

/// End the Checkout session of a payment whose link expired, so the payer cannot pay through a
/// page that was open when the link ran out.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpireCheckoutSession {
    pub session_id: String,
}

#[async_trait::async_trait]
impl crate::outbox::Job for ExpireCheckoutSession {
    const KIND: &'static str = "expire_checkout_session";
    /// A Stripe call, as event application makes.
    const CLASS: &'static str = "events";
    type Context = Context;

    fn dedupe_key(&self) -> String {
        self.session_id.clone()
    }

    async fn run(&self, context: &Context) -> Result<(), JobError> {
        context.payments.expire_checkout_session(&self.session_id).await?;
        tracing::info!(session = %self.session_id, "Checkout session of an expired link ended");
        Ok(())
    }
}
