//! A refund's credit note: the document that says what was given back of which receipt.

use askama::Template;
use time::OffsetDateTime;

use super::pdf::{contact_line, lay_out, long_date, one_line};
use crate::config::Brand;

/// What a credit note says. Amounts arrive formatted in the payment's currency.
pub struct CreditNote<'a> {
    pub brand: &'a Brand,
    /// As printed, e.g. `ACME-CN-000001`.
    pub number: String,
    pub payer_name: Option<&'a str>,
    pub payer_email: &'a str,
    pub issued_on: Option<OffsetDateTime>,
    /// The receipt it credits, e.g. `ACME-000042`.
    pub receipt_number: String,
    pub description: &'a str,
    pub amount_paid: String,
    pub amount_credited: String,
    /// Why, in words ("Requested by customer"), when the refund gave a reason.
    pub reason: Option<&'static str>,
    /// Stripe's refund id, the reference a bank statement shows.
    pub reference: Option<&'a str>,
    /// The bank returned the refund: the note stands as issued, marked void.
    pub void: bool,
}

/// Stripe's refund reasons in the payer's words.
pub fn reason_in_words(reason: &str) -> Option<&'static str> {
    match reason {
        "duplicate" => Some("Duplicate payment"),
        "fraudulent" => Some("Fraudulent payment"),
        "requested_by_customer" => Some("Requested by customer"),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "credit_note.layout", escape = "none")]
struct CreditNoteLayout<'a> {
    note: &'a CreditNote<'a>,
    payer_name: Option<&'a str>,
    description: &'a str,
    issued_on: String,
    contact: String,
    legal_footer: Option<&'a str>,
}

pub fn render(note: &CreditNote) -> Result<Vec<u8>, String> {
    let layout = CreditNoteLayout {
        note,
        payer_name: note.payer_name.map(one_line),
        description: one_line(note.description),
        issued_on: long_date(note.issued_on),
        contact: contact_line(note.brand),
        legal_footer: note.brand.legal_footer.as_deref().map(one_line),
    };
    let content = layout.render().map_err(|e| format!("credit note template: {e}"))?;
    lay_out(note.brand, format!("Credit note {}", note.number), &content)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_stripe_reason_has_words() {
        for reason in crate::payments::REFUND_REASONS {
            assert!(super::reason_in_words(reason).is_some(), "{reason}");
        }
        assert_eq!(super::reason_in_words("expired_uncaptured_charge"), None);
    }
}
