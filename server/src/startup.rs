//! Builds the application from its configuration: database, Stripe, mail, outbox workers,
//! sandbox stand-ins, router and listener.

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use secrecy::SecretString;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    api_keys, config::Config, db::Db, http, jobs::Jobs, mail::Mailer, outbox::Worker, payments::Payments,
    stripe::StripeClient,
};

/// Outbox workers per process; each runs one job at a time.
const WORKERS: usize = 2;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    port: u16,
    workers: Vec<Worker>,
    /// Kept alive for as long as the application runs, in sandbox mode.
    _sandbox: Option<sandbox::Sandbox>,
}

/// The parts both `serve` and `worker` need.
pub struct Services {
    pub db: Db,
    pub payments: Payments,
    pub workers: Vec<Worker>,
    pub sandbox: Option<sandbox::Sandbox>,
}

impl Services {
    /// Connects and migrates the database, starts the sandbox stand-ins in sandbox mode, and
    /// prepares the Stripe client, the mailer and the outbox workers.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url)
            .await
            .with_context(|| format!("cannot open the database at {:?}", config.database_url))?;
        db.migrate().await.context("cannot apply database migrations")?;

        let (stripe, sandbox) = match &config.stripe {
            Some(stripe) => {
                (StripeClient::new(stripe.api_base.clone(), stripe.secret_key.clone(), Duration::from_secs(20)), None)
            }
            None => {
                let sandbox = sandbox::Sandbox::spawn().await.context("cannot start the sandbox stand-ins")?;
                tracing::warn!(
                    stripe = %sandbox.stripe_url,
                    salesforce = %sandbox.salesforce_url,
                    "SANDBOX MODE: no Stripe or Salesforce settings, so local stand-ins answer instead; no real money moves"
                );
                let base = sandbox.stripe_url.parse().context("sandbox URL")?;
                let key = SecretString::from(sandbox::STRIPE_SECRET_KEY);
                (StripeClient::new(base, key, Duration::from_secs(20)), Some(sandbox))
            }
        };
        let payments =
            Payments { db: db.clone(), stripe, public_url: config.public_url.clone(), brands: config.brands.clone() };
        let mailer = Mailer::from_config(&config.mail)?;
        let jobs = Arc::new(Jobs { payments: payments.clone(), mailer });
        let workers = (0..WORKERS).map(|_| Worker::new(db.clone(), jobs.clone())).collect();
        Ok(Self { db, payments, workers, sandbox })
    }
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
        let services = Services::start(&config).await?;
        if services.sandbox.is_some() {
            print_sandbox_example(&services.db, &config).await?;
        }
        let port = listener.local_addr()?.port();
        let wake = services.workers[0].waker();
        let state = http::AppState::new(services.db, Arc::new(config), services.payments, wake);
        Ok(Self { listener, router: http::router(state), port, workers: services.workers, _sandbox: services.sandbox })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves, with the outbox workers, until `shutdown` completes; then finishes the requests
    /// and jobs in flight.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let workers: Vec<_> = self.workers.into_iter().map(|w| tokio::spawn(w.run(stopped.clone()))).collect();
        tracing::info!(address = %self.listener.local_addr()?, "Remit is listening");
        let served = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await;
        let _ = stop.send(true);
        for worker in workers {
            let _ = worker.await;
        }
        served
    }
}

/// On the first sandbox run, creates an API key and prints a `curl` that makes a payment link for
/// a sample Opportunity. The key is printed once, as any new key is.
async fn print_sandbox_example(db: &Db, config: &Config) -> anyhow::Result<()> {
    if !api_keys::list(db).await?.is_empty() {
        return Ok(());
    }
    let (_, key) = api_keys::create(db, "sandbox").await?;
    let base = config.public_url.as_str().trim_end_matches('/');
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
