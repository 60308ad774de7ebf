//! PDF receipts: their text (read back with poppler's pdftotext), who may download them, and the
//! receipt email.

use serde_json::{Value, json};

use crate::helpers::{TestApp, WEBHOOK_SECRET, link_request};

pub(crate) fn event(id: &str, kind: &str, object: Value) -> String {
    json!({ "id": id, "object": "event", "type": kind, "created": 1_800_000_000, "data": { "object": object } })
        .to_string()
}

/// A paid payment (through a webhook, as Stripe would send it); returns (payment id, receipt URL).
pub(crate) async fn paid(app: &TestApp, request: Value, intent: &str) -> (String, String) {
    let body: Value = app.post_link(&request).await.json().await.unwrap();
    let id = body["payment_id"].as_str().unwrap().to_owned();
    let paid = event(
        &format!("evt_{intent}"),
        "payment_intent.succeeded",
        json!({ "id": intent, "object": "payment_intent", "metadata": { "remit_payment_id": id } }),
    );
    app.post_webhook(&paid, WEBHOOK_SECRET).await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "paid").await;
    let payment: Value = app.api_get(&format!("/api/v1/payments/{id}")).await.json().await.unwrap();
    (id, payment["receipt_url"].as_str().expect("a paid payment has a receipt URL").to_owned())
}

/// The PDF's text as poppler's pdftotext extracts it.
pub(crate) fn pdf_text(bytes: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let output = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(file.path())
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Lines of text with runs of spaces collapsed, so layout changes of a point do not matter.
pub(crate) fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|l| !l.is_empty()).collect()
}

#[tokio::test]
async fn a_usd_receipt_says_everything_a_finance_team_needs() {
    let app = TestApp::spawn().await;
    let body: Value = app.post_link(&link_request()).await.json().await.unwrap();
    let id = body["payment_id"].as_str().unwrap();
    // Paid through the stand-in's Checkout, so Stripe knows the card.
    let location = app.checkout_location(body["url"].as_str().unwrap()).await;
    app.client.post(location).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "paid").await;
    let payment: Value = app.api_get(&format!("/api/v1/payments/{id}")).await.json().await.unwrap();
    let url = payment["receipt_url"].as_str().unwrap();

    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"receipt-REMIT-000001.pdf\"");
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    let text = lines(&pdf_text(&bytes));
    let paid_on = text.iter().find(|l| l.starts_with("Date paid")).cloned().unwrap_or_default();
    let intent = payment["payment_id"]
        .as_str()
        .map(|_| ())
        .and(text.iter().find(|l| l.starts_with("Payment reference")).cloned())
        .unwrap_or_default();
    assert_eq!(
        text,
        [
            "Remit",
            "Receipt",
            "Receipt number REMIT-000001",
            "Received from Ana Lima <ana@example.com>",
            paid_on.as_str(),
            "Description Annual membership",
            "Amount paid 125.00 USD",
            "Payment method Visa •••• 4242",
            intent.as_str(),
        ]
    );
    assert!(paid_on.starts_with("Date paid ") && paid_on.len() > "Date paid ".len(), "{paid_on}");
    assert!(intent.starts_with("Payment reference pi_"), "{intent}");
}

#[tokio::test]
async fn zero_and_three_decimal_receipts_show_their_own_decimals() {
    let app = TestApp::spawn().await;
    let mut yen = link_request();
    yen["currency"] = json!("JPY");
    yen["amount"] = json!("5000");
    let (_, url) = paid(&app, yen, "pi_jpy").await;
    let text = pdf_text(&app.client.get(&url).send().await.unwrap().bytes().await.unwrap());
    assert!(lines(&text).contains(&"Amount paid 5000 JPY".to_owned()), "{text}");

    let mut dinar = link_request();
    dinar["opportunity_id"] = json!("0065g00000KwDkW");
    dinar["currency"] = json!("KWD");
    dinar["amount"] = json!("12.34");
    let (_, url) = paid(&app, dinar, "pi_kwd").await;
    let text = pdf_text(&app.client.get(&url).send().await.unwrap().bytes().await.unwrap());
    assert!(lines(&text).contains(&"Amount paid 12.340 KWD".to_owned()), "{text}");
    assert!(
        lines(&text).contains(&"Receipt number REMIT-000002".to_owned()),
        "numbers run in sequence per brand: {text}"
    );
}

#[tokio::test]
async fn a_partially_refunded_receipt_shows_the_refund() {
    let app = TestApp::spawn().await;
    let (id, url) = paid(&app, link_request(), "pi_refund").await;
    let refund = event(
        "evt_refund",
        "charge.refunded",
        json!({ "id": "ch_refund", "object": "charge", "payment_intent": "pi_refund", "amount_refunded": 2500 }),
    );
    app.post_webhook(&refund, WEBHOOK_SECRET).await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{id}'"), "partially_refunded").await;
    let text = lines(&pdf_text(&app.client.get(&url).send().await.unwrap().bytes().await.unwrap()));
    assert!(
        text.contains(&"Amount paid 125.00 USD".to_owned()) && text.contains(&"Refunded 25.00 USD".to_owned()),
        "{text:?}"
    );
}

#[tokio::test]
async fn only_a_paid_payments_own_token_gets_a_receipt() {
    let app = TestApp::spawn().await;
    let unpaid: Value = app.post_link(&link_request()).await.json().await.unwrap();
    assert!(
        app.api_get(&format!("/api/v1/payments/{}", unpaid["payment_id"].as_str().unwrap()))
            .await
            .json::<Value>()
            .await
            .unwrap()["receipt_url"]
            .is_null()
    );
    let pay_token = unpaid["url"].as_str().unwrap().rsplit('/').next().unwrap();
    for path in [
        "/receipts/00000000000000000000000000000000.pdf".to_owned(),
        format!("/receipts/{pay_token}.pdf"),
        "/receipts/nothing".to_owned(),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.text().await.unwrap().contains("Page not found"), "a branded 404 that leaks nothing");
    }
}

#[tokio::test]
async fn an_unchanged_receipt_is_served_from_the_browsers_cache() {
    let app = TestApp::spawn().await;
    let (_, url) = paid(&app, link_request(), "pi_etag").await;
    let first = app.client.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    app.outbox_idle().await; // the receipt email asks Stripe too
    let asked_stripe = app.stripe().api_requests();
    let again = app.client.get(&url).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(app.stripe().api_requests(), asked_stripe, "a conditional request is answered before any work");
    for _ in 0..3 {
        assert_eq!(app.client.get(&url).send().await.unwrap().status(), 200);
    }
    assert_eq!(app.stripe().api_requests(), asked_stripe, "the receipt email asked Stripe already; downloads do not");
}

#[tokio::test]
async fn the_payer_gets_the_receipt_by_email_once_and_salesforce_gets_its_link() {
    let app = TestApp::spawn().await;
    let (_, url) = paid(&app, link_request(), "pi_mail").await;
    app.outbox_idle().await;
    let messages: Vec<String> = std::fs::read_dir(&app.mail_dir)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains("Subject: Your receipt from Remit"))
        .collect();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("Content-Type: application/pdf"), "{}", messages[0]);
    assert!(messages[0].contains("receipt-REMIT-000001.pdf"), "{}", messages[0]);
    let records = app.salesforce().records("Payment__c");
    assert_eq!(records[0]["Receipt_URL__c"], url.as_str());
}

#[tokio::test]
async fn the_success_page_links_the_receipt() {
    let app = TestApp::spawn().await;
    let body: Value = app.post_link(&link_request()).await.json().await.unwrap();
    let location = app.checkout_location(body["url"].as_str().unwrap()).await;
    let back = app.client.post(location).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    let success = back.headers()["location"].to_str().unwrap().to_owned();
    let html = app.client.get(&success).send().await.unwrap().text().await.unwrap();
    let id = body["payment_id"].as_str().unwrap();
    let payment: Value = app.api_get(&format!("/api/v1/payments/{id}")).await.json().await.unwrap();
    let receipt = payment["receipt_url"].as_str().unwrap();
    let path = receipt.trim_start_matches(&app.address);
    assert!(html.contains(&format!(r#"href="{receipt}""#)) || html.contains(path), "{html}");
    assert!(html.contains("Download receipt (PDF)"), "{html}");
    assert!(html.contains(r#"<a href="/account">See all your payments</a>"#), "a way to every payment: {html}");
}

/// A 2×1 PNG (one blue pixel, one white).
const LOGO_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x7b, 0x40, 0xe8, 0xdd, 0x00, 0x00, 0x00, 0x0f, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x90, 0xf5, 0xbb, 0xf1, 0xff, 0xff, 0x7f, 0x00, 0x0b, 0x95, 0x04, 0x41, 0xef,
    0x81, 0x83, 0x4f, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[tokio::test]
async fn a_brands_logo_file_is_served_and_drawn_on_its_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, LOGO_PNG).unwrap();
    let config = dir.path().join("remit.toml");
    std::fs::write(
        &config,
        format!("[brands.acme]\nname = \"Acme\"\nlogo_file = \"{}\"\npaper = \"letter\"\n", logo.display()),
    )
    .unwrap();
    let app = TestApp::spawn_with(crate::helpers::Mode::Live, &[("REMIT_CONFIG", config.to_str().unwrap())]).await;

    let served = app.get("/style/brand/acme/logo").await;
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().as_ref(), LOGO_PNG);
    assert!(app.get("/").await.text().await.unwrap().contains(r#"src="/style/brand/acme/logo""#));

    let (_, url) = paid(&app, link_request(), "pi_logo").await;
    let pdf = app.client.get(&url).send().await.unwrap().bytes().await.unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &pdf).unwrap();
    let images = std::process::Command::new("pdfimages").arg("-list").arg(file.path()).output().unwrap();
    let listing = String::from_utf8(images.stdout).unwrap();
    assert_eq!(listing.lines().count(), 3, "a header, a rule and one image: {listing}");
    let info = std::process::Command::new("pdfinfo").arg(file.path()).output().unwrap();
    assert!(String::from_utf8(info.stdout).unwrap().contains("612 x 792 pts (letter)"), "the brand's paper size");
}
