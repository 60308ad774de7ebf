//! One Stripe customer per Salesforce Account, never two.

use super::{EmailAddress, SalesforceId};
use crate::{
    db::{Db, now_ms},
    stripe::{Form, StripeClient, StripeError},
};

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The Stripe customer of `account`: remembered, else found by metadata, else created.
///
/// Stripe's search lags behind writes, so two requests racing for a new Account could both miss;
/// creation therefore uses an idempotency key derived from the Account, which makes Stripe answer
/// both with the same customer.
pub async fn customer_for_account(
    db: &Db,
    stripe: &StripeClient,
    account: &SalesforceId,
    email: &EmailAddress,
    name: Option<&str>,
) -> Result<String, CustomerError> {
    if let Some(id) = remembered(db, account).await? {
        return Ok(id);
    }
    let found = stripe.search_customers_by_metadata("salesforce_account_id", account.as_str()).await?;
    let id = match found.into_iter().next() {
        Some(customer) => customer.id,
        None => {
            let form =
                Form::new().set("email", email).set_opt("name", name).set("metadata[salesforce_account_id]", account);
            stripe.create_customer(&form, &format!("remit-customer-{account}")).await?.id
        }
    };
    sqlx::query(
        "INSERT INTO stripe_customers (account_id, stripe_customer_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(account.as_str())
    .bind(&id)
    .bind(now_ms())
    .execute(&db.writes)
    .await?;
    Ok(remembered(db, account).await?.unwrap_or(id))
}

async fn remembered(db: &Db, account: &SalesforceId) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT stripe_customer_id FROM stripe_customers WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(id,)| id))
}
