//! `remit-sandbox`: the Stripe and Salesforce stand-ins as a process of their own.
//!
//! `REMIT_SANDBOX_STRIPE_ADDR` and `REMIT_SANDBOX_SALESFORCE_ADDR` choose the addresses
//! (defaults 127.0.0.1:12111 and 127.0.0.1:12112); `REMIT_SANDBOX_WEBHOOK_URL` and
//! `REMIT_SANDBOX_WEBHOOK_SECRET` turn on webhook delivery.

use std::net::SocketAddr;

use sandbox::{Sandbox, SandboxOptions, WebhookTarget};

fn address(setting: &str, default: &str) -> anyhow::Result<SocketAddr> {
    let raw = std::env::var(setting).unwrap_or_else(|_| default.to_owned());
    raw.parse().map_err(|e| anyhow::anyhow!("{setting}: {raw:?} is not an address ({e})"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let webhook = match (std::env::var("REMIT_SANDBOX_WEBHOOK_URL"), std::env::var("REMIT_SANDBOX_WEBHOOK_SECRET")) {
        (Ok(url), Ok(secret)) => Some(WebhookTarget { url, secret }),
        _ => None,
    };
    let options = SandboxOptions {
        stripe_addr: address("REMIT_SANDBOX_STRIPE_ADDR", "127.0.0.1:12111")?,
        salesforce_addr: address("REMIT_SANDBOX_SALESFORCE_ADDR", "127.0.0.1:12112")?,
        webhook,
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::spawn_with(options).await?;
    tracing::info!(stripe = %sandbox.stripe_url, salesforce = %sandbox.salesforce_url, "sandbox stand-ins listening");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
