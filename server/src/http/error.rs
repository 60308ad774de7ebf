//! The API's one error type: every failure becomes `{"error": {"code", "message", "field"}}` with
//! the status that says whose fault it is. Internal causes are logged, never sent.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    Cause,
    payments::{LinkError, ValidationError},
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
    StripeUnavailable(Cause),
    Internal(Cause),
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

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(Box::new(error))
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
