//! Remit: payment links for Salesforce Opportunities, paid through Stripe Checkout, with status
//! written back into Salesforce. This library is the whole server; `main.rs` only parses the CLI.

pub mod accounts;
pub mod api_keys;
pub mod base_url;
pub mod config;
pub mod db;
pub mod http;
pub mod idempotency;
pub mod jobs;
pub mod mail;
pub mod ops;
pub mod outbound;
pub mod outbox;
pub mod payments;
pub mod receipts;
pub mod salesforce;
pub mod secrets;
pub mod startup;
pub mod stripe;
pub mod subscriptions;
pub mod sync;
pub mod telemetry;
#[cfg(test)]
mod testing;

pub use startup::Application;

/// What caused a failure, kept whole behind a boundary's own error, so the log says why.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;
