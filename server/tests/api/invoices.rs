//! `collection: "invoice"`: Remit issues a Stripe invoice for the Opportunity instead of a
//! Checkout session, answers with its hosted page, reissues it when the amount changes (never
//! two open), and mirrors it in Salesforce once paid.

use serde_json::{Value, json};

use crate::helpers::{TestApp, link_request};

fn invoice_request() -> Value {
    let mut request = link_request();
    request["collection"] = json!("invoice");
    request["days_until_due"] = json!(14);
    request
}

async fn open_invoices(app: &TestApp) -> Vec<Value> {
    app.stripe().invoices().into_iter().filter(|i| i["status"] == "open").collect()
}

#[tokio::test]
async fn an_invoice_link_is_issued_sent_and_answered_with_its_hosted_page_once_per_opportunity() {
    let app = TestApp::spawn().await;
    let response = app.post_link(&invoice_request()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let invoices = app.stripe().invoices();
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    assert_eq!(body["url"], invoice["hosted_invoice_url"], "{body}");
    assert_eq!(
        body["message"],
        format!("Here is your payment link: {}", invoice["hosted_invoice_url"].as_str().unwrap())
    );
    assert_eq!(invoice["status"], "open");
    assert_eq!((invoice["amount_due"].as_i64(), invoice["currency"].as_str()), (Some(12_500), Some("usd")));
    assert_eq!(invoice["collection_method"], "send_invoice");
    assert_eq!(invoice["days_until_due"], 14);
    assert_eq!(invoice["metadata"]["remit_payment_id"], body["payment_id"]);
    let customer = &app.stripe().customers()[0];
    assert_eq!(invoice["customer"], customer["id"], "the Account's customer");
    let sent = app.stripe_events("type=invoice.sent").await;
    assert_eq!(sent.len(), 1, "Stripe emails it");

    // The same request again (Salesforce saved the Opportunity twice): the same invoice.
    let again = app.post_link(&invoice_request()).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!((&again["payment_id"], &again["url"]), (&body["payment_id"], &body["url"]));
    assert_eq!(app.stripe().invoices().len(), 1);

    // The pay link leads to the invoice too.
    let pay_url = format!("{}/pay/", app.address);
    let (token,): (String,) = sqlx::query_as("SELECT pay_token FROM payments").fetch_one(&app.db.pool).await.unwrap();
    let pressed = app.press_pay(&format!("{pay_url}{token}")).await;
    assert_eq!(pressed.status(), 303);
    assert_eq!(pressed.headers()["location"], invoice["hosted_invoice_url"].as_str().unwrap());

    // Salesforce hears of the invoice.
    app.outbox_idle().await;
    let opportunity =
        app.salesforce().records("Opportunity").into_iter().find(|o| o["Id"] == "0065g00000AbCdEAAV").unwrap();
    assert_eq!(opportunity["Stripe_Invoice_ID__c"], invoice["id"]);
    assert_eq!(opportunity["Stripe_Invoice_URL__c"], invoice["hosted_invoice_url"]);
    assert_eq!(opportunity["Payment_Status__c"], "Pending");
    let payment = &app.salesforce().records("Payment__c")[0];
    assert_eq!((payment["Kind__c"].as_str(), &payment["Stripe_Invoice_ID__c"]), (Some("Invoice"), &invoice["id"]));
}

#[tokio::test]
async fn a_new_amount_before_payment_voids_the_invoice_and_issues_one_in_its_place() {
    let app = TestApp::spawn().await;
    let first: Value = app.post_link(&invoice_request()).await.json().await.unwrap();
    let mut changed = invoice_request();
    changed["amount"] = json!("150.00");
    let second = app.post_link(&changed).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["payment_id"], first["payment_id"]);
    assert_ne!(second["url"], first["url"]);
    let invoices = app.stripe().invoices();
    assert_eq!(invoices.len(), 2);
    let replaced = invoices.iter().find(|i| i["hosted_invoice_url"] == first["url"]).unwrap();
    assert_eq!(replaced["status"], "void");
    let open = open_invoices(&app).await;
    assert_eq!(open.len(), 1, "never two open invoices");
    assert_eq!((open[0]["amount_due"].as_i64(), &open[0]["hosted_invoice_url"]), (Some(15_000), &second["url"]));

    // Back to the first amount: a third invoice, not the voided first one.
    let third: Value = app.post_link(&invoice_request()).await.json().await.unwrap();
    assert_eq!(app.stripe().invoices().len(), 3);
    let open = open_invoices(&app).await;
    assert_eq!((open.len(), open[0]["amount_due"].as_i64()), (1, Some(12_500)));
    assert_eq!(third["url"], open[0]["hosted_invoice_url"]);

    // Canceled: its invoice can no longer be paid.
    let payment = third["payment_id"].as_str().unwrap();
    assert_eq!(app.api_post(&format!("/api/v1/payments/{payment}/cancel"), &json!({})).await.status(), 200);
    assert!(open_invoices(&app).await.is_empty());
}

#[tokio::test]
async fn an_invoice_paid_on_its_hosted_page_after_a_declined_card_marks_the_opportunity_won() {
    let app = TestApp::spawn().await;
    let body: Value = app.post_link(&invoice_request()).await.json().await.unwrap();
    let invoice = app.stripe().invoices()[0]["id"].as_str().unwrap().to_owned();
    assert!(app.stripe().pay_invoice(&invoice, false), "declined");
    let payment = body["payment_id"].as_str().unwrap();
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{payment}'"), "failed").await;
    assert!(app.stripe().pay_invoice(&invoice, true));
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{payment}'"), "paid").await;
    app.outbox_idle().await;
    let opportunity =
        app.salesforce().records("Opportunity").into_iter().find(|o| o["Id"] == "0065g00000AbCdEAAV").unwrap();
    assert_eq!(
        (opportunity["Payment_Status__c"].as_str(), opportunity["StageName"].as_str()),
        (Some("Paid"), Some("Closed Won"))
    );
    let records = app.salesforce().records("Payment__c");
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0]["Payment_Status__c"].as_str(), records[0]["Kind__c"].as_str()),
        (Some("Paid"), Some("Invoice"))
    );
    let tasks = app.salesforce().records("Task");
    let failed: Vec<&Value> =
        tasks.iter().filter(|t| t["Subject"] == "Payment Failed - Immediate Action Required").collect();
    assert_eq!(failed.len(), 1);
    let description = failed[0]["Description"].as_str().unwrap();
    assert!(description.contains("Reason code: generic_decline"), "read from the invoice's payment: {description}");
    // A receipt, as for any payment.
    let (number,): (Option<i64>,) = sqlx::query_as("SELECT receipt_number FROM payments WHERE id = $1")
        .bind(payment)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert!(number.is_some());
    // A refund is Stripe's to make from the invoice: refused, saying so, and nothing recorded.
    let refund = app.api_post(&format!("/api/v1/payments/{payment}/refunds"), &json!({ "amount": "10.00" })).await;
    assert_eq!(refund.status(), 409);
    let refused: Value = refund.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "collected_by_invoice", "{refused}");
    assert_eq!(app.count("SELECT COUNT(*) FROM refunds").await, 0);
    // Paid: the same request now answers 409, and no new invoice is made.
    assert_eq!(app.post_link(&invoice_request()).await.status(), 409);
    assert_eq!(app.stripe().invoices().len(), 1);
}

#[tokio::test]
async fn an_invoice_request_names_what_is_wrong_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let cases: [(&str, Value, &str); 4] = [
        ("collection", json!("cheque"), "collection"),
        ("days_until_due", json!(400), "days_until_due"),
        ("account_id", Value::Null, "account_id"),
        ("expires_in_days", json!(3), "expires_in_days"),
    ];
    for (key, value, field) in cases {
        let mut request = invoice_request();
        request[key] = value;
        let response = app.post_link(&request).await;
        assert_eq!(response.status(), 422, "{key}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 0);
    assert!(app.stripe().invoices().is_empty());
}
