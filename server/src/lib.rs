//! Remit: payment links for Salesforce Opportunities, paid through Stripe Checkout, with status
//! written back into Salesforce. This library is the whole server; `main.rs` only parses the CLI.

pub mod config;
pub mod db;
pub mod http;
pub mod startup;
pub mod telemetry;

pub use startup::Application;
