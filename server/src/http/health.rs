use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use crate::db::{Db, Readiness};

/// The process is up and serving.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The database is reachable and every migration is applied; 503 otherwise.
pub async fn readyz(State(db): State<Db>) -> impl IntoResponse {
    match db.readiness().await {
        Readiness::Ready => {
            (StatusCode::OK, Json(json!({ "status": "ready", "database": "ok", "migrations": "applied" })))
        }
        Readiness::DatabaseUnreachable => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "database": "unreachable" })))
        }
        Readiness::MigrationsPending(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": "ok", "migrations": "pending", "pending": pending })),
        ),
    }
}
