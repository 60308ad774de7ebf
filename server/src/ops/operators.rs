//! Operators: who may use the console, and as what. `REMIT_OPERATORS` names admins in the
//! configuration; `remit operator add` keeps more in the database, each an admin or a viewer.

use crate::{
    db::{Db, now_ms},
    payments::EmailAddress,
};

/// What an operator may do: viewers see, admins also act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "viewer" => Ok(Self::Viewer),
            "admin" => Ok(Self::Admin),
            other => Err(format!("role {other:?} is neither admin nor viewer")),
        }
    }
}

/// An operator as listed: from the configuration, or added to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub email: String,
    pub role: Role,
    /// Named by `REMIT_OPERATORS` (and so not removable from the command line).
    pub configured: bool,
}

/// The address as operators are kept: checked, lowercase.
pub fn normalized(email: &str) -> Result<String, String> {
    EmailAddress::parse(email).map(|e| e.as_str().to_lowercase()).map_err(|problem| format!("{email:?}: {problem}"))
}

/// Adds an operator, or changes the role of one already added.
pub async fn add(db: &Db, email: &str, role: Role) -> Result<Operator, anyhow::Error> {
    let email = normalized(email).map_err(anyhow::Error::msg)?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO operators (email, role, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (email) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at",
    )
    .bind(&email)
    .bind(role.as_str())
    .bind(now)
    .execute(&db.writes)
    .await?;
    Ok(Operator { email, role, configured: false })
}

/// Removes an operator added to the database; false when there was none.
pub async fn remove(db: &Db, email: &str) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM operators WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .execute(&db.writes)
        .await?;
    Ok(removed.rows_affected() == 1)
}

/// Every operator, the configured ones first (a configured address is an admin whatever the
/// database says).
pub async fn list(db: &Db, configured: &[String]) -> Result<Vec<Operator>, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT email, role FROM operators ORDER BY email").fetch_all(&db.pool).await?;
    let mut operators: Vec<Operator> =
        configured.iter().map(|email| Operator { email: email.clone(), role: Role::Admin, configured: true }).collect();
    operators.extend(
        rows.into_iter()
            .filter(|(email, _)| !configured.contains(email))
            .filter_map(|(email, role)| Some(Operator { email, role: role.parse().ok()?, configured: false })),
    );
    Ok(operators)
}

/// The role of `email`, if it is an operator's.
pub async fn role_of(db: &Db, configured: &[String], email: &str) -> Result<Option<Role>, sqlx::Error> {
    let email = email.trim().to_lowercase();
    if configured.contains(&email) {
        return Ok(Some(Role::Admin));
    }
    let role: Option<(String,)> =
        sqlx::query_as("SELECT role FROM operators WHERE email = $1").bind(&email).fetch_optional(&db.pool).await?;
    Ok(role.and_then(|(role,)| role.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_addresses_are_checked() {
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert_eq!("viewer".parse::<Role>(), Ok(Role::Viewer));
        assert!("owner".parse::<Role>().unwrap_err().contains("neither admin nor viewer"));
        assert!(Role::Admin > Role::Viewer);
        assert_eq!(normalized(" Ops@Example.COM ").unwrap(), "ops@example.com");
        assert!(normalized("not an address").is_err());
    }
}
