//! How Stripe's subscription and invoice events move a subscription, as payments' events move a
//! payment: each event contributes a snapshot of its object, and what Remit shows is a function
//! of the *set* of snapshots. A snapshot delivered twice changes nothing and snapshots may come in
//! any order, so duplicated, late and reordered webhooks end in the state in-order delivery gives.
//!
//! Which snapshot is newest is decided by the event's `created` second, then by the billing period
//! it shows (each renewal starts a later one), then by where its status comes in a period (a
//! subscription is created `incomplete` and made `active` in the same second; a failed renewal is
//! `past_due` before its paid retry is `active`). Ends are final: once canceled, a subscription
//! stays canceled; a paid or voided invoice stays so.

use std::collections::BTreeMap;

use serde_json::Value;

use super::recurring::Interval;

/// A subscription's status, in Stripe's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubscriptionStatus {
    Incomplete,
    Trialing,
    Active,
    PastDue,
    Unpaid,
    Paused,
    IncompleteExpired,
    Canceled,
}

impl SubscriptionStatus {
    pub const ALL: [Self; 8] = [
        Self::Incomplete,
        Self::Trialing,
        Self::Active,
        Self::PastDue,
        Self::Unpaid,
        Self::Paused,
        Self::IncompleteExpired,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Unpaid => "unpaid",
            Self::Paused => "paused",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Stripe never brings such a subscription back.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Canceled | Self::IncompleteExpired)
    }

    /// Which of two statuses shown in the same second of the same billing period came later: a
    /// new subscription is incomplete (or trialing) before it is active, a failed renewal makes it
    /// past due (then unpaid) before the retry that pays makes it active again.
    fn rank_within_period(self) -> u8 {
        match self {
            Self::Incomplete => 0,
            Self::Trialing => 1,
            Self::PastDue => 2,
            Self::Unpaid => 3,
            Self::Active => 4,
            Self::Paused => 5,
            Self::IncompleteExpired => 6,
            Self::Canceled => 7,
        }
    }
}

/// A subscription as one of its events showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    pub id: String,
    /// The event's `created` (Unix seconds).
    pub at: i64,
    pub status: SubscriptionStatus,
    pub customer: Option<String>,
    /// What one billing period costs: every item's unit amount × quantity, in minor units.
    pub amount_minor: i64,
    /// Lower-case, as Stripe sends it.
    pub currency: String,
    pub interval: Option<Interval>,
    pub interval_count: i64,
    /// When the current period ends and the next invoice is due (Unix seconds).
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    /// `remit_payment_id` from the subscription's metadata: the link that started it.
    pub remit_payment_id: Option<String>,
}

/// An invoice's status, in Stripe's words, in the order it can move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InvoiceStatus {
    Draft,
    Open,
    Uncollectible,
    Void,
    Paid,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::Uncollectible => "uncollectible",
            Self::Void => "void",
            Self::Paid => "paid",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Draft, Self::Open, Self::Uncollectible, Self::Void, Self::Paid].into_iter().find(|s| s.as_str() == raw)
    }
}

/// An invoice as one of its events showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceSnapshot {
    pub id: String,
    pub at: i64,
    pub status: InvoiceStatus,
    pub subscription: Option<String>,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    pub number: Option<String>,
    /// `subscription_create`, `subscription_cycle`, `manual`, …
    pub billing_reason: Option<String>,
    /// Unix seconds, from `status_transitions.paid_at`.
    pub paid_at: Option<i64>,
    /// How many times Stripe has tried to collect it.
    pub attempt_count: i64,
    /// When Stripe tries again (Unix seconds); none once it has stopped.
    pub next_payment_attempt: Option<i64>,
    /// This snapshot is of an `invoice.payment_failed` event.
    pub failed: bool,
    pub remit_payment_id: Option<String>,
}

/// What one event says. Events Remit does not act on say nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Subscription(SubscriptionSnapshot),
    Invoice(InvoiceSnapshot),
}

pub const SUBSCRIPTION_EVENTS: [&str; 5] = [
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
];

pub const INVOICE_EVENTS: [&str; 5] =
    ["invoice.finalized", "invoice.paid", "invoice.payment_failed", "invoice.voided", "invoice.marked_uncollectible"];

/// The fact one event carries about a subscription or an invoice, if any.
pub fn fact_of(event_type: &str, object: &Value, created: i64) -> Option<Fact> {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let metadata = |object: &Value| text(&object["metadata"]["remit_payment_id"]);
    if SUBSCRIPTION_EVENTS.contains(&event_type) {
        // A deleted subscription's object says `canceled`; the event alone is enough.
        let status = if event_type == "customer.subscription.deleted" {
            SubscriptionStatus::Canceled
        } else {
            SubscriptionStatus::parse(object["status"].as_str()?)?
        };
        let items = object["items"]["data"].as_array().map(Vec::as_slice).unwrap_or_default();
        let first = items.first().unwrap_or(&Value::Null);
        let recurring = &first["price"]["recurring"];
        let amount_minor = items
            .iter()
            .map(|item| item["price"]["unit_amount"].as_i64().unwrap_or(0) * item["quantity"].as_i64().unwrap_or(1))
            .sum();
        return Some(Fact::Subscription(SubscriptionSnapshot {
            id: text(&object["id"])?,
            at: created,
            status,
            customer: text(&object["customer"]),
            amount_minor,
            currency: text(&object["currency"]).unwrap_or_default().to_lowercase(),
            interval: recurring["interval"].as_str().and_then(Interval::parse),
            interval_count: recurring["interval_count"].as_i64().unwrap_or(1),
            // Since API version 2025-03-31 the period is the items'; before, the subscription's.
            current_period_end: first["current_period_end"].as_i64().or_else(|| object["current_period_end"].as_i64()),
            cancel_at_period_end: object["cancel_at_period_end"].as_bool().unwrap_or(false),
            remit_payment_id: metadata(object),
        }));
    }
    if INVOICE_EVENTS.contains(&event_type) {
        let details = &object["parent"]["subscription_details"];
        return Some(Fact::Invoice(InvoiceSnapshot {
            id: text(&object["id"])?,
            at: created,
            status: InvoiceStatus::parse(object["status"].as_str()?)?,
            // Since 2025-03-31 an invoice names its subscription under `parent`.
            subscription: text(&details["subscription"]).or_else(|| text(&object["subscription"])),
            amount_due: object["amount_due"].as_i64().unwrap_or(0),
            amount_paid: object["amount_paid"].as_i64().unwrap_or(0),
            currency: text(&object["currency"]).unwrap_or_default().to_lowercase(),
            hosted_invoice_url: text(&object["hosted_invoice_url"]),
            number: text(&object["number"]),
            billing_reason: text(&object["billing_reason"]),
            paid_at: object["status_transitions"]["paid_at"].as_i64(),
            attempt_count: object["attempt_count"].as_i64().unwrap_or(0),
            next_payment_attempt: object["next_payment_attempt"].as_i64(),
            failed: event_type == "invoice.payment_failed",
            remit_payment_id: metadata(object).or_else(|| metadata(details)),
        }));
    }
    None
}

/// A status the subscription entered, and when: a Task logs each one in Salesforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<SubscriptionStatus>,
    pub to: SubscriptionStatus,
    /// Unix seconds: the `created` of the event that first showed `to`.
    pub at: i64,
    /// The end of the billing period it was entered in (Unix seconds).
    pub period_end: Option<i64>,
}

impl Transition {
    /// Stable whatever order the events came in, and unique even for transitions of one second:
    /// the Task's external id.
    pub fn key(&self, subscription: &str) -> String {
        format!("{subscription}:{}@{}/{}", self.to.as_str(), self.at, self.period_end.unwrap_or(0))
    }
}

/// What all of a subscription's snapshots say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The newest snapshot (a final one outranks any other).
    pub latest: SubscriptionSnapshot,
    /// Every change of status, oldest first; the first is the subscription's first status.
    pub transitions: Vec<Transition>,
}

/// The order snapshots happened in: final statuses last, then by time, billing period and
/// place in the period.
fn order(snapshot: &SubscriptionSnapshot) -> (bool, i64, i64, u8) {
    let period = snapshot.current_period_end.unwrap_or(0);
    (snapshot.status.is_final(), snapshot.at, period, snapshot.status.rank_within_period())
}

/// Each subscription the facts name, by id.
pub fn subscriptions(facts: &[Fact]) -> BTreeMap<String, Subscription> {
    let mut snapshots: BTreeMap<&str, Vec<&SubscriptionSnapshot>> = BTreeMap::new();
    for fact in facts {
        if let Fact::Subscription(s) = fact {
            snapshots.entry(s.id.as_str()).or_default().push(s);
        }
    }
    snapshots
        .into_iter()
        .filter_map(|(id, mut list)| {
            // Ties on the order keep the richer snapshot, so duplicates sort the same way.
            list.sort_by(|a, b| order(a).cmp(&order(b)).then_with(|| richness(a).cmp(&richness(b))));
            list.dedup();
            let mut transitions: Vec<Transition> = Vec::new();
            for snapshot in &list {
                let from = transitions.last().map(|t| t.to);
                if from != Some(snapshot.status) {
                    transitions.push(Transition {
                        from,
                        to: snapshot.status,
                        at: snapshot.at,
                        period_end: snapshot.current_period_end,
                    });
                }
                if snapshot.status.is_final() {
                    break;
                }
            }
            let latest = (*list.last()?).clone();
            Some((id.to_owned(), Subscription { latest, transitions }))
        })
        .collect()
}

/// A total order on whatever else two snapshots of one moment may differ in.
#[allow(clippy::type_complexity)]
fn richness(
    s: &SubscriptionSnapshot,
) -> (i64, Option<i64>, bool, &str, &Option<String>, &Option<String>, Option<Interval>, i64) {
    (
        s.amount_minor,
        s.current_period_end,
        s.cancel_at_period_end,
        s.currency.as_str(),
        &s.remit_payment_id,
        &s.customer,
        s.interval,
        s.interval_count,
    )
}

/// A failed attempt to collect an invoice: a High Task in Salesforce, once per attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceFailure {
    pub attempt_count: i64,
    pub amount_due: i64,
    pub next_payment_attempt: Option<i64>,
    pub at: i64,
}

impl InvoiceFailure {
    pub fn key(&self, invoice: &str) -> String {
        format!("{invoice}:attempt-{}", self.attempt_count)
    }
}

/// What all of an invoice's snapshots say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    /// The furthest status any snapshot showed: paid and void are ends.
    pub status: InvoiceStatus,
    pub subscription: Option<String>,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    pub number: Option<String>,
    pub billing_reason: Option<String>,
    pub paid_at: Option<i64>,
    /// Every failed attempt, oldest first, one per attempt count.
    pub failures: Vec<InvoiceFailure>,
    pub remit_payment_id: Option<String>,
}

/// Each invoice the facts name, by id.
pub fn invoices(facts: &[Fact]) -> BTreeMap<String, Invoice> {
    let mut invoices: BTreeMap<String, Invoice> = BTreeMap::new();
    let mut failures: BTreeMap<&str, BTreeMap<i64, InvoiceFailure>> = BTreeMap::new();
    for fact in facts {
        let Fact::Invoice(s) = fact else { continue };
        let invoice = invoices.entry(s.id.clone()).or_insert_with(|| Invoice {
            id: s.id.clone(),
            status: s.status,
            subscription: None,
            amount_due: 0,
            amount_paid: 0,
            currency: s.currency.clone(),
            hosted_invoice_url: None,
            number: None,
            billing_reason: None,
            paid_at: None,
            failures: Vec::new(),
            remit_payment_id: None,
        });
        // Each field is merged so that order cannot matter: the furthest status, the largest
        // amounts, the first value a field ever had (these never change once set).
        invoice.status = invoice.status.max(s.status);
        invoice.amount_due = invoice.amount_due.max(s.amount_due);
        invoice.amount_paid = invoice.amount_paid.max(s.amount_paid);
        invoice.subscription = invoice.subscription.clone().max(s.subscription.clone());
        invoice.hosted_invoice_url = invoice.hosted_invoice_url.clone().max(s.hosted_invoice_url.clone());
        invoice.number = invoice.number.clone().max(s.number.clone());
        invoice.billing_reason = invoice.billing_reason.clone().max(s.billing_reason.clone());
        invoice.remit_payment_id = invoice.remit_payment_id.clone().max(s.remit_payment_id.clone());
        invoice.paid_at = match (invoice.paid_at, s.paid_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if s.failed {
            let failure = InvoiceFailure {
                attempt_count: s.attempt_count,
                amount_due: s.amount_due,
                next_payment_attempt: s.next_payment_attempt,
                at: s.at,
            };
            let attempts = failures.entry(s.id.as_str()).or_default();
            let merged = match attempts.remove(&s.attempt_count) {
                Some(known) => known.merged(failure),
                None => failure,
            };
            attempts.insert(s.attempt_count, merged);
        }
    }
    for (id, list) in failures {
        if let Some(invoice) = invoices.get_mut(id) {
            invoice.failures = list.into_values().collect();
        }
    }
    invoices
}

impl InvoiceFailure {
    /// Two snapshots of one attempt, merged the same way whichever came first.
    fn merged(self, other: Self) -> Self {
        Self {
            attempt_count: self.attempt_count,
            amount_due: self.amount_due.max(other.amount_due),
            next_payment_attempt: self.next_payment_attempt.max(other.next_payment_attempt),
            at: self.at.min(other.at),
        }
    }
}

/// The facts of stored event payloads (unreadable ones carry none).
pub fn facts_of_payloads(payloads: &[String]) -> Vec<Fact> {
    payloads
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|e| {
            fact_of(e["type"].as_str().unwrap_or(""), &e["data"]["object"], e["created"].as_i64().unwrap_or(0))
        })
        .collect()
}

/// What a recurring link's events say of the subscription it started and its invoices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub subscription: Option<Subscription>,
    pub invoices: BTreeMap<String, Invoice>,
}

impl View {
    pub fn of(facts: &[Fact]) -> Self {
        // A link starts one subscription; should a payer have started two (two tabs), the one
        // still running is the one to show.
        let subscription =
            subscriptions(facts).into_values().max_by_key(|s| (!s.latest.status.is_final(), s.latest.at));
        Self { subscription, invoices: invoices(facts) }
    }

    /// The subscription's invoices that collected money, oldest first: the first paid the link
    /// (after any free trial), each later one is a renewal and a payment of its own.
    pub fn paid_invoices(&self) -> Vec<&Invoice> {
        let mut paid: Vec<&Invoice> = self
            .invoices
            .values()
            .filter(|i| i.status == InvoiceStatus::Paid && i.amount_paid > 0 && i.subscription.is_some())
            .collect();
        paid.sort_by_key(|i| (i.paid_at.unwrap_or(i64::MAX), i.id.clone()));
        paid
    }

    pub fn renewals(&self) -> Vec<&Invoice> {
        self.paid_invoices().into_iter().skip(1).collect()
    }

    /// The subscription to end with its current period, when a link for `cycles` periods has
    /// had them all paid and Stripe has not been told yet.
    pub fn due_to_end(&self, cycles: Option<i64>) -> Option<&str> {
        let latest = &self.subscription.as_ref()?.latest;
        let paid = i64::try_from(self.paid_invoices().len()).unwrap_or(i64::MAX);
        let due = paid >= cycles? && !latest.cancel_at_period_end && !latest.status.is_final();
        due.then_some(latest.id.as_str())
    }

    /// The failure of an attempt as the payment's facts name it (`in_…#N`).
    pub fn failure(&self, attempt: &str) -> Option<&InvoiceFailure> {
        let (invoice, count) = attempt.split_once('#')?;
        let count: i64 = count.parse().ok()?;
        self.invoices.get(invoice)?.failures.iter().find(|f| f.attempt_count == count)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn subscription(status: &str, period_end: i64) -> Value {
        json!({
            "id": "sub_1", "object": "subscription", "status": status, "customer": "cus_1", "currency": "usd",
            "cancel_at_period_end": false, "metadata": { "remit_payment_id": "pay-1" },
            "items": { "object": "list", "data": [{
                "id": "si_1", "object": "subscription_item", "quantity": 1, "current_period_end": period_end,
                "price": { "id": "price_1", "unit_amount": 2000, "currency": "usd",
                           "recurring": { "interval": "month", "interval_count": 1 } }
            }] }
        })
    }

    fn invoice(id: &str, status: &str, attempts: i64, next: Option<i64>, paid_at: Option<i64>) -> Value {
        json!({
            "id": id, "object": "invoice", "status": status, "amount_due": 2000,
            "amount_paid": if status == "paid" { 2000 } else { 0 }, "currency": "usd",
            "hosted_invoice_url": format!("https://invoice.stripe.com/i/{id}"), "number": format!("N-{id}"),
            "billing_reason": "subscription_cycle", "attempt_count": attempts, "next_payment_attempt": next,
            "status_transitions": { "paid_at": paid_at },
            "parent": { "type": "subscription_details", "subscription_details": { "subscription": "sub_1", "metadata": { "remit_payment_id": "pay-1" } } }
        })
    }

    /// Stories, each in the order Stripe sends them.
    fn scenario(kind: u8) -> Vec<(&'static str, Value, i64)> {
        match kind {
            // Started by Checkout, renewed, renewal failed once, paid on retry, then canceled.
            0 => vec![
                ("customer.subscription.created", subscription("incomplete", 100), 10),
                ("invoice.finalized", invoice("in_1", "open", 0, None, None), 10),
                ("invoice.paid", invoice("in_1", "paid", 1, None, Some(10)), 10),
                ("customer.subscription.updated", subscription("active", 100), 10),
                ("invoice.finalized", invoice("in_2", "open", 0, Some(100), None), 100),
                ("invoice.payment_failed", invoice("in_2", "open", 1, Some(200), None), 100),
                ("customer.subscription.updated", subscription("past_due", 200), 100),
                ("invoice.paid", invoice("in_2", "paid", 2, None, Some(200)), 200),
                ("customer.subscription.updated", subscription("active", 300), 200),
                ("customer.subscription.deleted", subscription("canceled", 300), 250),
            ],
            // A trial, then paid, paused and resumed.
            1 => vec![
                ("customer.subscription.created", subscription("trialing", 50), 5),
                ("customer.subscription.updated", subscription("active", 80), 50),
                ("invoice.paid", invoice("in_3", "paid", 1, None, Some(50)), 50),
                ("customer.subscription.paused", subscription("paused", 80), 60),
                ("customer.subscription.resumed", subscription("active", 160), 70),
            ],
            // An invoice that fails twice, then Stripe gives up and it is written off.
            2 => vec![
                ("invoice.finalized", invoice("in_4", "open", 0, Some(20), None), 1),
                ("invoice.payment_failed", invoice("in_4", "open", 1, Some(40), None), 20),
                ("invoice.payment_failed", invoice("in_4", "open", 2, None, None), 40),
                ("invoice.marked_uncollectible", invoice("in_4", "uncollectible", 2, None, None), 41),
            ],
            // An invoice voided (its amount changed) and its successor paid.
            _ => vec![
                ("invoice.finalized", invoice("in_5", "open", 0, None, None), 1),
                ("invoice.voided", invoice("in_5", "void", 0, None, None), 2),
                ("invoice.finalized", invoice("in_6", "open", 0, None, None), 2),
                ("invoice.paid", invoice("in_6", "paid", 1, None, Some(3)), 3),
            ],
        }
    }

    fn facts(events: &[(&str, Value, i64)]) -> Vec<Fact> {
        events.iter().filter_map(|(t, o, at)| fact_of(t, o, *at)).collect()
    }

    #[test]
    fn the_first_paid_invoice_pays_the_link_and_each_later_one_is_a_renewal() {
        let mut events = scenario(0);
        events.push(("invoice.paid", invoice("in_0", "paid", 0, None, Some(0)), 400)); // late, but paid first
        let mut free = invoice("in_trial", "paid", 0, None, Some(1));
        free["amount_paid"] = json!(0);
        events.push(("invoice.paid", free, 1));
        let view = View::of(&facts(&events));
        let paid: Vec<&str> = view.paid_invoices().iter().map(|i| i.id.as_str()).collect();
        assert_eq!(paid, ["in_0", "in_1", "in_2"]);
        assert_eq!(view.renewals().iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["in_1", "in_2"]);
        assert_eq!(view.subscription.as_ref().map(|s| s.latest.status), Some(SubscriptionStatus::Canceled));
        assert_eq!(view.failure("in_2#1").map(|f| f.next_payment_attempt), Some(Some(200)));
        assert_eq!(view.failure("in_2#2"), None);
    }

    #[test]
    fn a_link_for_some_cycles_ends_its_subscription_once_they_are_all_paid() {
        let events = &scenario(0)[..4]; // created, its first invoice paid, active
        let view = View::of(&facts(events));
        assert_eq!(view.due_to_end(None), None, "until canceled");
        assert_eq!(view.due_to_end(Some(2)), None, "one of two paid");
        assert_eq!(view.due_to_end(Some(1)), Some("sub_1"));
        let mut told = subscription("active", 100);
        told["cancel_at_period_end"] = json!(true);
        let mut events = events.to_vec();
        events.push(("customer.subscription.updated", told, 11));
        assert_eq!(View::of(&facts(&events)).due_to_end(Some(1)), None, "Stripe knows");
        assert_eq!(View::of(&facts(&scenario(0))).due_to_end(Some(1)), None, "it ended");
    }

    proptest! {
        #[test]
        fn any_duplication_or_reordering_ends_where_in_order_delivery_ends((kind, delivered) in crate::testing::deliveries(4, scenario)) {
            let (in_order, delivered) = (facts(&scenario(kind)), facts(&delivered));
            prop_assert_eq!(subscriptions(&delivered), subscriptions(&in_order));
            prop_assert_eq!(invoices(&delivered), invoices(&in_order));
        }
    }

    #[test]
    fn a_subscription_moves_created_active_past_due_active_canceled() {
        let subscription = &subscriptions(&facts(&scenario(0)))["sub_1"];
        let path: Vec<&str> = subscription.transitions.iter().map(|t| t.to.as_str()).collect();
        assert_eq!(path, ["incomplete", "active", "past_due", "active", "canceled"]);
        assert_eq!(subscription.latest.status, SubscriptionStatus::Canceled);
        assert_eq!(subscription.transitions[1].from, Some(SubscriptionStatus::Incomplete));
        assert_eq!(subscription.transitions[2].key("sub_1"), "sub_1:past_due@100/200");
        assert_eq!(subscription.latest.remit_payment_id.as_deref(), Some("pay-1"));
        assert_eq!((subscription.latest.amount_minor, subscription.latest.interval), (2000, Some(Interval::Month)));
    }

    #[test]
    fn within_one_second_the_billing_period_and_its_course_decide_the_order() {
        // Everything in one second, as a test clock or a fast retry makes it.
        let events = [
            ("customer.subscription.created", subscription("incomplete", 100), 10),
            ("customer.subscription.updated", subscription("active", 100), 10),
            ("customer.subscription.updated", subscription("past_due", 200), 10),
            ("customer.subscription.updated", subscription("active", 200), 10),
            ("customer.subscription.updated", subscription("past_due", 300), 10),
        ];
        let mut shuffled = events.to_vec();
        shuffled.reverse();
        for delivered in [events.to_vec(), shuffled] {
            let subscription = &subscriptions(&facts(&delivered))["sub_1"];
            let path: Vec<&str> = subscription.transitions.iter().map(|t| t.to.as_str()).collect();
            assert_eq!(path, ["incomplete", "active", "past_due", "active", "past_due"]);
            let keys: std::collections::BTreeSet<String> =
                subscription.transitions.iter().map(|t| t.key("sub_1")).collect();
            assert_eq!(keys.len(), 5, "one Task each");
        }
    }

    #[test]
    fn a_late_update_never_undoes_a_cancel() {
        let mut events = scenario(0);
        events.push(("customer.subscription.updated", subscription("active", 400), 900));
        assert_eq!(subscriptions(&facts(&events))["sub_1"].latest.status, SubscriptionStatus::Canceled);
    }

    #[test]
    fn an_invoice_paid_after_one_failure_keeps_that_one_failure() {
        let invoices = invoices(&facts(&scenario(0)));
        let renewal = &invoices["in_2"];
        assert_eq!(renewal.status, InvoiceStatus::Paid);
        assert_eq!(renewal.paid_at, Some(200));
        assert_eq!(renewal.subscription.as_deref(), Some("sub_1"));
        assert_eq!(renewal.failures.len(), 1);
        assert_eq!(renewal.failures[0].next_payment_attempt, Some(200));
        assert_eq!(renewal.failures[0].key("in_2"), "in_2:attempt-1");
        assert!(invoices["in_1"].failures.is_empty());
    }

    #[test]
    fn paused_and_resumed_are_transitions_of_their_own() {
        let subscription = &subscriptions(&facts(&scenario(1)))["sub_1"];
        let path: Vec<&str> = subscription.transitions.iter().map(|t| t.to.as_str()).collect();
        assert_eq!(path, ["trialing", "active", "paused", "active"]);
        assert_eq!(subscription.latest.current_period_end, Some(160));
    }

    #[test]
    fn an_invoice_stripe_gave_up_on_is_uncollectible_with_each_failure() {
        let invoice = &invoices(&facts(&scenario(2)))["in_4"];
        assert_eq!(invoice.status, InvoiceStatus::Uncollectible);
        let attempts: Vec<i64> = invoice.failures.iter().map(|f| f.attempt_count).collect();
        assert_eq!(attempts, [1, 2]);
        assert_eq!(invoice.failures[1].next_payment_attempt, None, "no retry after the last");
    }

    #[test]
    fn a_voided_invoice_stays_void_and_its_successor_is_paid() {
        let invoices = invoices(&facts(&scenario(3)));
        assert_eq!((invoices["in_5"].status, invoices["in_6"].status), (InvoiceStatus::Void, InvoiceStatus::Paid));
    }

    #[test]
    fn the_older_api_versions_fields_are_read_too() {
        let mut old = subscription("active", 0);
        old["items"]["data"][0].as_object_mut().unwrap().remove("current_period_end");
        old["current_period_end"] = json!(77);
        let Some(Fact::Subscription(s)) = fact_of("customer.subscription.updated", &old, 1) else { panic!() };
        assert_eq!(s.current_period_end, Some(77));
        let mut old = invoice("in_7", "open", 0, None, None);
        old.as_object_mut().unwrap().remove("parent");
        old["subscription"] = json!("sub_9");
        let Some(Fact::Invoice(i)) = fact_of("invoice.finalized", &old, 1) else { panic!() };
        assert_eq!(i.subscription.as_deref(), Some("sub_9"));
    }

    #[test]
    fn other_events_say_nothing_here() {
        assert_eq!(fact_of("payment_intent.succeeded", &json!({ "id": "pi_1", "status": "succeeded" }), 1), None);
        assert_eq!(fact_of("customer.subscription.updated", &json!({ "id": "sub_1", "status": "weird" }), 1), None);
    }
}
