use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// An error in Stripe's shape: `{"error": {"type", "code", "message", "param", "doc_url"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }

    pub fn unknown_parameter(param: &str) -> Self {
        Self { code: Some("parameter_unknown"), ..Self::invalid(format!("Received unknown parameter: {param}"), param) }
    }

    /// An invalid request with Stripe's error code for it (`amount_too_large`, …).
    pub fn coded(message: impl Into<String>, param: &str, code: &'static str) -> Self {
        Self { code: Some(code), ..Self::invalid(message, param) }
    }

    pub fn missing(param: &str) -> Self {
        Self { code: Some("parameter_missing"), ..Self::invalid(format!("Missing required param: {param}."), param) }
    }

    pub fn no_such(object: &str, id: &str, param: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: Some("resource_missing"),
            ..Self::invalid(format!("No such {object}: '{id}'"), param)
        }
    }

    pub fn unauthorized(message: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            code: None,
            message: message.to_owned(),
            param: None,
        }
    }

    pub fn idempotency(message: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "idempotency_error",
            code: None,
            message: message.to_owned(),
            param: None,
        }
    }

    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = json!(code);
            error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
