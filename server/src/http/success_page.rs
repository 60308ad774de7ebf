//! `GET /success` for a payment whose page can no longer change by itself (paid, refunded,
//! canceled): one indexed read of the payment, then the page as rendered before for that version
//! of the payment and that language. Payers reload it, share it and come back to it; rendering the
//! Leptos page and stripping its hydration markup for each visit would cost far more than the
//! read. Every other return (a session Remit has not matched yet, a payment still moving) is
//! rendered by the Leptos page, which may ask Stripe.

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::AppState;
use crate::payments::locale::language;

/// Pages kept: one per payment version and language recently visited.
const CACHED_PAGES: usize = 10_000;

/// Rendered final success pages by (payment, its `updated_at`, language): a change to the
/// payment gives it a new `updated_at`, so a stale page is never found.
#[derive(Clone)]
pub struct SuccessPages(Arc<quick_cache::sync::Cache<(String, i64, String), Bytes>>);

impl Default for SuccessPages {
    fn default() -> Self {
        Self(Arc::new(quick_cache::sync::Cache::new(CACHED_PAGES)))
    }
}

pub async fn success(State(state): State<AppState>, request: Request<Body>) -> Response {
    let session_id = session_id(request.uri().query().unwrap_or_default());
    let payment = match state.payments.final_by_checkout_session(&session_id).await {
        Ok(Some(payment)) => payment,
        // Not matched yet, still moving, or the database is unwell: the page itself says.
        _ => return super::render_page(&state, request).await,
    };
    let accept_language = request.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let key = (payment.id.clone(), payment.updated_at, language(accept_language));
    if let Some(html) = state.success_pages.0.get(&key) {
        return html_page(html);
    }
    let rendered = super::render_page(&state, request).await;
    if rendered.status() != StatusCode::OK {
        return rendered;
    }
    let Some(html) = super::page_html(rendered).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "page too large").into_response();
    };
    let html = Bytes::from(html);
    state.success_pages.0.insert(key, html.clone());
    html_page(html)
}

fn session_id(query: &str) -> String {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "session_id")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// A finished page, marked so the hydration stripping leaves it alone.
fn html_page(html: Bytes) -> Response {
    let mut response = Response::new(Body::from(html));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(super::Finished);
    response
}
