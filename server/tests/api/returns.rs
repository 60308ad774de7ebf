//! `/success` and `/cancel`, the pages Stripe Checkout sends the payer back to.

use serde_json::{Value, json};

use crate::helpers::{TestApp, link_request};

/// Creates a link, presses "Pay securely" and the given button on the stand-in's Checkout page;
/// returns (payment id, pay URL, session id).
async fn checkout(app: &TestApp, request: Value, outcome: &str) -> (String, String, String) {
    let body: Value = app.post_link(&request).await.json().await.unwrap();
    let url = body["url"].as_str().unwrap().to_owned();
    let location = app.checkout_location(&url).await;
    let session = location.rsplit('/').next().unwrap().to_owned();
    if outcome != "none" {
        app.client.post(&location).form(&[("outcome", outcome)]).send().await.unwrap();
    }
    (body["payment_id"].as_str().unwrap().to_owned(), url, session)
}

async fn page(app: &TestApp, path: &str, language: &str) -> (u16, String) {
    let response =
        app.client.get(format!("{}{path}", app.address)).header("Accept-Language", language).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_paid_payment_shows_a_confirmation_in_the_payers_locale() {
    let app = TestApp::spawn().await;
    let (id, _, session) = checkout(&app, link_request(), "card_succeeds").await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "paid").await;
    let (status, html) = page(&app, &format!("/success?session_id={session}"), "en-US,en;q=0.9").await;
    assert_eq!(status, 200);
    assert!(html.contains("<title>Payment received · Remit</title>"), "{html}");
    assert!(html.contains("your payment was received"), "{html}");
    assert!(html.contains("$125.00"), "{html}");
    assert!(html.contains("Annual membership") && html.contains("ana@example.com"), "{html}");
    assert!(html.contains(&id[..8].to_uppercase()), "a short reference: {html}");
    let (_, german) = page(&app, &format!("/success?session_id={session}"), "de-DE,de;q=0.9").await;
    assert!(german.contains("125,00\u{a0}US$"), "{german}");
}

#[tokio::test]
async fn a_final_pages_second_visit_is_the_same_page_and_a_change_to_the_payment_shows() {
    let app = TestApp::spawn().await;
    let (id, _, session) = checkout(&app, link_request(), "card_succeeds").await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "paid").await;
    app.outbox_idle().await;
    let path = format!("/success?session_id={session}");
    let response = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
    assert!(response.headers()["set-cookie"].to_str().unwrap().starts_with("remit_csrf="), "a page as any other");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let first = response.text().await.unwrap();
    let (_, second) = page(&app, &path, "en").await;
    assert_eq!(first, second, "the page served again is the page rendered");
    assert!(!second.contains("<!>") && !second.contains("<!--HEAD-->"), "no hydration markup: {second}");
    // Anything that changes the payment changes its page (here, its description).
    sqlx::query("UPDATE payments SET description = 'Renewed membership', updated_at = updated_at + 1 WHERE id = $1")
        .bind(&id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (_, changed) = page(&app, &path, "en").await;
    assert!(changed.contains("Renewed membership") && !changed.contains("Annual membership"), "{changed}");
}

#[tokio::test]
async fn before_the_webhook_arrives_the_page_asks_stripe_and_applies_what_it_says() {
    let app = TestApp::spawn().await;
    app.stripe().withhold_webhooks(true);
    let (id, _, session) = checkout(&app, link_request(), "card_succeeds").await;
    app.outbox_idle().await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM payments WHERE id = '{id}' AND status = 'open'")).await, 1);
    let (status, html) = page(&app, &format!("/success?session_id={session}"), "en").await;
    assert_eq!(status, 200);
    assert!(html.contains("your payment was received"), "{html}");
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM payments WHERE id = '{id}' AND status = 'paid'")).await, 1);
    // When the webhook comes after all, nothing moves twice.
    let completed = app.stripe_events("type=checkout.session.completed").await;
    app.post_webhook(&completed[0].to_string(), crate::helpers::WEBHOOK_SECRET).await;
    app.outbox_idle().await;
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE payment_id = '{id}' AND to_status = 'paid'")).await,
        1
    );
}

#[tokio::test]
async fn a_settling_bank_debit_shows_a_self_refreshing_confirming_page() {
    let app = TestApp::spawn().await;
    app.stripe().withhold_webhooks(true);
    let (_, _, session) = checkout(&app, link_request(), "debit_settles").await;
    let response = app.get(&format!("/success?session_id={session}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["refresh"], "5", "the page reloads itself, no script needed");
    let html = response.text().await.unwrap();
    assert!(html.contains("We are confirming your payment"), "{html}");
    assert!(html.contains("&amp;updates=off") && html.contains("Stop updating"), "the payer can stop it: {html}");
    let stopped = app.get(&format!("/success?session_id={session}&updates=off")).await;
    assert!(stopped.headers().get("refresh").is_none());
    assert!(stopped.text().await.unwrap().contains("Check again"));
}

#[tokio::test]
async fn an_unpaid_session_offers_to_try_again_at_the_stable_link() {
    let app = TestApp::spawn().await;
    let (id, url, session) = checkout(&app, link_request(), "card_declined").await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "failed").await;
    let (status, html) = page(&app, &format!("/success?session_id={session}"), "en").await;
    assert_eq!(status, 200);
    assert!(html.contains("did not go through") && html.contains("declined"), "{html}");
    let token = url.rsplit('/').next().unwrap();
    assert!(html.contains(&format!(r#"href="/pay/{token}""#)), "{html}");
}

#[tokio::test]
async fn an_unknown_or_malformed_session_is_a_branded_404_that_leaks_nothing() {
    let app = TestApp::spawn().await;
    for session in ["cs_test_doesnotexist", "not-a-session", "", "cs_test_%27%20OR%201%3D1"] {
        let (status, html) = page(&app, &format!("/success?session_id={session}"), "en").await;
        assert_eq!(status, 404, "{session}");
        assert!(html.contains("Page not found") && html.contains("brand-name"), "{html}");
        assert!(!html.contains("Stripe said") && !html.contains("No such"), "{html}");
    }
    assert_eq!(page(&app, "/success", "en").await.0, 404);
    assert_eq!(page(&app, "/cancel?session_id=cs_test_nope", "en").await.0, 404);
}

#[tokio::test]
async fn the_cancel_page_shows_what_is_still_due_and_records_the_visit() {
    let app = TestApp::spawn().await;
    let (id, url, session) = checkout(&app, link_request(), "none").await;
    let (status, html) = page(&app, &format!("/cancel?session_id={session}"), "en-GB").await;
    assert_eq!(status, 200);
    assert!(html.contains("<title>Payment not completed · Remit</title>"), "{html}");
    assert!(html.contains("Still due") && html.contains("$125.00"), "{html}");
    let token = url.rsplit('/').next().unwrap();
    assert!(html.contains(&format!(r#"href="/pay/{token}""#)), "{html}");
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE payment_id = '{id}' AND cause = 'payer returned from Checkout without paying'")).await,
        1
    );
}

#[tokio::test]
async fn zero_and_three_decimal_amounts_are_shown_with_their_own_decimals() {
    let app = TestApp::spawn().await;
    let mut yen = link_request();
    yen["currency"] = json!("JPY");
    yen["amount"] = json!("5000");
    let (_, _, session) = checkout(&app, yen, "none").await;
    let (_, html) = page(&app, &format!("/cancel?session_id={session}"), "ja-JP").await;
    assert!(html.contains("￥5,000"), "{html}");

    let mut dinar = link_request();
    dinar["opportunity_id"] = json!("0065g00000KwDkW");
    dinar["currency"] = json!("KWD");
    dinar["amount"] = json!("12.34");
    let (_, _, session) = checkout(&app, dinar, "none").await;
    let (_, html) = page(&app, &format!("/cancel?session_id={session}"), "en").await;
    assert!(html.contains("KWD\u{a0}12.340"), "{html}");
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::spawn().await;
    let response = app.get("/").await;
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && csp.contains("script-src 'none'"),
        "{csp}"
    );
    assert!(csp.contains(&app.sandbox.as_ref().unwrap().stripe_url), "forms may lead to Checkout: {csp}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.get("strict-transport-security").is_none(), "no HSTS over plain http");
}

/// Parses `html` with html5lib in strict mode: any HTML parse error fails.
fn assert_valid_html(html: &str) {
    let script = "import sys, html5lib\nhtml5lib.HTMLParser(strict=True).parse(sys.stdin.read())";
    let mut child = std::process::Command::new(crate::python::python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(html.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "invalid HTML: {}\n{html}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn every_customer_page_is_valid_html() {
    let app = TestApp::spawn().await;
    let (_, url, session) = checkout(&app, link_request(), "none").await;
    let token = url.rsplit('/').next().unwrap();
    for path in [
        "/".to_owned(),
        "/no/such/page".to_owned(),
        format!("/pay/{token}"),
        format!("/cancel?session_id={session}"),
        format!("/success?session_id={session}"),
    ] {
        let (_, html) = page(&app, &path, "en").await;
        assert!(!html.contains("<!>"), "{path}: {html}");
        assert_valid_html(&html);
    }
}

#[tokio::test]
async fn a_payment_uses_the_brand_its_link_asked_for_on_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remit.toml");
    std::fs::write(
        &path,
        "default_brand = \"acme\"\n[brands.acme]\nname = \"Acme Inc.\"\n[brands.giving]\nname = \"Acme Foundation\"\nsupport_email = \"give@acme.test\"\nrecord_types = [\"Nonprofit\"]\n",
    )
    .unwrap();
    let app = TestApp::spawn_with(crate::helpers::Mode::Live, &[("REMIT_CONFIG", path.to_str().unwrap())]).await;
    let mut request = link_request();
    request["record_type"] = json!("Nonprofit");
    let (_, url, session) = checkout(&app, request, "none").await;
    let pay = app.client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(pay.contains("Pay Acme Foundation") && pay.contains("/style/brand/giving.css"), "{pay}");
    let (_, cancel) = page(&app, &format!("/cancel?session_id={session}"), "en").await;
    assert!(cancel.contains("Acme Foundation") && cancel.contains("mailto:give@acme.test"), "{cancel}");
    let (_, home) = page(&app, "/", "en").await;
    assert!(home.contains("Acme Inc."), "pages without a payment use the default brand: {home}");
}

#[tokio::test]
async fn with_the_mapping_set_leaving_checkout_counts_as_a_failed_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remit.toml");
    std::fs::write(&path, "[salesforce]\ncancel_sets_failed = true\n").unwrap();
    let app = TestApp::spawn_with(crate::helpers::Mode::Live, &[("REMIT_CONFIG", path.to_str().unwrap())]).await;
    let (id, url, session) = checkout(&app, link_request(), "none").await;
    page(&app, &format!("/cancel?session_id={session}"), "en").await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "failed").await;
    app.eventually(&format!("SELECT failure_reason FROM payments WHERE id = '{id}'"), "canceled_by_payer").await;
    // Still payable: the stable link works, and paying wins over the earlier cancel.
    let location = app.checkout_location(&url).await;
    app.client.post(location).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "paid").await;
}

#[tokio::test]
async fn by_default_leaving_checkout_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, _, session) = checkout(&app, link_request(), "none").await;
    page(&app, &format!("/cancel?session_id={session}"), "en").await;
    app.outbox_idle().await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM payments WHERE id = '{id}' AND status = 'open'")).await, 1);
}

#[tokio::test]
async fn reloading_the_cancel_page_changes_nothing_after_the_first_visit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remit.toml");
    std::fs::write(&path, "[salesforce]\ncancel_sets_failed = true\n").unwrap();
    let app = TestApp::spawn_with(crate::helpers::Mode::Live, &[("REMIT_CONFIG", path.to_str().unwrap())]).await;
    let (id, _, session) = checkout(&app, link_request(), "none").await;
    page(&app, &format!("/cancel?session_id={session}"), "en").await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "failed").await;
    app.outbox_idle().await;
    let rows = "SELECT (SELECT COUNT(*) FROM audit_log) + (SELECT COUNT(*) FROM stripe_events) + (SELECT COUNT(*) FROM outbox)";
    let before = app.count(rows).await;
    let processed = format!("SELECT MAX(processed_at) FROM stripe_events WHERE id = 'remit_abandoned_{session}'");
    let processed_before = app.count(&processed).await;
    for _ in 0..3 {
        assert_eq!(page(&app, &format!("/cancel?session_id={session}"), "en").await.0, 200);
    }
    app.outbox_idle().await;
    assert_eq!(app.count(rows).await, before, "no new audit rows, events or jobs");
    assert_eq!(app.count(&processed).await, processed_before, "the recorded cancel was not applied again");
    assert_eq!(app.count(&format!("SELECT failed_attempts FROM payments WHERE id = '{id}'")).await, 1);
}

#[tokio::test]
async fn unknown_session_ids_cost_stripe_one_lookup_each_and_a_bounded_number_per_client() {
    let app = TestApp::spawn().await;
    let before = app.stripe().api_requests();
    for _ in 0..30 {
        assert_eq!(page(&app, "/success?session_id=cs_test_madeup", "en").await.0, 404);
        assert_eq!(page(&app, "/cancel?session_id=cs_test_madeup", "en").await.0, 404);
    }
    assert_eq!(app.stripe().api_requests() - before, 1, "one lookup for one unknown id");
    for n in 0..60 {
        assert_eq!(page(&app, &format!("/success?session_id=cs_test_madeup{n}"), "en").await.0, 404);
    }
    let asked = app.stripe().api_requests() - before;
    assert!(asked <= 1 + 20, "one client made Remit ask Stripe {asked} times");
}
