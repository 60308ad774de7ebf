//! A client for the Salesforce REST API: OAuth 2.0 (JWT bearer or client credentials) with a cached
//! token renewed once on `INVALID_SESSION_ID`, sObject upsert and update, composite and collections,
//! SOQL with escaped literals, describe and limits, and errors classed as retryable or permanent.

mod client;
mod describe;
mod error;
pub mod soql;

pub use client::{ApiUsage, CompositeResult, SalesforceClient, Subrequest};
pub use describe::{DailyLimit, FieldDescription, ObjectDescription, PicklistValue};
pub use error::{SalesforceError, SfError};
