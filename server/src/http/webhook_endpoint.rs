//! `POST /webhooks/stripe`: verify over the raw bytes, store, enqueue, answer. Nothing here calls
//! Stripe or Salesforce, so Stripe gets its 200 within milliseconds.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::AppState;
use crate::{payments::EventHeader, stripe::signature};

/// Larger than any event Stripe sends for the objects Remit handles.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// Each log line of a delivery names the event it belongs to.
#[tracing::instrument(name = "stripe_webhook", skip_all, fields(event = tracing::field::Empty, kind = tracing::field::Empty))]
pub async fn stripe(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Err(error) = signature::verify(signature, &body, &state.webhook_secrets, now) {
        tracing::warn!(%error, "Stripe webhook refused");
        received("unverified", "invalid_signature");
        return refuse("invalid_signature", &format!("Webhook signature verification failed: {error}."));
    }
    let Ok(header) = serde_json::from_slice::<EventHeader>(&body) else {
        received("unreadable", "invalid_event");
        return refuse("invalid_event", "The body is not a Stripe event.");
    };
    let span = tracing::Span::current();
    span.record("event", header.id.as_str());
    span.record("kind", header.event_type.as_str());
    let Ok(payload) = std::str::from_utf8(&body) else {
        received("unreadable", "invalid_event");
        return refuse("invalid_event", "The body is not UTF-8.");
    };
    match state.payments.record_event(&header, payload).await {
        Ok(new) => {
            received(&header.event_type, if new { "stored" } else { "duplicate" });
            Json(json!({ "received": true, "duplicate": !new })).into_response()
        }
        Err(error) => {
            received(&header.event_type, "unavailable");
            // Stripe retries anything but 2xx: the event is not lost.
            tracing::error!(%error, event = %header.id, "cannot store Stripe event");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": { "code": "unavailable", "message": "Try again." } })),
            )
                .into_response()
        }
    }
}

/// Counts a delivery by its event type (only once its signature is verified: no label comes from an
/// unverified body) and what became of it.
fn received(event_type: &str, outcome: &'static str) {
    metrics::counter!("remit_webhooks_received_total", "type" => event_type.to_owned(), "outcome" => outcome)
        .increment(1);
}

fn refuse(code: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}
