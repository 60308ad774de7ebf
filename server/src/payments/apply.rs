//! Stripe events into payments: stored durably on receipt, applied once by a worker, recovered by
//! reconciliation when a delivery never came. Applying reads as load → decide → save → enqueue.

use serde_json::Value;

use super::{
    Collection, Payment, Payments,
    events::{self, Derived, decide, derive, facts_of_payloads},
    reconciliation, store,
};
use crate::{db::now_ms, jobs, outbox, stripe::StripeError, subscriptions};

/// How long one instance may hold reconciliation before another may take it over.
const LEASE_MS: i64 = 10 * 60 * 1000;

/// What one run of the periodic reconciliation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileRun {
    /// The events it listed were created at or after this (Unix seconds).
    pub since: i64,
    /// Calls to Stripe's event list.
    pub calls: u32,
    pub recovered: u64,
    /// It reached the end of the list (else the next run goes on where it stopped).
    pub complete: bool,
}

/// What feeding listed events did.
pub struct Fed {
    pub calls: u32,
    pub recovered: u64,
    pub complete: bool,
    /// The last event listed, where a pass cut short goes on.
    pub last: Option<String>,
}

/// An event and the payment it is about, with what Stripe was asked about it (see
/// [`Payments::learn_decline`]): (the learned event's id, its payload).
struct Matched {
    n: usize,
    payment: Payment,
    event: Value,
    learned: Option<(String, Value)>,
}

/// The fields Remit needs of any event to store it.
#[derive(Debug, serde::Deserialize)]
pub struct EventHeader {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error("stored event {0} is unreadable")]
    Unreadable(String, #[source] serde_json::Error),
    /// The transaction of a batch of events failed; this event's share of it.
    #[error("the batch of events this one was applied in failed: {0}")]
    Batch(String),
}

impl Payments {
    /// Stores an event and enqueues its processing in one transaction (shared with concurrent
    /// deliveries, see `inbox.rs`). False when the event was stored already (a duplicate
    /// delivery): nothing more to do.
    pub async fn record_event(&self, header: &EventHeader, payload: &str) -> Result<bool, sqlx::Error> {
        self.inbox.record(header, payload).await
    }

    /// Applies a stored event to its payment. Safe to run again: the payment's state is derived
    /// from all its events, so a second run changes nothing.
    pub async fn apply_event(&self, event_id: &str) -> Result<(), ApplyError> {
        self.apply_events(&[event_id]).await.pop().unwrap_or(Ok(()))
    }

    /// Applies stored events, those that match a payment in one transaction (each event as if
    /// alone, in the order given for one payment); one outcome per event, in order. Events that
    /// match nothing are kept as unmatched.
    pub async fn apply_events(&self, event_ids: &[&str]) -> Vec<Result<(), ApplyError>> {
        let mut outcomes: Vec<Result<(), ApplyError>> = Vec::with_capacity(event_ids.len());
        let mut matched: Vec<Matched> = Vec::new();
        let mut unmatched: Vec<usize> = Vec::new();
        for (n, event_id) in event_ids.iter().enumerate() {
            outcomes.push(match self.match_event(event_id).await {
                Ok((event, Some(payment))) => match self.learn_decline(&payment, &event).await {
                    Ok(learned) => {
                        matched.push(Matched { n, payment, event, learned });
                        Ok(())
                    }
                    Err(error) => Err(error),
                },
                Ok((_, None)) => {
                    unmatched.push(n);
                    Ok(())
                }
                Err(error) => Err(error),
            });
        }
        // One lock order for every batch, so batches applied at once never deadlock (PostgreSQL).
        matched.sort_by(|a, b| a.payment.id.cmp(&b.payment.id));
        let unmatched_ids: Vec<&str> = unmatched.iter().map(|n| event_ids[*n]).collect();
        if let Err(error) = self.apply_matched(&matched, event_ids, &unmatched_ids).await {
            // Nothing of the batch was saved: each of its events fails (and is tried again).
            let text = crate::telemetry::chain(&error);
            for n in matched.iter().map(|m| m.n).chain(unmatched) {
                outcomes[n] = Err(ApplyError::Batch(text.clone()));
            }
        }
        outcomes
    }

    /// An event's payload and the payment it is about, if any.
    async fn match_event(&self, event_id: &str) -> Result<(Value, Option<Payment>), ApplyError> {
        let payload = store::event_payload(&self.db, event_id).await?;
        let event: Value = serde_json::from_str(&payload).map_err(|e| ApplyError::Unreadable(event_id.into(), e))?;
        let payment = self.payment_of(&event).await?;
        if payment.is_none() {
            // Stripe accounts are shared with other systems: their events are routine, not alarming.
            tracing::debug!(event = event_id, kind = %event["type"], "Stripe event matches no payment; kept as unmatched");
        }
        Ok((event, payment))
    }

    /// The decline code behind a failed invoice attempt, which the invoice's events do not carry:
    /// read from the PaymentIntent collecting the invoice, as an event of Remit's own to apply
    /// with it. `None` for other events, or when Stripe has no code to give.
    async fn learn_decline(&self, payment: &Payment, event: &Value) -> Result<Option<(String, Value)>, ApplyError> {
        if event["type"] != "invoice.payment_failed" {
            return Ok(None);
        }
        let invoice = &event["data"]["object"];
        let (Some(id), Some(attempt)) = (invoice["id"].as_str(), invoice["attempt_count"].as_i64()) else {
            return Ok(None);
        };
        let payments = match self.stripe.list_invoice_payments(id).await {
            Ok(list) => list.data,
            Err(StripeError::InvalidRequest { status: 404, .. }) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let Some(intent) = payments.iter().find_map(|p| p.payment.payment_intent.as_deref()) else { return Ok(None) };
        let error = self.stripe.retrieve_payment_intent(intent).await?.last_payment_error;
        let Some(code) = error.and_then(|e| e.decline_code.or(e.code)) else { return Ok(None) };
        let created = event["created"].as_i64().unwrap_or_else(|| now_ms() / 1000);
        Ok(Some(events::invoice_payment_error(id, attempt, &code, &payment.id, created)))
    }

    /// Applies each matched event (load → decide → save → enqueue) and marks the unmatched ones,
    /// in one transaction; then wakes the workers of what it enqueued.
    async fn apply_matched(
        &self,
        matched: &[Matched],
        event_ids: &[&str],
        unmatched: &[&str],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.writes.begin().await?;
        for event_id in unmatched {
            store::mark_event_unmatched(&mut tx, event_id).await?;
        }
        let (mut receipts, mut syncs, mut ends) = (false, false, false);
        for Matched { n, payment, event, learned } in matched {
            let event_id = event_ids[*n];
            if let Some((learned_id, learned)) = learned {
                let payload = learned.to_string();
                store::insert_events(&mut tx, &[(learned_id, events::INVOICE_PAYMENT_ERROR, &payload)]).await?;
                store::take_for_event(&mut tx, self.db.dialect, &payment.id, learned_id).await?;
            }
            let payment = store::take_for_event(&mut tx, self.db.dialect, &payment.id, event_id).await?;
            let payloads = store::applied_events(&mut tx, &payment.id).await?;
            let derived = derive(payment.amount_minor, &facts_of_payloads(&payloads));
            let change = decide(&payment, &derived, event);
            store::save_change(&mut tx, &change, event_id).await?;
            if let Collection::Subscription(recurring) = payment.collection() {
                let view = subscriptions::View::of(&subscriptions::facts_of_payloads(&payloads));
                let (renewed, synced, ended) = save_subscription_of(&mut tx, &payment, recurring.cycles, &view).await?;
                (receipts, syncs, ends) = (receipts || renewed, syncs || synced, ends || ended);
            }
            if let Some(refund) = events::refund_seen(event) {
                store::record_refund_seen(&mut tx, &payment.id, &refund).await?;
            }
            if events::may_settle_a_refund(event) {
                for refund_id in store::issue_credit_notes(&mut tx, &payment.id, &payment.brand).await? {
                    outbox::enqueue(&mut tx, &jobs::EmailCreditNote { refund_id }).await?;
                    receipts = true;
                }
            }
            if change.moved() {
                tracing::info!(payment = %payment.id, from = %change.from, to = %change.to, event = event_id, "payment moved");
            }
            if change.issue_receipt_for_brand.is_some() {
                outbox::enqueue(&mut tx, &jobs::EmailReceipt { payment_id: payment.id.clone() }).await?;
                receipts = true;
            }
            if change.changed {
                outbox::enqueue(&mut tx, &jobs::SyncPayment { payment_id: payment.id.clone() }).await?;
                syncs = true;
            }
        }
        tx.commit().await?;
        if receipts {
            // Receipts and credit notes share their class's workers: waking one kind wakes both.
            self.wake.job::<jobs::EmailReceipt>();
        }
        if syncs {
            self.wake.job::<jobs::SyncPayment>();
        }
        if ends {
            self.wake.job::<jobs::EndSubscription>();
        }
        Ok(())
    }

    /// What a recurring link's applied events say of its subscription and invoices.
    pub async fn subscription_view(&self, payment: &Payment) -> Result<subscriptions::View, sqlx::Error> {
        let payloads = store::applied_events(&mut *self.db.pool.acquire().await?, &payment.id).await?;
        Ok(subscriptions::View::of(&subscriptions::facts_of_payloads(&payloads)))
    }

    /// What the payment's applied events say about it now.
    pub async fn derived(&self, payment: &Payment) -> Result<Derived, sqlx::Error> {
        derived_in(&mut *self.db.pool.acquire().await?, payment).await
    }

    /// The payment an event is about: by `remit_payment_id` metadata, then by the session or
    /// payment intent Remit recorded, then, for an object that carries no metadata of its own (a
    /// charge, say), by its payment intent's metadata read back from Stripe. An object whose own
    /// metadata has no `remit_payment_id` belongs to another system and costs no Stripe call.
    async fn payment_of(&self, event: &Value) -> Result<Option<Payment>, ApplyError> {
        let object = &event["data"]["object"];
        // A subscription's invoice carries the subscription's metadata (under `parent` since
        // API version 2025-03-31), not its own.
        let named = [
            &object["metadata"],
            &object["parent"]["subscription_details"]["metadata"],
            &object["subscription_details"]["metadata"],
        ]
        .into_iter()
        .find_map(|metadata| metadata["remit_payment_id"].as_str());
        if let Some(id) = named
            && let Some(payment) = store::by_id(&self.db, id).await?
        {
            return Ok(Some(payment));
        }
        let object_id = object["id"].as_str().unwrap_or_default();
        if object["object"] == "checkout.session"
            && let Some(payment) = store::by_checkout_session(&self.db, object_id).await?
        {
            return Ok(Some(payment));
        }
        let intent = match object["object"].as_str() {
            Some("payment_intent") => Some(object_id),
            _ => object["payment_intent"].as_str(),
        };
        let Some(intent) = intent else { return Ok(None) };
        if let Some(payment) = store::by_payment_intent(&self.db, intent).await? {
            return Ok(Some(payment));
        }
        if !events::worth_asking_stripe(object) {
            return Ok(None);
        }
        match self.stripe.retrieve_payment_intent(intent).await {
            Ok(found) => match found.metadata.get("remit_payment_id") {
                Some(id) => Ok(store::by_id(&self.db, id).await?),
                None => Ok(None),
            },
            Err(StripeError::InvalidRequest { status: 404, .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Feeds every event Stripe lists since `since` (Unix seconds) that Remit never received
    /// through the same path as a webhook. Returns how many were new.
    pub async fn reconcile(&self, since: i64) -> Result<u64, ApplyError> {
        Ok(self.feed_listed_events(since, None, u32::MAX).await?.recovered)
    }

    /// One bounded run of the periodic reconciliation, on this instance only if no other runs it
    /// now (`None` then): it goes on from where the last run stopped, with a small overlap.
    pub async fn reconcile_step(&self, instance: &str) -> Result<Option<ReconcileRun>, ApplyError> {
        let now = now_ms() / 1000;
        let Some(state) = store::take_reconciliation(&self.db, instance, now_ms() + LEASE_MS).await? else {
            return Ok(None);
        };
        let plan = reconciliation::plan(&state, now);
        let fed = self.feed_listed_events(plan.since, plan.starting_after.as_deref(), reconciliation::MAX_CALLS).await;
        let next = match &fed {
            Ok(fed) => reconciliation::after(&plan, fed),
            Err(_) => state,
        };
        store::release_reconciliation(&self.db, instance, &next).await?;
        let fed = fed?;
        Ok(Some(ReconcileRun { since: plan.since, calls: fed.calls, recovered: fed.recovered, complete: fed.complete }))
    }

    /// Records the events Stripe lists since `since` (after `starting_after`), at most
    /// `max_calls` pages of them.
    async fn feed_listed_events(
        &self,
        since: i64,
        starting_after: Option<&str>,
        max_calls: u32,
    ) -> Result<Fed, ApplyError> {
        let mut fed = Fed { calls: 0, recovered: 0, complete: false, last: starting_after.map(str::to_owned) };
        while fed.calls < max_calls {
            let page = self.stripe.list_events(since, fed.last.as_deref()).await?;
            fed.calls += 1;
            for event in &page.data {
                let header = EventHeader { id: event.id.clone(), event_type: event.event_type.clone() };
                let payload = serde_json::json!({
                    "id": event.id, "object": "event", "type": event.event_type, "created": event.created,
                    "data": { "object": event.data.object },
                });
                if self.record_event(&header, &payload.to_string()).await? {
                    tracing::info!(event = %event.id, kind = %event.event_type, "reconciliation recovered a missed event");
                    fed.recovered += 1;
                }
            }
            match (page.has_more, page.data.last()) {
                (true, Some(last)) => fed.last = Some(last.id.clone()),
                _ => {
                    fed.complete = true;
                    break;
                }
            }
        }
        Ok(fed)
    }
}

/// Saves what a recurring link's events say: its subscription (synced when that changed), a
/// paid payment with its receipt for each renewal not yet one, and the end of a subscription whose
/// cycles are all paid. Which kinds of job it enqueued: (receipts, syncs, ends).
async fn save_subscription_of(
    conn: &mut sqlx::AnyConnection,
    payment: &Payment,
    cycles: Option<i64>,
    view: &subscriptions::View,
) -> Result<(bool, bool, bool), sqlx::Error> {
    let (mut receipts, mut syncs, mut ends) = (false, false, false);
    if let Some(subscription) = &view.subscription
        && store::save_subscription(&mut *conn, &payment.id, &subscription.latest).await?
    {
        outbox::enqueue(&mut *conn, &jobs::SyncPayment { payment_id: payment.id.clone() }).await?;
        syncs = true;
    }
    for invoice in view.renewals() {
        if let Some(renewal) = store::insert_renewal(&mut *conn, payment, invoice).await? {
            tracing::info!(payment = %payment.id, renewal = %renewal, invoice = %invoice.id, "subscription renewed");
            outbox::enqueue(&mut *conn, &jobs::EmailReceipt { payment_id: renewal.clone() }).await?;
            outbox::enqueue(&mut *conn, &jobs::SyncPayment { payment_id: renewal }).await?;
            (receipts, syncs) = (true, true);
        }
    }
    if let Some(subscription_id) = view.due_to_end(cycles) {
        outbox::enqueue(&mut *conn, &jobs::EndSubscription { subscription_id: subscription_id.to_owned() }).await?;
        ends = true;
    }
    Ok((receipts, syncs, ends))
}

async fn derived_in(conn: &mut sqlx::AnyConnection, payment: &Payment) -> Result<Derived, sqlx::Error> {
    let payloads = store::applied_events(conn, &payment.id).await?;
    Ok(derive(payment.amount_minor, &facts_of_payloads(&payloads)))
}
