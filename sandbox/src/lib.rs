//! Local stand-ins for Stripe and Salesforce that speak their wire formats over HTTP on loopback.
//!
//! Remit's clients talk to them exactly as they would to the real services; tests, `end2end/` and a
//! first run without credentials use them. Each stand-in answers an unknown address the way its
//! real counterpart does.

mod salesforce;
mod stripe;

use std::net::SocketAddr;

use tokio::{net::TcpListener, task::JoinHandle};

/// Both stand-ins, serving on loopback until dropped.
pub struct Sandbox {
    pub stripe_url: String,
    pub salesforce_url: String,
    tasks: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts both stand-ins on random loopback ports.
    pub async fn spawn() -> std::io::Result<Self> {
        Self::spawn_on("127.0.0.1:0".parse().expect("literal address"), "127.0.0.1:0".parse().expect("literal address"))
            .await
    }

    pub async fn spawn_on(stripe_addr: SocketAddr, salesforce_addr: SocketAddr) -> std::io::Result<Self> {
        let (stripe_url, stripe_task) = serve(stripe_addr, stripe::router()).await?;
        let (salesforce_url, salesforce_task) = serve(salesforce_addr, salesforce::router()).await?;
        Ok(Self { stripe_url, salesforce_url, tasks: vec![stripe_task, salesforce_task] })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn serve(addr: SocketAddr, router: axum::Router) -> std::io::Result<(String, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "sandbox server stopped");
        }
    });
    Ok((url, task))
}
