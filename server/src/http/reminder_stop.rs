//! `POST /reminders/stop/{token}`: a payer stops a link's reminders, by the button of the page at
//! the same address or by their mail client's one-click unsubscribe (RFC 8058, which posts
//! `List-Unsubscribe=One-Click` to the `List-Unsubscribe` URL). The link's token is the
//! credential, as it is for paying; a browser goes back to the page, a mail client gets 200.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};

use super::AppState;

pub async fn stop(State(state): State<AppState>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    let token: String = token.chars().filter(char::is_ascii_alphanumeric).collect();
    match stop_reminders(&state, &token).await {
        Ok(false) => (StatusCode::NOT_FOUND, "No payment has this link.").into_response(),
        Ok(true) if accepts_html(&headers) => Redirect::to(&format!("/reminders/stop/{token}")).into_response(),
        Ok(true) => (StatusCode::OK, "Reminders stopped.").into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot stop reminders");
            (StatusCode::SERVICE_UNAVAILABLE, "Please try again in a moment.").into_response()
        }
    }
}

/// Whether a payment has this link; its reminders are stopped if any were coming.
async fn stop_reminders(state: &AppState, token: &str) -> Result<bool, sqlx::Error> {
    if state.payments.by_pay_token(token).await?.is_none() {
        return Ok(false);
    }
    state.payments.stop_reminders(token).await?;
    Ok(true)
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}
