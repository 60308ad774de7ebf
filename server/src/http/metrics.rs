//! `GET /metrics` in Prometheus's text format (behind `REMIT_METRICS_TOKEN` when it is set), and
//! the timing of every routed request.

use std::time::Instant;

use axum::{
    body::Body,
    extract::{MatchedPath, State},
    http::{HeaderMap, Request, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::AppState;

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let given =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        // Compared as digests, so the time taken says nothing about how much of the token matched.
        let digest = |text: &str| Sha256::digest(text.as_bytes());
        if given.is_none_or(|given| digest(given) != digest(token.expose_secret())) {
            let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
            return (
                StatusCode::UNAUTHORIZED,
                challenge,
                "Metrics need Authorization: Bearer <REMIT_METRICS_TOKEN>.\n",
            )
                .into_response();
        }
    }
    match crate::ops::metrics::render(&state.metrics, &state.db, &state.payments, &state.config.workers).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot read the metrics' gauges from the database");
            (StatusCode::SERVICE_UNAVAILABLE, "The database cannot be read right now.\n").into_response()
        }
    }
}

/// `/pay/{token}` as `/pay/:token`: braces inside label values are valid Prometheus text, but
/// some parsers stumble on them and PromQL regexes would need them escaped.
fn route_label(pattern: &str) -> String {
    pattern.replace('{', ":").replace('}', "")
}

/// Times each request to a route, labelled by the route's pattern (never the path itself: pay
/// links and receipts carry tokens).
pub async fn time_requests(request: Request<Body>, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| route_label(p.as_str()));
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    if let Some(route) = route {
        let status = response.status().as_u16().to_string();
        metrics::histogram!("remit_http_request_duration_seconds", "method" => method, "route" => route, "status" => status)
            .record(started.elapsed().as_secs_f64());
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_labels_name_parameters_with_a_colon() {
        assert_eq!(super::route_label("/api/v1/payments/{id}/refunds"), "/api/v1/payments/:id/refunds");
        assert_eq!(super::route_label("/metrics"), "/metrics");
    }
}
