//! A paid payment's receipt, with what has been refunded of it.

use askama::Template;
use time::OffsetDateTime;

use super::pdf::{contact_line, lay_out, long_date, one_line};
use crate::config::Brand;

/// What a receipt says. Amounts arrive formatted in the payment's currency.
pub struct Receipt<'a> {
    pub brand: &'a Brand,
    /// As printed, e.g. `REMIT-000042`.
    pub number: String,
    pub payer_name: Option<&'a str>,
    pub payer_email: &'a str,
    pub paid_on: Option<OffsetDateTime>,
    pub description: &'a str,
    pub amount: String,
    /// e.g. "Visa •••• 4242", when Stripe reports the method.
    pub method: Option<String>,
    /// Each refund that has a credit note, oldest first.
    pub refunds: Vec<RefundLine>,
    /// What has been refunded in all, when the lines above do not say it alone (several
    /// refunds, or money back by a lost dispute).
    pub refunded_in_all: Option<String>,
    /// Stripe's payment reference (the payment intent).
    pub reference: Option<&'a str>,
}

/// "Refunded | 25.00 USD on 3 January 2027", then "Credit note | ACME-CN-000001".
pub struct RefundLine {
    pub on: Option<OffsetDateTime>,
    pub amount: String,
    pub credit_note: String,
    /// The bank returned it: the money was not refunded after all.
    pub void: bool,
}

/// The receipt's content from `templates/receipt.layout`; [`render`] lays it out.
#[derive(Template)]
#[template(path = "receipt.layout", escape = "none")]
struct ReceiptLayout<'a> {
    number: &'a str,
    payer_name: Option<&'a str>,
    payer_email: &'a str,
    paid_on: String,
    description: &'a str,
    amount: &'a str,
    method: Option<&'a str>,
    refunds: Vec<(String, &'a RefundLine)>,
    refunded_in_all: Option<&'a str>,
    reference: Option<&'a str>,
    contact: String,
    legal_footer: Option<&'a str>,
}

impl<'a> From<&'a Receipt<'a>> for ReceiptLayout<'a> {
    fn from(receipt: &'a Receipt<'a>) -> Self {
        Self {
            number: &receipt.number,
            payer_name: receipt.payer_name.map(one_line),
            payer_email: receipt.payer_email,
            paid_on: long_date(receipt.paid_on),
            description: one_line(receipt.description),
            amount: &receipt.amount,
            method: receipt.method.as_deref(),
            refunds: receipt.refunds.iter().map(|line| (long_date(line.on), line)).collect(),
            refunded_in_all: receipt.refunded_in_all.as_deref(),
            reference: receipt.reference,
            contact: contact_line(receipt.brand),
            legal_footer: receipt.brand.legal_footer.as_deref().map(one_line),
        }
    }
}

pub fn render(receipt: &Receipt) -> Result<Vec<u8>, String> {
    let content = ReceiptLayout::from(receipt).render().map_err(|e| format!("receipt template: {e}"))?;
    lay_out(receipt.brand, format!("Receipt {}", receipt.number), &content)
}
