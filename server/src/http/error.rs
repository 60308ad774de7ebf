//! The API's one error type: every failure becomes `{"error": {"code", "message", "field"}}` with
//! the status that says whose fault it is. Internal causes are logged, never sent.

use axum::{
    Json,
    extract::Request,
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    Cause,
    payments::{LinkError, RefundError, ValidationError},
    stripe::StripeError,
    telemetry,
};

#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    BadRequest(String),
    Validation(ValidationError),
    NotFound,
    NoSuchOperation,
    Conflict { code: &'static str, message: String },
    IdempotencyKeyReused,
    IdempotencyKeyInUse,
    Http(HttpRejection),
    StripeUnavailable(Cause),
    Internal(Cause),
}

/// A request refused for its HTTP form before any field is read.
#[derive(Debug)]
pub enum HttpRejection {
    MethodNotAllowed,
    TimedOut,
    BodyTooLarge,
    NotJson,
}

impl HttpRejection {
    fn parts(&self) -> (StatusCode, &'static str, String, Option<&'static str>) {
        match self {
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This path does not take this HTTP method; see /api/v1/openapi.json.".into(),
                None,
            ),
            Self::TimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "The request took too long and was stopped; retry it (with the same Idempotency-Key).".into(),
                None,
            ),
            Self::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("The body is larger than the API takes ({} KiB).", super::api::MAX_BODY_BYTES / 1024),
                None,
            ),
            Self::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON, with 'Content-Type: application/json'.".into(),
                Some("Content-Type"),
            ),
        }
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String, Option<&'static str>) {
        match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send a valid API key as 'Authorization: Bearer <key>'.".into(),
                None,
            ),
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, "bad_request", message.clone(), None),
            Self::Validation(e) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", e.to_string(), Some(e.field)),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "No payment has this id.".into(), None),
            Self::NoSuchOperation => (
                StatusCode::NOT_FOUND,
                "no_such_operation",
                "No API operation has this method and path; see /api/v1/openapi.json.".into(),
                None,
            ),
            Self::Conflict { code, message } => (StatusCode::CONFLICT, code, message.clone(), None),
            Self::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request body.".into(),
                Some("Idempotency-Key"),
            ),
            Self::IdempotencyKeyInUse => (
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still being processed; retry shortly.".into(),
                Some("Idempotency-Key"),
            ),
            Self::Http(rejection) => rejection.parts(),
            Self::StripeUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "stripe_unavailable",
                "Stripe could not be reached. Nothing was changed; try again shortly.".into(),
                None,
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Something went wrong on our side. Nothing was changed; try again.".into(),
                None,
            ),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    pub fn body(&self) -> serde_json::Value {
        let (_, code, message, field) = self.parts();
        let mut error = json!({ "code": code, "message": message });
        if let Some(field) = field {
            error["field"] = json!(field);
        }
        json!({ "error": error })
    }
}

impl ApiError {
    /// 5xx causes go to the log, never to the caller.
    pub fn log_cause(&self) {
        match self {
            Self::Internal(cause) => {
                tracing::error!(cause = %telemetry::chain(cause.as_ref()), "API request failed");
            }
            Self::StripeUnavailable(cause) => {
                tracing::warn!(cause = %telemetry::chain(cause.as_ref()), "API request failed: Stripe unavailable");
            }
            _ => {}
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log_cause();
        (self.status(), Json(self.body())).into_response()
    }
}

/// The framework answers some requests itself, in plain text or with no body: a method a path does
/// not take (405), the time limit (408), a body over the limit (413), a query or path it cannot
/// read (400). Under `/api/` each becomes the API's JSON error, so a caller never meets another
/// shape. Outermost layer, so it sees the time limit's answers too.
pub async fn api_rejections_as_json(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::Http(HttpRejection::MethodNotAllowed),
        StatusCode::REQUEST_TIMEOUT => ApiError::Http(HttpRejection::TimedOut),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::Http(HttpRejection::BodyTooLarge),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::Http(HttpRejection::NotJson),
        StatusCode::NOT_FOUND => ApiError::NoSuchOperation,
        status if status.is_client_error() => ApiError::BadRequest(text),
        status => ApiError::Internal(format!("the framework answered {status}: {text}").into()),
    };
    error.into_response()
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(Box::new(error))
    }
}

impl From<RefundError> for ApiError {
    fn from(error: RefundError) -> Self {
        match error {
            RefundError::NotFound => Self::NotFound,
            RefundError::Invalid(e) => Self::Validation(e),
            RefundError::NotRefundable(status) => Self::Conflict {
                code: "not_refundable",
                message: format!("The payment is {status}; only a paid payment can be refunded."),
            },
            RefundError::CollectedByInvoice => Self::Conflict {
                code: "collected_by_invoice",
                message: "The payment was collected by a Stripe invoice; refund it from the invoice in Stripe's \
                          Dashboard (Remit refunds Checkout payments)."
                    .into(),
            },
            RefundError::NothingLeft => Self::Conflict {
                code: "nothing_to_refund",
                message: "Everything paid has been refunded already.".into(),
            },
            RefundError::Stripe(StripeError::InvalidRequest { message, .. }) => {
                Self::Conflict { code: "refund_refused", message: format!("Stripe refused the refund: {message}") }
            }
            RefundError::Stripe(e) if e.is_retryable() => Self::StripeUnavailable(Box::new(e)),
            RefundError::Stripe(e) => Self::Internal(Box::new(e)),
            RefundError::Database(e) => e.into(),
        }
    }
}

impl From<LinkError> for ApiError {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::Invalid(e) => Self::Validation(e),
            LinkError::AlreadyPaid(p) => Self::Conflict {
                code: "already_paid",
                message: format!(
                    "Payment {} for this Opportunity is already {}; it cannot be changed.",
                    p.id, p.status
                ),
            },
            LinkError::InProgress(p) => Self::Conflict {
                code: "payment_in_progress",
                message: format!(
                    "Payment {} for this Opportunity is being paid ({}); it cannot be changed now.",
                    p.id, p.status
                ),
            },
            LinkError::NotFound => Self::NotFound,
            LinkError::Stripe(e) if e.is_retryable() => Self::StripeUnavailable(Box::new(e)),
            LinkError::Stripe(e) => Self::Internal(Box::new(e)),
            LinkError::Database(e) => e.into(),
        }
    }
}
