//! The Salesforce stand-in. Its REST API grows with the calls Remit makes; anything else is
//! answered as Salesforce answers an unknown resource.

use axum::{Json, Router, http::StatusCode};
use serde_json::{Value, json};

pub fn router() -> Router {
    Router::new().fallback(unknown_resource)
}

async fn unknown_resource() -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!([{ "errorCode": "NOT_FOUND", "message": "The requested resource does not exist" }])),
    )
}
