//! The payment-link email, sent from the outbox: as an .eml file without SMTP, and through a real
//! SMTP server (Python's aiosmtpd) on loopback.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::{
    helpers::{Mode, TestApp, link_request},
    python::python,
};

fn with_email() -> Value {
    let mut body = link_request();
    body["send_email"] = json!(true);
    body
}

fn messages_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect()
}

/// Undoes quoted-printable soft line breaks and `=3D`, enough to read the link in a part.
fn unfold(message: &str) -> String {
    message.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}

fn assert_is_the_link_email(message: &str, url: &str) {
    let text = unfold(message);
    assert!(text.contains("Subject: Payment request from Remit: 125.00 USD"), "{text}");
    assert!(
        text.contains("To: \"Ana Lima\" <ana@example.com>") || text.contains("To: Ana Lima <ana@example.com>"),
        "{text}"
    );
    assert!(text.contains("multipart/alternative"), "{text}");
    assert!(text.contains("Content-Type: text/plain"), "{text}");
    assert!(text.contains("Content-Type: text/html"), "{text}");
    assert!(text.contains(url), "the link is in the message: {text}");
    assert!(text.contains(&format!("href=\"{url}\"")), "the HTML part links it: {text}");
}

#[tokio::test]
async fn without_smtp_the_link_email_is_written_as_an_eml_file_once() {
    let app = TestApp::spawn().await;
    let body: Value = app.post_link(&with_email()).await.json().await.unwrap();
    app.outbox_idle().await;
    // The same request again neither creates nor re-sends anything.
    app.post_link(&with_email()).await;
    app.outbox_idle().await;
    let messages = messages_in(&app.mail_dir);
    assert_eq!(messages.len(), 1);
    assert_is_the_link_email(&messages[0], body["url"].as_str().unwrap());
}

#[tokio::test]
async fn without_send_email_no_message_is_sent() {
    let app = TestApp::spawn().await;
    app.post_link(&link_request()).await;
    app.outbox_idle().await;
    assert!(messages_in(&app.mail_dir).is_empty());
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'email_payment_link'").await, 0);
}

struct SmtpServer {
    child: Child,
    maildir: tempfile::TempDir,
    port: u16,
}

impl SmtpServer {
    /// aiosmtpd on a free loopback port, storing what it receives in a Maildir.
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = tempfile::tempdir().unwrap();
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let server = Self { child, maildir, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("aiosmtpd did not start listening");
    }

    fn received(&self) -> Vec<String> {
        messages_in(&self.maildir.path().join("box/new"))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn with_smtp_the_payer_receives_the_link_email() {
    let smtp = SmtpServer::start();
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app =
        TestApp::spawn_with(Mode::Live, &[("SMTP_URL", &smtp_url), ("MAIL_FROM", "Acme Billing <billing@acme.test>")])
            .await;
    let body: Value = app.post_link(&with_email()).await.json().await.unwrap();
    app.outbox_idle().await;
    let received = smtp.received();
    assert_eq!(received.len(), 1, "one message, sent once");
    assert_is_the_link_email(&received[0], body["url"].as_str().unwrap());
    assert!(
        received[0].contains("From: \"Acme Billing\" <billing@acme.test>")
            || received[0].contains("From: Acme Billing <billing@acme.test>"),
        "{}",
        received[0]
    );
    assert!(messages_in(&app.mail_dir).is_empty(), "no .eml file when SMTP is configured");
}

#[tokio::test]
async fn when_the_smtp_server_is_down_the_email_waits_in_the_outbox_and_is_not_lost() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let app = TestApp::spawn_with(Mode::Live, &[("SMTP_URL", &smtp_url)]).await;
    app.post_link(&with_email()).await;
    // Bounded wait for the first failed attempt to be recorded.
    for _ in 0..400 {
        if app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'email_payment_link' AND attempts >= 1 AND status = 'pending'").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, attempts, error): (String, i64, Option<String>) =
        sqlx::query_as("SELECT status, attempts, last_error FROM outbox WHERE kind = 'email_payment_link'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "pending", "a refused connection is retried, not dropped");
    assert!(attempts >= 1);
    assert!(error.is_some());
}
