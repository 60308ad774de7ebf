//! PDF documents for payers: receipts and credit notes.

mod credit_note;
mod pdf;
mod receipt;

pub use credit_note::{CreditNote, reason_in_words, render as render_credit_note};
pub use receipt::{Receipt, RefundLine, render};
