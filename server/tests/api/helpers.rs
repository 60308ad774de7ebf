use std::{collections::HashMap, path::PathBuf, time::Duration};

use sandbox::Sandbox;
use serde_json::Value;
use server::{Application, config::Config, db::Db};
use tempfile::TempDir;
use tokio::net::TcpListener;

/// The app's warnings and errors go to the test's captured output, so a failing test shows them.
fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_test_writer()
        .try_init();
}

/// The webhook secret of live-mode test apps and their Stripe stand-in.
pub const WEBHOOK_SECRET: &str = "whsec_test_secret";

/// Every job, waiting or finished (finished jobs leave `outbox` for `outbox_done`), as a table.
pub const ALL_JOBS: &str = "(SELECT kind, attempts FROM outbox UNION ALL SELECT kind, attempts FROM outbox_done) jobs";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub db: Db,
    /// An active API key.
    pub api_key: String,
    /// The Stripe and Salesforce stand-ins this app talks to (live mode), if any.
    pub sandbox: Option<Sandbox>,
    pub mail_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: TempDir,
}

/// Live mode against stand-ins the test can inspect, or sandbox mode (the stand-ins run inside).
pub enum Mode {
    Live,
    Sandbox,
}

impl TestApp {
    /// Live mode: Remit's clients point at stand-ins this test owns.
    pub async fn spawn() -> Self {
        Self::spawn_with(Mode::Live, &[]).await
    }

    pub async fn spawn_in_sandbox_mode() -> Self {
        Self::spawn_with(Mode::Sandbox, &[]).await
    }

    pub async fn spawn_with(mode: Mode, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database_url = fresh_database(&dir).await;
        Self::spawn_on_database(mode, extra, dir, database_url).await
    }

    /// A second instance on this one's database (as several Remit instances share PostgreSQL),
    /// with stand-ins of its own.
    pub async fn spawn_sharing_database(&self) -> Self {
        self.spawn_sharing_database_with(&[]).await
    }

    pub async fn spawn_sharing_database_with(&self, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        Self::spawn_on_database(Mode::Live, extra, dir, self.database_url.clone()).await
    }

    async fn spawn_on_database(mode: Mode, extra: &[(&str, &str)], dir: TempDir, database_url: String) -> Self {
        capture_logs();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a random port");
        let port = listener.local_addr().expect("local address").port();
        let address = format!("http://127.0.0.1:{port}");
        let mail_dir = dir.path().join("mail");

        let mut env: HashMap<String, String> = HashMap::from([
            ("REMIT_BIND".into(), format!("127.0.0.1:{port}")),
            ("REMIT_PUBLIC_URL".into(), address.clone()),
            ("DATABASE_URL".into(), database_url.clone()),
            ("REMIT_MAIL_DIR".into(), mail_dir.display().to_string()),
            // The start-up check's API calls would blur tests that count calls; its own tests
            // run the binary with it on.
            ("REMIT_SALESFORCE_CHECK_AT_START".into(), "false".into()),
        ]);
        let sandbox = match mode {
            Mode::Sandbox => None,
            Mode::Live => {
                let webhook =
                    sandbox::WebhookTarget { url: format!("{address}/webhooks/stripe"), secret: WEBHOOK_SECRET.into() };
                let options = sandbox::SandboxOptions { webhook: Some(webhook), ..Default::default() };
                let sandbox = Sandbox::spawn_with(options).await.expect("stand-ins start");
                env.extend([
                    ("STRIPE_SECRET_KEY".into(), sandbox::STRIPE_SECRET_KEY.into()),
                    ("STRIPE_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into()),
                    ("STRIPE_API_BASE".into(), sandbox.stripe_url.clone()),
                    ("SALESFORCE_LOGIN_URL".into(), sandbox.salesforce_url.clone()),
                    ("SALESFORCE_CLIENT_ID".into(), sandbox::SalesforceCredentials::default().client_id),
                    ("SALESFORCE_CLIENT_SECRET".into(), sandbox::SalesforceCredentials::default().client_secret),
                ]);
                Some(sandbox)
            }
        };
        for (name, value) in extra {
            env.insert((*name).into(), (*value).into());
        }
        let config = Config::load(&env).expect("test configuration is valid");
        let app = Application::build_on(config, listener).await.expect("application builds");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));

        let db = Db::connect(&database_url.parse().expect("valid URL")).await.expect("test database");
        let (_, api_key) = server::api_keys::create(&db, "test").await.expect("API key");
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("HTTP client");
        Self {
            address,
            client,
            database_url,
            db,
            api_key,
            sandbox,
            mail_dir,
            stop: Some(stop),
            running: Some(running),
            _dir: dir,
        }
    }

    /// Shuts the app down (its workers too) and waits until it has stopped.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }

    pub fn salesforce(&self) -> &sandbox::Salesforce {
        &self.sandbox.as_ref().expect("a live-mode test app").salesforce
    }

    pub fn stripe(&self) -> &sandbox::Stripe {
        &self.sandbox.as_ref().expect("a live-mode test app").stripe
    }

    /// Where the Stripe stand-in listens (its API, Checkout and test dashboard).
    pub fn stripe_url(&self) -> &str {
        &self.sandbox.as_ref().expect("a live-mode test app").stripe_url
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request is answered")
    }

    /// An authenticated API GET.
    pub async fn api_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .expect("request is answered")
    }

    /// An authenticated API POST with a JSON body.
    pub async fn api_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .expect("request is answered")
    }

    pub async fn post_link(&self, body: &Value) -> reqwest::Response {
        self.api_post("/api/v1/payment-links", body).await
    }

    /// Opens a pay page and presses "Pay securely", as a browser would (with the form's CSRF
    /// token and the session cookie): the answer redirects to Checkout.
    pub async fn press_pay(&self, pay_url: &str) -> reqwest::Response {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        let html = browser.get(pay_url).send().await.expect("pay page").text().await.expect("pay page body");
        let csrf = html
            .split(r#"name="csrf" value=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let token = pay_url.rsplit('/').next().expect("a token");
        browser
            .post(format!("{}/fn/start-checkout", self.address))
            .header("Accept", "text/html")
            .form(&[("token", token), ("csrf", csrf.as_str())])
            .send()
            .await
            .expect("request is answered")
    }

    /// Presses "Pay securely" and returns the Checkout page it leads to; fails saying where the
    /// button led instead.
    pub async fn checkout_location(&self, pay_url: &str) -> String {
        let pressed = self.press_pay(pay_url).await;
        let status = pressed.status();
        let location = pressed.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
        let stripe = self.sandbox.as_ref().map_or("http", |s| s.stripe_url.as_str());
        assert!(status == 303 && location.starts_with(stripe), "the pay button led to {status} {location:?}");
        location
    }

    /// Waits (bounded) until the outbox has nothing pending or running.
    pub async fn outbox_idle(&self) {
        for _ in 0..400 {
            let (busy,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'running')")
                .fetch_one(&self.db.pool)
                .await
                .expect("outbox count");
            if busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let rows: Vec<(String, String, i64, Option<String>)> =
            sqlx::query_as("SELECT kind, status, attempts, last_error FROM outbox WHERE status <> 'done'")
                .fetch_all(&self.db.pool)
                .await
                .unwrap_or_default();
        panic!("the outbox did not drain: {rows:?}");
    }

    /// Events the Stripe stand-in lists (`query` as for `GET /v1/events`), newest first.
    pub async fn stripe_events(&self, query: &str) -> Vec<Value> {
        let stripe_url = &self.sandbox.as_ref().expect("a live-mode test app").stripe_url;
        let list: Value = self
            .client
            .get(format!("{stripe_url}/v1/events?{query}"))
            .bearer_auth(sandbox::STRIPE_SECRET_KEY)
            .send()
            .await
            .expect("the stand-in answers")
            .json()
            .await
            .expect("a list");
        list["data"].as_array().cloned().unwrap_or_default()
    }

    /// Posts a Stripe event to the webhook, signed now with `secret`.
    pub async fn post_webhook(&self, body: &str, secret: &str) -> reqwest::Response {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = server::stripe::signature::sign(&secrecy::SecretString::from(secret), now, body.as_bytes());
        self.client
            .post(format!("{}/webhooks/stripe", self.address))
            .header("Stripe-Signature", signature)
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request is answered")
    }

    /// Waits (bounded) until `sql` (a single string column) answers `expected`.
    pub async fn eventually(&self, sql: &str, expected: &str) {
        let mut last = String::new();
        for _ in 0..600 {
            if let Ok((value,)) = sqlx::query_as::<_, (String,)>(sql).fetch_one(&self.db.pool).await {
                if value == expected {
                    return;
                }
                last = value;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{sql} stayed {last:?}, not {expected:?}");
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.db.pool).await.expect("count query");
        n
    }
}

/// A request body for a sample Opportunity; tests change what they need.
pub fn link_request() -> Value {
    serde_json::json!({
        "opportunity_id": "0065g00000AbCdE",
        "account_id": "0015g00000XyZaB",
        "contact_id": "0035g00000QrStU",
        "amount": "125.00",
        "currency": "USD",
        "description": "Annual membership",
        "payer_email": "ana@example.com",
        "payer_name": "Ana Lima",
    })
}

/// A database no other test touches: a SQLite file in the test's directory, or a new PostgreSQL
/// database on the server `REMIT_TEST_DATABASE_URL` names.
async fn fresh_database(dir: &TempDir) -> String {
    match std::env::var("REMIT_TEST_DATABASE_URL") {
        Ok(admin_url) if admin_url.starts_with("postgres") => {
            use sqlx::{Connection, Executor};
            let name = format!("remit_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect to the test PostgreSQL");
            admin.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.expect("create test database");
            let mut url = url::Url::parse(&admin_url).expect("REMIT_TEST_DATABASE_URL is a URL");
            url.set_path(&name);
            url.to_string()
        }
        _ => format!("sqlite://{}", dir.path().join("remit.db").display()),
    }
}
