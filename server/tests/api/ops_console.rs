//! The operator console at `/ops`: sign-in by magic link for operators only, what viewers and
//! admins may do, CSRF on every action, each action's effect and audit row, search, filters,
//! paging and the CSV download.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    accounts::{browser, csrf, post_form},
    helpers::{Mode, TestApp, link_request},
    payments_export::{export, paid_at_known_times},
    refunds::paid_payment,
};

const ADMIN: &str = "ops@example.com";

async fn console_app() -> TestApp {
    TestApp::spawn_with(Mode::Live, &[("REMIT_OPERATORS", ADMIN)]).await
}

fn console_links(app: &TestApp) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(&app.mail_dir) else { return Vec::new() };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains("Subject: Sign in to Remit operations"))
        .map(|mail| {
            let text = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
            let start = text.find("/ops/sign-in/").unwrap();
            text[start..start + "/ops/sign-in/".len() + 64].to_owned()
        })
        .collect()
}

async fn ask_for_console_link(app: &TestApp, browser: &reqwest::Client, email: &str) -> reqwest::Response {
    let token = csrf(app, browser, "/ops/sign-in").await;
    post_form(app, browser, "/fn/ops-request-sign-in", &[("email", email), ("csrf", &token)]).await
}

/// Signs `browser` in to the console as `email` through the emailed link.
async fn sign_in_operator(app: &TestApp, browser: &reqwest::Client, email: &str) {
    let before = console_links(app);
    ask_for_console_link(app, browser, email).await;
    let mut link = None;
    for _ in 0..400 {
        link = console_links(app).into_iter().find(|l| !before.contains(l));
        if link.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let link = link.expect("a console sign-in email arrives");
    let token = link.rsplit('/').next().unwrap().to_owned();
    let form_csrf = csrf(app, browser, &link).await;
    let response = post_form(app, browser, "/fn/ops-confirm-sign-in", &[("token", &token), ("csrf", &form_csrf)]).await;
    assert_eq!(response.headers()["location"], "/ops");
}

async fn page(app: &TestApp, browser: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let response = browser.get(format!("{}{path}", app.address)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Posts a console action with the session's CSRF token (or `csrf` when given).
async fn act(
    app: &TestApp,
    browser: &reqwest::Client,
    fields: &[(&str, &str)],
    csrf_override: Option<&str>,
) -> reqwest::Response {
    let token = match csrf_override {
        Some(token) => token.to_owned(),
        None => csrf(app, browser, "/ops").await,
    };
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    post_form(app, browser, "/fn/ops-act", &form).await
}

/// An open payment for a new Opportunity of the Salesforce stand-in (`name` names it).
async fn open_payment(app: &TestApp, name: &str, email: &str) -> Value {
    let opportunity = app.salesforce().insert("Opportunity", json!({ "Name": name, "StageName": "Prospecting" }));
    let account = app.salesforce().insert("Account", json!({ "Name": name }));
    let mut request = link_request();
    request["opportunity_id"] = json!(opportunity);
    request["account_id"] = json!(account);
    request["payer_email"] = json!(email);
    app.post_link(&request).await.json().await.unwrap()
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT operator, subject, detail FROM operator_audit WHERE action = $1 ORDER BY id")
        .bind(action)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

/// A job that failed every attempt, as the outbox leaves one.
async fn dead_letter(app: &TestApp, kind: &str, payment: &str) -> i64 {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO outbox (kind, payload, dedupe_key, status, attempts, max_attempts, run_at, last_error, created_at, updated_at) \
         VALUES ($1, $2, $3, 'dead', 8, 8, 0, 'Salesforce said: FIELD_CUSTOM_VALIDATION_EXCEPTION', 0, 0) RETURNING id",
    )
    .bind(kind)
    .bind(json!({ "payment_id": payment }).to_string())
    .bind(format!("{kind}:{payment}"))
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn an_operator_and_anyone_else_get_the_same_answer_and_only_the_operator_a_link() {
    let app = console_app().await;
    let browser = browser();
    let operator = ask_for_console_link(&app, &browser, "OPS@example.com").await;
    let stranger = ask_for_console_link(&app, &browser, "nobody@example.com").await;
    assert_eq!(operator.status(), 303);
    assert_eq!(operator.headers()["location"], stranger.headers()["location"]);
    assert_eq!(operator.headers()["location"], "/ops/sign-in?sent=1");
    for _ in 0..400 {
        if !console_links(&app).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(console_links(&app).len(), 1, "only the operator got mail");
    let mails = std::fs::read_dir(&app.mail_dir).unwrap().count();
    assert_eq!(mails, 1, "and the stranger's address got nothing at all");
    assert_eq!(app.count("SELECT COUNT(*) FROM sign_in_tokens WHERE email = 'nobody@example.com'").await, 0);

    // Nobody signed in: the console sends to its sign-in page, and its download is refused.
    let (status, _) = page(&app, &browser, "/ops/payments").await;
    assert_eq!(status, 303);
    assert_eq!(browser.get(format!("{}/ops/payments.csv", app.address)).send().await.unwrap().status(), 401);

    sign_in_operator(&app, &browser, ADMIN).await;
    let (status, html) = page(&app, &browser, "/ops").await;
    assert_eq!(status, 200);
    assert!(html.contains("Signed in as <strong>ops@example.com</strong> (admin)"), "{html}");
    assert!(html.contains("Last Stripe webhook") && html.contains("Jobs by class"), "{html}");
}

#[tokio::test]
async fn a_payers_link_does_not_open_the_console_nor_a_console_link_an_account() {
    let app = console_app().await;
    open_payment(&app, "0065g00000Ops01", ADMIN).await;
    let payer = browser();
    crate::accounts::sign_in(&app, &payer, ADMIN).await;
    let (status, _) = page(&app, &payer, "/ops").await;
    assert_eq!(status, 303, "a payer's sign-in is not the console's");

    let operator = browser();
    sign_in_operator(&app, &operator, ADMIN).await;
    let (status, _) = page(&app, &operator, "/account").await;
    assert_eq!(status, 303, "the console's sign-in is not a payer's");
}

#[tokio::test]
async fn a_viewer_sees_every_page_but_every_action_is_refused_with_403_and_changes_nothing() {
    let app = console_app().await;
    server::ops::operators::add(&app.db, "viewer@example.com", server::ops::operators::Role::Viewer).await.unwrap();
    let payment = open_payment(&app, "0065g00000Ops02", "ana@example.com").await;
    let id = payment["payment_id"].as_str().unwrap();
    let job = dead_letter(&app, "sync_payment", id).await;
    app.outbox_idle().await;
    let browser = browser();
    sign_in_operator(&app, &browser, "viewer@example.com").await;
    for path in
        ["/ops", "/ops/payments", &format!("/ops/payments/{id}"), "/ops/outbox", "/ops/finance", "/ops/api-keys"]
    {
        let (status, html) = page(&app, &browser, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains(r#"action="/fn/ops-act""#), "{path} offers a viewer no action: {html}");
    }
    let jobs_before = app.count("SELECT COUNT(*) FROM outbox").await;
    let job = job.to_string();
    for fields in [
        vec![("action", "cancel"), ("subject", id)],
        vec![("action", "resend-link"), ("subject", id)],
        vec![("action", "resync"), ("subject", id)],
        vec![("action", "replay"), ("subject", job.as_str())],
        vec![("action", "replay-class"), ("subject", "sync")],
        vec![("action", "create-key"), ("subject", "Sneaky")],
    ] {
        let response = act(&app, &browser, &fields, None).await;
        assert_eq!(response.status(), 403, "{fields:?}");
        assert!(response.text().await.unwrap().contains("Viewers can see the console but not act"));
    }
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "open").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, jobs_before);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM outbox WHERE id = {job} AND status = 'dead'")).await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM api_keys").await, 1, "only the test's own key");
    assert_eq!(app.count("SELECT COUNT(*) FROM operator_audit").await, 0);
}

#[tokio::test]
async fn every_action_without_the_forms_csrf_token_is_refused_and_changes_nothing() {
    let app = console_app().await;
    let paid = paid_payment(&app, "0065g00000Ops03").await;
    let payment = open_payment(&app, "0065g00000Ops04", "ana@example.com").await;
    let open = payment["payment_id"].as_str().unwrap();
    let job = dead_letter(&app, "sync_payment", open).await.to_string();
    app.outbox_idle().await;
    let browser = browser();
    sign_in_operator(&app, &browser, ADMIN).await;
    let jobs_before = app.count("SELECT COUNT(*) FROM outbox").await;
    let forged = "0".repeat(64);
    let (key_id,): (String,) = sqlx::query_as("SELECT id FROM api_keys").fetch_one(&app.db.pool).await.unwrap();
    for fields in [
        vec![("action", "cancel"), ("subject", open)],
        vec![("action", "resend-link"), ("subject", open)],
        vec![("action", "resync"), ("subject", open)],
        vec![("action", "refund"), ("subject", paid.as_str()), ("amount", "10.00"), ("key", "k1")],
        vec![("action", "replay"), ("subject", job.as_str())],
        vec![("action", "replay-class"), ("subject", "sync")],
        vec![("action", "create-key"), ("subject", "Forged")],
        vec![("action", "revoke-key"), ("subject", key_id.as_str())],
    ] {
        for token in ["", forged.as_str()] {
            let response = act(&app, &browser, &fields, Some(token)).await;
            assert_eq!(response.status(), 403, "{fields:?} with {token:?}");
            assert!(response.text().await.unwrap().contains("The form had expired"));
        }
    }
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{open}'"), "open").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM refunds").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, jobs_before);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM outbox WHERE id = {job} AND status = 'dead'")).await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM operator_audit").await, 0);
}

#[tokio::test]
async fn payment_actions_do_what_they_say_and_each_leaves_an_audit_row_and_a_timeline_entry() {
    let app = console_app().await;
    let payment = open_payment(&app, "0065g00000Ops05", "ana@example.com").await;
    let id = payment["payment_id"].as_str().unwrap().to_owned();
    app.outbox_idle().await;
    let browser = browser();
    sign_in_operator(&app, &browser, ADMIN).await;
    let link_mails = |app: &TestApp| {
        std::fs::read_dir(&app.mail_dir)
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .filter(|m| m.contains("Subject: Payment request from"))
            .count()
    };
    let mails_before = link_mails(&app);

    let response = act(&app, &browser, &[("action", "resend-link"), ("subject", &id)], None).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], format!("/ops/payments/{id}").as_str());
    app.outbox_idle().await;
    assert_eq!(link_mails(&app), mails_before + 1, "the link went out again");
    let (_, html) = page(&app, &browser, &format!("/ops/payments/{id}")).await;
    assert!(html.contains("The pay link is on its way to ana@example.com again."), "{html}");

    let syncs = app.count("SELECT COUNT(*) FROM outbox_done WHERE kind = 'sync_payment'").await;
    act(&app, &browser, &[("action", "resync"), ("subject", &id)], None).await;
    app.outbox_idle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox_done WHERE kind = 'sync_payment'").await, syncs + 1);

    act(&app, &browser, &[("action", "cancel"), ("subject", &id)], None).await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "canceled").await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE payment_id = '{id}' AND cause = 'canceled from the console by ops@example.com'"
        ))
        .await,
        1
    );
    app.outbox_idle().await;
    let opportunity = app.salesforce().records("Opportunity");
    assert!(opportunity.iter().any(|o| o["Payment_Status__c"] == "Canceled"), "{opportunity:?}");

    for action in ["resend-link", "resync", "cancel"] {
        let rows = audit_rows(&app, action).await;
        assert_eq!(rows.len(), 1, "{action}");
        assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), (ADMIN, id.as_str()));
    }
    // Resending a canceled payment's link is refused, said so, and audited as refused.
    act(&app, &browser, &[("action", "resend-link"), ("subject", &id)], None).await;
    let (_, html) = page(&app, &browser, &format!("/ops/payments/{id}")).await;
    assert!(html.contains(r#"role="alert""#) && html.contains("canceled: nothing was done"), "{html}");
    assert_eq!(audit_rows(&app, "resend-link").await.len(), 2);

    // The timeline has the state changes, the jobs and the operators' actions.
    for entry in [
        "State: open → canceled",
        "canceled from the console by ops@example.com",
        "Salesforce sync",
        "Email: pay link",
        "Operator: resync",
    ] {
        assert!(html.contains(entry), "{entry}: {html}");
    }
}

#[tokio::test]
async fn a_refund_from_the_console_is_made_once_however_often_its_form_is_sent() {
    let app = console_app().await;
    let id = paid_payment(&app, "0065g00000Ops06").await;
    let browser = browser();
    sign_in_operator(&app, &browser, ADMIN).await;
    let (_, html) = page(&app, &browser, &format!("/ops/payments/{id}")).await;
    assert!(html.contains("Refund amount (up to 125.00 USD; empty for all of it)"), "{html}");
    let key_start = html.find(r#"name="key" value=""#).unwrap() + r#"name="key" value=""#.len();
    let key = html[key_start..].split('"').next().unwrap().to_owned();

    let refund = [
        ("action", "refund"),
        ("subject", id.as_str()),
        ("amount", "25.00"),
        ("reason", "duplicate"),
        ("key", key.as_str()),
    ];
    act(&app, &browser, &refund, None).await;
    act(&app, &browser, &refund, None).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM refunds").await, 1);
    assert_eq!(app.stripe().refunds().len(), 1, "one refund in Stripe");
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "partially_refunded").await;
    let rows = audit_rows(&app, "refund").await;
    assert_eq!(rows.len(), 2);
    assert!(rows[0].2.contains("Refund of 25.00 USD asked of Stripe"), "{rows:?}");

    // Too much is refused with what is wrong, and refunds nothing.
    let (_, html) = page(&app, &browser, &format!("/ops/payments/{id}")).await;
    let key_start = html.find(r#"name="key" value=""#).unwrap() + r#"name="key" value=""#.len();
    let key = html[key_start..].split('"').next().unwrap().to_owned();
    let too_much =
        [("action", "refund"), ("subject", id.as_str()), ("amount", "500.00"), ("reason", ""), ("key", key.as_str())];
    act(&app, &browser, &too_much, None).await;
    let (_, html) = page(&app, &browser, &format!("/ops/payments/{id}")).await;
    assert!(html.contains("Nothing was refunded: amount is more than the 100.00 USD left to refund."), "{html}");
    assert_eq!(app.count("SELECT COUNT(*) FROM refunds").await, 1);
}

#[tokio::test]
async fn dead_letters_are_replayed_one_or_a_whole_class_and_api_keys_are_made_shown_once_and_revoked() {
    let app = console_app().await;
    let first = open_payment(&app, "0065g00000Ops07", "ana@example.com").await;
    let second = open_payment(&app, "0065g00000Ops08", "bo@example.com").await;
    app.outbox_idle().await;
    let one = dead_letter(&app, "sync_payment", first["payment_id"].as_str().unwrap()).await;
    let two = dead_letter(&app, "sync_payment", second["payment_id"].as_str().unwrap()).await;
    let browser = browser();
    sign_in_operator(&app, &browser, ADMIN).await;
    let (_, html) = page(&app, &browser, "/ops/outbox").await;
    assert!(html.contains("FIELD_CUSTOM_VALIDATION_EXCEPTION") && html.contains("Replay all sync jobs"), "{html}");
    assert!(html.contains(&format!("payment_id: {}", first["payment_id"].as_str().unwrap())), "{html}");

    act(&app, &browser, &[("action", "replay"), ("subject", &one.to_string())], None).await;
    app.outbox_idle().await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM outbox WHERE id = {one}")).await, 0, "replayed and done");
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM outbox WHERE id = {two} AND status = 'dead'")).await, 1);
    act(&app, &browser, &[("action", "replay-class"), ("subject", "sync")], None).await;
    app.outbox_idle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE status = 'dead'").await, 0);
    let (_, html) = page(&app, &browser, "/ops/outbox").await;
    assert!(html.contains("1 dead sync job(s) are back in the queue."), "{html}");
    assert_eq!(audit_rows(&app, "replay").await[0].1, one.to_string());
    assert_eq!(audit_rows(&app, "replay-class").await[0].1, "sync");

    act(&app, &browser, &[("action", "create-key"), ("subject", "Salesforce staging")], None).await;
    let (_, html) = page(&app, &browser, "/ops/api-keys").await;
    let start = html.find(r#"<code class="key">"#).expect("the new key is shown") + r#"<code class="key">"#.len();
    let key = html[start..].split('<').next().unwrap().to_owned();
    assert!(key.starts_with("remit_"), "{key}");
    let (_, again) = page(&app, &browser, "/ops/api-keys").await;
    assert!(!again.contains(&key), "shown once");
    let with_key = |key: String| {
        let app = &app;
        async move {
            let url = format!("{}/api/v1/payments", app.address);
            app.client.get(url).bearer_auth(key).send().await.unwrap().status()
        }
    };
    assert_ne!(with_key(key.clone()).await, 401, "the new key is taken");
    let (id,): (String,) = sqlx::query_as("SELECT id FROM api_keys WHERE name = 'Salesforce staging'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    act(&app, &browser, &[("action", "revoke-key"), ("subject", &id)], None).await;
    assert_eq!(with_key(key).await, 401);
    assert_eq!(audit_rows(&app, "create-key").await[0].1, "Salesforce staging");
    assert_eq!(audit_rows(&app, "revoke-key").await[0].1, id);
}

#[tokio::test]
async fn a_payment_is_found_by_each_of_its_ids_and_its_payers_email() {
    let app = console_app().await;
    let id = paid_payment(&app, "0065g00000Ops09").await;
    open_payment(&app, "0065g00000Ops10", "bo@example.com").await;
    let (opportunity, session, intent, customer): (String, String, String, String) = sqlx::query_as(
        "SELECT opportunity_id, stripe_checkout_session_id, stripe_payment_intent_id, stripe_customer_id FROM payments WHERE id = $1",
    )
    .bind(&id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let browser = browser();
    sign_in_operator(&app, &browser, ADMIN).await;
    let email = link_request()["payer_email"].as_str().unwrap().to_uppercase();
    // As a Salesforce page or URL shows it: 15 characters, no checksum.
    let opportunity_15 = opportunity[..15].to_owned();
    for needle in [email.as_str(), &opportunity, &opportunity_15, id.as_str(), &session, &intent, &customer] {
        let (status, html) = page(&app, &browser, &format!("/ops/payments?q={needle}")).await;
        assert_eq!(status, 200);
        assert!(html.contains(&format!("/ops/payments/{id}")), "{needle}: {html}");
        assert_eq!(html.matches(r#"<a href="/ops/payments/"#).count(), 1, "{needle} finds only its payment");
    }
    let (_, html) = page(&app, &browser, "/ops/payments?q=nobody%40example.com").await;
    assert!(html.contains("No payments match."), "{html}");
}

#[tokio::test]
async fn the_list_filters_and_pages_and_its_csv_is_the_exports_bytes() {
    let app = console_app().await;
    let usd = paid_at_known_times(&app, "0065g00000Ops11", "125.00", "USD", 0).await;
    let jpy = paid_at_known_times(&app, "0065g00000Ops12", "5000", "JPY", 1).await;
    let kwd = paid_at_known_times(&app, "0065g00000Ops13", "12.34", "KWD", 2).await;
    for n in 0..27 {
        open_payment(&app, &format!("0065g00000Pg{n:03}"), "many@example.com").await;
    }
    let browser = browser();
    sign_in_operator(&app, &browser, ADMIN).await;

    let rows = |html: &str| html.matches(r#"<a href="/ops/payments/"#).count();
    let (_, first) = page(&app, &browser, "/ops/payments").await;
    assert_eq!(rows(&first), 25);
    assert!(first.contains(r#"href="/ops/payments?page=1""#), "{first}");
    let (_, second) = page(&app, &browser, "/ops/payments?page=1").await;
    assert_eq!(rows(&second), 5);
    assert!(!second.contains("Older payments") && second.contains(r#"href="/ops/payments?page=0""#));

    let (_, paid) = page(&app, &browser, "/ops/payments?status=paid").await;
    assert_eq!(rows(&paid), 3);
    let (_, yen) = page(&app, &browser, "/ops/payments?currency=jpy").await;
    assert_eq!(rows(&yen), 1);
    assert!(yen.contains(&format!("/ops/payments/{jpy}")) && yen.contains("5000 JPY"), "{yen}");
    let (_, range) = page(&app, &browser, "/ops/payments?status=paid&from=2026-12-02&to=2026-12-03").await;
    assert_eq!(rows(&range), 2);
    assert!(range.contains(&format!("/ops/payments/{kwd}")) && !range.contains(&format!("/ops/payments/{usd}")));
    let (status, bad) = page(&app, &browser, "/ops/payments?from=yesterday").await;
    assert_eq!(status, 200);
    assert!(
        bad.contains(r#"from \"yesterday\" is not a date like 2026-12-31"#)
            || bad.contains("is not a date like 2026-12-31"),
        "{bad}"
    );

    // The download is the export of the same filter, byte for byte, whatever its size.
    for (query, args) in [
        ("status=paid", vec!["--status", "paid"]),
        ("", vec![]),
        ("currency=KWD&from=2026-12-01", vec!["--currency", "KWD", "--from", "2026-12-01"]),
    ] {
        let response = browser.get(format!("{}/ops/payments.csv?{query}", app.address)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
        let body = response.text().await.unwrap();
        let (ok, exported, stderr) = export(&app, &args).await;
        assert!(ok, "{stderr}");
        assert_eq!(body, exported, "{query}");
    }
    let response = browser.get(format!("{}/ops/payments.csv?currency=XX", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("currency"));

    // Finance: the day's totals by brand and currency.
    let (_, finance) = page(&app, &browser, "/ops/finance?from=2026-12-01&to=2026-12-31").await;
    for day in [
        "<td>2026-12-01</td>",
        "<td>2026-12-02</td>",
        "<td>2026-12-03</td>",
        "<td>12.340</td>",
        "<td>5000</td>",
        "<td>125.00</td>",
    ] {
        assert!(finance.contains(day), "{day}: {finance}");
    }
}
