use askama::Template;
use lettre::message::Mailbox;

use super::{Email, MailError};
use crate::{config::Brand, payments::Payment};

#[derive(Template)]
#[template(path = "payment_link.html")]
struct PaymentLinkHtml<'a> {
    brand_name: &'a str,
    primary_color: String,
    on_primary_color: &'a str,
    payer_name: Option<&'a str>,
    description: &'a str,
    amount: &'a str,
    url: &'a str,
    support_email: Option<&'a str>,
    legal_footer: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "payment_link.txt")]
struct PaymentLinkText<'a> {
    brand_name: &'a str,
    payer_name: Option<&'a str>,
    description: &'a str,
    amount: &'a str,
    url: &'a str,
    support_email: Option<&'a str>,
    legal_footer: Option<&'a str>,
}

/// The email that hands a payer their pay link.
pub fn payment_link(payment: &Payment, brand: &Brand, url: &str) -> Result<Email, MailError> {
    let amount = payment.amount_display();
    let description = payment.description.clone().unwrap_or_else(|| format!("Payment to {}", brand.name));
    let to = match &payment.payer_name {
        Some(name) => format!("{name} <{}>", payment.payer_email),
        None => payment.payer_email.clone(),
    };
    let to: Mailbox = to
        .parse()
        .or_else(|_| payment.payer_email.parse())
        .map_err(|e| MailError::Permanent(format!("bad recipient: {e}")))?;
    let html = PaymentLinkHtml {
        brand_name: &brand.name,
        primary_color: brand.primary_color.to_string(),
        on_primary_color: brand.primary_color.best_text(),
        payer_name: payment.payer_name.as_deref(),
        description: &description,
        amount: &amount,
        url,
        support_email: brand.support_email.as_deref(),
        legal_footer: brand.legal_footer.as_deref(),
    }
    .render()
    .map_err(|e| MailError::Permanent(e.to_string()))?;
    let text = PaymentLinkText {
        brand_name: &brand.name,
        payer_name: payment.payer_name.as_deref(),
        description: &description,
        amount: &amount,
        url,
        support_email: brand.support_email.as_deref(),
        legal_footer: brand.legal_footer.as_deref(),
    }
    .render()
    .map_err(|e| MailError::Permanent(e.to_string()))?;
    Ok(Email {
        to,
        subject: format!("Payment request from {}: {amount}", brand.name),
        text,
        html,
        message_id: format!("<payment-link.{}.{}@remit>", payment.id, payment.updated_at),
    })
}
