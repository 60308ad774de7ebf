//! Recurring revenue: what a recurring link asks for (`recurring.rs`: its terms, and what they
//! are worth a month and a year) and how Stripe's subscription and invoice events add up to a
//! subscription's state (`events.rs`). Pure decisions, no I/O: the jobs that act on them call in
//! here.

pub mod events;
pub mod recurring;

pub use events::{
    Invoice, InvoiceFailure, InvoiceStatus, Subscription, SubscriptionSnapshot, SubscriptionStatus, Transition, View,
    facts_of_payloads, invoices, subscriptions,
};
pub use recurring::{Interval, Recurring, RecurringError, Revenue, revenue};
