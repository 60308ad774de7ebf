//! The HTTP client settings every external API client shares.

use std::time::Duration;

/// A client that gives up on a call after `timeout` and on connecting after five seconds.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("Remit/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a reqwest client with static settings builds")
}
