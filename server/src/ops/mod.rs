//! What operators see of a running Remit: its metrics (the console of issue 17 will live here too).

pub mod csv;
pub mod metrics;
pub mod operators;
