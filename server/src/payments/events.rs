//! How Stripe's events move a payment. Each event contributes *facts* (this session completed
//! unpaid, that attempt failed with this code, so much was refunded); the payment's state is a
//! function of the set of facts. Adding a fact twice changes nothing and facts can arrive in any
//! order, so duplicated, late and reordered webhooks all end in the state in-order delivery gives.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Currency, Payment, PaymentStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// Money was collected (by card, or a delayed method that settled).
    Paid {
        at: i64,
        payment_intent: Option<String>,
        /// What was collected, when the event says: (minor units, lowercase currency).
        amount: Option<(i64, String)>,
    },
    /// A Checkout session completed with a delayed method still settling.
    Processing { session: String },
    /// That session's delayed payment finished, either way.
    Settled { session: String },
    /// One failed attempt, by its own id (a charge, or a session for delayed methods).
    Failed { attempt: String, reason: String, at: i64 },
    /// Why that attempt failed, as Stripe said when asked (an invoice's events do not say).
    FailureCode { attempt: String, code: String },
    /// The charge's cumulative refunded amount.
    Refunded { amount_refunded: i64 },
    /// A refund as one of its own events shows it; `status` is Stripe's.
    RefundObject { id: String, amount: i64, status: String },
    /// A dispute as one of its events shows it; `status` is Stripe's (`needs_response`, `won`, …).
    Dispute {
        id: String,
        amount: i64,
        reason: String,
        /// Unix seconds: when the evidence is due.
        due_by: Option<i64>,
        status: String,
    },
}

/// The event Remit records itself when a payer leaves Checkout and that counts as a failure.
pub const ABANDONED_CHECKOUT: &str = "remit.checkout.abandoned";

/// The event Remit records itself with the decline code behind a failed invoice attempt, read
/// from the invoice's PaymentIntent: the invoice's own events do not carry it.
pub const INVOICE_PAYMENT_ERROR: &str = "remit.invoice.payment_error";

/// That event, for attempt `attempt` of `invoice` of the payment: (its id, its payload).
pub fn invoice_payment_error(
    invoice: &str,
    attempt: i64,
    code: &str,
    payment_id: &str,
    created: i64,
) -> (String, Value) {
    let id = format!("remit_invoice_error_{invoice}_{attempt}");
    let payload = serde_json::json!({
        "id": id, "object": "event", "type": INVOICE_PAYMENT_ERROR, "created": created,
        "data": { "object": {
            "id": invoice_attempt(invoice, attempt), "object": "invoice_payment_error", "code": code,
            "metadata": { "remit_payment_id": payment_id },
        } },
    });
    (id, payload)
}

/// A failed invoice attempt's own id: the invoice and Stripe's count of attempts.
fn invoice_attempt(invoice: &str, attempt: i64) -> String {
    format!("{invoice}#{attempt}")
}

/// The facts one event carries. Events Remit does not act on carry none.
pub fn facts_of(event_type: &str, object: &Value, created: i64) -> Vec<Fact> {
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let id = text("id").unwrap_or_default();
    let collected = |key: &str| Some((object[key].as_i64()?, text("currency")?.to_lowercase()));
    match event_type {
        "checkout.session.completed" => match object["payment_status"].as_str() {
            // A subscription with a free trial starts without payment: the link is paid by the
            // subscription's first invoice that collects money.
            Some("no_payment_required") if object["mode"] == "subscription" => {
                vec![Fact::Processing { session: id }]
            }
            Some("paid") | Some("no_payment_required") => vec![Fact::Paid {
                at: created,
                payment_intent: text("payment_intent"),
                amount: collected("amount_total"),
            }],
            _ => vec![Fact::Processing { session: id }],
        },
        "checkout.session.async_payment_succeeded" => vec![
            Fact::Settled { session: id.clone() },
            Fact::Paid { at: created, payment_intent: text("payment_intent"), amount: collected("amount_total") },
        ],
        "checkout.session.async_payment_failed" => vec![
            Fact::Settled { session: id.clone() },
            Fact::Failed { attempt: id, reason: "async_payment_failed".into(), at: created },
        ],
        "payment_intent.succeeded" => vec![Fact::Paid {
            at: created,
            payment_intent: Some(id),
            amount: collected("amount_received").or_else(|| collected("amount")),
        }],
        "payment_intent.payment_failed" => vec![failed_attempt(object, &id, created)],
        // A payment collected by invoice: the invoice's own events say it.
        // (A subscription's invoice of nothing, during a trial, collected nothing.)
        "invoice.paid" if object["amount_paid"].as_i64().unwrap_or(0) > 0 => {
            vec![Fact::Paid { at: created, payment_intent: None, amount: collected("amount_paid") }]
        }
        "invoice.payment_failed" => vec![Fact::Failed {
            attempt: invoice_attempt(&id, object["attempt_count"].as_i64().unwrap_or(0)),
            reason: "invoice_payment_failed".into(),
            at: created,
        }],
        "charge.refunded" => {
            vec![Fact::Refunded { amount_refunded: object["amount_refunded"].as_i64().unwrap_or(0) }]
        }
        "refund.created" | "refund.updated" | "refund.failed" => vec![Fact::RefundObject {
            id,
            amount: object["amount"].as_i64().unwrap_or(0),
            status: text("status").unwrap_or_else(|| "pending".into()),
        }],
        "charge.dispute.created"
        | "charge.dispute.updated"
        | "charge.dispute.funds_withdrawn"
        | "charge.dispute.funds_reinstated"
        | "charge.dispute.closed" => vec![Fact::Dispute {
            id,
            amount: object["amount"].as_i64().unwrap_or(0),
            reason: text("reason").unwrap_or_else(|| "general".into()),
            due_by: object["evidence_details"]["due_by"].as_i64(),
            status: text("status").unwrap_or_else(|| "needs_response".into()),
        }],
        // Remit's own: the payer left Checkout without paying (only when the mapping says so).
        ABANDONED_CHECKOUT => vec![Fact::Failed { attempt: id, reason: "canceled_by_payer".into(), at: created }],
        INVOICE_PAYMENT_ERROR => {
            text("code").map(|code| vec![Fact::FailureCode { attempt: id, code }]).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// A payment intent's failed attempt: by its charge, with the decline code as the reason.
fn failed_attempt(object: &Value, id: &str, created: i64) -> Fact {
    let error = &object["last_payment_error"];
    let reason =
        error["decline_code"].as_str().or_else(|| error["code"].as_str()).unwrap_or("payment_failed").to_owned();
    let attempt = error["charge"]
        .as_str()
        .or_else(|| object["latest_charge"].as_str())
        .map_or_else(|| format!("{id}@{created}"), str::to_owned);
    Fact::Failed { attempt, reason, at: created }
}

/// What the facts say about a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub status: PaymentStatus,
    /// The reason code of the latest failed attempt.
    pub failure_reason: Option<String>,
    pub failed_attempts: i64,
    /// Every failed attempt, oldest first.
    pub failures: Vec<FailedAttempt>,
    pub paid_at: Option<i64>,
    pub payment_intent: Option<String>,
    /// What was collected, when Stripe said: (minor units, lowercase currency).
    pub paid_amount: Option<(i64, String)>,
    /// How much of the payment has been refunded, in minor units (a lost dispute's amount included).
    pub refunded_minor: i64,
    /// Every dispute, by id.
    pub disputes: Vec<Dispute>,
}

/// A dispute as all its events together say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub reason: String,
    pub due_by: Option<i64>,
    /// `won` or `lost` once closed; `None` while open.
    pub outcome: Option<String>,
}

/// Stripe's statuses of a closed dispute, and what each one means for the money.
fn outcome_of(status: &str) -> Option<&'static str> {
    match status {
        "won" | "warning_closed" => Some("won"),
        "lost" => Some("lost"),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAttempt {
    pub attempt: String,
    pub reason: String,
    /// Unix seconds.
    pub at: i64,
}

pub fn derive(amount_minor: i64, facts: &[Fact]) -> Derived {
    let mut paid_at: Option<i64> = None;
    let mut payment_intent = None;
    // Every amount any paid event named; the largest, should they ever differ, so that the order
    // of events cannot change the answer.
    let mut paid_amount: Option<(i64, String)> = None;
    let mut processing = BTreeSet::new();
    let mut settled = BTreeSet::new();
    let mut failures: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
    let mut codes: BTreeMap<&str, &str> = BTreeMap::new();
    let mut charge_refunded = 0;
    for fact in facts {
        match fact {
            Fact::Paid { at, payment_intent: intent, amount } => {
                paid_at = Some(paid_at.map_or(*at, |earliest| earliest.min(*at)));
                paid_amount = paid_amount.max(amount.clone());
                if intent.is_some() && payment_intent.is_none() {
                    payment_intent.clone_from(intent);
                }
            }
            Fact::Processing { session } => {
                processing.insert(session.as_str());
            }
            Fact::Settled { session } => {
                settled.insert(session.as_str());
            }
            Fact::Failed { attempt, reason, at } => {
                failures.insert(attempt.as_str(), (*at, reason.as_str()));
            }
            Fact::Refunded { amount_refunded } => charge_refunded = charge_refunded.max(*amount_refunded),
            Fact::FailureCode { attempt, code } => {
                codes.insert(attempt.as_str(), code.as_str());
            }
            Fact::RefundObject { .. } | Fact::Dispute { .. } => {}
        }
    }
    let disputes = disputes_of(facts);
    let disputed = disputes.iter().any(|d| d.outcome.is_none());
    let refunded = refunded_of(amount_minor, charge_refunded, facts, &disputes);
    let settling = processing.difference(&settled).next().is_some();
    let status = status_of(amount_minor, disputed, refunded, paid_at.is_some(), settling, !failures.is_empty());
    // Oldest first by time, then by attempt id, so ties resolve the same way every time.
    let mut failures: Vec<FailedAttempt> = failures
        .into_iter()
        .map(|(attempt, (at, reason))| FailedAttempt {
            attempt: attempt.to_owned(),
            reason: codes.get(attempt).copied().unwrap_or(reason).to_owned(),
            at,
        })
        .collect();
    failures.sort_by(|a, b| a.at.cmp(&b.at).then(a.attempt.cmp(&b.attempt)));
    let failure_reason = failures.last().map(|f| f.reason.clone());
    Derived {
        status,
        failure_reason,
        failed_attempts: failures.len() as i64,
        failures,
        paid_at,
        payment_intent,
        paid_amount,
        refunded_minor: refunded,
        disputes,
    }
}

/// Every dispute, as all its events together say: a closed dispute stays closed whatever order its
/// events come in (lost outranks won, should Stripe ever say both).
fn disputes_of(facts: &[Fact]) -> Vec<Dispute> {
    let mut disputes: BTreeMap<&str, Dispute> = BTreeMap::new();
    for fact in facts {
        let Fact::Dispute { id, amount, reason, due_by, status } = fact else { continue };
        let dispute = disputes.entry(id.as_str()).or_insert_with(|| Dispute {
            id: id.clone(),
            amount: *amount,
            reason: reason.clone(),
            due_by: *due_by,
            outcome: None,
        });
        dispute.outcome = dispute.outcome.clone().max(outcome_of(status).map(str::to_owned));
        dispute.amount = dispute.amount.max(*amount);
        dispute.due_by = dispute.due_by.max(*due_by);
    }
    disputes.into_values().collect()
}

/// How much went back to the payer: refunds, less those the bank returned, and lost disputes.
/// The charge's largest `amount_refunded` counted refunds that failed since; the refunds' own
/// events say which. Either source alone may be missing, so the larger estimate wins.
fn refunded_of(amount_minor: i64, charge_refunded: i64, facts: &[Fact], disputes: &[Dispute]) -> i64 {
    // Each refund's amount and its furthest status (pending → succeeded → failed or canceled).
    let mut refunds: BTreeMap<&str, (i64, u8)> = BTreeMap::new();
    for fact in facts {
        let Fact::RefundObject { id, amount, status } = fact else { continue };
        let rank = match status.as_str() {
            "succeeded" => 1,
            "failed" | "canceled" => 2,
            _ => 0,
        };
        let entry = refunds.entry(id.as_str()).or_insert((*amount, rank));
        *entry = (entry.0.max(*amount), entry.1.max(rank));
    }
    let failed: i64 = refunds.values().filter(|(_, rank)| *rank == 2).map(|(amount, _)| amount).sum();
    let standing: i64 = refunds.values().filter(|(_, rank)| *rank < 2).map(|(amount, _)| amount).sum();
    let refunded = standing.max(charge_refunded - failed).max(0);
    let lost: i64 = disputes.iter().filter(|d| d.outcome.as_deref() == Some("lost")).map(|d| d.amount).sum();
    (refunded + lost).min(amount_minor.max(refunded))
}

/// The state the facts add up to: money moving back outranks money collected, which outranks
/// money settling, which outranks failed attempts.
fn status_of(
    amount_minor: i64,
    disputed: bool,
    refunded: i64,
    paid: bool,
    settling: bool,
    failed: bool,
) -> PaymentStatus {
    if disputed {
        PaymentStatus::Disputed
    } else if refunded >= amount_minor && refunded > 0 {
        PaymentStatus::Refunded
    } else if refunded > 0 {
        PaymentStatus::PartiallyRefunded
    } else if paid {
        PaymentStatus::Paid
    } else if settling {
        PaymentStatus::Processing
    } else if failed {
        PaymentStatus::Failed
    } else {
        PaymentStatus::Open
    }
}

/// Where the payment goes given what Stripe's events say. Only money moving overrides a local
/// cancel: a payer who paid an old session before it expired has paid.
pub fn next_status(current: PaymentStatus, derived: PaymentStatus) -> PaymentStatus {
    match current {
        PaymentStatus::Canceled | PaymentStatus::Expired
            if matches!(derived, PaymentStatus::Open | PaymentStatus::Failed) =>
        {
            current
        }
        _ => derived,
    }
}

/// The facts of stored event payloads (unreadable ones carry none).
pub fn facts_of_payloads(payloads: &[String]) -> Vec<Fact> {
    payloads
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .flat_map(|e| {
            facts_of(e["type"].as_str().unwrap_or(""), &e["data"]["object"], e["created"].as_i64().unwrap_or(0))
        })
        .collect()
}

/// What applying one event does to a payment, decided from the payment as stored and what all
/// of its applied events (this one included) now say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub payment_id: String,
    pub from: PaymentStatus,
    pub to: PaymentStatus,
    pub failure_reason: Option<String>,
    pub failed_attempts: i64,
    /// Unix milliseconds; kept from the first time the payment was paid.
    pub paid_at_ms: Option<i64>,
    pub payment_intent: Option<String>,
    /// The payment's recorded Checkout session expired: the next pay button makes a new one.
    pub forget_session: bool,
    /// Something Salesforce shows changed, so the payment is synced.
    pub changed: bool,
    /// The event type, as the audit log's cause.
    pub cause: String,
    /// Newly paid: it gets the next receipt number of this brand, and its receipt is emailed.
    pub issue_receipt_for_brand: Option<String>,
    /// What was collected, when Stripe said: (minor units, lowercase currency).
    pub paid_amount: Option<(i64, String)>,
    /// First seen now: what was paid is not what the payment asks (its terms changed while the
    /// payer paid). Logged and tasked, never a silent Paid.
    pub newly_differs: Option<String>,
    /// How much Stripe's events say was refunded (less, once a refund fails at the bank).
    pub refunded_minor: i64,
}

impl Change {
    /// Whether the payment row is written at all.
    pub fn writes(&self) -> bool {
        self.changed || self.forget_session
    }

    pub fn moved(&self) -> bool {
        self.from != self.to
    }
}

pub fn decide(payment: &Payment, derived: &Derived, event: &Value) -> Change {
    let from = payment.status();
    let to = next_status(from, derived.status);
    let forget_session = event["type"] == "checkout.session.expired"
        && payment.stripe_checkout_session_id.as_deref() == event["data"]["object"]["id"].as_str();
    let stored_paid = payment.paid_amount_minor.zip(payment.paid_currency.clone());
    let changed = to != from
        || derived.failure_reason != payment.failure_reason
        || derived.failed_attempts != payment.failed_attempts
        || derived.payment_intent.is_some() && derived.payment_intent != payment.stripe_payment_intent_id
        || derived.paid_amount.is_some() && derived.paid_amount != stored_paid
        || derived.refunded_minor != payment.refunded_minor;
    let newly_differs = derived
        .paid_amount
        .as_ref()
        .filter(|_| stored_paid.is_none())
        .filter(|(amount, currency)| {
            *amount != payment.amount_minor || !currency.eq_ignore_ascii_case(&payment.currency)
        })
        .map(|(amount, currency)| {
            let paid = match Currency::parse(currency) {
                Ok(currency) => format!("{} {currency}", currency.format_major(*amount)),
                Err(_) => format!("{amount} {currency} (minor units)"),
            };
            format!("paid {paid}, the payment asks {}", payment.amount_display())
        });
    Change {
        payment_id: payment.id.clone(),
        from,
        to,
        failure_reason: derived.failure_reason.clone(),
        failed_attempts: derived.failed_attempts,
        paid_at_ms: derived.paid_at.map(|seconds| seconds * 1000),
        payment_intent: derived.payment_intent.clone(),
        forget_session,
        changed,
        cause: event["type"].as_str().unwrap_or("stripe event").to_owned(),
        issue_receipt_for_brand: (to.is_settled() && payment.receipt_number.is_none()).then(|| payment.brand.clone()),
        paid_amount: derived.paid_amount.clone(),
        newly_differs,
        refunded_minor: derived.refunded_minor,
    }
}

/// A refund as one of its own events (`refund.created`, `refund.updated`, `refund.failed`) shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundSeen {
    pub stripe_refund_id: String,
    /// Remit's id, when Remit asked for the refund (its metadata says so).
    pub remit_refund_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub status: String,
}

pub fn refund_seen(event: &Value) -> Option<RefundSeen> {
    let kind = event["type"].as_str()?;
    if !kind.starts_with("refund.") {
        return None;
    }
    let object = &event["data"]["object"];
    Some(RefundSeen {
        stripe_refund_id: object["id"].as_str()?.to_owned(),
        remit_refund_id: object["metadata"]["remit_refund_id"].as_str().map(str::to_owned),
        amount_minor: object["amount"].as_i64().unwrap_or(0),
        currency: object["currency"].as_str().unwrap_or_default().to_owned(),
        reason: object["reason"].as_str().map(str::to_owned),
        status: match object["status"].as_str() {
            Some("succeeded") => "succeeded",
            Some("failed") => "failed",
            Some("canceled") => "canceled",
            _ => "pending",
        }
        .to_owned(),
    })
}

/// Whether an event can be the news that a refund succeeded, so its payment's refunds are looked
/// at for credit notes to issue: a refund's own events, and `charge.refunded` for a refund whose
/// success Stripe's API answer recorded before any refund event came.
pub fn may_settle_a_refund(event: &Value) -> bool {
    event["type"].as_str().is_some_and(|kind| kind.starts_with("refund.") || kind == "charge.refunded")
}

/// Whether an event's object that matched no recorded payment might still be Remit's, so its
/// payment intent is worth reading back from Stripe: only when the object has no metadata of its
/// own to say (a charge, say). A payment intent's metadata is what Stripe would answer, and other
/// metadata without `remit_payment_id` is another system's.
pub fn worth_asking_stripe(object: &Value) -> bool {
    let own_metadata = object["metadata"].as_object().is_some_and(|m| !m.is_empty());
    object["object"] != "payment_intent" && !own_metadata
}

/// Why an event matched no payment, in words for an operator.
pub fn unmatched_reason(event: &Value) -> String {
    let object = &event["data"]["object"];
    let kind = object["object"].as_str().unwrap_or("object");
    let id = object["id"].as_str().unwrap_or("?");
    if let Some(payment) = object["metadata"]["remit_payment_id"].as_str() {
        return format!("its {kind} names Remit payment {payment}, which this database does not have");
    }
    if object["metadata"].as_object().is_some_and(|m| !m.is_empty()) {
        return format!("another system's: the {kind}'s metadata has no remit_payment_id");
    }
    match (kind, object["payment_intent"].as_str()) {
        ("checkout.session", _) => format!("Checkout session {id} is not one Remit made"),
        ("payment_intent", _) => format!("payment intent {id} is not one of Remit's payments"),
        (_, Some(intent)) => format!("payment intent {intent} of this {kind} is not one of Remit's payments"),
        _ => format!("a {kind} without a payment intent: nothing ties it to a payment"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unmatched_event_says_why() {
        use super::unmatched_reason;
        let event = |object: serde_json::Value| json!({ "data": { "object": object } });
        let named = event(json!({ "object": "charge", "id": "ch_1", "metadata": { "remit_payment_id": "p-9" } }));
        assert!(unmatched_reason(&named).contains("names Remit payment p-9"));
        let foreign = event(json!({ "object": "payment_intent", "id": "pi_1", "metadata": { "order": "42" } }));
        assert!(unmatched_reason(&foreign).starts_with("another system's"));
        let session = event(json!({ "object": "checkout.session", "id": "cs_1", "metadata": {} }));
        assert_eq!(unmatched_reason(&session), "Checkout session cs_1 is not one Remit made");
        let charge = event(json!({ "object": "charge", "id": "ch_2", "payment_intent": "pi_7" }));
        assert!(unmatched_reason(&charge).contains("payment intent pi_7 of this charge"));
        let payout = event(json!({ "object": "payout", "id": "po_1" }));
        assert!(unmatched_reason(&payout).contains("a payout without a payment intent"));
    }

    #[test]
    fn refund_events_and_charge_refunded_may_settle_a_refund() {
        use super::may_settle_a_refund;
        for kind in ["refund.created", "refund.updated", "refund.failed", "charge.refunded"] {
            assert!(may_settle_a_refund(&json!({ "type": kind })), "{kind}");
        }
        for kind in ["charge.succeeded", "checkout.session.completed", "charge.dispute.closed"] {
            assert!(!may_settle_a_refund(&json!({ "type": kind })), "{kind}");
        }
    }

    #[test]
    fn only_objects_without_metadata_of_their_own_are_looked_up_in_stripe() {
        use super::worth_asking_stripe;
        assert!(worth_asking_stripe(&json!({ "object": "charge", "payment_intent": "pi_1", "metadata": {} })));
        assert!(worth_asking_stripe(&json!({ "object": "charge", "payment_intent": "pi_1" })));
        assert!(!worth_asking_stripe(&json!({ "object": "charge", "metadata": { "order": "42" } })));
        assert!(!worth_asking_stripe(&json!({ "object": "payment_intent", "metadata": {} })));
        assert!(!worth_asking_stripe(&json!({ "object": "checkout.session", "metadata": { "shop": "x" } })));
    }

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// The events of one payment's life, in the order Stripe would send them.
    fn scenario(kind: u8) -> Vec<(&'static str, Value, i64)> {
        let declined = |charge: &str, at| {
            (
                "payment_intent.payment_failed",
                json!({ "id": "pi_1", "latest_charge": charge, "last_payment_error": { "charge": charge, "code": "card_declined", "decline_code": "insufficient_funds" } }),
                at,
            )
        };
        let paid_session = (
            "checkout.session.completed",
            json!({ "id": "cs_1", "payment_status": "paid", "payment_intent": "pi_1" }),
            30,
        );
        let succeeded = ("payment_intent.succeeded", json!({ "id": "pi_1" }), 30);
        match kind % 8 {
            0 => vec![declined("ch_1", 10), declined("ch_2", 20), succeeded, paid_session],
            1 => vec![
                (
                    "checkout.session.completed",
                    json!({ "id": "cs_1", "payment_status": "unpaid", "payment_intent": "pi_1" }),
                    10,
                ),
                ("checkout.session.async_payment_succeeded", json!({ "id": "cs_1", "payment_intent": "pi_1" }), 40),
                succeeded,
            ],
            2 => vec![
                ("checkout.session.completed", json!({ "id": "cs_1", "payment_status": "unpaid" }), 10),
                ("checkout.session.async_payment_failed", json!({ "id": "cs_1" }), 40),
            ],
            3 => vec![
                succeeded,
                paid_session,
                ("charge.refunded", json!({ "id": "ch_3", "amount_refunded": 500 }), 50),
                ("charge.refunded", json!({ "id": "ch_3", "amount_refunded": 12500 }), 60),
            ],
            4 => vec![declined("ch_1", 10), succeeded, ("charge.dispute.created", json!({ "id": "dp_1" }), 70)],
            money_back => money_back_scenario(money_back, succeeded),
        }
    }

    /// Scenarios where money goes back: disputes won and lost, a refund the bank returns.
    fn money_back_scenario(kind: u8, succeeded: (&'static str, Value, i64)) -> Vec<(&'static str, Value, i64)> {
        match kind {
            5 => vec![
                succeeded,
                ("charge.dispute.created", dispute("needs_response"), 70),
                ("charge.dispute.funds_withdrawn", dispute("needs_response"), 71),
                ("charge.dispute.updated", dispute("under_review"), 80),
                ("charge.dispute.funds_reinstated", dispute("won"), 90),
                ("charge.dispute.closed", dispute("won"), 90),
            ],
            6 => vec![
                succeeded,
                ("charge.refunded", json!({ "id": "ch_3", "amount_refunded": 2500 }), 50),
                ("charge.dispute.created", dispute("needs_response"), 70),
                ("charge.dispute.closed", dispute("lost"), 90),
            ],
            // A refund that the bank returns: paid again.
            _ => {
                let refund =
                    |status: &str| json!({ "id": "re_1", "object": "refund", "amount": 2500, "status": status });
                vec![
                    succeeded,
                    ("refund.created", refund("pending"), 50),
                    ("charge.refunded", json!({ "id": "ch_3", "amount_refunded": 2500 }), 50),
                    ("refund.updated", refund("succeeded"), 51),
                    ("refund.failed", refund("failed"), 60),
                ]
            }
        }
    }

    fn dispute(status: &str) -> Value {
        json!({ "id": "dp_9", "object": "dispute", "amount": 10_000, "reason": "fraudulent", "status": status,
                "evidence_details": { "due_by": 1_900_000_000 } })
    }

    fn run(events: &[(&str, Value, i64)]) -> Derived {
        let facts: Vec<Fact> = events.iter().flat_map(|(t, o, at)| facts_of(t, o, *at)).collect();
        derive(12_500, &facts)
    }

    proptest! {
        #[test]
        fn any_interleaving_duplication_or_reordering_ends_where_in_order_delivery_ends((kind, delivered) in crate::testing::deliveries(8, scenario)) {
            prop_assert_eq!(run(&delivered), run(&scenario(kind)));
        }
    }

    #[test]
    fn each_scenario_ends_in_the_state_its_story_says() {
        assert_eq!(run(&scenario(0)).status, PaymentStatus::Paid);
        assert_eq!(run(&scenario(0)).failed_attempts, 2);
        assert_eq!(run(&scenario(1)).status, PaymentStatus::Paid);
        let failed = run(&scenario(2));
        assert_eq!(
            (failed.status, failed.failure_reason.as_deref()),
            (PaymentStatus::Failed, Some("async_payment_failed"))
        );
        assert_eq!(run(&scenario(3)).status, PaymentStatus::Refunded);
        assert_eq!(run(&scenario(4)).status, PaymentStatus::Disputed);
        let won = run(&scenario(5));
        assert_eq!((won.status, won.refunded_minor), (PaymentStatus::Paid, 0), "a won dispute is paid again");
        assert_eq!(won.disputes[0].outcome.as_deref(), Some("won"));
        let lost = run(&scenario(6));
        assert_eq!(
            (lost.status, lost.refunded_minor),
            (PaymentStatus::Refunded, 12_500),
            "refunded by the disputed amount"
        );
    }

    #[test]
    fn a_delayed_payment_is_processing_until_it_settles() {
        let completed =
            facts_of("checkout.session.completed", &json!({ "id": "cs_1", "payment_status": "unpaid" }), 10);
        assert_eq!(derive(100, &completed).status, PaymentStatus::Processing);
    }

    #[test]
    fn a_subscription_in_its_free_trial_is_not_paid_until_an_invoice_collects_money() {
        let session = json!({ "id": "cs_1", "mode": "subscription", "payment_status": "no_payment_required", "amount_total": 0, "currency": "usd" });
        let mut facts = facts_of("checkout.session.completed", &session, 10);
        facts.extend(facts_of("invoice.paid", &json!({ "id": "in_0", "amount_paid": 0, "currency": "usd" }), 10));
        assert_eq!(derive(12_500, &facts).status, PaymentStatus::Processing);
        facts.extend(facts_of("invoice.paid", &json!({ "id": "in_1", "amount_paid": 12_500, "currency": "usd" }), 90));
        let derived = derive(12_500, &facts);
        assert_eq!((derived.status, derived.paid_at), (PaymentStatus::Paid, Some(90)));
    }

    #[test]
    fn a_late_expiry_or_failure_never_undoes_paid() {
        let mut facts = facts_of("payment_intent.succeeded", &json!({ "id": "pi_1" }), 10);
        facts.extend(facts_of("checkout.session.expired", &json!({ "id": "cs_1" }), 20));
        facts.extend(facts_of(
            "payment_intent.payment_failed",
            &json!({ "id": "pi_1", "latest_charge": "ch_0", "last_payment_error": { "code": "card_declined" } }),
            5,
        ));
        assert_eq!(derive(100, &facts).status, PaymentStatus::Paid);
    }

    #[test]
    fn an_invoice_paid_after_a_failed_attempt_is_paid_with_that_one_failure() {
        let invoice = |status: &str, attempts: i64| {
            json!({ "id": "in_1", "object": "invoice", "status": status, "attempt_count": attempts,
                    "amount_paid": if status == "paid" { 12_500 } else { 0 }, "currency": "usd" })
        };
        let events = [
            ("invoice.finalized", invoice("open", 0), 10),
            ("invoice.payment_failed", invoice("open", 1), 20),
            ("invoice.payment_failed", invoice("open", 1), 20),
            ("invoice.paid", invoice("paid", 2), 30),
            ("invoice.voided", invoice("void", 0), 5),
        ];
        let derived = run(&events);
        assert_eq!((derived.status, derived.failed_attempts), (PaymentStatus::Paid, 1));
        assert_eq!(derived.paid_amount, Some((12_500, "usd".to_owned())));
        assert_eq!(derived.failures[0].attempt, "in_1#1");
    }

    #[test]
    fn a_failed_invoice_attempt_takes_the_decline_code_stripe_gave_in_either_order() {
        let failed = ("invoice.payment_failed", json!({ "id": "in_1", "attempt_count": 1 }), 20);
        let (_, learned) = invoice_payment_error("in_1", 1, "insufficient_funds", "p1", 21);
        let learned = (INVOICE_PAYMENT_ERROR, learned["data"]["object"].clone(), 21);
        for events in [[failed.clone(), learned.clone()], [learned, failed]] {
            let derived = run(&events);
            assert_eq!(derived.failures.len(), 1);
            assert_eq!(derived.failure_reason.as_deref(), Some("insufficient_funds"));
        }
        let alone = run(&[("invoice.payment_failed", json!({ "id": "in_1", "attempt_count": 2 }), 20)]);
        assert_eq!(alone.failure_reason.as_deref(), Some("invoice_payment_failed"));
    }

    #[test]
    fn a_partial_refund_is_partially_refunded() {
        let mut facts = facts_of("payment_intent.succeeded", &json!({ "id": "pi_1" }), 10);
        facts.extend(facts_of("charge.refunded", &json!({ "amount_refunded": 40 }), 20));
        assert_eq!(derive(100, &facts).status, PaymentStatus::PartiallyRefunded);
    }

    fn stored(status: PaymentStatus) -> Payment {
        Payment::sample(status)
    }

    fn event(event_type: &str, object: Value) -> Value {
        json!({ "type": event_type, "data": { "object": object } })
    }

    #[test]
    fn a_first_payment_issues_a_receipt_and_a_sync() {
        let paid = event("payment_intent.succeeded", json!({ "id": "pi_1" }));
        let derived = derive(12_500, &facts_of("payment_intent.succeeded", &json!({ "id": "pi_1" }), 30));
        let change = decide(&stored(PaymentStatus::Open), &derived, &paid);
        assert_eq!((change.from, change.to), (PaymentStatus::Open, PaymentStatus::Paid));
        assert!(change.changed && change.moved() && change.writes());
        assert_eq!(change.issue_receipt_for_brand.as_deref(), Some("acme"));
        assert_eq!(change.paid_at_ms, Some(30_000));
        assert_eq!(change.cause, "payment_intent.succeeded");
    }

    #[test]
    fn a_payment_numbered_already_gets_no_second_receipt() {
        let mut payment = stored(PaymentStatus::Paid);
        payment.receipt_number = Some(7);
        let derived = derive(12_500, &facts_of("charge.refunded", &json!({ "amount_refunded": 500 }), 40));
        let refunded = event("charge.refunded", json!({ "amount_refunded": 500 }));
        assert_eq!(decide(&payment, &derived, &refunded).issue_receipt_for_brand, None);
    }

    #[test]
    fn the_recorded_session_expiring_is_forgotten_without_a_sync() {
        let expired = event("checkout.session.expired", json!({ "id": "cs_1" }));
        let change = decide(&stored(PaymentStatus::Open), &derive(12_500, &[]), &expired);
        assert!(change.forget_session && change.writes());
        assert!(!change.changed && !change.moved());
    }

    #[test]
    fn another_session_expiring_changes_nothing() {
        let expired = event("checkout.session.expired", json!({ "id": "cs_old" }));
        let change = decide(&stored(PaymentStatus::Open), &derive(12_500, &[]), &expired);
        assert!(!change.writes());
    }

    #[test]
    fn a_payment_of_another_amount_is_paid_and_said_to_differ_once() {
        let session = json!({ "id": "cs_1", "payment_status": "paid", "amount_total": 12_000, "currency": "usd" });
        let completed = event("checkout.session.completed", session.clone());
        let derived = derive(12_500, &facts_of("checkout.session.completed", &session, 30));
        let change = decide(&stored(PaymentStatus::Open), &derived, &completed);
        assert_eq!(change.to, PaymentStatus::Paid);
        assert_eq!(change.paid_amount, Some((12_000, "usd".to_owned())));
        assert!(change.newly_differs.is_some());
        let mut recorded = stored(PaymentStatus::Paid);
        (recorded.paid_amount_minor, recorded.paid_currency) = (Some(12_000), Some("usd".into()));
        assert_eq!(decide(&recorded, &derived, &completed).newly_differs, None, "said once");
    }

    #[test]
    fn the_asked_amount_paid_does_not_differ() {
        let intent = json!({ "id": "pi_1", "amount_received": 12_500, "currency": "usd" });
        let derived = derive(12_500, &facts_of("payment_intent.succeeded", &intent, 30));
        let change = decide(&stored(PaymentStatus::Open), &derived, &event("payment_intent.succeeded", intent));
        assert_eq!(change.newly_differs, None);
    }

    #[test]
    fn a_cancel_holds_against_failures_but_not_against_money() {
        assert_eq!(next_status(PaymentStatus::Canceled, PaymentStatus::Failed), PaymentStatus::Canceled);
        assert_eq!(next_status(PaymentStatus::Canceled, PaymentStatus::Paid), PaymentStatus::Paid);
        assert_eq!(next_status(PaymentStatus::Open, PaymentStatus::Processing), PaymentStatus::Processing);
    }
}
