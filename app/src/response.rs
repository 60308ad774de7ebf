//! What a page or server function says about the HTTP exchange it is part of: the request it
//! answers, its status, a redirect. Server-side only; Leptos keeps both in the context.

use leptos::prelude::*;

/// The request being answered (its headers carry the session cookie).
pub fn request() -> Result<http::request::Parts, ServerFnError> {
    use_context::<http::request::Parts>().ok_or_else(|| ServerFnError::new("no request"))
}

pub fn set_status(status: http::StatusCode) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

/// Answers with 303 See Other to `location`: a form post lands on the page that tells its outcome.
pub fn see_other(location: &str) {
    if let (Some(response), Ok(value)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(location))
    {
        response.insert_header(http::header::LOCATION, value);
        response.set_status(http::StatusCode::SEE_OTHER);
    }
}
