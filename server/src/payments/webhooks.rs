//! Stripe events into payments: stored durably on receipt, applied once by a worker, recovered by
//! reconciliation when a delivery never came.

use serde_json::Value;

use super::{
    Payment,
    events::{Derived, Fact, derive, facts_of, next_status},
    links::Payments,
    store::{self, COLUMNS},
};
use crate::{
    db::{Backend, now_ms},
    outbox::{self, Job},
    stripe::StripeError,
};

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
    #[error("stored event {0} is unreadable: {1}")]
    Unreadable(String, String),
}

impl Payments {
    /// Stores an event and enqueues its processing in one transaction. False when the event was
    /// stored already (a duplicate delivery): nothing more to do.
    pub async fn record_event(&self, header: &EventHeader, payload: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO stripe_events (id, event_type, payload, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&header.id)
        .bind(&header.event_type)
        .bind(payload)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let new = inserted.rows_affected() == 1;
        if new {
            outbox::enqueue(&mut tx, &Job::ApplyStripeEvent { event_id: header.id.clone() }).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Applies a stored event to its payment. Safe to run again: the payment's state is derived
    /// from all its events, so a second run changes nothing.
    pub async fn apply_event(&self, event_id: &str) -> Result<(), ApplyError> {
        let (payload,): (String,) = sqlx::query_as("SELECT payload FROM stripe_events WHERE id = $1")
            .bind(event_id)
            .fetch_one(&self.db.pool)
            .await?;
        let event: Value =
            serde_json::from_str(&payload).map_err(|e| ApplyError::Unreadable(event_id.into(), e.to_string()))?;
        let Some(payment) = self.payment_of(&event).await? else {
            sqlx::query("UPDATE stripe_events SET outcome = 'unmatched', processed_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(event_id)
                .execute(&self.db.pool)
                .await?;
            tracing::warn!(event = event_id, kind = %event["type"], "Stripe event matches no payment; kept as unmatched");
            return Ok(());
        };
        self.apply_to(&payment.id, event_id, &event).await
    }

    async fn apply_to(&self, payment_id: &str, event_id: &str, event: &Value) -> Result<(), ApplyError> {
        let mut tx = self.db.pool.begin().await?;
        // One event of a payment at a time, so later ones see every earlier one's facts: on
        // PostgreSQL by locking the payment's row; on SQLite the transaction's first statement is a
        // write, which takes the database's one write lock (a read first could not upgrade later).
        if self.db.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM payments WHERE id = $1 FOR UPDATE").bind(payment_id).execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE stripe_events SET payment_id = $1, outcome = 'applied', processed_at = $2 WHERE id = $3")
            .bind(payment_id)
            .bind(now_ms())
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
        let payment: Payment = sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
            .bind(payment_id)
            .fetch_one(&mut *tx)
            .await?;
        let derived = derived_from_events(&mut tx, &payment).await?;
        let current = payment.status();
        let status = next_status(current, derived.status);
        let forgets_session = event["type"] == "checkout.session.expired"
            && payment.stripe_checkout_session_id.as_deref() == event["data"]["object"]["id"].as_str();
        let changed = status != current
            || derived.failure_reason != payment.failure_reason
            || derived.failed_attempts != payment.failed_attempts
            || derived.payment_intent.is_some() && derived.payment_intent != payment.stripe_payment_intent_id;
        if changed || forgets_session {
            sqlx::query(
                "UPDATE payments SET status = $1, failure_reason = $2, failed_attempts = $3, \
                 paid_at = COALESCE(paid_at, $4), stripe_payment_intent_id = COALESCE($5, stripe_payment_intent_id), \
                 stripe_checkout_session_id = CASE WHEN $6 = 1 THEN NULL ELSE stripe_checkout_session_id END, \
                 updated_at = $7 WHERE id = $8",
            )
            .bind(status.as_str())
            .bind(&derived.failure_reason)
            .bind(derived.failed_attempts)
            .bind(derived.paid_at.map(|s| s * 1000))
            .bind(&derived.payment_intent)
            .bind(i64::from(forgets_session))
            .bind(now_ms())
            .bind(payment_id)
            .execute(&mut *tx)
            .await?;
        }
        if status != current {
            sqlx::query(
                "INSERT INTO audit_log (payment_id, from_status, to_status, cause, event_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(payment_id)
            .bind(current.as_str())
            .bind(status.as_str())
            .bind(event["type"].as_str().unwrap_or("stripe event"))
            .bind(event_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tracing::info!(payment = payment_id, from = %current, to = %status, event = event_id, "payment moved");
        }
        if status.is_settled() && payment.receipt_number.is_none() {
            issue_receipt(&mut tx, &payment).await?;
        }
        if changed {
            outbox::enqueue(&mut tx, &Job::SyncPayment { payment_id: payment_id.to_owned() }).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What the payment's applied events say about it now.
    pub async fn derived(&self, payment: &Payment) -> Result<Derived, sqlx::Error> {
        derived_from_events(&mut *self.db.pool.acquire().await?, payment).await
    }

    /// The payment an event is about: by `remit_payment_id` metadata, then by the session or
    /// payment intent Remit recorded, then by the payment intent's metadata read back from Stripe.
    async fn payment_of(&self, event: &Value) -> Result<Option<Payment>, ApplyError> {
        let object = &event["data"]["object"];
        if let Some(id) = object["metadata"]["remit_payment_id"].as_str()
            && let Some(payment) = store::by_id(&self.db, id).await?
        {
            return Ok(Some(payment));
        }
        let object_id = object["id"].as_str().unwrap_or_default();
        let intent = match object["object"].as_str() {
            Some("payment_intent") => Some(object_id),
            _ => object["payment_intent"].as_str(),
        };
        let by_column = |column: &'static str, value: &str| {
            let sql = format!("SELECT {COLUMNS} FROM payments WHERE {column} = $1");
            let value = value.to_owned();
            async move { sqlx::query_as::<_, Payment>(&sql).bind(value).fetch_optional(&self.db.pool).await }
        };
        if object["object"] == "checkout.session"
            && let Some(payment) = by_column("stripe_checkout_session_id", object_id).await?
        {
            return Ok(Some(payment));
        }
        let Some(intent) = intent else { return Ok(None) };
        if let Some(payment) = by_column("stripe_payment_intent_id", intent).await? {
            return Ok(Some(payment));
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
        let mut new = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self.stripe.list_events(since, after.as_deref()).await?;
            for event in &page.data {
                let header = EventHeader { id: event.id.clone(), event_type: event.event_type.clone() };
                let payload = serde_json::json!({
                    "id": event.id, "object": "event", "type": event.event_type, "created": event.created,
                    "data": { "object": event.data.object },
                });
                if self.record_event(&header, &payload.to_string()).await? {
                    tracing::info!(event = %event.id, kind = %event.event_type, "reconciliation recovered a missed event");
                    new += 1;
                }
            }
            match (page.has_more, page.data.last()) {
                (true, Some(last)) => after = Some(last.id.clone()),
                _ => return Ok(new),
            }
        }
    }

    /// Events kept because they matched no payment, newest first: (id, type, received_at).
    pub async fn unmatched_events(&self) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, event_type, received_at FROM stripe_events WHERE outcome = 'unmatched' ORDER BY received_at DESC",
        )
        .fetch_all(&self.db.pool)
        .await
    }
}

async fn derived_from_events(conn: &mut sqlx::AnyConnection, payment: &Payment) -> Result<Derived, sqlx::Error> {
    let payloads: Vec<(String,)> =
        sqlx::query_as("SELECT payload FROM stripe_events WHERE payment_id = $1 AND outcome = 'applied'")
            .bind(&payment.id)
            .fetch_all(conn)
            .await?;
    let facts: Vec<Fact> = payloads
        .iter()
        .filter_map(|(p,)| serde_json::from_str::<Value>(p).ok())
        .flat_map(|e| {
            facts_of(e["type"].as_str().unwrap_or(""), &e["data"]["object"], e["created"].as_i64().unwrap_or(0))
        })
        .collect();
    Ok(derive(payment.amount_minor, &facts))
}

/// Gives a newly paid payment the next receipt number of its brand and a token of its own, and
/// queues the receipt email. Two payments of one brand paid at once on PostgreSQL may race for a
/// number: the unique index refuses the second, whose job then runs again.
async fn issue_receipt(conn: &mut sqlx::AnyConnection, payment: &Payment) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET receipt_token = $1, \
         receipt_number = (SELECT COALESCE(MAX(receipt_number), 0) + 1 FROM payments WHERE brand = $2) \
         WHERE id = $3 AND receipt_number IS NULL",
    )
    .bind(super::store::new_token())
    .bind(&payment.brand)
    .bind(&payment.id)
    .execute(&mut *conn)
    .await?;
    outbox::enqueue(conn, &Job::EmailReceipt { payment_id: payment.id.clone() }).await
}
