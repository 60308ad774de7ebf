//! What operators see of a running Remit: who may use the console, what they did, finance's
//! figures and export, and the metrics. The console's pages are in `app/src/ops`, their server
//! side in `http/ops_console.rs`.

pub mod audit;
pub mod csv;
pub mod finance;
pub mod metrics;
pub mod operators;
