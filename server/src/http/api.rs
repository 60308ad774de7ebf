//! `/api/v1`: the JSON API Salesforce calls (Flow HTTP callouts, External Services, Apex).

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State},
    http::{HeaderMap, StatusCode, header::CONTENT_TYPE, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;

use super::{
    AppState,
    error::{ApiError, HttpRejection},
};
use crate::{
    api_keys,
    idempotency::{self, Reservation},
    payments::{Payment, RawLinkRequest, RawRefundRequest, Refund, SalesforceId, ValidationError},
};

/// Payment-link requests are a few hundred bytes; anything near this is not one.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The longest `Idempotency-Key` the API keeps (as the OpenAPI document says).
const MAX_IDEMPOTENCY_KEY: usize = 255;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/payment-links", post(create_payment_link))
        .route("/api/v1/payments", get(list_payments))
        .route("/api/v1/payments/{id}", get(get_payment))
        .route("/api/v1/payments/{id}/cancel", post(cancel_payment))
        .route("/api/v1/payments/{id}/refunds", post(refund_payment).get(list_refunds))
        .route("/api/v1/{*rest}", axum::routing::any(|| async { ApiError::NoSuchOperation }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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
    /// What was collected, once paid: it differs from `amount_minor` when the terms changed
    /// while the payer paid.
    paid_amount_minor: Option<i64>,
    paid_currency: Option<String>,
    /// When the link stops taking payments, if it does.
    expires_at: Option<String>,
    /// When the payer is reminded next, if they will be.
    next_reminder_at: Option<String>,
    reminders_sent: i64,
    updated_at: String,
}

impl PaymentBody {
    fn new(state: &AppState, payment: Payment) -> Self {
        let rfc3339 = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        };
        Self {
            updated_at: rfc3339(payment.updated_at).unwrap_or_default(),
            expires_at: payment.expires_at.and_then(rfc3339),
            next_reminder_at: payment.next_reminder_at.filter(|_| payment.reminders == "on").and_then(rfc3339),
            reminders_sent: payment.reminder_step,
            url: state.payments.link_url(&payment),
            receipt_url: state.payments.receipt_url(&payment),
            currency: payment.currency().to_string(),
            paid_amount_minor: payment.paid_amount_minor,
            paid_currency: payment.paid_amount_minor.map(|_| payment.collected_currency().to_string()),
            payment_id: payment.id,
            opportunity_id: payment.opportunity_id,
            status: payment.status,
            amount_minor: payment.amount_minor,
            failure_reason: payment.failure_reason,
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
    let key = idempotency_key(&headers)?;
    idempotently(&state, &caller, key, &body, || link_response(&state, &body)).await
}

/// `POST /api/v1/payments/{id}/refunds`: 201 with the refund. A repeated `Idempotency-Key` gets the
/// first answer, and a retry of one whose answer was lost finds the same refund: one refund a key.
async fn refund_payment(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let request_key = key.map(|key| format!("{caller}:{key}"));
    idempotently(&state, &caller, key, &body, || refund_response(&state, &id, &body, request_key.as_deref())).await
}

/// Answers once per `Idempotency-Key`: the first answer is remembered (unless it depends on a
/// passing outage) and given again to a repeat with the same body.
async fn idempotently<Fut>(
    state: &AppState,
    caller: &str,
    key: Option<&str>,
    body: &[u8],
    answer: impl FnOnce() -> Fut,
) -> Result<Response, ApiError>
where
    Fut: std::future::Future<Output = (StatusCode, serde_json::Value)>,
{
    let Some(key) = key else {
        let (status, body) = answer().await;
        return Ok(status_json(status, body));
    };
    let request = idempotency::Request { caller, key, body };
    match idempotency::reserve(&state.db, &request).await? {
        Reservation::Reserved => {}
        Reservation::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            return Ok(status_json(status, serde_json::from_str(&body).unwrap_or_default()));
        }
        Reservation::InProgress => return Err(ApiError::IdempotencyKeyInUse),
        Reservation::KeyReused => return Err(ApiError::IdempotencyKeyReused),
    }
    let (status, body) = answer().await;
    if status.is_server_error() {
        idempotency::release(&state.db, &request).await?;
    } else {
        idempotency::store(&state.db, &request, status.as_u16(), &body.to_string()).await?;
    }
    Ok(status_json(status, body))
}

/// The answer to a refund request, errors included (remembered under an Idempotency-Key too).
async fn refund_response(
    state: &AppState,
    payment_id: &str,
    body: &[u8],
    request_key: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let answer = async {
        let raw: RawRefundRequest = if body.iter().all(u8::is_ascii_whitespace) {
            RawRefundRequest::default()
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("The body is not valid JSON for this operation: {e}")))?
        };
        let refund = state.payments.refund(payment_id, raw, request_key).await?;
        Ok::<_, ApiError>(serde_json::to_value(RefundBody::new(state, &refund)).expect("serializable"))
    };
    match answer.await {
        Ok(body) => (StatusCode::CREATED, body),
        Err(error) => {
            error.log_cause();
            (error.status(), error.body())
        }
    }
}

/// A refund as the API shows it.
#[derive(Serialize)]
struct RefundBody {
    refund_id: String,
    payment_id: String,
    status: String,
    amount_minor: i64,
    currency: String,
    reason: Option<String>,
    note: Option<String>,
    /// Once the refund has succeeded: its credit note's number and where the PDF is downloaded.
    credit_note_number: Option<String>,
    credit_note_url: Option<String>,
    message: String,
}

impl RefundBody {
    fn new(state: &AppState, refund: &Refund) -> Self {
        let amount = refund.amount_display();
        let message = match refund.status.as_str() {
            "succeeded" => format!("Refunded {amount}."),
            "failed" | "canceled" => format!("The refund of {amount} did not go through."),
            _ => format!("A refund of {amount} is on its way."),
        };
        Self {
            refund_id: refund.id.clone(),
            payment_id: refund.payment_id.clone(),
            status: refund.status.clone(),
            amount_minor: refund.amount_minor,
            currency: refund.currency.to_uppercase(),
            reason: refund.reason.clone(),
            note: refund.note.clone(),
            credit_note_number: refund.credit_note(),
            credit_note_url: state.payments.credit_note_url(refund),
            message,
        }
    }
}

#[derive(Serialize)]
struct RefundList {
    refunds: Vec<RefundBody>,
}

async fn list_refunds(
    State(state): State<AppState>,
    _caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<RefundList>, ApiError> {
    let refunds = state.payments.refunds(&id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(RefundList { refunds: refunds.iter().map(|r| RefundBody::new(&state, r)).collect() }))
}

/// Checks a link request's headers: a JSON body, and an `Idempotency-Key` (if any) the API keeps.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(ApiError::Http(HttpRejection::NotJson));
    }
    let Some(key) = headers.get("idempotency-key") else { return Ok(None) };
    match key.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => Ok(Some(key)),
        _ => Err(ApiError::Validation(ValidationError {
            field: "Idempotency-Key",
            message: format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        })),
    }
}

/// The answer to a link request, errors included (they are remembered under an Idempotency-Key too).
async fn link_response(state: &AppState, body: &[u8]) -> (StatusCode, serde_json::Value) {
    match new_link(state, body).await {
        Ok(answer) => answer,
        Err(error) => {
            error.log_cause();
            (error.status(), error.body())
        }
    }
}

async fn new_link(state: &AppState, body: &[u8]) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let raw: RawLinkRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("The body is not valid JSON for this operation: {e}")))?;
    let request = raw.validate().map_err(ApiError::Validation)?;
    let outcome = state.payments.request_link(request).await?;
    let url = state.payments.link_url(&outcome.payment);
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

/// `?opportunity_id=…`, exactly once and nothing else: a parameter given twice or one the API does
/// not know is a mistake the caller should hear about, not a guess.
fn list_query(raw: Option<&str>) -> Result<SalesforceId, ApiError> {
    let mut opportunity = None;
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "opportunity_id" if opportunity.is_some() => {
                return Err(ApiError::BadRequest("opportunity_id is given more than once; give it once.".into()));
            }
            "opportunity_id" => opportunity = Some(value.into_owned()),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown query parameter {other:?}; this operation takes opportunity_id."
                )));
            }
        }
    }
    let invalid =
        |message: &str| ApiError::Validation(ValidationError { field: "opportunity_id", message: message.into() });
    let raw = opportunity.ok_or_else(|| invalid("is required"))?;
    SalesforceId::parse(&raw).map_err(invalid)
}

#[derive(Serialize)]
struct PaymentList {
    payments: Vec<PaymentBody>,
}

async fn list_payments(
    State(state): State<AppState>,
    _caller: ApiCaller,
    RawQuery(query): RawQuery,
) -> Result<Json<PaymentList>, ApiError> {
    let opportunity = list_query(query.as_deref())?;
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
    let payment = state.payments.cancel(&id, "canceled through the API").await?;
    Ok(Json(PaymentBody::new(&state, payment)))
}
