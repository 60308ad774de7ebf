//! The payer's subscriptions, Stripe's customer portal where they manage one (update the card,
//! cancel), and the end of a subscription whose link asked for a number of periods.

use super::{Payments, store};
use crate::stripe::{Form, StripeError};

pub use store::SubscriptionRow;

impl Payments {
    /// The subscriptions the payer's links started, newest first.
    pub async fn subscriptions_of_payer(&self, email: &str) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
        store::subscriptions_of_payer(&self.db, email).await
    }

    /// A customer portal session for the payer's own subscription, coming back to `return_to`;
    /// `None` when the payer has no such subscription.
    pub async fn portal_url(
        &self,
        email: &str,
        subscription_id: &str,
        return_to: &str,
    ) -> Result<Option<String>, PortalError> {
        let owned = self.subscriptions_of_payer(email).await?.into_iter().find(|s| s.id == subscription_id);
        let Some(customer) = owned.and_then(|s| s.customer) else { return Ok(None) };
        let form = Form::new().set("customer", &customer).set("return_url", self.public_url.join(return_to));
        // Each visit is a session of its own; the key only makes the client's own retries safe.
        let key = format!("remit-portal-{}", uuid::Uuid::new_v4());
        Ok(Some(self.stripe.create_portal_session(&form, &key).await?.url))
    }
}

impl Payments {
    /// Stripe ends the subscription when its current period does, instead of renewing it.
    pub async fn end_subscription_at_period_end(&self, subscription_id: &str) -> Result<(), StripeError> {
        let form = Form::new().set("cancel_at_period_end", "true");
        let key = format!("remit-end-{subscription_id}");
        self.stripe.update_subscription(subscription_id, &form, &key).await?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Stripe(#[from] StripeError),
}
