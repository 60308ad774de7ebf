//! Structured logs with `tracing`: human-readable by default, JSON when `REMIT_LOG_FORMAT=json`.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides the default filter.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info,leptos=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    // Colour codes only for a person at a terminal: a file or a log collector gets plain text.
    let ansi = std::io::stderr().is_terminal();
    // A second init (tests start many apps in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => registry.with(fmt::layer().with_ansi(ansi).with_writer(std::io::stderr)).try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(std::io::stderr))
            .try_init(),
    };
}

/// An error and everything behind it, `outer: inner: innermost`, as a log line wants it.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        // Transparent wrappers repeat their source's text; say it once.
        if !text.ends_with(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot send the receipt")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_names_every_cause_once() {
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(super::chain(&error), "cannot send the receipt: connection refused");
    }
}
