//! The console's audit log: every action an operator takes, with their address.

use crate::db::{Db, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OperatorAction {
    pub operator: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub at: i64,
}

/// Records that `operator` did `action` to `subject`; `detail` says what came of it.
pub async fn record(db: &Db, operator: &str, action: &str, subject: &str, detail: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO operator_audit (operator, action, subject, detail, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(operator)
        .bind(action)
        .bind(subject)
        .bind(detail)
        .bind(now_ms())
        .execute(&db.writes)
        .await?;
    Ok(())
}

/// What operators did to `subject`, oldest first.
pub async fn of_subject(db: &Db, subject: &str) -> Result<Vec<OperatorAction>, sqlx::Error> {
    sqlx::query_as(
        "SELECT operator, action, subject, detail, at FROM operator_audit WHERE subject = $1 ORDER BY at, id",
    )
    .bind(subject)
    .fetch_all(&db.pool)
    .await
}
