//! What Salesforce shows of a recurring link's subscription (DESIGN.md §6): the Opportunity's
//! subscription id, MRR and ARR, the Account's subscription status, a completed Task logging each
//! change of status, and a Task for the owner once it is canceled. Pure, like `records.rs`.

use serde_json::{Map, Value, json};
use time::{Date, OffsetDateTime};

use super::records::{Records, major};
use crate::{
    payments::{Currency, Payment},
    salesforce::Subrequest,
    subscriptions::{Subscription, SubscriptionStatus, Transition, View, revenue},
};

/// The Task for the owner when a subscription ends (DESIGN.md §6).
pub const CANCELED_TASK_SUBJECT: &str = "Subscription Canceled";

/// `Account.Subscription_Status__c`'s values Remit writes, in the package's words.
pub const STATUS_LABELS: [&str; 5] = ["Trialing", "Active", "Past Due", "Canceled", "Unpaid"];

/// A subscription's status as the Account's picklist says it. The package has no Paused: a paused
/// subscription collects nothing, as an unpaid one does, so it shows as Unpaid. An incomplete one
/// has not started and leaves the field as it is.
pub fn status_label(status: SubscriptionStatus) -> Option<&'static str> {
    use SubscriptionStatus::*;
    match status {
        Incomplete => None,
        Trialing => Some(STATUS_LABELS[0]),
        Active => Some(STATUS_LABELS[1]),
        PastDue => Some(STATUS_LABELS[2]),
        Canceled | IncompleteExpired => Some(STATUS_LABELS[3]),
        Unpaid | Paused => Some(STATUS_LABELS[4]),
    }
}

/// What the subscription is worth a month and a year in minor units: its price while it bills
/// (active, or past due and being retried), nothing during a free trial or once it stopped.
pub fn recurring_revenue(subscription: &Subscription) -> (i64, i64) {
    let latest = &subscription.latest;
    match (latest.status, latest.interval) {
        (SubscriptionStatus::Active | SubscriptionStatus::PastDue, Some(interval)) => {
            let revenue = revenue(latest.amount_minor, interval, latest.interval_count);
            (revenue.monthly_minor, revenue.annual_minor)
        }
        _ => (0, 0),
    }
}

/// What `salesforce_tasks` calls the Task of a transition, and of the cancel.
pub fn transition_cause(subscription: &str, transition: &Transition) -> String {
    format!("transition:{}", transition.key(subscription))
}

pub fn canceled_cause(subscription: &str) -> String {
    format!("canceled:{subscription}")
}

/// What a sync has to tell of the subscription beyond its fields.
pub struct SubscriptionNews<'a> {
    pub view: &'a View,
    /// Transitions that have no Task yet.
    pub transitions: Vec<&'a Transition>,
    /// Canceled, and the owner has no Task saying so yet.
    pub canceled: bool,
}

impl<'a> SubscriptionNews<'a> {
    pub fn new(view: &'a View, tasked: &[String]) -> Self {
        let Some(subscription) = &view.subscription else {
            return Self { view, transitions: Vec::new(), canceled: false };
        };
        let id = subscription.latest.id.as_str();
        // A subscription is made incomplete and active in one moment: "incomplete" is no news.
        let transitions = subscription
            .transitions
            .iter()
            .filter(|t| t.to != SubscriptionStatus::Incomplete && !tasked.contains(&transition_cause(id, t)))
            .collect();
        let canceled = subscription.latest.status.is_final() && !tasked.contains(&canceled_cause(id));
        Self { view, transitions, canceled }
    }

    pub fn has_tasks(&self) -> bool {
        !self.transitions.is_empty() || self.canceled
    }
}

/// A Task key safe in a URL path: Salesforce's external id, one per cause.
fn key(payment: &Payment, cause: &str) -> String {
    let cause: String = cause.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
    format!("{}-{cause}", payment.id)
}

fn day(at: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp(at).ok().map(OffsetDateTime::date)
}

impl Records {
    /// The Opportunity's subscription fields.
    pub fn subscription_fields(&self, payment: &Payment, subscription: &Subscription, update: &mut Map<String, Value>) {
        let fields = &self.mapping.fields;
        let currency = payment.currency();
        let (monthly, annual) = recurring_revenue(subscription);
        update.insert(fields.opportunity_subscription_id.clone(), json!(subscription.latest.id));
        update.insert(fields.opportunity_mrr.clone(), major(currency, monthly));
        update.insert(fields.opportunity_arr.clone(), major(currency, annual));
    }

    /// The Account's subscription status, when it has one to show.
    pub fn account_subscription_status(&self, subscription: &Subscription, update: &mut Map<String, Value>) {
        if let Some(label) = status_label(subscription.latest.status) {
            update.insert(self.mapping.fields.account_subscription_status.clone(), json!(label));
        }
    }

    /// One completed Task per change of status, and the owner's Task once it is canceled.
    pub fn subscription_tasks(&self, payment: &Payment, news: &SubscriptionNews<'_>, today: Date) -> Vec<Subrequest> {
        let Some(subscription) = &news.view.subscription else { return Vec::new() };
        let id = subscription.latest.id.as_str();
        let shown = |status: SubscriptionStatus| status_label(status).unwrap_or(status.as_str()).to_owned();
        let mut requests: Vec<Subrequest> = news
            .transitions
            .iter()
            .enumerate()
            .map(|(n, transition)| {
                let on = day(transition.at).unwrap_or(today);
                let from = transition.from.map_or_else(|| "started".to_owned(), |from| format!("was {}", shown(from)));
                let description = format!(
                    "Stripe subscription {id} is {} ({from}) since {on}.\nRemit payment: {}",
                    shown(transition.to),
                    payment.id
                );
                let subject = format!("Subscription status: {}", shown(transition.to));
                let key = key(payment, &transition_cause(id, transition));
                self.logged_task(&key, format!("transition{n}"), &subject, description, on)
            })
            .collect();
        if news.canceled {
            let currency: Currency = payment.currency();
            let latest = &subscription.latest;
            let description = format!(
                "The payer's subscription {id} of {} {currency} every {} {} ended on {}.\n\
                 Reach out if they should stay; a new link starts a new subscription.\nRemit payment: {}",
                currency.format_major(latest.amount_minor),
                latest.interval_count,
                latest.interval.map_or("period", |i| i.as_str()),
                subscription.transitions.last().and_then(|t| day(t.at)).unwrap_or(today),
                payment.id
            );
            let key = key(payment, &canceled_cause(id));
            requests.push(self.task(&key, "canceledTask".into(), CANCELED_TASK_SUBJECT, description, today));
        }
        requests
    }

    /// What a failed invoice attempt adds to its Task: the amount due and when Stripe tries again.
    pub fn invoice_failure_details(&self, payment: &Payment, view: Option<&View>, attempt: &str) -> String {
        let Some(failure) = view.and_then(|v| v.failure(attempt)) else { return String::new() };
        let currency = payment.currency();
        let next = match failure.next_payment_attempt.and_then(day) {
            Some(day) => format!("Stripe tries again on {day}."),
            None => "Stripe will not try again: collect it another way.".to_owned(),
        };
        format!(
            "\nAmount due: {} {currency}\nStripe's attempt: {}\n{next}",
            currency.format_major(failure.amount_due),
            failure.attempt_count
        )
    }
}
