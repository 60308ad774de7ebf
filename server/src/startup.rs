//! Builds the application from its configuration: database, sandbox stand-ins, router, listener.

use std::{future::Future, sync::Arc};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::{config::Config, db::Db, http};

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    port: u16,
    /// Kept alive for as long as the application runs, in sandbox mode.
    _sandbox: Option<sandbox::Sandbox>,
}

impl Application {
    /// Connects and migrates the database, starts the sandbox stand-ins in sandbox mode, and binds
    /// the listener (port 0 picks a free port: see [`Application::port`]).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(config.bind).await.with_context(|| format!("cannot listen on {}", config.bind))?;
        Self::build_on(config, listener).await
    }

    /// As [`Application::build`], on a listener bound already (tests learn the port first, so
    /// `REMIT_PUBLIC_URL` can name it).
    pub async fn build_on(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url)
            .await
            .with_context(|| format!("cannot open the database at {:?}", config.database_url))?;
        db.migrate().await.context("cannot apply database migrations")?;

        let sandbox = if config.is_sandbox() {
            let sandbox = sandbox::Sandbox::spawn().await.context("cannot start the sandbox stand-ins")?;
            tracing::warn!(
                stripe = %sandbox.stripe_url,
                salesforce = %sandbox.salesforce_url,
                "SANDBOX MODE: no Stripe or Salesforce settings, so local stand-ins answer instead; no real money moves"
            );
            Some(sandbox)
        } else {
            None
        };

        let port = listener.local_addr()?.port();
        let router = http::router(http::AppState::new(db, Arc::new(config)));
        Ok(Self { listener, router, port, _sandbox: sandbox })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "Remit is listening");
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await
    }
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
