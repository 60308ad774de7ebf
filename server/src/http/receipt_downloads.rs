//! `GET /receipts/{token}.pdf`: a paid payment's receipt, by a token of its own.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{Request, StatusCode, header},
    response::{IntoResponse, Response},
};

use tower_sessions::Session;

use super::{AppState, not_found_page};
use crate::payments::{ReceiptError, ReceiptPdf};

pub async fn download(State(state): State<AppState>, Path(file): Path<String>, request: Request<Body>) -> Response {
    let Some(token) = file.strip_suffix(".pdf") else { return not_found_page(State(state), request).await };
    let receipt = state.payments.receipt_by_token(token).await;
    serve(state, request, receipt).await
}

/// `GET /account/receipts/{payment id}.pdf`: a signed-in payer's own receipt.
pub async fn download_own(
    State(state): State<AppState>,
    Path(file): Path<String>,
    session: Session,
    request: Request<Body>,
) -> Response {
    let email = super::sessions::signed_in_payer(&session, state.config.session_lifetime).await.ok().flatten();
    let (Some(payment_id), Some(email)) = (file.strip_suffix(".pdf"), email) else {
        return not_found_page(State(state), request).await;
    };
    let receipt = state.payments.receipt_of_payer(payment_id, &email).await;
    serve(state, request, receipt).await
}

/// The PDF with its name and ETag (304 when the browser has it), or the branded 404.
async fn serve(state: AppState, request: Request<Body>, receipt: Result<Option<ReceiptPdf>, ReceiptError>) -> Response {
    match receipt {
        Ok(Some(pdf)) => {
            let unchanged =
                request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(pdf.etag.as_str());
            let headers = [(header::ETAG, pdf.etag.clone()), (header::CACHE_CONTROL, "private, no-cache".to_owned())];
            if unchanged {
                return (StatusCode::NOT_MODIFIED, headers).into_response();
            }
            let disposition = format!("attachment; filename=\"{}\"", pdf.filename);
            (
                headers,
                [(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
                pdf.bytes,
            )
                .into_response()
        }
        Ok(None) => not_found_page(State(state), request).await,
        Err(error) => {
            tracing::error!(%error, "cannot produce a receipt");
            (StatusCode::SERVICE_UNAVAILABLE, "The receipt cannot be produced right now; try again shortly.")
                .into_response()
        }
    }
}
