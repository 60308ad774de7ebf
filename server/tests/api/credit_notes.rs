//! Credit notes: one per succeeded refund, numbered per brand, read back with pdftotext, emailed
//! once, linked from the API, the receipt and the payer's account; void when the bank returns the
//! refund.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    accounts::{browser, sign_in},
    helpers::{TestApp, WEBHOOK_SECRET, link_request},
    receipts::{event, lines, paid, pdf_text},
    refunds::{paid_payment, refund},
};

async fn refunds_of(app: &TestApp, payment: &str) -> Vec<Value> {
    let listed: Value = app.api_get(&format!("/api/v1/payments/{payment}/refunds")).await.json().await.unwrap();
    listed["refunds"].as_array().unwrap().clone()
}

/// Waits (bounded) until every refund of the payment has its credit note, and returns them.
async fn credited(app: &TestApp, payment: &str, count: usize) -> Vec<Value> {
    for _ in 0..400 {
        let refunds = refunds_of(app, payment).await;
        if refunds.len() == count && refunds.iter().all(|r| r["credit_note_url"].is_string()) {
            return refunds;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the refunds never all got credit notes: {:?}", refunds_of(app, payment).await);
}

async fn download(app: &TestApp, url: &str) -> Vec<String> {
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.headers()["content-type"], "application/pdf");
    lines(&pdf_text(&response.bytes().await.unwrap()))
}

fn credit_note_mails(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(&app.mail_dir)
        .map(|entries| {
            entries
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .filter(|m| m.contains(": credit note "))
                .collect()
        })
        .unwrap_or_default()
}

fn line_starting<'a>(lines: &'a [String], start: &str) -> &'a str {
    lines.iter().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no line {start:?} in {lines:?}"))
}

#[tokio::test]
async fn each_refund_gets_a_numbered_credit_note_emailed_once_and_the_receipt_lists_them() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    let (status, first) =
        refund(&app, &payment, json!({ "amount": "25.00", "reason": "requested_by_customer" }), None).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let refunds = credited(&app, &payment, 1).await;
    assert_eq!(refunds[0]["credit_note_number"], "REMIT-CN-000001");

    let response = app.client.get(refunds[0]["credit_note_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"credit-note-REMIT-CN-000001.pdf\"");
    let note = lines(&pdf_text(&response.bytes().await.unwrap()));
    let stripe_refund = app.stripe().refunds()[0]["id"].as_str().unwrap().to_owned();
    let issued = line_starting(&note, "Date issued ").to_owned();
    assert_eq!(
        note,
        [
            "Remit",
            "Credit note",
            "Credit note number REMIT-CN-000001 · for receipt REMIT-000001",
            "Issued to Ana Lima <ana@example.com>",
            issued.as_str(),
            "Original receipt REMIT-000001",
            "Description Annual membership",
            "Amount paid 125.00 USD",
            "Amount credited 25.00 USD",
            "Reason Requested by customer",
            &format!("Refund reference {stripe_refund}"),
        ]
    );

    let (status, _) = refund(&app, &payment, json!({ "amount_minor": 1_000 }), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let refunds = credited(&app, &payment, 2).await;
    assert_eq!(refunds[1]["credit_note_number"], "REMIT-CN-000002", "numbers run in sequence per brand");

    // Stripe delivering the refund's events again changes nothing: still one email per refund.
    let again: Vec<Value> = app.stripe_events("type=refund.created").await;
    for event in &again {
        app.post_webhook(&event.to_string(), WEBHOOK_SECRET).await;
    }
    app.outbox_idle().await;
    let mails = credit_note_mails(&app);
    assert_eq!(mails.len(), 2, "one email per credit note");
    let first_mail = mails.iter().find(|m| m.contains("REMIT-CN-000001")).expect("the first note's email");
    assert!(first_mail.contains("Subject: Remit refunded 25.00 USD: credit note REMIT-CN-000001"), "{first_mail}");
    assert!(first_mail.contains("credit-note-REMIT-CN-000001.pdf") && first_mail.contains("application/pdf"));

    let payment_body: Value = app.api_get(&format!("/api/v1/payments/{payment}")).await.json().await.unwrap();
    let receipt = download(&app, payment_body["receipt_url"].as_str().unwrap()).await;
    let refunded_on = issued.trim_start_matches("Date issued ");
    let refunds_part = &receipt[receipt.iter().position(|l| l.starts_with("Payment method")).unwrap() + 1..];
    assert_eq!(
        refunds_part[..5],
        [
            format!("Refunded 25.00 USD on {refunded_on}"),
            "Credit note REMIT-CN-000001".to_owned(),
            format!("Refunded 10.00 USD on {refunded_on}"),
            "Credit note REMIT-CN-000002".to_owned(),
            "Refunded in all 35.00 USD".to_owned(),
        ]
    );
}

#[tokio::test]
async fn zero_and_three_decimal_credit_notes_show_their_own_decimals() {
    let app = TestApp::spawn().await;
    let refunded = |id: &str, intent: &str, amount: i64, currency: &str| {
        let refund = json!({ "id": id, "object": "refund", "amount": amount, "currency": currency,
                             "payment_intent": intent, "status": "succeeded", "reason": "duplicate", "metadata": {} });
        event(&format!("evt_{id}"), "refund.created", refund)
    };
    let mut yen = link_request();
    yen["currency"] = json!("JPY");
    yen["amount"] = json!("5000");
    let (yen_payment, _) = paid(&app, yen, "pi_jpy").await;
    app.post_webhook(&refunded("re_jpy", "pi_jpy", 2_000, "jpy"), WEBHOOK_SECRET).await;
    let note = credited(&app, &yen_payment, 1).await;
    let text = download(&app, note[0]["credit_note_url"].as_str().unwrap()).await;
    for line in
        ["Amount paid 5000 JPY", "Amount credited 2000 JPY", "Reason Duplicate payment", "Refund reference re_jpy"]
    {
        assert!(text.contains(&line.to_owned()), "{line}: {text:?}");
    }

    let mut dinar = link_request();
    dinar["opportunity_id"] = json!("0065g00000KwDkW");
    dinar["currency"] = json!("KWD");
    dinar["amount"] = json!("12.34");
    let (dinar_payment, _) = paid(&app, dinar, "pi_kwd").await;
    app.post_webhook(&refunded("re_kwd", "pi_kwd", 1_230, "kwd"), WEBHOOK_SECRET).await;
    let note = credited(&app, &dinar_payment, 1).await;
    let text = download(&app, note[0]["credit_note_url"].as_str().unwrap()).await;
    for line in [
        "Amount paid 12.340 KWD",
        "Amount credited 1.230 KWD",
        "Credit note number REMIT-CN-000002 · for receipt REMIT-000002",
    ] {
        assert!(text.contains(&line.to_owned()), "{line}: {text:?}");
    }
}

#[tokio::test]
async fn a_refund_the_bank_returns_voids_its_credit_note_and_is_not_mailed_again() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    refund(&app, &payment, json!({ "amount": "25.00" }), None).await;
    let note = credited(&app, &payment, 1).await;
    let url = note[0]["credit_note_url"].as_str().unwrap().to_owned();
    let etag = app.client.get(&url).send().await.unwrap().headers()["etag"].to_str().unwrap().to_owned();
    app.stripe().fail_refund(app.stripe().refunds()[0]["id"].as_str().unwrap());
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{payment}'"), "paid").await;

    let changed = app.client.get(&url).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(changed.status(), 200, "a voided note is not the copy the browser has");
    let text = lines(&pdf_text(&changed.bytes().await.unwrap()));
    assert!(text.contains(&"Credit note (void)".to_owned()), "{text:?}");
    assert!(text.contains(&"Status Void: the bank returned this refund".to_owned()), "{text:?}");
    let payment_body: Value = app.api_get(&format!("/api/v1/payments/{payment}")).await.json().await.unwrap();
    let receipt = download(&app, payment_body["receipt_url"].as_str().unwrap()).await;
    let returned = ["Refund returned 25.00 USD, returned by the bank", "Credit note REMIT-CN-000001 (void)"];
    assert!(receipt.windows(2).any(|pair| pair == returned), "{receipt:?}");
    assert!(!receipt.iter().any(|l| l.starts_with("Refunded")), "nothing is refunded any more: {receipt:?}");
    app.outbox_idle().await;
    assert_eq!(credit_note_mails(&app).len(), 1);
}

#[tokio::test]
async fn the_payer_downloads_their_own_credit_notes_from_the_account_and_no_one_elses() {
    let app = TestApp::spawn().await;
    let payment = paid_payment(&app, "0065g00000AbCdE").await;
    refund(&app, &payment, json!({ "amount": "25.00" }), None).await;
    let note = credited(&app, &payment, 1).await;
    let refund_id = note[0]["refund_id"].as_str().unwrap();

    let ana = browser();
    sign_in(&app, &ana, "ana@example.com").await;
    let html = ana.get(format!("{}/account", app.address)).send().await.unwrap().text().await.unwrap();
    let own = format!("/account/credit-notes/{refund_id}.pdf");
    assert!(html.contains(&own) && html.contains("Download credit note REMIT-CN-000001"), "{html}");
    assert!(html.contains("Refunded 25.00 USD"), "{html}");
    let response = ana.get(format!("{}{own}", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = lines(&pdf_text(&response.bytes().await.unwrap()));
    assert!(text.contains(&"Amount credited 25.00 USD".to_owned()), "{text:?}");

    let mut other = link_request();
    other["opportunity_id"] = json!("0065g00000Oth01");
    other["payer_email"] = json!("bo@example.com");
    other.as_object_mut().unwrap().remove("account_id");
    app.post_link(&other).await;
    let bo = browser();
    sign_in(&app, &bo, "bo@example.com").await;
    let response = bo.get(format!("{}{own}", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 404, "another payer's credit note is not found");
    let anonymous = app.client.get(format!("{}{own}", app.address)).send().await.unwrap();
    assert_eq!(anonymous.status(), 404);
    for path in ["/credit-notes/00000000000000000000000000000000.pdf", "/credit-notes/nothing"] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn a_bank_refund_waits_pending_and_gets_its_credit_note_once_the_bank_completes_it() {
    let app = TestApp::spawn().await;
    let mut request = link_request();
    request["opportunity_id"] = json!("0065g00000Bank1");
    let link: Value = app.post_link(&request).await.json().await.unwrap();
    let location = app.checkout_location(link["url"].as_str().unwrap()).await;
    app.client.post(location).form(&[("outcome", "debit_settles")]).send().await.unwrap();
    let payment = link["payment_id"].as_str().unwrap().to_owned();
    let status_of = format!("SELECT status FROM payments WHERE id = '{payment}'");
    app.eventually(&status_of, "paid").await;

    let (status, body) = refund(&app, &payment, json!({ "amount": "25.00" }), None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::CREATED, Some("pending")), "{body}");
    // The refund's events have been applied (Stripe counts a pending refund on the charge).
    app.eventually(&status_of, "partially_refunded").await;
    app.outbox_idle().await;
    let pending = refunds_of(&app, &payment).await;
    assert!(pending[0]["credit_note_url"].is_null(), "no credit note while the bank has not refunded: {pending:?}");
    assert!(credit_note_mails(&app).is_empty());

    let first = app.stripe().refunds()[0]["id"].as_str().unwrap().to_owned();
    app.stripe().complete_refund(&first);
    let completed = credited(&app, &payment, 1).await;
    assert_eq!(
        (completed[0]["status"].as_str(), completed[0]["credit_note_number"].as_str()),
        (Some("succeeded"), Some("REMIT-CN-000001"))
    );

    // One the bank returns while pending never gets a credit note.
    let (_, second) = refund(&app, &payment, json!({ "amount": "10.00" }), None).await;
    let second_id = second["refund_id"].as_str().unwrap();
    let made = app.stripe().refunds();
    let returned = made.iter().find(|r| r["metadata"]["remit_refund_id"] == second_id).unwrap()["id"].as_str().unwrap();
    app.stripe().fail_refund(returned);
    app.eventually(&format!("SELECT status FROM refunds WHERE id = '{second_id}'"), "failed").await;
    app.outbox_idle().await;
    let refunds = refunds_of(&app, &payment).await;
    let second = refunds.iter().find(|r| r["refund_id"] == second["refund_id"]).unwrap();
    assert_eq!((second["status"].as_str(), second["credit_note_number"].is_null()), (Some("failed"), true), "{second}");
    app.eventually(&status_of, "partially_refunded").await;
    assert_eq!(credit_note_mails(&app).len(), 1);
}
