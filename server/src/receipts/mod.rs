//! PDF documents for payers: receipts (and, with refunds, credit notes).

mod pdf;

pub use pdf::{Receipt, render};
