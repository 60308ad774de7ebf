//! The emails Remit sends, each an askama HTML template with a plain-text twin. All of them know the
//! same things (a [`Letter`]), so each template is a thin view of one.

use askama::Template;
use lettre::message::Mailbox;

use super::{Email, MailError};
use crate::{
    config::{Brand, ReminderStep, ReminderTemplate},
    payments::{IssuedCreditNote, Payment, Payments, ReceiptPdf},
};

/// What every email knows: the brand it comes from, the payer, the payment, and its one link.
struct Letter<'a> {
    brand_name: &'a str,
    primary_color: String,
    on_primary_color: &'a str,
    payer_name: Option<&'a str>,
    description: String,
    amount: String,
    link: String,
    support_email: Option<&'a str>,
    legal_footer: Option<&'a str>,
    /// The day (UTC) the link stops taking payments, if it does.
    valid_until: Option<String>,
    /// A subscription's terms in words.
    billing: Option<String>,
}

impl<'a> Letter<'a> {
    /// A letter from a brand about no payment in particular.
    fn from_brand(brand: &'a Brand, link: String) -> Self {
        Self {
            brand_name: &brand.name,
            primary_color: brand.primary_color.to_string(),
            on_primary_color: brand.primary_color.best_text(),
            payer_name: None,
            description: String::new(),
            amount: String::new(),
            link,
            support_email: None,
            legal_footer: brand.legal_footer.as_deref(),
            valid_until: None,
            billing: None,
        }
    }

    fn new(payments: &'a Payments, payment: &'a Payment, link: String) -> Self {
        let brand = payments.brand_of(payment);
        Self {
            brand_name: &brand.name,
            primary_color: brand.primary_color.to_string(),
            on_primary_color: brand.primary_color.best_text(),
            payer_name: payment.payer_name.as_deref(),
            description: payments.display_name(payment),
            amount: payment.amount_display(),
            link,
            support_email: brand.support_email.as_deref(),
            legal_footer: brand.legal_footer.as_deref(),
            valid_until: payment.expires_at.and_then(day_of),
            billing: payment.recurring().map(|r| r.in_words()),
        }
    }
}

/// A template that reads a [`Letter`]'s fields as its own (and any fields of its own).
macro_rules! letter_template {
    ($name:ident, $path:literal $(, $field:ident: $type:ty)*) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a> {
            letter: &'a Letter<'a>,
            $($field: $type,)*
        }

        impl<'a> std::ops::Deref for $name<'a> {
            type Target = Letter<'a>;
            fn deref(&self) -> &Letter<'a> {
                self.letter
            }
        }
    };
}

letter_template!(PaymentLinkHtml, "payment_link.html");
letter_template!(PaymentLinkText, "payment_link.txt");
letter_template!(ReceiptHtml, "receipt.html");
letter_template!(ReceiptText, "receipt.txt");
letter_template!(CreditNoteHtml, "credit_note.html", credited: &'a str, number: &'a str);
letter_template!(CreditNoteText, "credit_note.txt", credited: &'a str, number: &'a str);
letter_template!(SignInHtml, "sign_in.html");
letter_template!(SignInText, "sign_in.txt");
letter_template!(OperatorSignInHtml, "operator_sign_in.html");
letter_template!(OperatorSignInText, "operator_sign_in.txt");

letter_template!(ReminderHtml, "reminder_reminder.html", stop_url: &'a str);
letter_template!(ReminderText, "reminder_reminder.txt", stop_url: &'a str);
letter_template!(DonationHtml, "reminder_donation.html", stop_url: &'a str);
letter_template!(DonationText, "reminder_donation.txt", stop_url: &'a str);
letter_template!(FinalHtml, "reminder_final.html", stop_url: &'a str);
letter_template!(FinalText, "reminder_final.txt", stop_url: &'a str);

/// `2027-01-31` for a Unix-millisecond time.
fn day_of(ms: i64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(at.date().to_string())
}

fn rendered(template: &impl Template) -> Result<String, MailError> {
    Ok(template.render()?)
}

/// The email that hands a payer their pay link.
pub fn payment_link(payments: &Payments, payment: &Payment) -> Result<Email, MailError> {
    let letter = Letter::new(payments, payment, payments.pay_url(payment));
    Ok(Email {
        to: recipient(payment)?,
        subject: format!("Payment request from {}: {}", letter.brand_name, letter.amount),
        html: rendered(&PaymentLinkHtml { letter: &letter })?,
        text: rendered(&PaymentLinkText { letter: &letter })?,
        message_id: format!("<payment-link.{}.{}@remit>", payment.id, payment.updated_at),
        attachments: Vec::new(),
        from: None,
        reply_to: None,
        unsubscribe: None,
    })
}

/// The receipt email, its PDF attached.
pub fn receipt(
    payments: &Payments,
    payment: &Payment,
    receipt_url: String,
    pdf: ReceiptPdf,
) -> Result<Email, MailError> {
    let letter = Letter::new(payments, payment, receipt_url);
    Ok(Email {
        to: recipient(payment)?,
        subject: format!("Your receipt from {}: {}", letter.brand_name, letter.amount),
        html: rendered(&ReceiptHtml { letter: &letter })?,
        text: rendered(&ReceiptText { letter: &letter })?,
        message_id: format!("<receipt.{}@remit>", payment.id),
        attachments: vec![(pdf.filename, "application/pdf".into(), pdf.bytes)],
        from: None,
        reply_to: None,
        unsubscribe: None,
    })
}

/// A refund's credit note, its PDF attached; sent once per refund.
pub fn credit_note(payments: &Payments, note: &IssuedCreditNote, pdf: ReceiptPdf) -> Result<Email, MailError> {
    let link = payments.credit_note_url(&note.refund).unwrap_or_default();
    let letter = Letter::new(payments, &note.payment, link);
    let credited = note.refund.amount_display();
    let number = note.number.as_str();
    Ok(Email {
        to: recipient(&note.payment)?,
        subject: format!("{} refunded {credited}: credit note {number}", letter.brand_name),
        html: rendered(&CreditNoteHtml { letter: &letter, credited: &credited, number })?,
        text: rendered(&CreditNoteText { letter: &letter, credited: &credited, number })?,
        message_id: format!("<credit-note.{}@remit>", note.refund.id),
        attachments: vec![(pdf.filename, "application/pdf".into(), pdf.bytes)],
        from: None,
        reply_to: None,
        unsubscribe: None,
    })
}

/// An operator's single-use link to the console, from the default brand.
pub fn operator_sign_in(brand: &Brand, to: &str, link: String) -> Result<Email, MailError> {
    let letter = Letter::from_brand(brand, link);
    Ok(Email {
        to: to.parse()?,
        subject: format!("Sign in to Remit operations ({})", letter.brand_name),
        html: rendered(&OperatorSignInHtml { letter: &letter })?,
        text: rendered(&OperatorSignInText { letter: &letter })?,
        message_id: format!("<operator-sign-in.{}@remit>", uuid::Uuid::new_v4()),
        attachments: Vec::new(),
        from: None,
        reply_to: None,
        unsubscribe: None,
    })
}

/// The single-use sign-in link, addressed as the payer's latest payment was.
pub fn sign_in(payments: &Payments, latest: &Payment, link: String) -> Result<Email, MailError> {
    let letter = Letter::new(payments, latest, link);
    Ok(Email {
        to: recipient(latest)?,
        subject: format!("Sign in to see your payments to {}", letter.brand_name),
        html: rendered(&SignInHtml { letter: &letter })?,
        text: rendered(&SignInText { letter: &letter })?,
        message_id: format!("<sign-in.{}@remit>", uuid::Uuid::new_v4()),
        attachments: Vec::new(),
        from: None,
        reply_to: None,
        unsubscribe: None,
    })
}

/// Reminder `number` (from 0) of an unpaid link, in its step's template and from its sender, with
/// a one-click way to stop the reminders.
pub fn reminder(payments: &Payments, payment: &Payment, number: i64, step: &ReminderStep) -> Result<Email, MailError> {
    let letter = Letter::new(payments, payment, payments.pay_url(payment));
    let stop_url = payments.stop_reminders_url(payment);
    let stop = stop_url.as_str();
    let (subject, html, text) = match step.template {
        ReminderTemplate::Reminder => (
            format!("Reminder: your payment to {} of {}", letter.brand_name, letter.amount),
            rendered(&ReminderHtml { letter: &letter, stop_url: stop })?,
            rendered(&ReminderText { letter: &letter, stop_url: stop })?,
        ),
        ReminderTemplate::Donation => (
            format!("Your gift to {} is waiting: {}", letter.brand_name, letter.amount),
            rendered(&DonationHtml { letter: &letter, stop_url: stop })?,
            rendered(&DonationText { letter: &letter, stop_url: stop })?,
        ),
        ReminderTemplate::Final => (
            format!("Last reminder: your payment to {} of {}", letter.brand_name, letter.amount),
            rendered(&FinalHtml { letter: &letter, stop_url: stop })?,
            rendered(&FinalText { letter: &letter, stop_url: stop })?,
        ),
    };
    Ok(Email {
        to: recipient(payment)?,
        subject,
        html,
        text,
        message_id: format!("<reminder.{}.{number}@remit>", payment.id),
        attachments: Vec::new(),
        from: step.from.clone(),
        reply_to: step.reply_to.clone(),
        unsubscribe: Some(stop_url.clone()),
    })
}

/// The payer, by name when Remit has one.
fn recipient(payment: &Payment) -> Result<Mailbox, MailError> {
    let named = payment.payer_name.as_ref().map(|name| format!("{name} <{}>", payment.payer_email));
    Ok(named.and_then(|n| n.parse().ok()).map_or_else(|| payment.payer_email.parse(), Ok)?)
}
