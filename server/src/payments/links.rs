//! Payment links: from a Salesforce request to a stored payment, and from the pay page to Stripe
//! Checkout.

use url::Url;

use super::{
    LinkRequest, Payment, PaymentStatus, ValidationError,
    customers::{CustomerError, customer_for_account},
    store::{self, COLUMNS, new_token},
};
use crate::{
    config::Brands,
    db::{Db, now_ms},
    outbox::{self, Job},
    stripe::{Form, StripeClient, StripeError},
};

/// The payment domain's entry points, with what they need. Cheap to clone.
#[derive(Clone)]
pub struct Payments {
    pub db: Db,
    pub stripe: StripeClient,
    pub public_url: Url,
    pub brands: Brands,
    /// A payer leaving Checkout without paying counts as a failed attempt (the mapping's
    /// `cancel_sets_failed`); by default it changes nothing.
    pub abandoned_checkout_fails: bool,
}

#[derive(Debug)]
pub struct LinkOutcome {
    pub payment: Payment,
    /// A new payment (201) rather than the Opportunity's existing one (200).
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("payment {} is already paid", .0.id)]
    AlreadyPaid(Box<Payment>),
    #[error("payment {} is being processed", .0.id)]
    InProgress(Box<Payment>),
    #[error("no such payment")]
    NotFound,
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<CustomerError> for LinkError {
    fn from(error: CustomerError) -> Self {
        match error {
            CustomerError::Stripe(e) => Self::Stripe(e),
            CustomerError::Database(e) => Self::Database(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("no payment has this link")]
    NotFound,
    #[error("the payment is {0} and cannot be paid")]
    NotPayable(PaymentStatus),
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The fields a repeated request may change on an unpaid payment.
struct Terms<'a> {
    amount_minor: i64,
    currency: &'a str,
    description: Option<&'a str>,
    payer_email: &'a str,
    payer_name: Option<&'a str>,
    brand: &'a str,
}

impl Payments {
    /// The stable link of a payment: `{public}/pay/{token}`.
    pub fn pay_url(&self, payment: &Payment) -> String {
        format!("{}/pay/{}", self.public_url.as_str().trim_end_matches('/'), payment.pay_token)
    }

    /// Finds or creates the Opportunity's live payment and brings it up to date with the request.
    pub async fn request_link(&self, request: LinkRequest) -> Result<LinkOutcome, LinkError> {
        let brand = match &request.brand {
            Some(key) => self.brands.get(key).ok_or_else(|| ValidationError {
                field: "brand",
                message: format!("no brand named {key:?} is configured"),
            })?,
            None => self.brands.choose(None, request.record_type.as_deref()),
        };
        let customer = match &request.account_id {
            Some(account) => Some(
                customer_for_account(
                    &self.db,
                    &self.stripe,
                    account,
                    &request.payer_email,
                    request.payer_name.as_deref(),
                )
                .await?,
            ),
            None => None,
        };
        let terms = Terms {
            amount_minor: request.amount_minor,
            currency: request.currency.code(),
            description: request.description.as_deref(),
            payer_email: request.payer_email.as_str(),
            payer_name: request.payer_name.as_deref(),
            brand: &brand.key,
        };
        if let Some(payment) = self.insert_if_none(&request, &terms, customer.as_deref()).await? {
            return Ok(LinkOutcome { payment, created: true });
        }
        let existing = self.live_payment(request.opportunity_id.as_str()).await?.ok_or(LinkError::NotFound)?;
        let payment = self.update_terms(existing, &terms, customer.as_deref(), request.send_email).await?;
        Ok(LinkOutcome { payment, created: false })
    }

    /// Inserts a new payment unless the Opportunity has a live one; the email job and the audit
    /// row go in the same transaction.
    async fn insert_if_none(
        &self,
        request: &LinkRequest,
        terms: &Terms<'_>,
        customer: Option<&str>,
    ) -> Result<Option<Payment>, LinkError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let mut tx = self.db.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO payments (id, opportunity_id, account_id, contact_id, brand, record_type, description, \
             payer_email, payer_name, amount_minor, currency, status, pay_token, stripe_customer_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $13, $14, $14) \
             ON CONFLICT (opportunity_id) WHERE status NOT IN ('canceled', 'expired') DO NOTHING",
        )
        .bind(&id)
        .bind(request.opportunity_id.as_str())
        .bind(request.account_id.as_ref().map(|a| a.as_str().to_owned()))
        .bind(request.contact_id.as_ref().map(|c| c.as_str().to_owned()))
        .bind(terms.brand)
        .bind(request.record_type.as_deref())
        .bind(terms.description)
        .bind(terms.payer_email)
        .bind(terms.payer_name)
        .bind(terms.amount_minor)
        .bind(terms.currency)
        .bind(new_token())
        .bind(customer)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(None);
        }
        audit(&mut tx, &id, None, PaymentStatus::Open, "payment link requested").await?;
        outbox::enqueue(&mut tx, &Job::SyncPayment { payment_id: id.clone() }).await?;
        if request.send_email {
            outbox::enqueue(&mut tx, &Job::EmailPaymentLink { payment_id: id.clone() }).await?;
        }
        tx.commit().await?;
        Ok(store::by_id(&self.db, &id).await?)
    }

    async fn live_payment(&self, opportunity_id: &str) -> Result<Option<Payment>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM payments WHERE opportunity_id = $1 AND status NOT IN ('canceled', 'expired')"
        ))
        .bind(opportunity_id)
        .fetch_optional(&self.db.pool)
        .await
    }

    /// A repeated request: unchanged terms return the payment as it is; new terms update an unpaid
    /// payment and expire its Checkout session, which shows the old terms.
    async fn update_terms(
        &self,
        existing: Payment,
        terms: &Terms<'_>,
        customer: Option<&str>,
        send_email: bool,
    ) -> Result<Payment, LinkError> {
        let status = existing.status();
        if status.is_settled() {
            return Err(LinkError::AlreadyPaid(Box::new(existing)));
        }
        if !status.is_payable() {
            return Err(LinkError::InProgress(Box::new(existing)));
        }
        let unchanged = existing.amount_minor == terms.amount_minor
            && existing.currency == terms.currency
            && existing.description.as_deref() == terms.description
            && existing.payer_email == terms.payer_email
            && existing.payer_name.as_deref() == terms.payer_name
            && existing.brand == terms.brand;
        if unchanged {
            return Ok(existing);
        }
        if let Some(session) = &existing.stripe_checkout_session_id {
            self.expire_session(session, &existing).await?;
        }
        let mut tx = self.db.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE payments SET amount_minor = $1, currency = $2, description = $3, payer_email = $4, payer_name = $5, \
             brand = $6, stripe_customer_id = COALESCE($7, stripe_customer_id), stripe_checkout_session_id = NULL, \
             updated_at = $8 WHERE id = $9 AND status IN ('open', 'failed')",
        )
        .bind(terms.amount_minor)
        .bind(terms.currency)
        .bind(terms.description)
        .bind(terms.payer_email)
        .bind(terms.payer_name)
        .bind(terms.brand)
        .bind(customer)
        .bind(now_ms())
        .bind(&existing.id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            // Paid or moving while we expired its session: report what it is now.
            tx.commit().await?;
            let now = store::by_id(&self.db, &existing.id).await?.ok_or(LinkError::NotFound)?;
            return Err(if now.status().is_settled() {
                LinkError::AlreadyPaid(Box::new(now))
            } else {
                LinkError::InProgress(Box::new(now))
            });
        }
        audit(&mut tx, &existing.id, Some(status), status, "payment link terms changed").await?;
        outbox::enqueue(&mut tx, &Job::SyncPayment { payment_id: existing.id.clone() }).await?;
        if send_email {
            outbox::enqueue(&mut tx, &Job::EmailPaymentLink { payment_id: existing.id.clone() }).await?;
        }
        tx.commit().await?;
        store::by_id(&self.db, &existing.id).await?.ok_or(LinkError::NotFound)
    }

    /// Expires a Checkout session that still shows old terms. A session that completed
    /// meanwhile means the payer is paying: the payment cannot change.
    async fn expire_session(&self, session_id: &str, payment: &Payment) -> Result<(), LinkError> {
        let session = self.stripe.retrieve_checkout_session(session_id).await?;
        match session.status.as_deref() {
            Some("open") => {
                match self.stripe.expire_checkout_session(session_id, &format!("remit-expire-{session_id}")).await {
                    Ok(_) => Ok(()),
                    Err(StripeError::InvalidRequest { .. }) => Err(LinkError::InProgress(Box::new(payment.clone()))),
                    Err(other) => Err(other.into()),
                }
            }
            Some("complete") => Err(LinkError::InProgress(Box::new(payment.clone()))),
            _ => Ok(()),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Payment>, sqlx::Error> {
        store::by_id(&self.db, id).await
    }

    pub async fn for_opportunity(&self, opportunity_id: &str) -> Result<Vec<Payment>, sqlx::Error> {
        store::by_opportunity(&self.db, opportunity_id).await
    }

    pub async fn by_pay_token(&self, token: &str) -> Result<Option<Payment>, sqlx::Error> {
        store::by_pay_token(&self.db, token).await
    }

    /// Cancels an unpaid payment (expiring its Checkout session). Canceling twice is harmless.
    pub async fn cancel(&self, id: &str) -> Result<Payment, LinkError> {
        let payment = store::by_id(&self.db, id).await?.ok_or(LinkError::NotFound)?;
        let status = payment.status();
        if status == PaymentStatus::Canceled {
            return Ok(payment);
        }
        if status.is_settled() {
            return Err(LinkError::AlreadyPaid(Box::new(payment)));
        }
        if !status.is_payable() {
            return Err(LinkError::InProgress(Box::new(payment)));
        }
        if let Some(session) = &payment.stripe_checkout_session_id {
            self.expire_session(session, &payment).await?;
        }
        let mut tx = self.db.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE payments SET status = 'canceled', updated_at = $1 WHERE id = $2 AND status IN ('open', 'failed')",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 1 {
            audit(&mut tx, id, Some(status), PaymentStatus::Canceled, "canceled through the API").await?;
            outbox::enqueue(&mut tx, &Job::SyncPayment { payment_id: id.to_owned() }).await?;
        }
        tx.commit().await?;
        store::by_id(&self.db, id).await?.ok_or(LinkError::NotFound)
    }

    /// The Checkout page for a pay link: the payment's open session when it has one with time
    /// left, else a new one.
    pub async fn checkout_url(&self, token: &str) -> Result<String, CheckoutError> {
        let payment = store::by_pay_token(&self.db, token).await?.ok_or(CheckoutError::NotFound)?;
        if !payment.status().is_payable() {
            return Err(CheckoutError::NotPayable(payment.status()));
        }
        if let Some(session_id) = &payment.stripe_checkout_session_id {
            let session = self.stripe.retrieve_checkout_session(session_id).await?;
            let time_left = session.expires_at - now_ms() / 1000;
            if let (true, Some(url), true) = (session.is_open(), session.url, time_left > 120) {
                return Ok(url);
            }
        }
        let form = self.checkout_form(&payment);
        let key = format!("remit-checkout-{}-{}", payment.id, uuid::Uuid::new_v4());
        let session = self.stripe.create_checkout_session(&form, &key).await?;
        store::record_checkout_session(&self.db, &payment.id, &session.id).await?;
        session.url.ok_or_else(|| CheckoutError::Stripe(StripeError::Decode("a new session has no url".into())))
    }

    fn checkout_form(&self, payment: &Payment) -> Form {
        let public = self.public_url.as_str().trim_end_matches('/');
        let brand = self.brands.choose(Some(&payment.brand), None);
        let name = payment.description.clone().unwrap_or_else(|| format!("Payment to {}", brand.name));
        let metadata = [
            ("remit_payment_id", Some(payment.id.as_str())),
            ("salesforce_opportunity_id", Some(payment.opportunity_id.as_str())),
            ("salesforce_account_id", payment.account_id.as_deref()),
            ("salesforce_contact_id", payment.contact_id.as_deref()),
        ];
        let metadata: Vec<(&str, &str)> = metadata.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
        let form = Form::new()
            .set("mode", "payment")
            .set("client_reference_id", &payment.id)
            .set("success_url", format!("{public}/success?session_id={{CHECKOUT_SESSION_ID}}"))
            .set("cancel_url", format!("{public}/cancel?session_id={{CHECKOUT_SESSION_ID}}"))
            .set("line_items[0][quantity]", 1)
            .set("line_items[0][price_data][currency]", &payment.currency)
            .set("line_items[0][price_data][unit_amount]", payment.amount_minor)
            .set("line_items[0][price_data][product_data][name]", name)
            .set_map("metadata", metadata.iter().copied())
            .set_map("payment_intent_data[metadata]", metadata.iter().copied());
        match &payment.stripe_customer_id {
            Some(customer) => form.set("customer", customer),
            None => form.set("customer_email", &payment.payer_email),
        }
    }
}

async fn audit(
    tx: &mut sqlx::AnyConnection,
    payment_id: &str,
    from: Option<PaymentStatus>,
    to: PaymentStatus,
    cause: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO audit_log (payment_id, from_status, to_status, cause, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(payment_id)
        .bind(from.map(PaymentStatus::as_str))
        .bind(to.as_str())
        .bind(cause)
        .bind(now_ms())
        .execute(tx)
        .await?;
    Ok(())
}
