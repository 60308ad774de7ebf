use serde::Deserialize;

/// One entry of Salesforce's error list.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SfError {
    #[serde(rename = "errorCode", alias = "statusCode")]
    pub error_code: String,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SalesforceError {
    #[error("Salesforce refused the credentials: {0}")]
    Auth(String),
    #[error("Salesforce answered {status}: {}", describe(.errors))]
    Api { status: u16, errors: Vec<SfError> },
    #[error("Salesforce did not answer in time")]
    Timeout,
    #[error("cannot reach Salesforce: {0}")]
    Transport(String),
    #[error("unexpected answer from Salesforce: {0}")]
    Decode(String),
}

fn describe(errors: &[SfError]) -> String {
    errors.iter().map(|e| format!("{}: {}", e.error_code, e.message)).collect::<Vec<_>>().join("; ")
}

/// Codes that say "try again later" rather than "this will never work".
const RETRYABLE_CODES: &[&str] = &[
    "REQUEST_LIMIT_EXCEEDED",
    "UNABLE_TO_LOCK_ROW",
    "SERVER_UNAVAILABLE",
    "REQUEST_RUNNING_TOO_LONG",
    "QUERY_TIMEOUT",
];

impl SalesforceError {
    /// Worth another try later (outages, limits, locks); permanent errors need an admin.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) => true,
            Self::Api { status, errors } => {
                *status >= 500 || errors.iter().any(|e| RETRYABLE_CODES.contains(&e.error_code.as_str()))
            }
            Self::Auth(_) | Self::Decode(_) => false,
        }
    }

    /// Salesforce did not answer, or answered that it cannot serve now: the org may be fine, the
    /// way to it is not.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) => true,
            Self::Api { status, .. } => *status >= 500,
            Self::Auth(_) | Self::Decode(_) => false,
        }
    }

    pub fn has_code(&self, code: &str) -> bool {
        matches!(self, Self::Api { errors, .. } if errors.iter().any(|e| e.error_code == code))
    }
}
