use askama::Template;
use lettre::message::Mailbox;

use super::{Email, MailError};
use crate::{
    config::Brand,
    payments::{Payment, ReceiptPdf},
};

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
        to: recipient(payment)?,
        subject: format!("Payment request from {}: {amount}", brand.name),
        text,
        html,
        message_id: format!("<payment-link.{}.{}@remit>", payment.id, payment.updated_at),
        attachments: Vec::new(),
    })
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptHtml<'a> {
    brand_name: &'a str,
    primary_color: String,
    on_primary_color: &'a str,
    payer_name: Option<&'a str>,
    description: &'a str,
    amount: &'a str,
    receipt_url: &'a str,
    support_email: Option<&'a str>,
    legal_footer: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "receipt.txt")]
struct ReceiptText<'a> {
    brand_name: &'a str,
    payer_name: Option<&'a str>,
    description: &'a str,
    amount: &'a str,
    receipt_url: &'a str,
    support_email: Option<&'a str>,
    legal_footer: Option<&'a str>,
}

/// The receipt email, its PDF attached.
pub fn receipt(payment: &Payment, brand: &Brand, receipt_url: &str, pdf: ReceiptPdf) -> Result<Email, MailError> {
    let amount = payment.amount_display();
    let description = payment.description.clone().unwrap_or_else(|| format!("Payment to {}", brand.name));
    let render = |e: askama::Error| MailError::Permanent(e.to_string());
    let html = ReceiptHtml {
        brand_name: &brand.name,
        primary_color: brand.primary_color.to_string(),
        on_primary_color: brand.primary_color.best_text(),
        payer_name: payment.payer_name.as_deref(),
        description: &description,
        amount: &amount,
        receipt_url,
        support_email: brand.support_email.as_deref(),
        legal_footer: brand.legal_footer.as_deref(),
    }
    .render()
    .map_err(render)?;
    let text = ReceiptText {
        brand_name: &brand.name,
        payer_name: payment.payer_name.as_deref(),
        description: &description,
        amount: &amount,
        receipt_url,
        support_email: brand.support_email.as_deref(),
        legal_footer: brand.legal_footer.as_deref(),
    }
    .render()
    .map_err(render)?;
    Ok(Email {
        to: recipient(payment)?,
        subject: format!("Your receipt from {}: {amount}", brand.name),
        text,
        html,
        message_id: format!("<receipt.{}@remit>", payment.id),
        attachments: vec![(pdf.filename, "application/pdf".into(), pdf.bytes)],
    })
}

/// The payer, by name when Remit has one.
fn recipient(payment: &Payment) -> Result<Mailbox, MailError> {
    let named = payment.payer_name.as_ref().map(|name| format!("{name} <{}>", payment.payer_email));
    named
        .and_then(|n| n.parse().ok())
        .map_or_else(|| payment.payer_email.parse(), Ok)
        .map_err(|e| MailError::Permanent(format!("bad recipient: {e}")))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInHtml<'a> {
    brand_name: &'a str,
    primary_color: String,
    on_primary_color: &'a str,
    payer_name: Option<&'a str>,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "sign_in.txt")]
struct SignInText<'a> {
    brand_name: &'a str,
    payer_name: Option<&'a str>,
    link: &'a str,
}

/// The single-use sign-in link, addressed as the payer's latest payment was.
pub fn sign_in(latest: &Payment, brand: &Brand, link: &str) -> Result<Email, MailError> {
    let render = |e: askama::Error| MailError::Permanent(e.to_string());
    let html = SignInHtml {
        brand_name: &brand.name,
        primary_color: brand.primary_color.to_string(),
        on_primary_color: brand.primary_color.best_text(),
        payer_name: latest.payer_name.as_deref(),
        link,
    }
    .render()
    .map_err(render)?;
    let text = SignInText { brand_name: &brand.name, payer_name: latest.payer_name.as_deref(), link }
        .render()
        .map_err(render)?;
    Ok(Email {
        to: recipient(latest)?,
        subject: format!("Sign in to see your payments to {}", brand.name),
        text,
        html,
        message_id: format!("<sign-in.{}@remit>", uuid::Uuid::new_v4()),
        attachments: Vec::new(),
    })
}
