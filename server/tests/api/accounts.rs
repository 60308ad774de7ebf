//! Payer accounts: magic-link sign-in, sessions, the account view, and abuse resistance.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Mode, TestApp, WEBHOOK_SECRET, link_request};

/// A browser: keeps cookies, does not follow redirects.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A browser whose requests arrive through a reverse proxy that forwards for `client`.
fn browser_forwarded_for(client: &str) -> reqwest::Client {
    let headers =
        reqwest::header::HeaderMap::from_iter([("x-forwarded-for".parse().unwrap(), client.parse().unwrap())]);
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

pub(crate) async fn csrf(app: &TestApp, browser: &reqwest::Client, path: &str) -> String {
    let html = browser.get(format!("{}{path}", app.address)).send().await.unwrap().text().await.unwrap();
    let start = html.find(r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no CSRF field: {html}"))
        + r#"name="csrf" value=""#.len();
    html[start..start + 64].to_owned()
}

pub(crate) async fn post_form(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser.post(format!("{}{path}", app.address)).header("Accept", "text/html").form(form).send().await.unwrap()
}

async fn ask_for_link(app: &TestApp, browser: &reqwest::Client, email: &str) -> String {
    let token = csrf(app, browser, "/account/sign-in").await;
    let response = post_form(app, browser, "/fn/request-sign-in", &[("email", email), ("csrf", &token)]).await;
    assert_eq!(response.status(), 303);
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn sign_in_mails(app: &TestApp) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(&app.mail_dir) else { return Vec::new() };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains("Subject: Sign in to see your payments"))
        .collect()
}

/// The sign-in link's path in each sign-in email, in no particular order.
fn sign_in_links(app: &TestApp) -> Vec<String> {
    sign_in_mails(app)
        .iter()
        .map(|mail| {
            let text = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
            let start = text.find("/account/sign-in/").unwrap();
            text[start..start + "/account/sign-in/".len() + 64].to_owned()
        })
        .collect()
}

/// Waits (bounded) for the sign-in email and returns the link's path.
async fn link_from_mail(app: &TestApp, nth: usize) -> String {
    for _ in 0..400 {
        if let Some(link) = sign_in_links(app).get(nth) {
            return link.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no sign-in email arrived");
}

/// Signs `browser` in as `email` through the link of the sign-in email it asks for.
pub(crate) async fn sign_in(app: &TestApp, browser: &reqwest::Client, email: &str) {
    let before = sign_in_links(app);
    ask_for_link(app, browser, email).await;
    let mut link = None;
    for _ in 0..400 {
        link = sign_in_links(app).into_iter().find(|l| !before.contains(l));
        if link.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let link = link.expect("a new sign-in email arrives");
    let token = link.rsplit('/').next().unwrap().to_owned();
    let form_csrf = csrf(app, browser, &link).await;
    let response = post_form(app, browser, "/fn/confirm-sign-in", &[("token", &token), ("csrf", &form_csrf)]).await;
    assert_eq!(response.headers()["location"], "/account");
}

async fn payment_for(app: &TestApp, opportunity: &str, email: &str) -> Value {
    let mut request = link_request();
    request["opportunity_id"] = json!(opportunity);
    request["payer_email"] = json!(email);
    request.as_object_mut().unwrap().remove("account_id");
    app.post_link(&request).await.json().await.unwrap()
}

#[tokio::test]
async fn a_known_and_an_unknown_address_get_the_same_answer_and_only_the_known_one_a_link() {
    let app = TestApp::spawn().await;
    payment_for(&app, "0065g00000Acc01", "ana@example.com").await;
    let browser = browser();
    let known = ask_for_link(&app, &browser, "ANA@example.com").await;
    let unknown = ask_for_link(&app, &browser, "nobody@example.com").await;
    assert_eq!(known, unknown);
    assert_eq!(known, "/account/sign-in?sent=1");
    let page = browser.get(format!("{}{known}", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Check your inbox"), "{page}");
    link_from_mail(&app, 0).await;
    assert_eq!(sign_in_mails(&app).len(), 1, "only the known address got mail");
    assert!(sign_in_mails(&app)[0].contains("ana@example.com"));
}

#[tokio::test]
async fn a_link_signs_in_once_and_the_account_lists_only_the_payers_own_payments() {
    let app = TestApp::spawn().await;
    let mine = payment_for(&app, "0065g00000Acc02", "ana@example.com").await;
    payment_for(&app, "0065g00000Acc03", "bo@example.com").await;
    let paid = json!({ "id": "evt_acc", "object": "event", "type": "payment_intent.succeeded", "created": 1_800_000_000, "data": { "object": { "id": "pi_acc", "object": "payment_intent", "metadata": { "remit_payment_id": mine["payment_id"] } } } });
    app.post_webhook(&paid.to_string(), WEBHOOK_SECRET).await;
    app.eventually(
        &format!("SELECT status FROM payments WHERE id = '{}'", mine["payment_id"].as_str().unwrap()),
        "paid",
    )
    .await;

    let browser = browser();
    sign_in(&app, &browser, "ana@example.com").await;
    let html = browser.get(format!("{}/account", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Signed in as <strong>ana@example.com</strong>"), "{html}");
    assert!(html.contains("Download receipt") && html.contains("/receipts/"), "{html}");
    assert!(!html.contains("bo@example.com"), "{html}");
    assert_eq!(html.matches(r#"class="payment""#).count(), 1, "{html}");

    // The same link again does not sign anyone in.
    let other = self::browser();
    let link = link_from_mail(&app, 0).await;
    let again = other.get(format!("{}{link}", app.address)).send().await.unwrap();
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains("This sign-in link has expired"));
}

#[tokio::test]
async fn an_expired_link_fails_with_a_clear_page() {
    let app = TestApp::spawn().await;
    payment_for(&app, "0065g00000Acc04", "ana@example.com").await;
    let browser = browser();
    ask_for_link(&app, &browser, "ana@example.com").await;
    let link = link_from_mail(&app, 0).await;
    sqlx::query("UPDATE sign_in_tokens SET expires_at = 0").execute(&app.db.pool).await.unwrap();
    let response = browser.get(format!("{}{link}", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 410);
    let html = response.text().await.unwrap();
    assert!(html.contains("This sign-in link has expired") && html.contains("Send me a new link"), "{html}");
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    payment_for(&app, "0065g00000Acc05", "ana@example.com").await;
    let browser = browser();
    sign_in(&app, &browser, "ana@example.com").await;
    let token = csrf(&app, &browser, "/account").await;
    let response = post_form(&app, &browser, "/fn/sign-out", &[("csrf", &token)]).await;
    assert_eq!(response.headers()["location"], "/account/sign-in");
    let account = browser.get(format!("{}/account", app.address)).send().await.unwrap();
    assert_eq!(account.status(), 303);
    assert_eq!(account.headers()["location"], "/account/sign-in");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_lax_and_its_id_changes_at_sign_in() {
    let app = TestApp::spawn().await;
    payment_for(&app, "0065g00000Acc06", "ana@example.com").await;
    // A session id planted before sign-in (by a shared computer's last user, say).
    let planted = "remit_session=AAAAAAAAAAAAAAAAAAAAAA";
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("{planted}; Path=/"), &app.address.parse().unwrap());
    let browser =
        reqwest::Client::builder().cookie_provider(jar).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.get(format!("{}/account/sign-in", app.address)).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("remit_csrf=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "a page view sets only the CSRF cookie: {cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http in tests: {cookie}");

    let html = page.text().await.unwrap();
    let start = html.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    let token = &html[start..start + 64];
    post_form(&app, &browser, "/fn/request-sign-in", &[("email", "ana@example.com"), ("csrf", token)]).await;
    let link = link_from_mail(&app, 0).await;
    let form_csrf = csrf(&app, &browser, &link).await;
    let signed_in = post_form(
        &app,
        &browser,
        "/fn/confirm-sign-in",
        &[("token", link.rsplit('/').next().unwrap()), ("csrf", &form_csrf)],
    )
    .await;
    let session = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        session.starts_with("remit_session=") && session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    let after = session.split(';').next().unwrap();
    assert_ne!(after, planted, "a new session id at sign-in");
}

#[tokio::test]
async fn a_form_post_without_the_sessions_csrf_token_is_rejected() {
    let app = TestApp::spawn().await;
    payment_for(&app, "0065g00000Acc07", "ana@example.com").await;
    let browser = browser();
    csrf(&app, &browser, "/account/sign-in").await;
    let forged =
        post_form(&app, &browser, "/fn/request-sign-in", &[("email", "ana@example.com"), ("csrf", &"0".repeat(64))])
            .await;
    assert_eq!(forged.headers()["location"], "/account/sign-in?problem=expired");
    let cookieless = app
        .client
        .post(format!("{}/fn/request-sign-in", app.address))
        .header("Accept", "text/html")
        .form(&[("email", "ana@example.com"), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(cookieless.headers()["location"], "/account/sign-in?problem=expired");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sign_in_mails(&app).is_empty(), "no link for a forged form");
}

#[tokio::test]
async fn the_sign_in_rate_limit_trips_and_recovers() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_SIGN_IN_WINDOW_SECS", "2")]).await;
    let browser = browser();
    for _ in 0..5 {
        assert_eq!(ask_for_link(&app, &browser, "ana@example.com").await, "/account/sign-in?sent=1");
    }
    assert_eq!(ask_for_link(&app, &browser, "ana@example.com").await, "/account/sign-in?problem=limit");
    let page = browser
        .get(format!("{}/account/sign-in?problem=limit", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Too many sign-in requests"), "{page}");
    // Once the window has passed, requests go through again (bounded wait).
    for _ in 0..120 {
        if ask_for_link(&app, &browser, "ana@example.com").await == "/account/sign-in?sent=1" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the limit never recovered");
}

/// Thirty sign-in requests from one client, each for a different address (so only the per-client
/// limit can trip).
async fn thirty_requests_from(app: &TestApp, browser: &reqwest::Client) {
    for n in 0..30 {
        assert_eq!(ask_for_link(app, browser, &format!("payer{n}@example.com")).await, "/account/sign-in?sent=1");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_per_client_limit_counts_the_forwarded_client() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_TRUSTED_PROXIES", "127.0.0.1, ::1")]).await;
    let busy = browser_forwarded_for("198.51.100.7");
    thirty_requests_from(&app, &busy).await;
    assert_eq!(ask_for_link(&app, &busy, "one-more@example.com").await, "/account/sign-in?problem=limit");
    let other = browser_forwarded_for("198.51.100.8");
    assert_eq!(ask_for_link(&app, &other, "other@example.com").await, "/account/sign-in?sent=1");
}

#[tokio::test]
async fn an_untrusted_sender_cannot_dodge_the_per_client_limit_with_a_forwarded_header() {
    let app = TestApp::spawn().await;
    thirty_requests_from(&app, &browser_forwarded_for("198.51.100.7")).await;
    let forged = browser_forwarded_for("198.51.100.8");
    assert_eq!(ask_for_link(&app, &forged, "other@example.com").await, "/account/sign-in?problem=limit");
}

#[tokio::test]
async fn the_account_view_pages_past_twenty_payments() {
    let app = TestApp::spawn().await;
    for n in 0..23 {
        payment_for(&app, &format!("0065g0000Pg{n:04}"), "many@example.com").await;
    }
    let browser = browser();
    sign_in(&app, &browser, "many@example.com").await;
    let first = browser.get(format!("{}/account", app.address)).send().await.unwrap().text().await.unwrap();
    assert_eq!(first.matches(r#"class="payment""#).count(), 20);
    assert!(first.contains(r#"href="/account?page=1""#) && first.contains("Pay now"), "{first}");
    let second = browser.get(format!("{}/account?page=1", app.address)).send().await.unwrap();
    let status = second.status();
    let second = second.text().await.unwrap();
    assert_eq!((status.as_u16(), second.matches(r#"class="payment""#).count()), (200, 3), "{second}");
}

#[tokio::test]
async fn without_a_session_the_account_sends_you_to_sign_in() {
    let app = TestApp::spawn().await;
    let response = app.get("/account").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account/sign-in");
}

#[tokio::test]
async fn a_signed_in_payer_gets_their_own_receipts_and_nobody_elses() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for (n, email) in ["ana@example.com", "bo@example.com"].into_iter().enumerate() {
        let payment = payment_for(&app, &format!("0065g00000Rcp0{n}"), email).await;
        let id = payment["payment_id"].as_str().unwrap().to_owned();
        let paid = json!({ "id": format!("evt_rcp{n}"), "object": "event", "type": "payment_intent.succeeded", "created": 1_800_000_000, "data": { "object": { "id": format!("pi_rcp{n}"), "object": "payment_intent", "metadata": { "remit_payment_id": id } } } });
        app.post_webhook(&paid.to_string(), WEBHOOK_SECRET).await;
        app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "paid").await;
        ids.push(id);
    }
    let anonymous = browser();
    assert_eq!(
        anonymous.get(format!("{}/account/receipts/{}.pdf", app.address, ids[0])).send().await.unwrap().status(),
        404
    );

    let ana = browser();
    sign_in(&app, &ana, "ana@example.com").await;
    let own = ana.get(format!("{}/account/receipts/{}.pdf", app.address, ids[0])).send().await.unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(own.headers()["content-type"], "application/pdf");
    let other = ana.get(format!("{}/account/receipts/{}.pdf", app.address, ids[1])).send().await.unwrap();
    assert_eq!(other.status(), 404, "another payer's receipt");
    assert!(other.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn signing_in_with_one_link_makes_the_addresss_other_links_useless() {
    let app = TestApp::spawn().await;
    payment_for(&app, "0065g00000Acc21", "ana@example.com").await;
    let browser = browser();
    ask_for_link(&app, &browser, "ana@example.com").await;
    let first = link_from_mail(&app, 0).await;
    sign_in(&app, &browser, "ana@example.com").await;
    let other = self::browser();
    let response = other.get(format!("{}{first}", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 410, "the older link stopped working when the newer one was used");
}

#[tokio::test]
async fn a_page_number_past_any_there_could_be_is_an_empty_page() {
    let app = TestApp::spawn().await;
    payment_for(&app, "0065g00000Acc22", "ana@example.com").await;
    let browser = browser();
    sign_in(&app, &browser, "ana@example.com").await;
    let response = browser.get(format!("{}/account?page=9223372036854775807", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert_eq!(html.matches(r#"class="payment""#).count(), 0, "{html}");
}

#[tokio::test]
async fn pages_that_show_a_payers_data_are_never_cached() {
    let app = TestApp::spawn().await;
    let link: Value = app.post_link(&link_request()).await.json().await.unwrap();
    let pay = app.client.get(link["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(pay.headers()["cache-control"], "no-store");
    let browser = browser();
    payment_for(&app, "0065g00000Acc23", "bo@example.com").await;
    sign_in(&app, &browser, "bo@example.com").await;
    let account = browser.get(format!("{}/account", app.address)).send().await.unwrap();
    assert_eq!(account.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn a_sign_in_ends_after_its_lifetime_however_active_the_payer_is() {
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_SESSION_LIFETIME_SECS", "2")]).await;
    payment_for(&app, "0065g00000Acc24", "ana@example.com").await;
    let browser = browser();
    sign_in(&app, &browser, "ana@example.com").await;
    assert_eq!(browser.get(format!("{}/account", app.address)).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = browser.get(format!("{}/account", app.address)).send().await.unwrap();
    assert_eq!(later.status(), 303, "signed out once the lifetime is over");
    assert_eq!(later.headers()["location"], "/account/sign-in");
}

/// Rows in every table Remit and its session store keep.
async fn all_rows(app: &TestApp) -> i64 {
    let sessions =
        if app.db.dialect == server::db::Dialect::Sqlite { "tower_sessions" } else { "tower_sessions.session" };
    let tables = [
        "payments",
        "stripe_events",
        "outbox",
        "audit_log",
        "api_keys",
        "api_idempotency",
        "stripe_customers",
        "salesforce_tasks",
        "sign_in_tokens",
        "remit_secrets",
        sessions,
    ];
    let mut total = 0;
    for table in tables {
        total += app.count(&format!("SELECT COUNT(*) FROM {table}")).await;
    }
    total
}

#[tokio::test]
async fn a_thousand_anonymous_page_views_write_nothing() {
    let app = TestApp::spawn().await;
    let link: Value = app.post_link(&link_request()).await.json().await.unwrap();
    app.outbox_idle().await;
    let pay = link["url"].as_str().unwrap().to_owned();
    let before = all_rows(&app).await;
    let paths = ["/account/sign-in", "/account", "/", "/cancel?session_id=cs_test_unknown"];
    for n in 0..1000 {
        let url = if n % 5 == 4 { pay.clone() } else { format!("{}{}", app.address, paths[n % 5]) };
        let status = app.client.get(&url).send().await.unwrap().status().as_u16();
        assert!(matches!(status, 200 | 303 | 404), "{url}: {status}");
    }
    assert_eq!(all_rows(&app).await, before, "cookieless GETs wrote rows");
}

#[tokio::test]
async fn the_account_view_says_by_when_an_expiring_link_is_due() {
    let app = TestApp::spawn().await;
    let mut request = link_request();
    request["opportunity_id"] = json!("0065g00000Acc09");
    request["payer_email"] = json!("ana@example.com");
    request["expires_at"] = json!("2099-01-31T12:00:00Z");
    request.as_object_mut().unwrap().remove("account_id");
    assert_eq!(app.post_link(&request).await.status(), 201);
    let browser = browser();
    sign_in(&app, &browser, "ana@example.com").await;
    let html = browser.get(format!("{}/account", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Pay by 31 Jan 2099") && html.contains("Pay now"), "{html}");
}
