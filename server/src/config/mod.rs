//! Typed configuration, loaded once at start-up from the environment and an optional `remit.toml`.
//!
//! Every problem stops start-up with one line that names the setting. Secrets are
//! [`SecretString`]s: they print as `[REDACTED]` and have no defaults.

mod brands;
mod env;
mod mapping;
mod reminders;

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::base_url::BaseUrl;

pub use brands::{Brand, Brands, Logo, LogoFormat, Paper};
use env::Env;
pub use env::EnvSource;
pub use mapping::{FieldUse, SalesforceMapping, WrittenField};
pub use reminders::{ReminderSchedule, ReminderStep, ReminderTemplate, Reminders, parse_duration};

/// One setting that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {setting}: {problem}")]
pub struct ConfigError {
    pub setting: String,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { setting: setting.into(), problem: problem.into() }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Base of every link Remit hands out.
    pub public_url: BaseUrl,
    pub database_url: DatabaseUrl,
    pub stripe: Option<StripeConfig>,
    pub salesforce: Option<SalesforceConfig>,
    pub mail: MailConfig,
    pub log_format: LogFormat,
    pub request_timeout: Duration,
    pub brands: Brands,
    pub mapping: SalesforceMapping,
    /// When unpaid links are reminded (`[reminders]`).
    pub reminders: Reminders,
    /// The window of the sign-in rate limits (5 per address, 30 per client address).
    pub sign_in_window_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Outbox workers per job class in this process (`REMIT_WORKERS`).
    pub workers: WorkerCounts,
    /// How long a worker's claim on a job lasts unless renewed (`REMIT_JOB_LEASE_SECS`).
    pub job_lease: Duration,
    /// Time limit of one Salesforce API call (`REMIT_SALESFORCE_TIMEOUT_SECS`).
    pub salesforce_timeout: Duration,
    /// Whether `remit serve` checks the org at start-up in live mode (`REMIT_SALESFORCE_CHECK_AT_START`);
    /// the check costs about six API calls.
    pub salesforce_check_at_start: bool,
    /// How long a payer's sign-in lasts, however active (`REMIT_SESSION_LIFETIME_SECS`).
    pub session_lifetime: Duration,
    /// How long a client may take to send its request headers (`REMIT_HEADER_TIMEOUT_SECS`).
    pub header_timeout: Duration,
    /// Open connections at most (`REMIT_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// When set, `/metrics` needs `Authorization: Bearer <it>` (`REMIT_METRICS_TOKEN`).
    pub metrics_token: Option<SecretString>,
    /// Addresses that are operators (admins) by configuration, lowercase (`REMIT_OPERATORS`).
    pub operators: Vec<String>,
}

/// Workers per job class: the defaults of DESIGN.md §4, with what `REMIT_WORKERS` names instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCounts(pub std::collections::BTreeMap<String, usize>);

impl WorkerCounts {
    pub const DEFAULT: &str = "events=2,sync=1,mail=1,receipts=1";
}

impl FromStr for WorkerCounts {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let mut counts = std::collections::BTreeMap::new();
        for entry in Self::DEFAULT.split(',').chain(raw.split(',')).map(str::trim).filter(|e| !e.is_empty()) {
            let (class, count) =
                entry.split_once('=').ok_or_else(|| format!("{entry:?} is not class=count, e.g. events=2"))?;
            let count: usize = count
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= 64)
                .ok_or_else(|| format!("{entry:?}: the count must be a whole number from 0 to 64"))?;
            counts.insert(class.trim().to_owned(), count);
        }
        Ok(Self(counts))
    }
}

/// `remit.toml`: brands and the Salesforce mapping, read once.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemitToml {
    default_brand: Option<String>,
    #[serde(default)]
    brands: std::collections::BTreeMap<String, brands::RawBrand>,
    #[serde(default)]
    salesforce: SalesforceMapping,
    #[serde(default)]
    reminders: reminders::RawReminders,
}

impl RemitToml {
    fn load(env: &Env) -> Result<Self, ConfigError> {
        match env.optional("REMIT_CONFIG") {
            None => Ok(Self::default()),
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError::new("REMIT_CONFIG", format!("cannot read {path}: {e}")))?;
                Self::parse(&text)
            }
        }
    }

    fn parse(text: &str) -> Result<Self, ConfigError> {
        let one_line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        toml::from_str(text).map_err(|e| ConfigError::new("REMIT_CONFIG", one_line(&e.to_string())))
    }
}

impl Config {
    /// Reads the process environment (and `REMIT_CONFIG`, when set).
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::load(&env::ProcessEnv)
    }

    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        let stripe = StripeConfig::load(&env)?;
        let salesforce = SalesforceConfig::load(&env)?;
        match (&stripe, &salesforce) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "SALESFORCE_CLIENT_ID",
                    "is required when STRIPE_SECRET_KEY is set (live mode needs both services)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "STRIPE_SECRET_KEY",
                    "is required when Salesforce is configured (live mode needs both services)",
                ));
            }
            _ => {}
        }
        let mut file = RemitToml::load(&env)?;
        let mapping = std::mem::take(&mut file.salesforce).validate()?;
        let reminders = file.reminders.validate()?;
        Ok(Self {
            bind: env.parsed("REMIT_BIND", "127.0.0.1:3000")?,
            public_url: public_url(&env)?,
            database_url: env.parsed("DATABASE_URL", "sqlite://remit.db")?,
            stripe,
            salesforce,
            mail: MailConfig::load(&env)?,
            log_format: env.parsed("REMIT_LOG_FORMAT", "text")?,
            request_timeout: Duration::from_secs(env.parsed("REMIT_REQUEST_TIMEOUT_SECS", "30")?),
            brands: Brands::from_file(file)?,
            mapping,
            reminders,
            sign_in_window_secs: env.parsed("REMIT_SIGN_IN_WINDOW_SECS", "900")?,
            trusted_proxies: trusted_proxies(&env)?,
            workers: env.parsed("REMIT_WORKERS", "")?,
            job_lease: Duration::from_secs(positive(&env, "REMIT_JOB_LEASE_SECS", "300")?),
            salesforce_timeout: Duration::from_secs(positive(&env, "REMIT_SALESFORCE_TIMEOUT_SECS", "30")?),
            salesforce_check_at_start: env.parsed("REMIT_SALESFORCE_CHECK_AT_START", "true")?,
            session_lifetime: Duration::from_secs(positive(&env, "REMIT_SESSION_LIFETIME_SECS", "7776000")?),
            header_timeout: Duration::from_secs(positive(&env, "REMIT_HEADER_TIMEOUT_SECS", "10")?),
            max_connections: usize::try_from(positive(&env, "REMIT_MAX_CONNECTIONS", "1024")?).unwrap_or(usize::MAX),
            metrics_token: env.optional("REMIT_METRICS_TOKEN").map(SecretString::from),
            operators: operators(&env)?,
        })
    }

    /// Sandbox mode: no Stripe and no Salesforce configured, so both stand-ins run in-process.
    pub fn is_sandbox(&self) -> bool {
        self.stripe.is_none() && self.salesforce.is_none()
    }
}

/// A number of seconds that must be at least one.
fn positive(env: &Env, name: &str, default: &str) -> Result<u64, ConfigError> {
    let seconds: u64 = env.parsed(name, default)?;
    if seconds == 0 {
        return Err(ConfigError::new(name, "must be at least 1 (seconds)"));
    }
    Ok(seconds)
}

/// Comma-separated email addresses, each checked.
fn operators(env: &Env) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = env.optional("REMIT_OPERATORS") else { return Ok(Vec::new()) };
    raw.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|email| {
            crate::ops::operators::normalized(email).map_err(|problem| ConfigError::new("REMIT_OPERATORS", problem))
        })
        .collect()
}

/// Comma-separated addresses or CIDR blocks: `10.0.0.0/8, 2001:db8::1`.
fn trusted_proxies(env: &Env) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let raw = env.optional("REMIT_TRUSTED_PROXIES").unwrap_or_default();
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::new("REMIT_TRUSTED_PROXIES", format!("{entry:?} is not an IP address or CIDR block"))
                })
        })
        .collect()
}

fn public_url(env: &Env) -> Result<BaseUrl, ConfigError> {
    let url: Url = env.parsed("REMIT_PUBLIC_URL", "http://127.0.0.1:3000")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new("REMIT_PUBLIC_URL", "must be an http:// or https:// URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new("REMIT_PUBLIC_URL", "must not have a query or fragment"));
    }
    Ok(url.into())
}

/// Where the database is: SQLite (embedded default) or PostgreSQL (shared by several instances).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn dialect(&self) -> crate::db::Dialect {
        if self.0.starts_with("sqlite:") { crate::db::Dialect::Sqlite } else { crate::db::Dialect::Postgres }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        if raw.starts_with("sqlite:") {
            sqlx::sqlite::SqliteConnectOptions::from_str(raw).map_err(|e| format!("not a valid SQLite URL ({e})"))?;
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let url = Url::parse(raw).map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err("a PostgreSQL URL needs a host".into());
            }
            sqlx::postgres::PgConnectOptions::from_str(raw).map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
        } else {
            return Err("must start with sqlite:// or postgres://".into());
        }
        Ok(Self(raw.to_owned()))
    }
}

impl DatabaseUrl {
    /// The URL with every credential replaced: the password in the user part and any query
    /// parameter that carries one (`password=`, `sslpassword=`). Safe for logs and errors.
    pub fn redacted(&self) -> String {
        let Ok(mut url) = Url::parse(&self.0) else { return self.0.clone() };
        if url.password().is_some() {
            let _ = url.set_password(Some("REDACTED"));
        }
        if url.query().is_some() {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(key, value)| {
                    let secret = key.to_ascii_lowercase().contains("pass");
                    (key.into_owned(), if secret { "REDACTED".to_owned() } else { value.into_owned() })
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }
}

/// A database URL's credentials must never reach a log line.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("must be text or json".into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: SecretString,
    /// Several while a webhook secret is being rolled.
    pub webhook_secrets: Vec<SecretString>,
    pub api_base: Url,
}

impl StripeConfig {
    fn load(env: &Env) -> Result<Option<Self>, ConfigError> {
        let Some(secret_key) = env.secret("STRIPE_SECRET_KEY")? else {
            return Ok(None);
        };
        let key = secret_key.expose_secret();
        if !(key.starts_with("sk_") || key.starts_with("rk_")) {
            return Err(ConfigError::new(
                "STRIPE_SECRET_KEY",
                "must be a Stripe secret key (sk_…) or restricted key (rk_…)",
            ));
        }
        let secrets = env
            .secret("STRIPE_WEBHOOK_SECRET")?
            .ok_or_else(|| ConfigError::new("STRIPE_WEBHOOK_SECRET", "is required when STRIPE_SECRET_KEY is set"))?;
        let webhook_secrets: Vec<SecretString> = secrets
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(SecretString::from)
            .collect();
        if webhook_secrets.is_empty() || webhook_secrets.iter().any(|s| !s.expose_secret().starts_with("whsec_")) {
            return Err(ConfigError::new(
                "STRIPE_WEBHOOK_SECRET",
                "must be one or more comma-separated whsec_… secrets",
            ));
        }
        Ok(Some(Self {
            secret_key,
            webhook_secrets,
            api_base: env.parsed("STRIPE_API_BASE", "https://api.stripe.com")?,
        }))
    }
}

#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    pub login_url: BaseUrl,
    pub client_id: String,
    pub auth: SalesforceAuth,
    pub api_version: String,
}

#[derive(Debug, Clone)]
pub enum SalesforceAuth {
    /// OAuth 2.0 JWT bearer flow: an RS256 assertion signed with the connected app's key.
    JwtBearer { username: String, private_key_pem: SecretString },
    /// OAuth 2.0 client credentials flow (the login URL must be the org's My Domain).
    ClientCredentials { client_secret: SecretString },
}

impl SalesforceConfig {
    fn load(env: &Env) -> Result<Option<Self>, ConfigError> {
        let username = env.optional("SALESFORCE_USERNAME");
        let client_secret = env.secret("SALESFORCE_CLIENT_SECRET")?;
        let Some(client_id) = env.optional("SALESFORCE_CLIENT_ID") else {
            if username.is_some() || client_secret.is_some() {
                return Err(ConfigError::new(
                    "SALESFORCE_CLIENT_ID",
                    "is required when Salesforce credentials are set",
                ));
            }
            return Ok(None);
        };
        let auth = match (username, client_secret) {
            (Some(username), None) => {
                let path = env.optional("SALESFORCE_PRIVATE_KEY_FILE").ok_or_else(|| {
                    ConfigError::new("SALESFORCE_PRIVATE_KEY_FILE", "is required when SALESFORCE_USERNAME is set")
                })?;
                SalesforceAuth::JwtBearer { username, private_key_pem: read_private_key(&path)? }
            }
            (None, Some(client_secret)) => SalesforceAuth::ClientCredentials { client_secret },
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "SALESFORCE_CLIENT_SECRET",
                    "set either SALESFORCE_USERNAME + SALESFORCE_PRIVATE_KEY_FILE (JWT bearer) or SALESFORCE_CLIENT_SECRET (client credentials), not both",
                ));
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "SALESFORCE_USERNAME",
                    "set SALESFORCE_USERNAME + SALESFORCE_PRIVATE_KEY_FILE (JWT bearer) or SALESFORCE_CLIENT_SECRET (client credentials)",
                ));
            }
        };
        let api_version: String = env.parsed("SALESFORCE_API_VERSION", "64.0")?;
        if !api_version.split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty() && minor == "0" && major.chars().all(|c| c.is_ascii_digit())
        }) {
            return Err(ConfigError::new("SALESFORCE_API_VERSION", "must look like 64.0"));
        }
        Ok(Some(Self {
            login_url: env.parsed("SALESFORCE_LOGIN_URL", "https://login.salesforce.com")?,
            client_id,
            auth,
            api_version,
        }))
    }
}

fn read_private_key(path: &str) -> Result<SecretString, ConfigError> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("SALESFORCE_PRIVATE_KEY_FILE", format!("cannot read {path}: {e}")))?;
    if !pem.contains("-----BEGIN") || !pem.contains("PRIVATE KEY-----") {
        return Err(ConfigError::new("SALESFORCE_PRIVATE_KEY_FILE", format!("{path} is not a PEM private key")));
    }
    Ok(SecretString::from(pem))
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://user:pass@host:587`, `smtps://…`; unset: messages are written as `.eml` files.
    pub smtp_url: Option<SecretString>,
    pub from: String,
    pub mail_dir: PathBuf,
}

impl MailConfig {
    fn load(env: &Env) -> Result<Self, ConfigError> {
        let smtp_url = env.secret("SMTP_URL")?;
        if let Some(url) = &smtp_url {
            let scheme_ok = Url::parse(url.expose_secret()).is_ok_and(|u| matches!(u.scheme(), "smtp" | "smtps"));
            if !scheme_ok {
                // The URL may hold a password: name the setting, never echo the value.
                return Err(ConfigError::new("SMTP_URL", "must be an smtp:// or smtps:// URL"));
            }
        }
        let from: String = env.parsed("MAIL_FROM", "Remit <payments@localhost>")?;
        if !from.contains('@') {
            return Err(ConfigError::new("MAIL_FROM", "must be an address such as Remit <payments@example.org>"));
        }
        Ok(Self { smtp_url, from, mail_dir: env.parsed("REMIT_MAIL_DIR", "mail")? })
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    #[test]
    fn every_credential_of_a_database_url_is_redacted() {
        for raw in [
            "postgres://remit:hunter2@db.internal/remit",
            "postgres://remit@db.internal/remit?password=hunter2&sslmode=require",
            "postgres://remit@db.internal/remit?sslpassword=hunter2",
        ] {
            let url: DatabaseUrl = raw.parse().unwrap();
            assert!(!url.redacted().contains("hunter2"), "{}", url.redacted());
            assert!(!format!("{url:?}").contains("hunter2"));
        }
        let url: DatabaseUrl = "postgres://remit@db.internal/remit?sslmode=require".parse().unwrap();
        assert!(url.redacted().contains("sslmode=require"));
    }
}
