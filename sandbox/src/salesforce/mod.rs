//! The Salesforce stand-in: OAuth token grants (JWT bearer and client credentials), the REST API's
//! sObject, describe, limits, query, composite and collections resources for the objects of the
//! package in `salesforce/force-app` (schema.rs reads it), Salesforce's
//! error bodies and status codes, `Sforce-Limit-Info`, expiring sessions and injectable faults.

mod disruption;
mod org;
mod rest;
pub mod schema;
mod soql;
mod token;

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    http::StatusCode,
    routing::{any, get, post},
};
use serde_json::{Value, json};

pub use disruption::Disruptions;
pub use org::Fault;
use org::Org;
pub use schema::Schema;

/// The credentials the stand-in's connected app accepts.
#[derive(Clone, Debug)]
pub struct SalesforceCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    /// PEM of the public key JWT assertions must be signed with (RS256).
    pub public_key_pem: String,
}

/// The key pair of the stand-in's test connected app (a test fixture, not a secret).
pub const TEST_PRIVATE_KEY_PEM: &str = include_str!("../../fixtures/salesforce/test-connected-app.key");
const TEST_PUBLIC_KEY_PEM: &str = include_str!("../../fixtures/salesforce/test-connected-app.pub");

impl Default for SalesforceCredentials {
    fn default() -> Self {
        Self {
            client_id: "remit-sandbox-client".into(),
            client_secret: "remit-sandbox-secret".into(),
            username: "integration@remit.sandbox".into(),
            public_key_pem: TEST_PUBLIC_KEY_PEM.into(),
        }
    }
}

/// Shared state of the stand-in org.
#[derive(Clone)]
pub struct Salesforce {
    pub(crate) org: Arc<Mutex<Org>>,
    pub(crate) base_url: String,
    pub(crate) credentials: SalesforceCredentials,
    /// Latency, holds, commit-then-stall and login outages, set by fault tests.
    pub disruptions: Disruptions,
}

impl Salesforce {
    /// An org with the package of `salesforce/force-app` installed.
    pub fn new(base_url: String, credentials: SalesforceCredentials) -> Self {
        let org = Org::seeded(Schema::package());
        Self { org: Arc::new(Mutex::new(org)), base_url, credentials, disruptions: Disruptions::default() }
    }

    /// Gives the org another schema (say, the package with a field missing), keeping its records.
    pub fn set_schema(&self, schema: Schema) {
        self.lock().set_schema(schema);
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Org> {
        self.org.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records of an object, as the REST API returns them.
    pub fn records(&self, object: &str) -> Vec<Value> {
        self.lock().records(object)
    }

    /// Creates a record directly (test set-up, as an admin would); returns its id.
    pub fn insert(&self, object: &str, fields: Value) -> String {
        self.lock().insert(object, fields)
    }

    /// Makes the next `times` API calls fail with `fault`.
    pub fn inject(&self, fault: Fault, times: u32) {
        self.lock().faults.push((fault, times));
    }

    /// Ends every session, as an admin revoking tokens or a timeout would.
    pub fn expire_sessions(&self) {
        self.lock().tokens.clear();
    }

    /// Sets the org's daily API request limit.
    pub fn set_daily_limit(&self, limit: u64) {
        self.lock().daily_limit = limit;
    }

    /// Renames the org's won stage (admins do).
    pub fn rename_won_stage(&self, api_name: &str) {
        self.lock().rename_won_stage(api_name);
    }

    /// API calls made so far today (what `Sforce-Limit-Info` reports).
    pub fn api_usage(&self) -> u64 {
        self.lock().api_usage
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/services/oauth2/token", post(token::issue))
            .route("/services/data/{version}/{*rest}", any(rest::handle))
            .route("/_sandbox/records", get(dump))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    Json(json!([{ "errorCode": "NOT_FOUND", "message": "The requested resource does not exist" }])),
                )
            })
            .with_state(self.clone())
    }
}

async fn dump(axum::extract::State(org): axum::extract::State<Salesforce>) -> Json<Value> {
    let org = org.lock();
    Json(json!({
        "Account": org.records("Account"),
        "Opportunity": org.records("Opportunity"),
        "Payment__c": org.records("Payment__c"),
        "Task": org.records("Task"),
    }))
}
