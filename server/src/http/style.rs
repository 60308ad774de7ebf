//! The stylesheet and logo are compiled into the binary, so Remit runs from any directory.

use axum::http::StatusCode;
use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};

use super::AppState;

const MAIN_CSS: &str = include_str!("../../../style/main.css");
const LOGO_SVG: &str = include_str!("../../../style/logo.svg");
const CACHE: &str = "public, max-age=300";

pub async fn main_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], MAIN_CSS).into_response()
}

pub async fn logo() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, CACHE)], LOGO_SVG).into_response()
}

/// `/style/brand/{key}.css`: the brand's colours as CSS variables.
pub async fn brand_css(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let brand = file.strip_suffix(".css").and_then(|key| state.config.brands.get(key));
    match brand {
        Some(brand) => {
            ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], brand.stylesheet())
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/css; charset=utf-8")], "/* no such brand */\n")
            .into_response(),
    }
}

/// `/style/brand/{key}/logo`: a brand's logo read from `logo_file`.
pub async fn brand_logo(State(state): State<AppState>, Path(key): Path<String>) -> Response {
    match state.config.brands.get(&key).and_then(|brand| brand.logo.clone()) {
        Some(logo) => {
            ([(header::CONTENT_TYPE, logo.format.content_type()), (header::CACHE_CONTROL, CACHE)], logo.bytes.to_vec())
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
