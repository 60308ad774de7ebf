//! Payer accounts: sign-in by a single-use emailed link, and every payment made with an email
//! address. Sign-in never tells whether an address is known.

mod limiter;

use std::{net::IpAddr, sync::Arc, time::Duration};

use rand::Rng;
use sha2::{Digest, Sha256};

pub use limiter::RateLimiter;

use crate::{
    base_url::BaseUrl,
    db::{Db, now_ms},
    mail::{self, Mailer},
    payments::{EmailAddress, Payment, Payments},
};

/// How long a sign-in link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Payments per page of the account view.
pub const PAGE_SIZE: i64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("{0}")]
    InvalidEmail(&'static str),
    #[error("too many sign-in requests; try again in a few minutes")]
    RateLimited,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Clone)]
pub struct Accounts {
    pub db: Db,
    pub mailer: Mailer,
    pub public_url: BaseUrl,
    pub payments: Payments,
    /// Sign-in requests per address.
    pub per_email: Arc<RateLimiter>,
    /// Sign-in requests per client address.
    pub per_ip: Arc<RateLimiter>,
}

/// What a sign-in link opens: a payer's account, or the operator console. A link of one scope
/// is nothing to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Payer,
    Operator,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Payer => "payer",
            Self::Operator => "operator",
        }
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Accounts {
    /// Sends a sign-in link when payments exist for `email`. Answers the same either way, and in
    /// the same time: the lookup and the mail happen after the answer.
    pub async fn request_sign_in(&self, email: &str, ip: Option<IpAddr>) -> Result<(), SignInError> {
        let normalized = self.admitted(email, ip)?;
        let accounts = self.clone();
        tokio::spawn(async move {
            if let Err(error) = accounts.send_link_if_known(&normalized).await {
                tracing::warn!(%error, "sign-in link not sent");
            }
        });
        Ok(())
    }

    /// Sends a console sign-in link when `email` is an operator's (`configured` are the
    /// addresses `REMIT_OPERATORS` names). Answers alike either way, as [`Self::request_sign_in`].
    pub async fn request_operator_sign_in(
        &self,
        email: &str,
        ip: Option<IpAddr>,
        configured: Vec<String>,
    ) -> Result<(), SignInError> {
        let normalized = self.admitted(email, ip)?;
        let accounts = self.clone();
        tokio::spawn(async move {
            if let Err(error) = accounts.send_operator_link_if_known(&normalized, &configured).await {
                tracing::warn!(%error, "console sign-in link not sent");
            }
        });
        Ok(())
    }

    /// The address, checked and lowercase, unless it or the client asked too often.
    fn admitted(&self, email: &str, ip: Option<IpAddr>) -> Result<String, SignInError> {
        let email = EmailAddress::parse(email).map_err(SignInError::InvalidEmail)?;
        let normalized = email.as_str().to_lowercase();
        let ip_allowed = ip.is_none_or(|ip| self.per_ip.allow(&ip.to_string()));
        if !ip_allowed || !self.per_email.allow(&normalized) {
            return Err(SignInError::RateLimited);
        }
        Ok(normalized)
    }

    async fn send_link_if_known(&self, email: &str) -> anyhow::Result<()> {
        let Some(latest) = self.payments_of(email, 0).await?.0.into_iter().next() else { return Ok(()) };
        let token = self.issue_link(email, Scope::Payer).await?;
        let link = self.public_url.join(&format!("/account/sign-in/{token}"));
        let message = mail::sign_in(&self.payments, &latest, link).map_err(|e| anyhow::anyhow!("{e}"))?;
        self.mailer.send(message).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    async fn send_operator_link_if_known(&self, email: &str, configured: &[String]) -> anyhow::Result<()> {
        if crate::ops::operators::role_of(&self.db, configured, email).await?.is_none() {
            return Ok(());
        }
        let token = self.issue_link(email, Scope::Operator).await?;
        let link = self.public_url.join(&format!("/ops/sign-in/{token}"));
        let brand = self.payments.brands().default_brand();
        let message = mail::operator_sign_in(brand, email, link).map_err(|e| anyhow::anyhow!("{e}"))?;
        self.mailer.send(message).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    /// A new single-use link token for `email`; only its hash is kept.
    async fn issue_link(&self, email: &str, scope: Scope) -> Result<String, sqlx::Error> {
        let bytes: [u8; 32] = rand::rng().random();
        let token = hex::encode(bytes);
        sqlx::query(
            "INSERT INTO sign_in_tokens (token_hash, email, expires_at, created_at, scope) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash(&token))
        .bind(email)
        .bind(now_ms() + LINK_LIFETIME.as_millis() as i64)
        .bind(now_ms())
        .bind(scope.as_str())
        .execute(&self.db.writes)
        .await?;
        Ok(token)
    }

    /// Whether a sign-in link of `scope` still works (unused, unexpired), without using it.
    pub async fn link_is_valid(&self, token: &str, scope: Scope) -> Result<bool, sqlx::Error> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT expires_at FROM sign_in_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             AND scope = $3",
        )
        .bind(hash(token))
        .bind(now_ms())
        .bind(scope.as_str())
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Uses a sign-in link: the email it was sent to, once; `None` when used, expired or unknown.
    /// The address's other unused links stop working with it. Looking it up by its hash
    /// compares nothing secret byte by byte.
    pub async fn redeem(&self, token: &str, scope: Scope) -> Result<Option<String>, sqlx::Error> {
        let now = now_ms();
        let used = sqlx::query(
            "UPDATE sign_in_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             AND scope = $3",
        )
        .bind(now)
        .bind(hash(token))
        .bind(scope.as_str())
        .execute(&self.db.writes)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(None);
        }
        let (email,): (String,) = sqlx::query_as("SELECT email FROM sign_in_tokens WHERE token_hash = $1")
            .bind(hash(token))
            .fetch_one(&self.db.pool)
            .await?;
        sqlx::query("UPDATE sign_in_tokens SET used_at = $1 WHERE email = $2 AND used_at IS NULL AND scope = $3")
            .bind(now)
            .bind(&email)
            .bind(scope.as_str())
            .execute(&self.db.writes)
            .await?;
        Ok(Some(email))
    }

    /// One page of the payments made with `email` (any case), newest first, and whether more follow.
    pub async fn payments_of(&self, email: &str, page: i64) -> Result<(Vec<Payment>, bool), sqlx::Error> {
        // A page past any there could be is empty, not an overflow.
        let Some(offset) = page.max(0).checked_mul(PAGE_SIZE) else { return Ok((Vec::new(), false)) };
        let mut payments = self.payments.of_payer(email, PAGE_SIZE + 1, offset).await?;
        let more = payments.len() as i64 > PAGE_SIZE;
        payments.truncate(PAGE_SIZE as usize);
        Ok((payments, more))
    }
}
