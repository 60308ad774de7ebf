//! `GET /receipts/{token}.pdf` and `/credit-notes/{token}.pdf`: a paid payment's receipt and a
//! refund's credit note, each by a token of its own, and the signed-in payer's own copies.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{Request, StatusCode, header},
    response::{IntoResponse, Response},
};

use tower_sessions::Session;

use super::{AppState, not_found_page};
use crate::payments::{ReceiptAnswer, ReceiptError};

pub async fn download(State(state): State<AppState>, Path(file): Path<String>, request: Request<Body>) -> Response {
    let Some(token) = file.strip_suffix(".pdf") else { return not_found_page(State(state), request).await };
    let receipt = state.payments.receipt_by_token(token, if_none_match(&request)).await;
    serve(state, request, receipt).await
}

/// `GET /account/receipts/{payment id}.pdf`: a signed-in payer's own receipt.
pub async fn download_own(
    State(state): State<AppState>,
    Path(file): Path<String>,
    session: Session,
    request: Request<Body>,
) -> Response {
    let Some((payment_id, email)) = own_file(&state, &session, &file).await else {
        return not_found_page(State(state), request).await;
    };
    let receipt = state.payments.receipt_of_payer(payment_id, &email, if_none_match(&request)).await;
    serve(state, request, receipt).await
}

/// `GET /credit-notes/{token}.pdf`.
pub async fn download_credit_note(
    State(state): State<AppState>,
    Path(file): Path<String>,
    request: Request<Body>,
) -> Response {
    let Some(token) = file.strip_suffix(".pdf") else { return not_found_page(State(state), request).await };
    let note = state.payments.credit_note_by_token(token, if_none_match(&request)).await;
    serve(state, request, note).await
}

/// `GET /account/credit-notes/{refund id}.pdf`: a signed-in payer's own credit note.
pub async fn download_own_credit_note(
    State(state): State<AppState>,
    Path(file): Path<String>,
    session: Session,
    request: Request<Body>,
) -> Response {
    let Some((refund_id, email)) = own_file(&state, &session, &file).await else {
        return not_found_page(State(state), request).await;
    };
    let note = state.payments.credit_note_of_payer(refund_id, &email, if_none_match(&request)).await;
    serve(state, request, note).await
}

/// The id a signed-in payer's `{id}.pdf` names, with the payer's address; `None` when no one is
/// signed in or the name is not a PDF's.
async fn own_file<'a>(state: &AppState, session: &Session, file: &'a str) -> Option<(&'a str, String)> {
    let id = file.strip_suffix(".pdf")?;
    let email = super::sessions::signed_in_payer(session, state.config.session_lifetime).await.ok().flatten()?;
    Some((id, email))
}

fn if_none_match(request: &Request<Body>) -> Option<&str> {
    request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
}

/// The PDF with its name and ETag, a 304 when the browser has it, or the branded 404.
async fn serve(
    state: AppState,
    request: Request<Body>,
    receipt: Result<Option<ReceiptAnswer>, ReceiptError>,
) -> Response {
    let cache = |etag: String| [(header::ETAG, etag), (header::CACHE_CONTROL, "private, no-cache".to_owned())];
    match receipt {
        Ok(Some(ReceiptAnswer::Unchanged { etag })) => (StatusCode::NOT_MODIFIED, cache(etag)).into_response(),
        Ok(Some(ReceiptAnswer::Pdf(pdf))) => {
            let disposition = format!("attachment; filename=\"{}\"", pdf.filename);
            (
                cache(pdf.etag),
                [(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
                pdf.bytes,
            )
                .into_response()
        }
        Ok(None) => not_found_page(State(state), request).await,
        Err(error) => {
            tracing::error!(error = %crate::telemetry::chain(&error), "cannot produce a receipt or credit note");
            (StatusCode::SERVICE_UNAVAILABLE, "The document cannot be produced right now; try again shortly.")
                .into_response()
        }
    }
}
