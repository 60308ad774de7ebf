//! Signed webhook delivery, as Stripe does it: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
//! "t.body">`, retried with backoff until the endpoint answers 2xx.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Stripe, state::now};

/// Where events go, and the secret that signs them.
#[derive(Clone, Debug)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: String,
}

#[derive(Clone)]
pub struct Deliverer {
    target: Option<WebhookTarget>,
    http: reqwest::Client,
    /// While set, events are recorded but not delivered (a missed webhook, for tests).
    withheld: Arc<AtomicBool>,
}

const ATTEMPTS: u32 = 8;

impl Deliverer {
    pub fn new(target: Option<WebhookTarget>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("static client settings");
        Self { target, http, withheld: Arc::new(AtomicBool::new(false)) }
    }

    pub fn set_withheld(&self, withheld: bool) {
        self.withheld.store(withheld, Ordering::SeqCst);
    }

    /// Sends every event recorded since the last flush, each in its own task.
    pub fn flush(&self, stripe: &Stripe) {
        let events = std::mem::take(&mut stripe.lock().undelivered);
        let Some(target) = self.target.clone() else { return };
        if self.withheld.load(Ordering::SeqCst) {
            return;
        }
        for event in events {
            let http = self.http.clone();
            let target = target.clone();
            tokio::spawn(async move {
                let body = event.to_string();
                for attempt in 1..=ATTEMPTS {
                    let timestamp = now();
                    let result = http
                        .post(&target.url)
                        .header("Content-Type", "application/json; charset=utf-8")
                        .header("Stripe-Signature", sign(&target.secret, timestamp, &body))
                        .header("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
                        .body(body.clone())
                        .send()
                        .await;
                    match result {
                        Ok(response) if response.status().is_success() => return,
                        Ok(response) => {
                            tracing::info!(status = %response.status(), attempt, "webhook refused; will retry")
                        }
                        Err(error) => tracing::info!(%error, attempt, "webhook not delivered; will retry"),
                    }
                    tokio::time::sleep(Duration::from_millis(250 << attempt.min(6))).await;
                }
                tracing::warn!(event = %event["id"], "webhook delivery gave up");
            });
        }
    }
}

/// The `Stripe-Signature` header value for `body` signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}
