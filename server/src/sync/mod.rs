//! Pushing a payment's *current* state to Salesforce (DESIGN.md §6): the Payment__c record
//! upserted by Remit's id, the Opportunity's payment status (and on paid its won stage and close
//! date), the Account's Stripe customer, and one high-priority Task per failed attempt. One
//! payment goes in one composite call with `allOrNone`, so the org never holds half a change;
//! many waiting payments go out together in sObject Collections calls.
//!
//! This file orchestrates: what it reads and remembers goes through `tasks.rs` and the payment
//! domain, what it sends is built by `records.rs`, and each function that calls Salesforce calls
//! nothing else.

mod breaker;
pub use breaker::OPEN_AFTER;
pub mod preflight;
pub mod records;
pub mod subscriptions;
mod tasks;

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use time::OffsetDateTime;

use crate::{
    config::{ConfigError, SalesforceMapping},
    db::Db,
    outbox::JobError,
    payments::{Collection, Payment, PaymentStatus, Payments},
    salesforce::{CompositeResult, SalesforceClient, SalesforceError, soql},
    subscriptions::View,
};
use breaker::{Breaker, Transition};
use records::{
    AMOUNT_TASK, News, OUTSTANDING_TASK, Records, StatusLabels, batch_errors, collection_results, created_tasks,
    failure, is_retryable, untasked, untasked_disputes,
};
pub use records::{AMOUNT_TASK_SUBJECT, DISPUTE_TASK_SUBJECT, OUTSTANDING_TASK_SUBJECT, TASK_SUBJECT};
use subscriptions::SubscriptionNews;

pub struct SalesforceSync {
    payments: Payments,
    db: Db,
    client: SalesforceClient,
    records: Records,
    won_stage: tokio::sync::Mutex<Option<String>>,
    /// Until when writes hold back because the org's API usage is high.
    slow_until: Mutex<Option<Instant>>,
    health: SalesforceHealth,
}

/// Whether Salesforce answers, as the syncs have found: shared with `/readyz`.
#[derive(Clone, Default)]
pub struct SalesforceHealth {
    breaker: Arc<Mutex<Breaker>>,
    /// What the org last said of its daily API use (shown in the console).
    usage: Arc<Mutex<Option<crate::salesforce::ApiUsage>>>,
}

impl SalesforceHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Since when Salesforce has not answered; `None` while it does.
    pub fn unreachable_since(&self) -> Option<SystemTime> {
        self.lock().unreachable_since()
    }

    /// API requests used today out of the daily limit, as Salesforce last said.
    pub fn api_usage(&self) -> Option<crate::salesforce::ApiUsage> {
        *self.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One payment of a batch, as loaded: gone, needing the one-by-one path (new failure Tasks), or
/// ready to go out with the others.
enum Loaded {
    Missing,
    Alone,
    Batched(Box<Payment>),
}

impl SalesforceSync {
    /// Refuses status labels for states that do not exist, naming the setting.
    pub fn new(
        db: Db,
        payments: Payments,
        client: SalesforceClient,
        mapping: SalesforceMapping,
    ) -> Result<Self, ConfigError> {
        let records = Records {
            labels: StatusLabels::from_mapping(&mapping)?,
            mapping,
            payments: payments.clone(),
            api_version: client.api_version().to_owned(),
        };
        Ok(Self {
            payments,
            db,
            client,
            records,
            won_stage: tokio::sync::Mutex::new(None),
            slow_until: Mutex::new(None),
            health: SalesforceHealth::default(),
        })
    }

    pub fn health(&self) -> SalesforceHealth {
        self.health.clone()
    }

    /// Makes one call to Salesforce, unless it is known to be unreachable (then the job waits,
    /// untried, for the next probe); what became of the call tells the breaker.
    async fn reach<T>(&self, call: impl Future<Output = Result<T, SalesforceError>>) -> Result<T, JobError> {
        if !self.health.lock().allows(Instant::now()) {
            let since = self.health.unreachable_since().map(rfc3339).unwrap_or_default();
            let cause = format!("Salesforce has been unreachable since {since}; waiting for it to answer");
            return Err(JobError::Deferred(cause.into(), breaker::PROBE_EVERY));
        }
        let result = call.await;
        let transition = match &result {
            Err(error) if error.is_unreachable() => self.health.lock().unreached(Instant::now(), SystemTime::now()),
            _ => self.health.lock().answered(),
        };
        match transition {
            Some(Transition::Opened { since }) => tracing::error!(
                since = %rfc3339(since),
                "Salesforce is unreachable; syncs wait and one call probes every {} s",
                breaker::PROBE_EVERY.as_secs()
            ),
            Some(Transition::Closed { since }) => {
                tracing::warn!(since = %rfc3339(since), "Salesforce answers again; waiting syncs go out");
            }
            None => {}
        }
        Ok(result?)
    }

    pub async fn sync_payment(&self, payment_id: &str) -> Result<(), JobError> {
        self.respect_api_limit()?;
        let payment = self.load(payment_id).await?;
        let derived = self.payments.derived(&payment).await?;
        let tasked = tasks::tasked_attempts(&self.db, &payment.id).await?;
        let view = self.subscription_view(&payment).await?;
        let won_stage = if payment.status() == PaymentStatus::Paid && payment.renewal_of.is_none() {
            Some(self.won_stage().await?)
        } else {
            None
        };
        let news = News {
            won_stage: won_stage.as_deref(),
            failures: untasked(&derived.failures, &tasked),
            amount_differs: amount_task_due(&payment, &tasked),
            outstanding: outstanding_task_due(&payment, &tasked),
            disputes: untasked_disputes(&derived.disputes, &tasked),
            subscription: view.as_ref().map(|view| SubscriptionNews::new(view, &tasked)),
        };
        let results = self.push_one(&payment, &news).await?;
        tasks::remember(&self.db, &payment.id, &created_tasks(&results, &news)).await?;
        tracing::info!(payment = %payment.id, status = %payment.status(), "payment synced to Salesforce");
        Ok(())
    }

    /// What a recurring link's events say of its subscription (none for other payments).
    async fn subscription_view(&self, payment: &Payment) -> Result<Option<View>, JobError> {
        if payment.renewal_of.is_some() || !matches!(payment.collection(), Collection::Subscription(_)) {
            return Ok(None);
        }
        Ok(Some(self.payments.subscription_view(payment).await?))
    }

    async fn load(&self, payment_id: &str) -> Result<Payment, JobError> {
        self.payments
            .get(payment_id)
            .await?
            .ok_or_else(|| JobError::permanent(format!("payment {payment_id} does not exist")))
    }

    /// One composite call; when the payment's Opportunity is gone, again with the Opportunity
    /// that carries its Stripe customer.
    async fn push_one(&self, payment: &Payment, news: &News<'_>) -> Result<Vec<CompositeResult>, JobError> {
        let today = OffsetDateTime::now_utc().date();
        let mut opportunity = payment.opportunity_id.clone();
        loop {
            let requests = self.records.composite(payment, &opportunity, news, today);
            let results = self.reach(self.client.composite(true, &requests)).await?;
            self.note_api_usage();
            match failure(&results) {
                None => return Ok(results),
                Some((reference, errors))
                    if reference == "opportunity"
                        && errors.contains("NOT_FOUND")
                        && opportunity == payment.opportunity_id =>
                {
                    opportunity = self.resolve_opportunity(payment).await?.ok_or_else(|| {
                        JobError::permanent(format!(
                            "Opportunity {} does not exist and no Opportunity has the payment's Stripe customer",
                            payment.opportunity_id
                        ))
                    })?;
                    tracing::warn!(payment = %payment.id, from = %payment.opportunity_id, to = %opportunity, "payment's Opportunity resolved by Stripe customer");
                }
                Some((_, errors)) => return Err(classify(errors)),
            }
        }
    }

    /// Many payments at once: their Payment__c upserts in one collection call and their
    /// Opportunity and Account updates in another. Payments with new failure Tasks, or whose
    /// Opportunity is gone, take the one-by-one path. One outcome per payment, in order.
    pub async fn sync_many(&self, payment_ids: &[&str]) -> Vec<Result<(), JobError>> {
        match self.try_sync_many(payment_ids).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                let text = error.chain();
                let each = |_| {
                    Err(match &error {
                        JobError::Deferred(_, delay) => JobError::Deferred(text.clone().into(), *delay),
                        JobError::Retryable(_) => JobError::retryable(text.clone()),
                        JobError::Permanent(_) => JobError::permanent(text.clone()),
                    })
                };
                payment_ids.iter().map(each).collect()
            }
        }
    }

    async fn try_sync_many(&self, payment_ids: &[&str]) -> Result<Vec<Result<(), JobError>>, JobError> {
        self.respect_api_limit()?;
        let mut outcomes = Vec::with_capacity(payment_ids.len());
        let mut batch: Vec<(usize, Payment)> = Vec::new();
        for (n, id) in payment_ids.iter().enumerate() {
            outcomes.push(match self.load_for_batch(id).await? {
                Loaded::Missing => Err(JobError::permanent(format!("payment {id} does not exist"))),
                Loaded::Alone => self.sync_payment(id).await,
                Loaded::Batched(payment) => {
                    batch.push((n, *payment));
                    Ok(())
                }
            });
        }
        if batch.is_empty() {
            return Ok(outcomes);
        }
        let payments: Vec<&Payment> = batch.iter().map(|(_, p)| p).collect();
        let errors = self.push_batch(&payments).await?;
        for ((n, payment), errors) in batch.iter().zip(errors) {
            if errors.is_empty() {
                continue;
            }
            outcomes[*n] = if errors.iter().any(|e| e.starts_with("NOT_FOUND") || e.starts_with("ENTITY_IS_DELETED")) {
                // Gone Opportunities are resolved one by one.
                self.sync_payment(&payment.id).await
            } else {
                Err(classify(errors.join("; ")))
            };
        }
        Ok(outcomes)
    }

    async fn load_for_batch(&self, payment_id: &str) -> Result<Loaded, JobError> {
        let Some(payment) = self.payments.get(payment_id).await? else { return Ok(Loaded::Missing) };
        let derived = self.payments.derived(&payment).await?;
        let tasked = tasks::tasked_attempts(&self.db, &payment.id).await?;
        // Subscriptions write more than a batch carries (their fields and Tasks), and renewals
        // less (no Opportunity update): both take the one-by-one path.
        let alone = matches!(payment.collection(), Collection::Subscription(_))
            || !untasked(&derived.failures, &tasked).is_empty()
            || !untasked_disputes(&derived.disputes, &tasked).is_empty()
            || amount_task_due(&payment, &tasked)
            || outstanding_task_due(&payment, &tasked);
        Ok(if alone { Loaded::Alone } else { Loaded::Batched(Box::new(payment)) })
    }

    /// One composite call of sObject Collections for the whole batch; each payment's errors, in
    /// order.
    async fn push_batch(&self, batch: &[&Payment]) -> Result<Vec<Vec<String>>, JobError> {
        let any_paid = batch.iter().any(|p| p.status() == PaymentStatus::Paid);
        let won_stage = if any_paid { Some(self.won_stage().await?) } else { None };
        let today = OffsetDateTime::now_utc().date();
        let upserts = self.records.payment_collection(batch);
        let updates = self.records.update_collection(batch, won_stage.as_deref(), today);
        let requests = self.records.batch_composite(&upserts, &updates);
        let results = self.reach(self.client.composite(false, &requests)).await?;
        self.note_api_usage();
        let upserted = collection_results(&results, "upsert", upserts.len());
        let updated = collection_results(&results, "update", updates.len());
        Ok(batch_errors(batch, &upserted, &updated))
    }

    /// The org's won stage: from the mapping, else the first active won-and-closed stage.
    async fn won_stage(&self) -> Result<String, JobError> {
        if let Some(stage) = &self.records.mapping.won_stage {
            return Ok(stage.clone());
        }
        let mut cached = self.won_stage.lock().await;
        if let Some(stage) = cached.as_ref() {
            return Ok(stage.clone());
        }
        let rows = self
            .reach(self.client.query(
                "SELECT ApiName FROM OpportunityStage WHERE IsWon = true AND IsClosed = true AND IsActive = true ORDER BY SortOrder LIMIT 1",
            ))
            .await?;
        let stage = rows
            .first()
            .and_then(|r| r["ApiName"].as_str())
            .ok_or_else(|| JobError::permanent("the org has no active won stage; set salesforce.won_stage"))?
            .to_owned();
        *cached = Some(stage.clone());
        Ok(stage)
    }

    /// When the payment's Opportunity is gone (merged, deleted), the Opportunity that carries the
    /// payment's Stripe customer.
    async fn resolve_opportunity(&self, payment: &Payment) -> Result<Option<String>, JobError> {
        let Some(customer) = &payment.stripe_customer_id else { return Ok(None) };
        let mapping = &self.records.mapping;
        let soql = format!(
            "SELECT Id FROM {} WHERE {} = {} LIMIT 1",
            mapping.objects.opportunity,
            mapping.fields.opportunity_stripe_customer_id,
            soql::literal(customer)
        );
        let rows = self.reach(self.client.query(&soql)).await?;
        Ok(rows.first().and_then(|r| r["Id"].as_str()).map(str::to_owned))
    }

    fn respect_api_limit(&self) -> Result<(), JobError> {
        let slow_until = *self.slow_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match slow_until {
            Some(until) if Instant::now() < until => Err(JobError::retryable(format!(
                "Salesforce API usage is past {:.0}% of the daily limit; slowing down",
                self.records.mapping.slow_down_at * 100.0
            ))),
            _ => Ok(()),
        }
    }

    fn note_api_usage(&self) {
        let Some(usage) = self.client.api_usage() else { return };
        *self.health.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(usage);
        let mapping = &self.records.mapping;
        if usage.share() >= mapping.slow_down_at {
            tracing::warn!(
                used = usage.used,
                limit = usage.limit,
                "Salesforce API usage is high; Remit slows its writes down"
            );
            *self.slow_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(Instant::now() + Duration::from_secs(mapping.slow_down_secs));
        }
    }
}

/// A paid amount that differs from what was asked, and no Task says so yet.
fn amount_task_due(payment: &Payment, tasked: &[String]) -> bool {
    payment.paid_amount_differs() && !tasked.iter().any(|t| t == AMOUNT_TASK)
}

fn outstanding_task_due(payment: &Payment, tasked: &[String]) -> bool {
    payment.reminders == "done" && payment.status().is_payable() && !tasked.iter().any(|t| t == OUTSTANDING_TASK)
}

fn rfc3339(at: SystemTime) -> String {
    time::OffsetDateTime::from(at).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Salesforce's error text of a write, as a job failure of the right class.
fn classify(errors: String) -> JobError {
    if is_retryable(&errors) { JobError::retryable(errors) } else { JobError::permanent(errors) }
}
