//! Which failed attempts already have their Salesforce Task (`salesforce_tasks`), so a retry
//! never makes another.

use crate::db::{Db, now_ms};

/// The attempts of the payment that have a Task.
pub async fn tasked_attempts(db: &Db, payment_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT attempt_id FROM salesforce_tasks WHERE payment_id = $1")
        .bind(payment_id)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(|(attempt,)| attempt).collect())
}

/// Remembers the Tasks just created: (attempt, Task id).
pub async fn remember(db: &Db, payment_id: &str, created: &[(String, String)]) -> Result<(), sqlx::Error> {
    for (attempt, task) in created {
        sqlx::query(
            "INSERT INTO salesforce_tasks (payment_id, attempt_id, task_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (payment_id, attempt_id) DO NOTHING",
        )
        .bind(payment_id)
        .bind(attempt)
        .bind(task)
        .bind(now_ms())
        .execute(&db.writes)
        .await?;
    }
    Ok(())
}
