//! Secrets Remit makes for itself, kept in its database so that every instance sharing it signs
//! and checks with the same key. Made once, on first start.

use rand::Rng;

use crate::db::{Db, now_ms};

/// The 32-byte secret called `name`, made now if it does not exist yet.
pub async fn shared_key(db: &Db, name: &str) -> Result<[u8; 32], sqlx::Error> {
    let fresh = hex::encode(rand::rng().random::<[u8; 32]>());
    sqlx::query(
        "INSERT INTO remit_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(&fresh)
    .bind(now_ms())
    .execute(&db.writes)
    .await?;
    let (value,): (String,) =
        sqlx::query_as("SELECT value FROM remit_secrets WHERE name = $1").bind(name).fetch_one(&db.pool).await?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(&value, &mut key).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(key)
}
