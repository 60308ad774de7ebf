//! A thin client for the Stripe calls Remit makes, and the shapes of the objects it reads.
//!
//! Requests are form-encoded with bracketed keys, as Stripe takes them; every POST carries an
//! `Idempotency-Key` that stays the same across retries; the API version is pinned here.

mod client;
mod form;
pub mod signature;
mod types;

pub use client::{InvoiceStep, StripeClient, StripeError};
pub use form::Form;
pub use types::*;

/// The Stripe API version Remit is written against, sent on every request.
pub const STRIPE_VERSION: &str = "2025-06-30.basil";
