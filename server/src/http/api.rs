//! `/api/v1`: the JSON API Salesforce calls (Flow HTTP callouts, External Services, Apex).

use axum::{
    Json, Router,
    body::Bytes,
    extract::{FromRequestParts, Path, Query, State},
    http::{HeaderMap, StatusCode, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AppState, error::ApiError};
use crate::{
    api_keys,
    db::now_ms,
    payments::{Payment, RawLinkRequest, SalesforceId},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/payment-links", post(create_payment_link))
        .route("/api/v1/payments", get(list_payments))
        .route("/api/v1/payments/{id}", get(get_payment))
        .route("/api/v1/payments/{id}/cancel", post(cancel_payment))
        .route("/api/v1/{*rest}", axum::routing::any(|| async { ApiError::NoSuchOperation }))
}

/// The caller's API key id, from `Authorization: Bearer <key>`.
pub struct ApiCaller(String);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let key = header.strip_prefix("Bearer ").ok_or(ApiError::Unauthorized)?;
        let id = api_keys::authenticate(&state.db, key.trim()).await?.ok_or(ApiError::Unauthorized)?;
        Ok(Self(id))
    }
}

/// The answer to a payment-link request.
#[derive(Serialize)]
struct LinkBody {
    payment_id: String,
    url: String,
    status: String,
    amount_minor: i64,
    currency: String,
    message: String,
}

/// A payment as the API shows it.
#[derive(Serialize)]
pub struct PaymentBody {
    payment_id: String,
    opportunity_id: String,
    status: String,
    amount_minor: i64,
    currency: String,
    url: String,
    receipt_url: Option<String>,
    failure_reason: Option<String>,
    updated_at: String,
}

impl PaymentBody {
    fn new(state: &AppState, payment: Payment) -> Self {
        let updated_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(payment.updated_at) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        Self {
            url: state.payments.pay_url(&payment),
            receipt_url: state.payments.receipt_url(&payment),
            currency: payment.currency().to_string(),
            payment_id: payment.id,
            opportunity_id: payment.opportunity_id,
            status: payment.status,
            amount_minor: payment.amount_minor,
            failure_reason: payment.failure_reason,
            updated_at,
        }
    }
}

async fn openapi(State(state): State<AppState>) -> Response {
    let mut document: serde_json::Value =
        serde_json::from_str(include_str!("openapi.json")).expect("the OpenAPI document is valid JSON");
    document["servers"] = serde_json::json!([{ "url": state.config.public_url.as_str() }]);
    Json(document).into_response()
}

/// `POST /api/v1/payment-links`: 201 with a new payment, 200 with the Opportunity's existing one.
/// A repeated `Idempotency-Key` with the same body gets the first answer again.
async fn create_payment_link(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let idempotency_key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_hash = hex::encode(Sha256::digest(&body));
    if let Some(key) = &idempotency_key
        && let Some((status, body)) = replay(&state, &caller, key, &request_hash).await?
    {
        return Ok(status_json(status, body));
    }
    let (status, body) = match link_response(&state, &body).await {
        Ok((status, body)) => (status, body),
        Err(error) => {
            error.log_cause();
            (error.status(), error.body())
        }
    };
    // Answers that depend on a passing outage are not remembered: a retry should try again.
    if let Some(key) = &idempotency_key
        && !status.is_server_error()
    {
        remember(&state, &caller, key, &request_hash, status, &body).await?;
    }
    Ok(status_json(status, body))
}

async fn link_response(state: &AppState, body: &[u8]) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let raw: RawLinkRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("The body is not valid JSON for this operation: {e}")))?;
    let request = raw.validate().map_err(ApiError::Validation)?;
    let outcome = state.payments.request_link(request).await?;
    state.outbox_wake.notify_one();
    let url = state.payments.pay_url(&outcome.payment);
    let payment = outcome.payment;
    let body = LinkBody {
        message: format!("Here is your payment link: {url}"),
        url,
        currency: payment.currency().to_string(),
        payment_id: payment.id,
        status: payment.status,
        amount_minor: payment.amount_minor,
    };
    let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, serde_json::to_value(body).expect("serializable")))
}

fn status_json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

async fn replay(
    state: &AppState,
    caller: &str,
    key: &str,
    request_hash: &str,
) -> Result<Option<(StatusCode, serde_json::Value)>, ApiError> {
    let stored: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT request_hash, status, body FROM api_idempotency WHERE api_key_id = $1 AND idempotency_key = $2",
    )
    .bind(caller)
    .bind(key)
    .fetch_optional(&state.db.pool)
    .await?;
    match stored {
        None => Ok(None),
        Some((hash, _, _)) if hash != request_hash => Err(ApiError::IdempotencyKeyReused),
        Some((_, status, body)) => {
            let status =
                u16::try_from(status).ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
            Ok(Some((status, serde_json::from_str(&body).unwrap_or_default())))
        }
    }
}

async fn remember(
    state: &AppState,
    caller: &str,
    key: &str,
    request_hash: &str,
    status: StatusCode,
    body: &serde_json::Value,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO api_idempotency (api_key_id, idempotency_key, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (api_key_id, idempotency_key) DO NOTHING",
    )
    .bind(caller)
    .bind(key)
    .bind(request_hash)
    .bind(i64::from(status.as_u16()))
    .bind(body.to_string())
    .bind(now_ms())
    .execute(&state.db.pool)
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct ListQuery {
    opportunity_id: Option<String>,
}

#[derive(Serialize)]
struct PaymentList {
    payments: Vec<PaymentBody>,
}

async fn list_payments(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Query(query): Query<ListQuery>,
) -> Result<Json<PaymentList>, ApiError> {
    let raw = query.opportunity_id.ok_or_else(|| {
        ApiError::Validation(crate::payments::ValidationError {
            field: "opportunity_id",
            message: "is required".into(),
        })
    })?;
    let opportunity = SalesforceId::parse(&raw).map_err(|message| {
        ApiError::Validation(crate::payments::ValidationError { field: "opportunity_id", message: message.into() })
    })?;
    let payments = state.payments.for_opportunity(opportunity.as_str()).await?;
    Ok(Json(PaymentList { payments: payments.into_iter().map(|p| PaymentBody::new(&state, p)).collect() }))
}

async fn get_payment(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<PaymentBody>, ApiError> {
    let payment = state.payments.get(&id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(PaymentBody::new(&state, payment)))
}

async fn cancel_payment(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<PaymentBody>, ApiError> {
    let payment = state.payments.cancel(&id).await?;
    Ok(Json(PaymentBody::new(&state, payment)))
}
