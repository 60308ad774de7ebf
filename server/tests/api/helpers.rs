use std::collections::HashMap;

use server::{Application, config::Config};
use tempfile::TempDir;
use tokio::net::TcpListener;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database_url: String,
    _dir: TempDir,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database_url = fresh_database(&dir).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a random port");
        let port = listener.local_addr().expect("local address").port();
        let address = format!("http://127.0.0.1:{port}");

        let mut env: HashMap<String, String> = HashMap::from([
            ("REMIT_BIND".into(), format!("127.0.0.1:{port}")),
            ("REMIT_PUBLIC_URL".into(), address.clone()),
            ("DATABASE_URL".into(), database_url.clone()),
            ("REMIT_MAIL_DIR".into(), dir.path().join("mail").display().to_string()),
        ]);
        for (name, value) in extra {
            env.insert((*name).into(), (*value).into());
        }
        let config = Config::load(&env).expect("test configuration is valid");
        let app = Application::build_on(config, listener).await.expect("application builds");
        tokio::spawn(app.run_until_stopped(std::future::pending()));

        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("HTTP client");
        Self { address, client, database_url, _dir: dir }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request is answered")
    }
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
