//! Outgoing mail: SMTP when `SMTP_URL` is set, else `.eml` files under `REMIT_MAIL_DIR`, so a
//! first run shows exactly what would have been sent. Messages are askama templates, HTML with a
//! plain-text alternative.

mod templates;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Attachment, Mailbox, MultiPart,
        header::{ContentType, HeaderName, HeaderValue},
    },
};
use secrecy::ExposeSecret;

pub use templates::{credit_note, operator_sign_in, payment_link, receipt, reminder, sign_in};

use crate::config::{ConfigError, MailConfig};

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in this folder, one per Message-ID.
    Files(std::path::PathBuf),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("cannot render the email")]
    Template(#[from] askama::Error),
    #[error("the payer's address is not usable")]
    Recipient(#[from] lettre::address::AddressError),
    #[error("cannot build the message")]
    Message(#[from] lettre::error::Error),
    #[error("the mail server did not take the message")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("cannot write the message file")]
    File(#[from] std::io::Error),
}

impl MailError {
    /// Sending the same message again cannot succeed (a bad template or address, or a server
    /// that refused it for good).
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Template(_) | Self::Recipient(_) | Self::Message(_) => true,
            Self::Smtp(e) => e.is_permanent(),
            Self::File(_) => false,
        }
    }
}

/// A message ready for [`Mailer::send`]: subject, both bodies, and a stable id.
pub struct Email {
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Sent as the Message-ID, so a resend after a crash is recognisably the same message.
    pub message_id: String,
    /// Files to attach: (file name, content type, bytes).
    pub attachments: Vec<(String, String, Vec<u8>)>,
    /// Another sender than `MAIL_FROM` (a reminder schedule's), and where replies go.
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    /// `List-Unsubscribe` (an https URL) with RFC 8058's one-click `List-Unsubscribe-Post`.
    pub unsubscribe: Option<String>,
}

impl Mailer {
    pub fn from_config(config: &MailConfig) -> Result<Self, ConfigError> {
        let from: Mailbox =
            config.from.parse().map_err(|e| ConfigError::new("MAIL_FROM", format!("not a mailbox ({e})")))?;
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|_| ConfigError::new("SMTP_URL", "is not a usable SMTP URL"))?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&config.mail_dir).map_err(|e| {
                    ConfigError::new("REMIT_MAIL_DIR", format!("cannot create {}: {e}", config.mail_dir.display()))
                })?;
                Transport::Files(config.mail_dir.clone())
            }
        };
        Ok(Self { transport, from })
    }

    pub async fn send(&self, email: Email) -> Result<(), MailError> {
        let file_name = format!("{}.eml", email.message_id.trim_matches(['<', '>']).replace(['/', '\\'], "_"));
        let mut builder = Message::builder().from(email.from.unwrap_or_else(|| self.from.clone()));
        if let Some(reply_to) = email.reply_to {
            builder = builder.reply_to(reply_to);
        }
        if let Some(url) = email.unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        let message = builder.to(email.to).subject(email.subject).message_id(Some(email.message_id)).multipart(
            email.attachments.into_iter().fold(
                MultiPart::mixed().multipart(MultiPart::alternative_plain_html(email.text, email.html)),
                |mixed, (name, content_type, bytes)| {
                    let content_type = ContentType::parse(&content_type).unwrap_or(ContentType::TEXT_PLAIN);
                    mixed.singlepart(Attachment::new(name).body(bytes, content_type))
                },
            ),
        )?;
        let sent = match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(MailError::from),
            Transport::Files(dir) => write_once(dir, &file_name, &message.formatted()).await.map_err(MailError::from),
        };
        let outcome = if sent.is_ok() { "sent" } else { "failed" };
        metrics::counter!("remit_emails_total", "outcome" => outcome).increment(1);
        sent
    }
}

/// Writes a message as `{Message-ID}.eml`. Written out rather than lettre's file transport, which
/// names files at random: here a job that runs again after a crash rewrites the same file (a
/// message cut short by the crash included) instead of adding a second message.
async fn write_once(dir: &std::path::Path, file_name: &str, message: &[u8]) -> std::io::Result<()> {
    tokio::fs::write(dir.join(file_name), message).await
}
