//! The payer coming back from Stripe Checkout: to the success page, or to the cancel page.
//! The session id in the address proves nothing by itself, so Remit asks Stripe about the session
//! and, when Stripe says it completed, applies that through the same state machine as a webhook.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde_json::json;

use super::{
    Payment, Payments,
    apply::EventHeader,
    events::ABANDONED_CHECKOUT,
    store::{self, Audit},
};
use crate::{
    db::now_ms,
    payments::{ApplyError, PaymentStatus},
    stripe::{CheckoutSession, StripeError},
};

#[derive(Debug, thiserror::Error)]
pub enum ReturnError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// A Checkout session id as Stripe writes them; anything else is not looked up at all.
fn well_formed(session_id: &str) -> bool {
    let Some(rest) = session_id.strip_prefix("cs_test_").or_else(|| session_id.strip_prefix("cs_live_")) else {
        return false;
    };
    !rest.is_empty() && rest.len() <= 250 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A payment whose return page nothing but a change to the payment itself can alter: Stripe has
/// nothing more to say about its session.
fn is_final(payment: &Payment) -> bool {
    payment.status().is_settled() || payment.status() == PaymentStatus::Canceled
}

impl Payments {
    /// The payment of a Checkout session Remit knows, when it is final (see [`is_final`]): one
    /// indexed read, nothing asked of Stripe.
    pub async fn final_by_checkout_session(&self, session_id: &str) -> Result<Option<Payment>, sqlx::Error> {
        if !well_formed(session_id) {
            return Ok(None);
        }
        Ok(store::by_checkout_session(&self.db, session_id).await?.filter(is_final))
    }

    /// The payment a payer returned to the success page for, brought up to date with what Stripe
    /// says about the session when Remit has not heard its webhook yet.
    pub async fn confirm_return(
        &self,
        session_id: &str,
        lookup_allowed: impl FnOnce() -> bool,
    ) -> Result<Option<Payment>, ReturnError> {
        let Some((payment, mut session)) = self.returning(session_id, lookup_allowed).await? else { return Ok(None) };
        if is_final(&payment) {
            return Ok(Some(payment));
        }
        let session = match session.take() {
            Some(session) => session,
            None => self.stripe.retrieve_checkout_session(session_id).await?,
        };
        if session.status.as_deref() != Some("complete") {
            return Ok(Some(payment));
        }
        // What Stripe says, recorded as the event it stands for: a webhook carrying the same facts
        // later changes nothing.
        let header = EventHeader {
            id: format!("remit_return_{}_{}", session.id, session.payment_status),
            event_type: "checkout.session.completed".into(),
        };
        let payload = json!({
            "id": header.id, "object": "event", "type": header.event_type, "created": now_ms() / 1000,
            "data": { "object": {
                "id": session.id, "object": "checkout.session", "status": session.status,
                "payment_status": session.payment_status, "payment_intent": session.payment_intent,
                "metadata": { "remit_payment_id": payment.id },
            } },
        });
        self.record_and_apply(&header, &payload).await?;
        Ok(store::by_id(&self.db, &payment.id).await?)
    }

    /// Records an event of Remit's own and applies it at once, the first time only: a reload
    /// finds it recorded and changes nothing.
    async fn record_and_apply(&self, header: &EventHeader, payload: &serde_json::Value) -> Result<(), ReturnError> {
        if self.record_event(header, &payload.to_string()).await? {
            self.apply_event(&header.id).await?;
        }
        Ok(())
    }

    /// The payment of a Checkout session the payer left without paying, with the visit in its
    /// audit trail; a failed attempt as well when the mapping counts a cancel as a failure.
    pub async fn abandoned_checkout(
        &self,
        session_id: &str,
        lookup_allowed: impl FnOnce() -> bool,
    ) -> Result<Option<Payment>, ReturnError> {
        let Some((payment, _)) = self.returning(session_id, lookup_allowed).await? else { return Ok(None) };
        if self.abandoned_checkout_fails && payment.status().is_payable() {
            let header =
                EventHeader { id: format!("remit_abandoned_{session_id}"), event_type: ABANDONED_CHECKOUT.into() };
            let payload = json!({
                "id": header.id, "object": "event", "type": header.event_type, "created": now_ms() / 1000,
                "data": { "object": { "id": session_id, "object": "checkout.session", "metadata": { "remit_payment_id": payment.id } } },
            });
            self.record_and_apply(&header, &payload).await?;
        }
        // Once per session: a reload or a link prefetcher changes nothing after the first visit.
        let visit = format!("remit_cancel_{session_id}");
        let entry = Audit {
            payment_id: &payment.id,
            from: Some(payment.status()),
            to: payment.status(),
            cause: "payer returned from Checkout without paying",
            event_id: Some(&visit),
        };
        store::audit_once(&self.db, &entry).await?;
        Ok(Some(payment))
    }

    /// The payment behind a session id: the session Remit recorded, else whatever Stripe says the
    /// session belongs to (with the session, so it is not fetched twice). Stripe is asked about an
    /// unrecorded session only when `lookup_allowed` says so, and once per id that proved unknown.
    async fn returning(
        &self,
        session_id: &str,
        lookup_allowed: impl FnOnce() -> bool,
    ) -> Result<Option<(Payment, Option<CheckoutSession>)>, ReturnError> {
        if !well_formed(session_id) {
            return Ok(None);
        }
        if let Some(payment) = store::by_checkout_session(&self.db, session_id).await? {
            return Ok(Some((payment, None)));
        }
        if self.unknown_sessions.contains(session_id) || !lookup_allowed() {
            return Ok(None);
        }
        let session = match self.stripe.retrieve_checkout_session(session_id).await {
            Ok(session) => session,
            Err(StripeError::InvalidRequest { status: 404, .. }) => {
                self.unknown_sessions.remember(session_id);
                return Ok(None);
            }
            Err(other) => return Err(other.into()),
        };
        let found = match session.metadata.get("remit_payment_id") {
            Some(id) => store::by_id(&self.db, id).await?,
            None => None,
        };
        if found.is_none() {
            self.unknown_sessions.remember(session_id);
        }
        Ok(found.map(|payment| (payment, Some(session))))
    }
}

/// Checkout session ids Stripe said are not Remit's, remembered for a while so that asking again
/// costs nothing. Bounded: past its capacity it forgets what it knew.
#[derive(Clone, Default)]
pub struct UnknownSessions(std::sync::Arc<std::sync::Mutex<HashMap<String, Instant>>>);

const FORGET_UNKNOWN_AFTER: Duration = Duration::from_secs(10 * 60);
const UNKNOWN_CAPACITY: usize = 10_000;

impl UnknownSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn contains(&self, session_id: &str) -> bool {
        self.lock().get(session_id).is_some_and(|at| at.elapsed() < FORGET_UNKNOWN_AFTER)
    }

    fn remember(&self, session_id: &str) {
        let mut known = self.lock();
        if known.len() >= UNKNOWN_CAPACITY {
            known.retain(|_, at| at.elapsed() < FORGET_UNKNOWN_AFTER);
            if known.len() >= UNKNOWN_CAPACITY {
                known.clear();
            }
        }
        known.insert(session_id.to_owned(), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_stripe_shaped_session_ids_are_looked_up() {
        assert!(super::well_formed("cs_test_a1B2c3"));
        assert!(super::well_formed("cs_live_a1B2c3"));
        for bad in ["", "cs_test_", "pi_123", "cs_test_abc/../x", "cs_test_a b", "' OR 1=1"] {
            assert!(!super::well_formed(bad), "{bad:?}");
        }
    }
}
