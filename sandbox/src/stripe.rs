//! The Stripe stand-in. Its API grows with the calls Remit makes; anything else is answered as
//! Stripe answers an unknown URL.

use axum::{
    Json, Router,
    http::{Method, StatusCode, Uri},
};
use serde_json::{Value, json};

pub fn router() -> Router {
    Router::new().fallback(unknown_url)
}

async fn unknown_url(method: Method, uri: Uri) -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "error": {
                "type": "invalid_request_error",
                "message": format!(
                    "Unrecognized request URL ({method}: {}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    uri.path()
                ),
            }
        })),
    )
}
