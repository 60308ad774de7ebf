//! Payment links: from a Salesforce request to a stored payment, and from the pay page to Stripe
//! Checkout.

use super::{
    CheckoutOptions, Collection, Expiry, LinkRequest, Payment, PaymentStatus, Payments, SalesforceId, ValidationError,
    customers::{CustomerError, customer_for_account},
    store::{self, Audit, NewPayment, Terms},
};
use crate::{
    db::now_ms,
    jobs, outbox,
    stripe::{Form, StripeError},
};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Stripe's bounds on a Checkout session's own `expires_at`, from its creation.
const SESSION_MIN_SECS: i64 = 30 * 60;
const SESSION_MAX_SECS: i64 = 24 * 3600;

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
    #[error("the payment link has expired")]
    Expired,
    #[error("the payment keeps changing while its Checkout session is made")]
    Changing,
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Payments {
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
        let options = request.checkout_options.clone().over(&brand.checkout);
        let options = (!options.is_empty()).then(|| serde_json::to_string(&options).expect("options serialize"));
        // An invoice is due when its own terms say, not when the brand's links expire.
        let expires_at = match request.collection {
            Collection::Checkout | Collection::Subscription(_) => {
                expires_at(request.expiry, brand.link_expires_in_days, now_ms())?
            }
            Collection::Invoice { .. } => None,
        };
        let terms = Terms {
            collection: request.collection,
            checkout_options: options.as_deref(),
            expires_at,
            amount_minor: request.amount_minor,
            currency: request.currency.code(),
            description: request.description.as_deref(),
            payer_email: request.payer_email.as_str(),
            payer_name: request.payer_name.as_deref(),
            brand: &brand.key,
            customer: customer.as_deref(),
        };
        let id = uuid::Uuid::new_v4().to_string();
        let new = NewPayment {
            id: &id,
            opportunity_id: request.opportunity_id.as_str(),
            account_id: request.account_id.as_ref().map(SalesforceId::as_str),
            contact_id: request.contact_id.as_ref().map(SalesforceId::as_str),
            record_type: request.record_type.as_deref(),
            send_reminders: request.send_reminders,
            terms,
        };
        let (payment, created) = if let Some(payment) = self.reopen_expired(&new, request.send_email).await? {
            (payment, false)
        } else if let Some(payment) = self.insert_unless_live(&new, request.send_email).await? {
            (payment, true)
        } else {
            let existing =
                store::live_for_opportunity(&self.db, new.opportunity_id).await?.ok_or(LinkError::NotFound)?;
            (self.update_terms(existing, &new.terms, request.send_email).await?, false)
        };
        Ok(LinkOutcome { payment: self.ensure_invoice(payment).await?, created })
    }

    /// Inserts a new payment unless the Opportunity has a live one; the audit row and the jobs
    /// go in the same transaction.
    async fn insert_unless_live(&self, new: &NewPayment<'_>, send_email: bool) -> Result<Option<Payment>, LinkError> {
        let mut tx = self.db.writes.begin().await?;
        if !store::insert_unless_live(&mut tx, new).await? {
            tx.commit().await?;
            return Ok(None);
        }
        let entry = Audit {
            payment_id: new.id,
            from: None,
            to: PaymentStatus::Open,
            cause: "payment link requested",
            event_id: None,
        };
        store::audit(&mut tx, &entry).await?;
        enqueue_follow_up(&mut tx, new.id, send_email).await?;
        tx.commit().await?;
        self.wake_follow_up();
        Ok(store::by_id(&self.db, new.id).await?)
    }

    /// A request for an Opportunity whose latest payment expired opens that payment again with
    /// the new terms, so the link the payer already has works again. `None` when there is none to
    /// reopen (or another request just made the Opportunity a live payment).
    async fn reopen_expired(&self, new: &NewPayment<'_>, send_email: bool) -> Result<Option<Payment>, LinkError> {
        // A read first: most requests have nothing to reopen and need not wait for the writer.
        let latest = store::latest_if_expired(&mut *self.db.pool.acquire().await?, new.opportunity_id).await?;
        let Some(expired) = latest else { return Ok(None) };
        let mut tx = self.db.writes.begin().await?;
        // Conditional on the payment still being expired: a request that reopened it meanwhile wins.
        match store::reopen(&mut tx, &expired.id).await {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        store::update_terms(&mut tx, &expired.id, &new.terms).await?;
        let entry = Audit {
            payment_id: &expired.id,
            from: Some(PaymentStatus::Expired),
            to: PaymentStatus::Open,
            cause: "expired payment link requested again",
            event_id: None,
        };
        store::audit(&mut tx, &entry).await?;
        enqueue_follow_up(&mut tx, &expired.id, send_email).await?;
        tx.commit().await?;
        self.wake_follow_up();
        Ok(store::by_id(&self.db, &expired.id).await?)
    }

    /// A repeated request: unchanged terms return the payment as it is (with a new expiry if the
    /// request gave one); new terms update an unpaid payment and expire its Checkout session,
    /// which shows the old terms.
    async fn update_terms(&self, existing: Payment, terms: &Terms<'_>, send_email: bool) -> Result<Payment, LinkError> {
        refuse_unless_payable(&existing)?;
        if terms.are_those_of(&existing) {
            if existing.expires_at == terms.expires_at {
                return Ok(existing);
            }
            let mut tx = self.db.writes.begin().await?;
            store::set_expiry(&mut tx, &existing.id, terms.expires_at).await?;
            tx.commit().await?;
            return store::by_id(&self.db, &existing.id).await?.ok_or(LinkError::NotFound);
        }
        if let Some(session) = &existing.stripe_checkout_session_id {
            self.expire_session(session, &existing).await?;
        }
        if let Some(invoice) = &existing.stripe_invoice_id {
            self.void_invoice(invoice, &existing).await?;
        }
        let status = existing.status();
        let mut tx = self.db.writes.begin().await?;
        if !store::update_terms(&mut tx, &existing.id, terms).await? {
            // Paid or moving while we expired its session: report what it is now.
            tx.commit().await?;
            return Err(self.moved_on(&existing.id).await);
        }
        let entry = Audit {
            payment_id: &existing.id,
            from: Some(status),
            to: status,
            cause: "payment link terms changed",
            event_id: None,
        };
        store::audit(&mut tx, &entry).await?;
        enqueue_follow_up(&mut tx, &existing.id, send_email).await?;
        tx.commit().await?;
        self.wake_follow_up();
        store::by_id(&self.db, &existing.id).await?.ok_or(LinkError::NotFound)
    }

    /// Why a payment that was payable a moment ago cannot be changed now.
    async fn moved_on(&self, id: &str) -> LinkError {
        match store::by_id(&self.db, id).await {
            Ok(Some(now)) => refuse_unless_payable(&now).err().unwrap_or(LinkError::InProgress(Box::new(now))),
            Ok(None) => LinkError::NotFound,
            Err(error) => error.into(),
        }
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

    /// Marks payments whose link ran out as expired (up to 100 a tick), each in a transaction of
    /// its own with its sync and, when a Checkout session is open, that session's expiry. The
    /// update is conditional, so restarts and several instances expire each payment once.
    pub async fn expire_due_links(&self) -> Result<usize, sqlx::Error> {
        let now = now_ms();
        let mut expired = 0;
        for payment in store::expiring(&self.db, now, 100).await? {
            let mut tx = self.db.writes.begin().await?;
            if !store::expire(&mut tx, &payment.id, now).await? {
                continue;
            }
            let entry = Audit {
                payment_id: &payment.id,
                from: Some(payment.status()),
                to: PaymentStatus::Expired,
                cause: "the payment link expired",
                event_id: None,
            };
            store::audit(&mut tx, &entry).await?;
            outbox::enqueue(&mut tx, &jobs::SyncPayment { payment_id: payment.id.clone() }).await?;
            if let Some(session_id) = &payment.stripe_checkout_session_id {
                outbox::enqueue(&mut tx, &jobs::ExpireCheckoutSession { session_id: session_id.clone() }).await?;
            }
            tx.commit().await?;
            expired += 1;
        }
        if expired > 0 {
            self.wake.job::<jobs::SyncPayment>();
            self.wake.job::<jobs::ExpireCheckoutSession>();
        }
        Ok(expired)
    }

    /// Ends a Checkout session whose link ran out. One that completed or expired already needs
    /// nothing: a completed one's payment arrives by its webhook.
    pub async fn expire_checkout_session(&self, session_id: &str) -> Result<(), StripeError> {
        match self.stripe.expire_checkout_session(session_id, &format!("remit-expire-{session_id}")).await {
            Ok(_) | Err(StripeError::InvalidRequest { .. }) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Wakes the workers of what [`enqueue_follow_up`] enqueues.
    fn wake_follow_up(&self) {
        self.wake.job::<jobs::SyncPayment>();
        self.wake.job::<jobs::EmailPaymentLink>();
    }

    /// Cancels an unpaid payment (expiring its Checkout session), `cause` saying who asked for
    /// the audit log. Canceling twice is harmless.
    pub async fn cancel(&self, id: &str, cause: &str) -> Result<Payment, LinkError> {
        let payment = store::by_id(&self.db, id).await?.ok_or(LinkError::NotFound)?;
        let status = payment.status();
        if status == PaymentStatus::Canceled {
            return Ok(payment);
        }
        refuse_unless_payable(&payment)?;
        if let Some(session) = &payment.stripe_checkout_session_id {
            self.expire_session(session, &payment).await?;
        }
        if let Some(invoice) = &payment.stripe_invoice_id {
            self.void_invoice(invoice, &payment).await?;
        }
        let mut tx = self.db.writes.begin().await?;
        if store::cancel(&mut tx, id).await? {
            let entry =
                Audit { payment_id: id, from: Some(status), to: PaymentStatus::Canceled, cause, event_id: None };
            store::audit(&mut tx, &entry).await?;
            outbox::enqueue(&mut tx, &jobs::SyncPayment { payment_id: id.to_owned() }).await?;
        }
        tx.commit().await?;
        self.wake.job::<jobs::SyncPayment>();
        store::by_id(&self.db, id).await?.ok_or(LinkError::NotFound)
    }

    /// Emails the pay link of an unpaid payment again (an operator asked).
    pub async fn resend_link(&self, id: &str) -> Result<Payment, LinkError> {
        let payment = store::by_id(&self.db, id).await?.ok_or(LinkError::NotFound)?;
        refuse_unless_payable(&payment)?;
        let mut tx = self.db.writes.begin().await?;
        outbox::enqueue(&mut tx, &jobs::EmailPaymentLink { payment_id: id.to_owned() }).await?;
        tx.commit().await?;
        self.wake.job::<jobs::EmailPaymentLink>();
        Ok(payment)
    }

    /// Pushes a payment's current state to Salesforce again (an operator asked).
    pub async fn resync(&self, id: &str) -> Result<Payment, LinkError> {
        let payment = store::by_id(&self.db, id).await?.ok_or(LinkError::NotFound)?;
        let mut tx = self.db.writes.begin().await?;
        outbox::enqueue(&mut tx, &jobs::SyncPayment { payment_id: id.to_owned() }).await?;
        tx.commit().await?;
        self.wake.job::<jobs::SyncPayment>();
        Ok(payment)
    }

    /// Where a pay link's button leads: an invoice payment's hosted invoice page, else Checkout.
    pub async fn checkout_url(&self, token: &str) -> Result<String, CheckoutError> {
        let payment = store::by_pay_token(&self.db, token).await?.ok_or(CheckoutError::NotFound)?;
        if payment.collection().by_checkout() {
            return self.checkout_session_url(token).await;
        }
        if !payment.status().is_payable() {
            return Err(CheckoutError::NotPayable(payment.status()));
        }
        let payment = match payment.hosted_invoice_url {
            Some(_) => payment,
            None => self.ensure_invoice(payment).await.map_err(|error| match error {
                LinkError::Stripe(e) => CheckoutError::Stripe(e),
                LinkError::Database(e) => CheckoutError::Database(e),
                _ => CheckoutError::Changing,
            })?,
        };
        payment.hosted_invoice_url.ok_or(CheckoutError::Changing)
    }

    /// The Checkout page for a pay link: the payment's open session when it has one with time
    /// left, else a new one.
    async fn checkout_session_url(&self, token: &str) -> Result<String, CheckoutError> {
        // A session is recorded only if the payment did not change while Stripe made it (its
        // terms could have, and the session would ask the old amount): else it is expired and
        // made again from what the payment says now.
        for _ in 0..3 {
            let payment = store::by_pay_token(&self.db, token).await?.ok_or(CheckoutError::NotFound)?;
            if !payment.status().is_payable() {
                return Err(CheckoutError::NotPayable(payment.status()));
            }
            if payment.link_expired(now_ms()) {
                return Err(CheckoutError::Expired);
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
            if store::record_checkout_session(&self.db, &payment, &session.id).await? {
                return session
                    .url
                    .ok_or_else(|| CheckoutError::Stripe(StripeError::Decode("a new session has no url".into())));
            }
            tracing::info!(payment = %payment.id, "the payment changed while its Checkout session was made; making it again");
            self.stripe.expire_checkout_session(&session.id, &format!("remit-expire-{}", session.id)).await?;
        }
        Err(CheckoutError::Changing)
    }

    fn checkout_form(&self, payment: &Payment) -> Form {
        let name = self.display_name(payment);
        let metadata = [
            ("remit_payment_id", Some(payment.id.as_str())),
            ("salesforce_opportunity_id", Some(payment.opportunity_id.as_str())),
            ("salesforce_account_id", payment.account_id.as_deref()),
            ("salesforce_contact_id", payment.contact_id.as_deref()),
        ];
        let metadata: Vec<(&str, &str)> = metadata.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
        let form = Form::new()
            .set("client_reference_id", &payment.id)
            .set("success_url", self.public_url.join("/success?session_id={CHECKOUT_SESSION_ID}"))
            .set("cancel_url", self.public_url.join("/cancel?session_id={CHECKOUT_SESSION_ID}"))
            .set("line_items[0][quantity]", 1)
            .set("line_items[0][price_data][currency]", &payment.currency)
            .set("line_items[0][price_data][unit_amount]", payment.amount_minor)
            .set("line_items[0][price_data][product_data][name]", name)
            .set_map("metadata", metadata.iter().copied());
        let mut options: CheckoutOptions =
            payment.checkout_options.as_deref().and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default();
        // The metadata goes where Stripe copies it to the objects its events are about: the
        // PaymentIntent of a one-off payment, the subscription (and so its invoices) of a
        // recurring one.
        let form = match payment.collection() {
            Collection::Subscription(recurring) => {
                // A brand's "pay" or "donate" button does not fit a subscription: Stripe's own
                // "Subscribe" does.
                options.submit_type = None;
                let form = form
                    .set("mode", "subscription")
                    .set("line_items[0][price_data][recurring][interval]", recurring.interval.as_str())
                    .set("line_items[0][price_data][recurring][interval_count]", recurring.interval_count)
                    .set_map("subscription_data[metadata]", metadata.iter().copied());
                match recurring.trial_days {
                    0 => form,
                    days => form.set("subscription_data[trial_period_days]", days),
                }
            }
            _ => form.set("mode", "payment").set_map("payment_intent_data[metadata]", metadata.iter().copied()),
        };
        let form = options.session_params().into_iter().fold(form, |form, (key, value)| form.set(key, value));
        // A session ends with its link (Stripe allows 30 minutes to 24 hours from now).
        let form = match payment.expires_at {
            Some(at) => {
                let now = now_ms() / 1000;
                form.set("expires_at", (at / 1000).clamp(now + SESSION_MIN_SECS + 60, now + SESSION_MAX_SECS - 60))
            }
            None => form,
        };
        match &payment.stripe_customer_id {
            Some(customer) => form.set("customer", customer),
            None => form.set("customer_email", &payment.payer_email),
        }
    }
}

/// When a new or changed link expires: as the request says, else after the brand's days.
fn expires_at(asked: Option<Expiry>, brand_days: Option<u32>, now: i64) -> Result<Option<i64>, ValidationError> {
    let in_days = |days: u32| now + i64::from(days) * DAY_MS;
    match asked {
        Some(Expiry::At(at)) if at <= now => {
            Err(ValidationError { field: "expires_at", message: "is in the past".into() })
        }
        Some(Expiry::At(at)) => Ok(Some(at)),
        Some(Expiry::InDays(days)) => Ok(Some(in_days(days))),
        None => Ok(brand_days.map(in_days)),
    }
}

/// A payment that is paid, or being paid, cannot change: the error that says which.
fn refuse_unless_payable(payment: &Payment) -> Result<(), LinkError> {
    let status = payment.status();
    if status.is_settled() {
        Err(LinkError::AlreadyPaid(Box::new(payment.clone())))
    } else if !status.is_payable() {
        Err(LinkError::InProgress(Box::new(payment.clone())))
    } else {
        Ok(())
    }
}

/// What a new or changed link sets off: Salesforce hears of it, and the payer is emailed if asked.
async fn enqueue_follow_up(
    conn: &mut sqlx::AnyConnection,
    payment_id: &str,
    send_email: bool,
) -> Result<(), sqlx::Error> {
    outbox::enqueue(conn, &jobs::SyncPayment { payment_id: payment_id.to_owned() }).await?;
    if send_email {
        outbox::enqueue(conn, &jobs::EmailPaymentLink { payment_id: payment_id.to_owned() }).await?;
    }
    Ok(())
}
