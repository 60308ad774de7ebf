//! Reminders of unpaid links: each step once (across instances and a restart), never once the
//! payment is paid, stopped by the payer in one click, worded and sent per record type, counted
//! in Salesforce, and the owner's "Payment Still Outstanding" Task after the last, once.

use std::{path::Path, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ALL_JOBS, Mode, TestApp, WEBHOOK_SECRET, link_request};

const SCHEDULE: &str = "[reminders]\nafter = [\"2s\", \"4s\"]\n\n\
    [reminders.record_types.Nonprofit]\ntemplate = \"donation\"\nfrom = \"Giving <giving@example.org>\"\n\
    reply_to = \"donors@example.org\"\nafter = [\"2s\"]\n";

struct Reminded {
    app: TestApp,
    _config: tempfile::TempDir,
    config: String,
}

async fn app_with_schedule() -> Reminded {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remit.toml");
    std::fs::write(&path, SCHEDULE).unwrap();
    let config = path.to_str().unwrap().to_owned();
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_CONFIG", &config)]).await;
    Reminded { app, _config: dir, config }
}

async fn emailed_link(app: &TestApp, opportunity: &str, extra: Value) -> String {
    let mut request = link_request();
    request["opportunity_id"] = json!(opportunity);
    request["send_email"] = json!(true);
    request.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    let body: Value = app.post_link(&request).await.json().await.unwrap();
    body["payment_id"].as_str().expect("a payment").to_owned()
}

/// The reminder emails written for a payment, by step.
fn reminders_in(dir: &Path, payment: &str) -> Vec<String> {
    let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with(&format!("reminder.{payment}."))
                        .then(|| (name, std::fs::read_to_string(e.path()).unwrap_or_default()))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.into_iter().map(|(_, text)| text).collect()
}

fn header<'a>(email: &'a str, name: &str) -> Option<&'a str> {
    email.lines().find_map(|line| line.strip_prefix(&format!("{name}: ")))
}

fn status_query(payment: &str, column: &str) -> String {
    format!("SELECT {column} FROM payments WHERE id = '{payment}'")
}

async fn wait_for_step(app: &TestApp, payment: &str, steps: i64) {
    app.eventually(
        &status_query(payment, &format!("CASE WHEN reminder_step >= {steps} THEN 'yes' ELSE 'no' END")),
        "yes",
    )
    .await;
}

/// Waits until the payment's next reminder would have been due and a few ticks have passed.
async fn wait_past_due(app: &TestApp, payment: &str, due_after: Duration) {
    let (emailed,): (i64,) =
        sqlx::query_as(&status_query(payment, "link_emailed_at")).fetch_one(&app.db.pool).await.unwrap();
    let due = emailed + i64::try_from(due_after.as_millis()).unwrap() + 3000;
    while server::db::now_ms() < due {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.outbox_idle().await;
}

fn outstanding_tasks(app: &TestApp) -> usize {
    app.salesforce().records("Task").iter().filter(|t| t["Subject"] == server::sync::OUTSTANDING_TASK_SUBJECT).count()
}

#[tokio::test]
async fn each_step_goes_out_once_is_counted_in_salesforce_and_the_last_opens_one_owner_task() {
    let Reminded { app, .. } = app_with_schedule().await;
    let payment = emailed_link(&app, "0065g00000AbCdE", json!({})).await;
    app.eventually(&status_query(&payment, "reminders"), "done").await;
    app.outbox_idle().await;
    let sent = reminders_in(&app.mail_dir, &payment);
    assert_eq!(sent.len(), 2);
    assert!(header(&sent[0], "Subject").unwrap().starts_with("Reminder: your payment to"), "{}", sent[0]);
    assert!(header(&sent[1], "Subject").unwrap().starts_with("Last reminder:"), "{}", sent[1]);
    for email in &sent {
        let unsubscribe = header(email, "List-Unsubscribe").expect("List-Unsubscribe");
        assert!(unsubscribe.starts_with(&format!("<{}/reminders/stop/", app.address)), "{unsubscribe}");
        assert_eq!(header(email, "List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
    }
    let record = app
        .salesforce()
        .records("Payment__c")
        .into_iter()
        .find(|r| r["Remit_Payment_ID__c"] == payment.as_str())
        .expect("the Payment__c record");
    assert_eq!(record["Reminders_Sent__c"], 2);
    assert!(record["Last_Reminder_At__c"].is_string(), "{record}");
    assert_eq!(outstanding_tasks(&app), 1);

    let api: Value = app.api_get(&format!("/api/v1/payments/{payment}")).await.json().await.unwrap();
    assert_eq!(api["reminders_sent"], 2);
    assert_eq!(api["next_reminder_at"], Value::Null);

    // Later syncs (a payment change) keep the one Task.
    let mut changed = link_request();
    changed["amount"] = json!("126.00");
    assert_eq!(app.post_link(&changed).await.status(), StatusCode::OK);
    app.outbox_idle().await;
    assert_eq!(outstanding_tasks(&app), 1);
}

#[tokio::test]
async fn two_instances_and_a_restart_send_each_step_once() {
    let Reminded { mut app, config, _config: _kept } = app_with_schedule().await;
    let second = app.spawn_sharing_database_with(&[("REMIT_CONFIG", &config)]).await;
    let payment = emailed_link(&app, "0065g00000AbCdE", json!({})).await;
    wait_for_step(&app, &payment, 1).await;
    app.stop().await;
    let third = second.spawn_sharing_database_with(&[("REMIT_CONFIG", &config)]).await;
    third.eventually(&status_query(&payment, "reminders"), "done").await;
    second.outbox_idle().await;
    third.outbox_idle().await;
    let sent: usize =
        [&app.mail_dir, &second.mail_dir, &third.mail_dir].iter().map(|dir| reminders_in(dir, &payment).len()).sum();
    assert_eq!(sent, 2, "one email per step across the instances");
    let jobs = third.count(&format!("SELECT COUNT(*) FROM {ALL_JOBS} WHERE kind = 'email_reminder'")).await;
    assert_eq!(jobs, 2);
}

#[tokio::test]
async fn a_payment_paid_after_the_first_reminder_gets_no_more() {
    let Reminded { app, .. } = app_with_schedule().await;
    let payment = emailed_link(&app, "0065g00000AbCdE", json!({})).await;
    wait_for_step(&app, &payment, 1).await;
    let paid = json!({
        "id": "evt_paid", "object": "event", "type": "payment_intent.succeeded", "created": 1_800_000_000,
        "data": { "object": { "id": "pi_r", "object": "payment_intent", "metadata": { "remit_payment_id": payment } } },
    });
    assert_eq!(app.post_webhook(&paid.to_string(), WEBHOOK_SECRET).await.status(), 200);
    app.eventually(&status_query(&payment, "status"), "paid").await;
    wait_past_due(&app, &payment, Duration::from_secs(4)).await;
    assert_eq!(reminders_in(&app.mail_dir, &payment).len(), 1);
    assert_eq!(outstanding_tasks(&app), 0);
}

#[tokio::test]
async fn the_payer_stops_reminders_in_one_click() {
    let Reminded { app, .. } = app_with_schedule().await;
    let payment = emailed_link(&app, "0065g00000AbCdE", json!({})).await;
    wait_for_step(&app, &payment, 1).await;
    app.outbox_idle().await;
    let first = reminders_in(&app.mail_dir, &payment).remove(0);
    let url = header(&first, "List-Unsubscribe").unwrap().trim_matches(['<', '>']).to_owned();

    // The page only asks; a GET changes nothing.
    let page = app.client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Stop reminders for this payment?"), "{page}");
    app.eventually(&status_query(&payment, "reminders"), "on").await;

    // The mail client's one-click POST (RFC 8058).
    let stopped = app.client.post(&url).form(&[("List-Unsubscribe", "One-Click")]).send().await.unwrap();
    assert_eq!(stopped.status(), StatusCode::OK);
    app.eventually(&status_query(&payment, "reminders"), "stopped").await;
    app.eventually(&status_query(&payment, "CASE WHEN reminders_stopped_at IS NULL THEN 'no' ELSE 'yes' END"), "yes")
        .await;
    let page = app.client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("No more reminders"), "{page}");
    wait_past_due(&app, &payment, Duration::from_secs(4)).await;
    assert_eq!(reminders_in(&app.mail_dir, &payment).len(), 1);
    assert_eq!(outstanding_tasks(&app), 0, "stopped by the payer is not outstanding");

    let unknown = app.client.post(format!("{}/reminders/stop/nosuchtoken", app.address)).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn profit_and_nonprofit_opportunities_get_their_own_wording_and_sender() {
    let Reminded { app, .. } = app_with_schedule().await;
    let profit = emailed_link(&app, "0065g00000AbCdE", json!({ "record_type": "Profit" })).await;
    let nonprofit = emailed_link(&app, "0065g00000AbCdF", json!({ "record_type": "Nonprofit" })).await;
    app.eventually(&status_query(&nonprofit, "reminders"), "done").await;
    wait_for_step(&app, &profit, 1).await;
    app.outbox_idle().await;
    let profit = reminders_in(&app.mail_dir, &profit).remove(0);
    let nonprofit = reminders_in(&app.mail_dir, &nonprofit).remove(0);
    assert!(header(&profit, "Subject").unwrap().starts_with("Reminder:"), "{profit}");
    assert!(header(&profit, "From").unwrap().contains("payments@localhost"), "{profit}");
    assert_eq!(header(&profit, "Reply-To"), None);
    assert!(header(&nonprofit, "Subject").unwrap().starts_with("Your gift to"), "{nonprofit}");
    assert!(header(&nonprofit, "From").unwrap().contains("giving@example.org"), "{nonprofit}");
    assert!(header(&nonprofit, "Reply-To").unwrap().contains("donors@example.org"), "{nonprofit}");
    assert!(nonprofit.contains("Complete my gift"));
}

#[tokio::test]
async fn no_reminder_without_the_link_email_or_when_the_link_asks_for_none() {
    let Reminded { app, .. } = app_with_schedule().await;
    let off = emailed_link(&app, "0065g00000AbCdE", json!({ "send_reminders": false })).await;
    let mut request = link_request();
    request["opportunity_id"] = json!("0065g00000AbCdF");
    let body: Value = app.post_link(&request).await.json().await.unwrap();
    let not_emailed = body["payment_id"].as_str().unwrap().to_owned();
    app.outbox_idle().await;
    wait_past_due(&app, &off, Duration::from_secs(4)).await;
    assert!(reminders_in(&app.mail_dir, &off).is_empty());
    assert!(reminders_in(&app.mail_dir, &not_emailed).is_empty());
    let api: Value = app.api_get(&format!("/api/v1/payments/{not_emailed}")).await.json().await.unwrap();
    assert_eq!(api["next_reminder_at"], Value::Null);
}
