//! What the benchmarks share: the release `remit` binary run as its own process against the
//! sandbox stand-ins, payment links made through its API, a load generator over a fixed number of
//! keep-alive connections, and nginx as the machine's ceiling.

#![allow(dead_code)] // each bench uses its own share of this

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sandbox::{Sandbox, SandboxOptions, WebhookTarget};
use serde_json::{Value, json};
use server::db::Db;
use time::OffsetDateTime;
use tokio::process::Command;

pub const SECRET: &str = "whsec_bench";

/// The machine a figure was measured on, as BENCHMARKS.md states it.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The sandbox stand-ins, delivering their webhooks to a Remit on `port`.
pub async fn sandbox_for(port: u16) -> Sandbox {
    Sandbox::spawn_with(SandboxOptions {
        webhook: Some(WebhookTarget { url: format!("http://127.0.0.1:{port}/webhooks/stripe"), secret: SECRET.into() }),
        ..SandboxOptions::default()
    })
    .await
    .unwrap()
}

/// A Remit process (the release binary) in live mode against the stand-ins.
pub struct Remit {
    pub env: Vec<(String, String)>,
    pub address: String,
    child: Option<tokio::process::Child>,
}

impl Remit {
    /// Its settings: `database_url`, mail into `dir`, the stand-ins of `sandbox`, and `extra`.
    pub fn new(port: u16, database_url: &str, dir: &Path, sandbox: &Sandbox, extra: &[(&str, &str)]) -> Self {
        let credentials = sandbox::SalesforceCredentials::default();
        let address = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = [
            ("REMIT_BIND", format!("127.0.0.1:{port}")),
            ("REMIT_PUBLIC_URL", address.clone()),
            ("DATABASE_URL", database_url.to_owned()),
            ("REMIT_MAIL_DIR", dir.join("mail").display().to_string()),
            ("STRIPE_SECRET_KEY", sandbox::STRIPE_SECRET_KEY.into()),
            ("STRIPE_WEBHOOK_SECRET", SECRET.into()),
            ("STRIPE_API_BASE", sandbox.stripe_url.clone()),
            ("SALESFORCE_LOGIN_URL", sandbox.salesforce_url.clone()),
            ("SALESFORCE_CLIENT_ID", credentials.client_id.clone()),
            ("SALESFORCE_CLIENT_SECRET", credentials.client_secret.clone()),
            // The burst counts API calls: the start-up check's own calls are not the burst's.
            ("REMIT_SALESFORCE_CHECK_AT_START", "false".into()),
            ("RUST_LOG", "error".into()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (name, value) in extra {
            env.retain(|(k, _)| k != name);
            env.push(((*name).to_owned(), (*value).to_owned()));
        }
        Self { env, address, child: None }
    }

    /// Starts `remit serve` (or `args`) and waits until it answers `/healthz`.
    pub async fn start(&mut self) {
        self.start_command(&[]).await;
        wait_for(&format!("{}/healthz", self.address)).await;
    }

    /// Starts the binary with `args` (`["worker"]`, say) without waiting for a listener.
    pub async fn start_command(&mut self, args: &[&str]) {
        let child = Command::new(env!("CARGO_BIN_EXE_remit"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("remit starts");
        self.child = Some(child);
    }

    /// `kill -9`: no shutdown, no finishing of anything in flight.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("SIGKILL");
        }
    }

    /// A new API key, made with `remit api-key create`.
    pub async fn api_key(&self) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_remit"))
            .args(["api-key", "create", "bench"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&output.stdout).lines().last().expect("a key").trim().to_owned()
    }
}

async fn wait_for(url: &str) {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http.get(url).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

/// `count` Opportunities in the stand-in org, each with a payment link made through Remit's API
/// (16 at a time): (payment id, Opportunity id, amount).
pub async fn payment_links(
    remit: &Remit,
    key: &str,
    org: &sandbox::Salesforce,
    count: usize,
    send_email: bool,
) -> Vec<(String, String, i64)> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut made = tokio::task::JoinSet::new();
    let mut links = Vec::with_capacity(count);
    for n in 0..count {
        let opportunity = org.insert(
            "Opportunity",
            json!({ "Name": format!("Bench {n}"), "OwnerId": "0055g00000IntUsAAJ", "StageName": "Prospecting" }),
        );
        let amount = 5000 + i64::try_from(n).unwrap();
        let body = json!({ "opportunity_id": opportunity, "amount_minor": amount, "currency": "usd", "payer_email": format!("payer{n}@example.com"), "send_email": send_email });
        let (http, url, key) = (http.clone(), format!("{}/api/v1/payment-links", remit.address), key.to_owned());
        made.spawn(async move {
            let created: Value =
                http.post(url).bearer_auth(key).json(&body).send().await.unwrap().json().await.unwrap();
            (created["payment_id"].as_str().expect("a payment").to_owned(), opportunity, amount)
        });
        if made.len() >= 16 {
            links.push(made.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(link) = made.join_next().await {
        links.push(link.unwrap());
    }
    links
}

/// A Stripe event as Stripe delivers it.
pub fn event(id: &str, kind: &str, object: Value) -> String {
    let created = OffsetDateTime::now_utc().unix_timestamp();
    json!({ "id": id, "object": "event", "api_version": "2025-03-31.basil", "created": created, "livemode": false, "pending_webhooks": 1, "request": { "id": null, "idempotency_key": null }, "type": kind, "data": { "object": object } }).to_string()
}

/// The `Stripe-Signature` header for `body`, signed now.
pub fn signature(body: &str) -> String {
    server::stripe::signature::sign(
        &SECRET.to_owned().into(),
        OffsetDateTime::now_utc().unix_timestamp(),
        body.as_bytes(),
    )
}

/// Stripe's own example object of `resource`, from the reference fixtures when they are there
/// (`../shared/reference/`), so events have the size and shape Stripe sends.
pub fn stripe_example(resource: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/stripe-fixtures3.json");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .map_or_else(|| json!({ "object": resource }), |fixtures| fixtures["resources"][resource].clone())
}

/// One request of a load run: its headers and body (empty: a GET).
pub type Request = (Vec<(String, String)>, String);

/// What a load run measured.
pub struct Load {
    pub requests: usize,
    pub wall: Duration,
    /// Each request's latency, sorted.
    pub latencies: Vec<Duration>,
    /// When each request was answered, by its index, from the start of the run.
    pub answered: Vec<Duration>,
}

impl Load {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        let index = ((self.latencies.len() as f64 * p) as usize).min(self.latencies.len() - 1);
        self.latencies[index].as_secs_f64() * 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

/// Sends every request (`(headers, body)`, POST, or GET when the body is empty) to `url` over
/// exactly `connections` keep-alive connections, each sending its next request when the last
/// is answered; every answer must be 200.
pub async fn load(url: &str, requests: Arc<Vec<Request>>, connections: usize) -> Load {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (requests, next, url, started) = (requests.clone(), next.clone(), url.to_owned(), started);
        senders.spawn(async move {
            // One client per sender with one idle connection: one keep-alive connection each.
            let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some((headers, body)) = requests.get(n) else { return latencies };
                let mut request = if body.is_empty() { http.get(&url) } else { http.post(&url).body(body.clone()) };
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let sent = Instant::now();
                let response = request.send().await.expect("an answer");
                let status = response.status();
                let _ = response.bytes().await;
                latencies.push((n, sent.elapsed(), started.elapsed()));
                assert_eq!(status, 200, "request {n} to {url}");
            }
        });
    }
    let mut answers = Vec::with_capacity(requests.len());
    while let Some(sent) = senders.join_next().await {
        answers.extend(sent.unwrap());
    }
    let wall = started.elapsed();
    answers.sort_by_key(|(n, ..)| *n);
    let answered = answers.iter().map(|(_, _, at)| *at).collect();
    let mut latencies: Vec<Duration> = answers.iter().map(|(_, latency, _)| *latency).collect();
    latencies.sort();
    Load { requests: requests.len(), wall, latencies, answered }
}

/// nginx (Debian's `nginx-light`) on loopback: `return 200` at `/webhook`, and the files of
/// `root` as static files: the ceiling a figure is compared with.
pub struct Nginx {
    pub address: String,
    child: std::process::Child,
    binary: &'static str,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// None when nginx is not installed (`apt-get install nginx-light`).
    pub fn start(root: &Path, body: &str) -> Option<Self> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists())?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = format!(
            "daemon off; worker_processes auto; pid {dir}/nginx.pid; error_log {dir}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {dir}; types {{ text/html html; }}\n\
               server {{ listen 127.0.0.1:{port}; keepalive_requests 1000000; root {root};\n\
                 location = /webhook {{ default_type application/json; return 200 '{body}'; }} }} }}\n",
            dir = dir.path().display(),
            root = root.display(),
        );
        std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
        let child = std::process::Command::new(binary)
            .args([
                "-c",
                &dir.path().join("nginx.conf").display().to_string(),
                "-e",
                &dir.path().join("error.log").display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Self { address: format!("http://127.0.0.1:{port}"), child, binary, dir });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Nginx {
    /// `nginx -s stop` stops the workers too (a killed master would leave them running).
    fn drop(&mut self) {
        let config = self.dir.path().join("nginx.conf");
        let _ =
            std::process::Command::new(self.binary).args(["-c", &config.display().to_string(), "-s", "stop"]).status();
        let _ = self.child.wait();
    }
}

/// Waits until no job of `kinds` (every kind when empty) is waiting or running.
pub async fn drained(db: &Db, kinds: &[&str]) {
    let filter = if kinds.is_empty() {
        String::new()
    } else {
        format!(" AND kind IN ({})", kinds.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", "))
    };
    let sql = format!("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'running'){filter}");
    loop {
        let (busy,): (i64,) = sqlx::query_as(&sql).fetch_one(&db.pool).await.unwrap();
        if busy == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
