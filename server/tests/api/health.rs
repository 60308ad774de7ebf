use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_the_database_and_migrations() {
    let app = TestApp::spawn().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["migrations"], "applied");
}

#[tokio::test]
async fn readyz_is_unavailable_when_a_migration_is_missing() {
    let app = TestApp::spawn().await;
    let db = server::db::Db::connect(&app.database_url.parse().unwrap()).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations").execute(&db.pool).await.unwrap();

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["migrations"], "pending");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    let id = response.headers().get("x-request-id").expect("x-request-id header");
    assert!(!id.is_empty());
}

#[tokio::test]
async fn an_acknowledged_write_is_on_disk_before_it_returns() {
    let app = TestApp::spawn().await;
    if app.db.dialect != server::db::Dialect::Sqlite {
        return; // PostgreSQL's durability is the server's fsync setting.
    }
    let (synchronous,): (i64,) = sqlx::query_as("PRAGMA synchronous").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(synchronous, 2, "synchronous = FULL");
}
