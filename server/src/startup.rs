//! Builds the application from its configuration: database, Stripe, mail, outbox workers,
//! sandbox stand-ins, router and listener.

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use rand::Rng;
use secrecy::SecretString;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    accounts::{Accounts, RateLimiter},
    api_keys,
    config::{Config, ConfigError, SalesforceAuth, SalesforceConfig},
    db::Db,
    http, jobs,
    mail::Mailer,
    outbox::{self, Registry, Wake, Worker, WorkerHealth},
    payments::Payments,
    salesforce::SalesforceClient,
    stripe::StripeClient,
    sync::{SalesforceHealth, SalesforceSync, preflight, records::StatusLabels},
};

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    port: u16,
    limits: http::ConnectionLimits,
    /// The workers and the rest of the background, and in sandbox mode the stand-ins, kept
    /// alive for as long as the application runs.
    services: Services,
    sessions: http::sessions::Store,
}

/// The parts both `serve` and `worker` need.
pub struct Services {
    pub db: Db,
    pub payments: Payments,
    pub workers: Vec<Worker>,
    /// Wakes this process's workers when a job of their class is enqueued.
    pub wake: Wake,
    database_url: crate::config::DatabaseUrl,
    pub worker_health: WorkerHealth,
    pub salesforce_health: SalesforceHealth,
    /// The secrets Stripe webhooks are signed with (the sandbox's own in sandbox mode).
    pub webhook_secrets: Vec<SecretString>,
    pub sandbox: Option<sandbox::Sandbox>,
}

impl Services {
    /// Connects and migrates the database, starts the sandbox stand-ins in sandbox mode, and
    /// prepares the Stripe client, the mailer and the outbox workers.
    ///
    /// `webhook_url` is where the sandbox's Stripe delivers webhooks (this process's own listener).
    pub async fn start(config: &Config, webhook_url: Option<String>) -> anyhow::Result<Self> {
        // Before anything records a metric: what is recorded before a recorder is lost.
        crate::ops::metrics::install();
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await.context("cannot apply database migrations")?;

        let (stripe, webhook_secrets, sandbox) = stripe_or_sandbox(config, webhook_url).await?;
        let wake = Wake::default();
        let payments = Payments::new(
            db.clone(),
            stripe,
            config.public_url.clone(),
            config.brands.clone(),
            config.reminders.clone(),
            config.mapping.cancel_sets_failed,
            wake.clone(),
        );
        let mailer = Mailer::from_config(&config.mail)?;
        let salesforce = salesforce_org(config, sandbox.as_ref())?;
        let client = SalesforceClient::new(salesforce, config.salesforce_timeout);
        let sync = SalesforceSync::new(db.clone(), payments.clone(), client, config.mapping.clone())?;
        let salesforce_health = sync.health();
        let registry = Arc::new(jobs::registry(Arc::new(jobs::Context { payments: payments.clone(), mailer, sync })));
        let worker_health = WorkerHealth::default();
        let workers = workers(&db, &registry, config, &worker_health, &wake)?;
        Ok(Self {
            db,
            payments,
            workers,
            wake,
            database_url: config.database_url.clone(),
            worker_health,
            salesforce_health,
            webhook_secrets,
            sandbox,
        })
    }

    /// Starts what runs beside the web server (or instead of it, in `remit worker`): the outbox
    /// workers, the wake-ups from other instances, and reconciliation with Stripe.
    pub fn spawn_background(&mut self, stop: &watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks: Vec<_> = self.workers.drain(..).map(|w| tokio::spawn(w.run(stop.clone()))).collect();
        tasks.push(tokio::spawn(outbox::listen(self.database_url.clone(), self.wake.clone(), stop.clone())));
        tasks.push(tokio::spawn(reconcile_periodically(self.payments.clone(), stop.clone())));
        let payments = self.payments.clone();
        tasks.push(tokio::spawn(every(EXPIRE_LINKS_EVERY, "payment links expired", stop.clone(), move || {
            let payments = payments.clone();
            async move { payments.expire_due_links().await }
        })));
        let payments = self.payments.clone();
        tasks.push(tokio::spawn(every(REMIND_EVERY, "payment reminders due", stop.clone(), move || {
            let payments = payments.clone();
            async move { payments.send_due_reminders().await }
        })));
        tasks
    }
}

/// Stripe as configured, or (in sandbox mode) the stand-ins, started here, with a webhook secret
/// of their own and delivery to `webhook_url`.
async fn stripe_or_sandbox(
    config: &Config,
    webhook_url: Option<String>,
) -> anyhow::Result<(StripeClient, Vec<SecretString>, Option<sandbox::Sandbox>)> {
    Ok(match &config.stripe {
        Some(stripe) => (
            StripeClient::new(stripe.api_base.clone(), stripe.secret_key.clone(), Duration::from_secs(20)),
            stripe.webhook_secrets.clone(),
            None,
        ),
        None => {
            let secret: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(32).map(char::from).collect();
            let secret = format!("whsec_{secret}");
            let options = sandbox::SandboxOptions {
                webhook: webhook_url.map(|url| sandbox::WebhookTarget { url, secret: secret.clone() }),
                ..sandbox::SandboxOptions::default()
            };
            let sandbox = sandbox::Sandbox::spawn_with(options).await.context("cannot start the sandbox stand-ins")?;
            tracing::warn!(
                stripe = %sandbox.stripe_url,
                salesforce = %sandbox.salesforce_url,
                stripe_dashboard = %format!("{}/test/dashboard", sandbox.stripe_url),
                "SANDBOX MODE: no Stripe or Salesforce settings, so local stand-ins answer instead; no real money moves"
            );
            let base = sandbox.stripe_url.parse().context("sandbox URL")?;
            let key = SecretString::from(sandbox::STRIPE_SECRET_KEY);
            (StripeClient::new(base, key, Duration::from_secs(20)), vec![SecretString::from(secret)], Some(sandbox))
        }
    })
}

/// The outbox workers `REMIT_WORKERS` asks for, each running the jobs of its class.
fn workers(
    db: &Db,
    registry: &Arc<Registry>,
    config: &Config,
    health: &WorkerHealth,
    wake: &Wake,
) -> anyhow::Result<Vec<Worker>> {
    let classes = registry.classes();
    if let Some(unknown) = config.workers.0.keys().find(|name| !classes.contains(name.as_str())) {
        let known = classes.iter().copied().collect::<Vec<_>>().join(", ");
        return Err(
            ConfigError::new("REMIT_WORKERS", format!("no job class is named {unknown:?} (classes: {known})")).into()
        );
    }
    let mut workers = Vec::new();
    for class in classes {
        let count = config.workers.0.get(class).copied().unwrap_or(0);
        if count == 0 {
            tracing::warn!(class, "REMIT_WORKERS runs no worker for this job class here: another instance must");
        }
        workers.extend(
            (0..count)
                .map(|_| Worker::new(db.clone(), registry.clone(), class, config.job_lease, health.clone(), wake)),
        );
    }
    Ok(workers)
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(config.bind).await.with_context(|| format!("cannot listen on {}", config.bind))?;
        Self::build_on(config, listener).await
    }

    /// As [`Application::build`], on a listener bound already (tests learn the port first, so
    /// `REMIT_PUBLIC_URL` can name it).
    pub async fn build_on(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let webhook_url = format!("http://{}/webhooks/stripe", listener.local_addr()?);
        let services = Services::start(&config, Some(webhook_url)).await?;
        if services.sandbox.is_some() {
            print_sandbox_example(&services.db, &config).await?;
        }
        let port = listener.local_addr()?.port();
        let sandbox_org = services.sandbox.as_ref().map(|s| s.salesforce.clone());
        let sessions =
            http::sessions::Store::open(&config.database_url).await.context("cannot open the session store")?;
        let window = Duration::from_secs(config.sign_in_window_secs);
        let accounts = Accounts {
            db: services.db.clone(),
            mailer: Mailer::from_config(&config.mail)?,
            public_url: config.public_url.clone(),
            payments: services.payments.clone(),
            per_email: Arc::new(RateLimiter::new(5, window)),
            per_ip: Arc::new(RateLimiter::new(30, window)),
        };
        let limits =
            http::ConnectionLimits { header_timeout: config.header_timeout, max_connections: config.max_connections };
        let csrf_key = crate::secrets::shared_key(&services.db, "csrf").await.context("cannot read the CSRF key")?;
        let state = http::AppState::new(http::StateParts {
            db: services.db.clone(),
            config: Arc::new(config),
            payments: services.payments.clone(),
            worker_health: services.worker_health.clone(),
            salesforce_health: services.salesforce_health.clone(),
            csrf_key,
            webhook_secrets: services.webhook_secrets.clone(),
            sandbox_org,
            accounts,
        });
        Ok(Self { listener, router: http::router(state, sessions.clone()), sessions, port, limits, services })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves, with the outbox workers, until `shutdown` completes; then finishes the requests
    /// and jobs in flight.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let mut background = self.services.spawn_background(&stopped);
        background.push(tokio::spawn(delete_expired_sessions(self.sessions, stopped.clone())));
        tracing::info!(address = %self.listener.local_addr()?, "Remit is listening");
        let served = http::serve(self.listener, self.router, self.limits, shutdown).await;
        let _ = stop.send(true);
        for task in background {
            let _ = task.await;
        }
        served
    }
}

/// Sessions past their 30 idle days are removed hourly.
async fn delete_expired_sessions(sessions: http::sessions::Store, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
        if let Err(error) = sessions.delete_expired().await {
            tracing::warn!(%error, "cannot delete expired sessions; will try again");
        }
    }
}

/// How often an instance offers to reconcile with Stripe (one instance at a time does).
const RECONCILE_EVERY: Duration = Duration::from_secs(15 * 60);

/// A missed webhook heals by itself: every so often one instance feeds the events Stripe listed
/// since the last run through the webhook path (events already stored are skipped), in `remit
/// serve` and `remit worker` alike.
/// How often expired links and due reminders are looked for: one indexed query each, so a link
/// stops being payable, and a reminder goes out, within seconds of its time.
const EXPIRE_LINKS_EVERY: Duration = Duration::from_secs(2);
const REMIND_EVERY: Duration = Duration::from_secs(1);

/// Runs `tick` every `period` until stopped, logging what it did (`done` of it) or why it could not.
async fn every<F, Fut>(period: Duration, done: &'static str, mut stop: watch::Receiver<bool>, tick: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<usize, sqlx::Error>>,
{
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(period) => {}
        }
        match tick().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "{done}"),
            Err(error) => tracing::warn!(%error, "{done}: cannot look now; trying again"),
        }
    }
}

async fn reconcile_periodically(payments: Payments, mut stop: watch::Receiver<bool>) {
    let instance = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(RECONCILE_EVERY) => {}
        }
        match payments.reconcile_step(&instance).await {
            Ok(None) => tracing::debug!("reconciliation runs on another instance"),
            Ok(Some(run)) => tracing::info!(
                since = run.since,
                stripe_calls = run.calls,
                recovered = run.recovered,
                complete = run.complete,
                "reconciliation with Stripe"
            ),
            Err(error) => {
                tracing::warn!(error = %crate::telemetry::chain(&error), "reconciliation with Stripe failed; will try again")
            }
        }
    }
}

/// The Salesforce stand-in's connected app, reached with the client credentials flow.
/// The org Remit writes to: the configured one, checked in the background unless configured not
/// to be (problems are logged, start-up goes on), or the sandbox's stand-in.
fn salesforce_org(config: &Config, sandbox: Option<&sandbox::Sandbox>) -> anyhow::Result<SalesforceConfig> {
    match (&config.salesforce, sandbox) {
        (Some(salesforce), _) if config.salesforce_check_at_start => {
            let client = SalesforceClient::new(salesforce.clone(), config.salesforce_timeout);
            let labels = StatusLabels::from_mapping(&config.mapping)?;
            tokio::spawn(preflight::log_at_start_up(client, config.mapping.clone(), labels));
            Ok(salesforce.clone())
        }
        (Some(salesforce), _) => Ok(salesforce.clone()),
        (None, Some(sandbox)) => sandbox_salesforce(sandbox),
        (None, None) => anyhow::bail!("live mode without Salesforce settings"),
    }
}

pub fn sandbox_salesforce(sandbox: &sandbox::Sandbox) -> anyhow::Result<SalesforceConfig> {
    let credentials = sandbox::SalesforceCredentials::default();
    Ok(SalesforceConfig {
        login_url: sandbox.salesforce_url.parse()?,
        client_id: credentials.client_id,
        auth: SalesforceAuth::ClientCredentials { client_secret: SecretString::from(credentials.client_secret) },
        api_version: "64.0".into(),
    })
}

/// On the first sandbox run, creates an API key and prints a `curl` that makes a payment link for
/// a sample Opportunity. The key is printed once, as any new key is.
async fn print_sandbox_example(db: &Db, config: &Config) -> anyhow::Result<()> {
    if !api_keys::list(db).await?.is_empty() {
        return Ok(());
    }
    let (_, key) = api_keys::create(db, "sandbox").await?;
    let base = &config.public_url;
    println!(
        "\nSandbox mode: try a payment link for a sample Opportunity (this API key is shown once):\n\n\
         curl -s -X POST {base}/api/v1/payment-links \\\n  \
         -H 'Authorization: Bearer {key}' \\\n  \
         -H 'Content-Type: application/json' \\\n  \
         -d '{{\"opportunity_id\":\"0065g00000AbCdE\",\"account_id\":\"0015g00000XyZaB\",\"amount\":\"125.00\",\"currency\":\"USD\",\"description\":\"Annual membership\",\"payer_email\":\"ana@example.com\",\"payer_name\":\"Ana Lima\",\"send_email\":true}}'\n"
    );
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
