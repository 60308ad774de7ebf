//! Local stand-ins for Stripe and Salesforce that speak their wire formats over HTTP on loopback.
//!
//! Remit's clients talk to them exactly as they would to the real services; tests, `end2end/` and a
//! first run without credentials use them. Each stand-in answers an unknown address the way its
//! real counterpart does.

pub mod salesforce;
pub mod stripe;

use std::net::SocketAddr;

use tokio::{net::TcpListener, task::JoinHandle};

pub use salesforce::{Disruptions, Fault, Salesforce, SalesforceCredentials, Schema};
pub use stripe::{SANDBOX_SECRET_KEY as STRIPE_SECRET_KEY, Stripe, WebhookTarget};

/// Both stand-ins, serving on loopback until dropped.
pub struct Sandbox {
    pub stripe_url: String,
    pub salesforce_url: String,
    /// The Stripe stand-in's state, for tests that inspect or steer it.
    pub stripe: Stripe,
    /// The Salesforce stand-in's org, likewise.
    pub salesforce: Salesforce,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub stripe_addr: SocketAddr,
    pub salesforce_addr: SocketAddr,
    /// Where the Stripe stand-in delivers webhooks, if anywhere.
    pub webhook: Option<WebhookTarget>,
    /// The connected app the Salesforce stand-in accepts.
    pub salesforce: SalesforceCredentials,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
        Self {
            stripe_addr: loopback,
            salesforce_addr: loopback,
            webhook: None,
            salesforce: SalesforceCredentials::default(),
        }
    }
}

impl Sandbox {
    /// Starts both stand-ins on random loopback ports, without webhook delivery.
    pub async fn spawn() -> std::io::Result<Self> {
        Self::spawn_with(SandboxOptions::default()).await
    }

    pub async fn spawn_with(options: SandboxOptions) -> std::io::Result<Self> {
        let stripe_listener = TcpListener::bind(options.stripe_addr).await?;
        let stripe_url = format!("http://{}", stripe_listener.local_addr()?);
        let stripe = Stripe::new(stripe_url.clone(), options.webhook);
        let stripe_task = serve(stripe_listener, stripe.router());

        let salesforce_listener = TcpListener::bind(options.salesforce_addr).await?;
        let salesforce_url = format!("http://{}", salesforce_listener.local_addr()?);
        let salesforce = Salesforce::new(salesforce_url.clone(), options.salesforce);
        let salesforce_task = serve(salesforce_listener, salesforce.router());
        Ok(Self { stripe_url, salesforce_url, stripe, salesforce, tasks: vec![stripe_task, salesforce_task] })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn serve(listener: TcpListener, router: axum::Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "sandbox server stopped");
        }
    })
}
