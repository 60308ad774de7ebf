use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::{Value, json};

use super::AppState;
use crate::{
    db::{Db, Readiness},
    outbox::{self, WorkerHealth},
};

/// The process is up and serving.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database is reachable with every migration applied and every outbox worker
/// this process started still runs; 503 otherwise. Says how long the oldest due job has waited.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (database, ready_database) = database(&state.db).await;
    let (workers, ready_workers) = workers(&state.worker_health);
    let oldest_due = outbox::oldest_due_age_ms(&state.db).await.ok().flatten();
    let ready = ready_database && ready_workers;
    let unreachable_since = state.salesforce_health.unreachable_since().map(|at| {
        time::OffsetDateTime::from(at).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
    });
    let mut body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "workers": workers,
        "oldest_due_job_age_secs": oldest_due.map(|ms| ms / 1000),
        // Salesforce being down does not make Remit unready: webhooks are taken and kept.
        "salesforce": { "reachable": unreachable_since.is_none(), "unreachable_since": unreachable_since },
    });
    if let (Value::Object(body), Value::Object(database)) = (&mut body, database) {
        body.extend(database);
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

async fn database(db: &Db) -> (Value, bool) {
    match db.readiness().await {
        Readiness::Ready => (json!({ "database": "ok", "migrations": "applied" }), true),
        Readiness::DatabaseUnreachable => (json!({ "database": "unreachable" }), false),
        Readiness::MigrationsPending(pending) => {
            (json!({ "database": "ok", "migrations": "pending", "pending": pending }), false)
        }
    }
}

fn workers(health: &WorkerHealth) -> (Value, bool) {
    workers_of(health.snapshot())
}

/// Every class's workers: how many started and how many still run. Ready while none stopped.
fn workers_of(snapshot: std::collections::BTreeMap<&'static str, (usize, usize)>) -> (Value, bool) {
    let ready = snapshot.values().all(|(started, running)| running == started);
    let classes: serde_json::Map<String, Value> = snapshot
        .into_iter()
        .map(|(class, (started, running))| (class.to_owned(), json!({ "started": started, "running": running })))
        .collect();
    (Value::Object(classes), ready)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    #[test]
    fn a_class_whose_worker_stopped_makes_the_process_unready() {
        let (body, ready) = super::workers_of(BTreeMap::from([("events", (2, 2)), ("sync", (1, 0))]));
        assert!(!ready);
        assert_eq!(body["sync"], json!({ "started": 1, "running": 0 }));
        assert!(super::workers_of(BTreeMap::from([("events", (2, 2))])).1);
    }
}
