//! `recurring`: the pay button opens Checkout in subscription mode; the subscription's life
//! (renewals paid and failed, cancel) is mirrored in Salesforce, each paid renewal a payment of
//! its own.

use serde_json::{Value, json};

use crate::helpers::{TestApp, link_request};

const OPPORTUNITY: &str = "0065g00000AbCdEAAV";
const ACCOUNT: &str = "0015g00000XyZaBAAV";

fn monthly_request() -> Value {
    let mut request = link_request();
    request["amount"] = json!("20.00");
    request["recurring"] = json!({ "interval": "month" });
    request["send_email"] = json!(true);
    request
}

/// The Checkout session the pay link opens, and its id.
async fn checkout_session(app: &TestApp, pay_url: &str) -> (String, Value) {
    let location = app.checkout_location(pay_url).await;
    let id = location.rsplit('/').next().unwrap().to_owned();
    let session = app.stripe().session(&id).expect("the session the pay button made");
    (location, session)
}

fn record<'a>(records: &'a [Value], id: &str) -> &'a Value {
    records.iter().find(|r| r["Id"] == id).unwrap_or_else(|| panic!("no record {id}"))
}

#[tokio::test]
async fn a_recurring_link_opens_checkout_in_subscription_mode_once_per_opportunity() {
    let app = TestApp::spawn().await;
    let response = app.post_link(&monthly_request()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let (_, session) = checkout_session(&app, body["url"].as_str().unwrap()).await;
    assert_eq!(session["mode"], "subscription");
    assert_eq!(session["customer"], app.stripe().customers()[0]["id"], "the Account's customer");
    assert_eq!(session["metadata"]["remit_payment_id"], body["payment_id"]);

    // The pay page says what the payer signs up for.
    let page = app.client.get(body["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Every month, until you cancel"), "{page}");
    // Saved twice in Salesforce: the same payment, the same link.
    let again = app.post_link(&monthly_request()).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!((&again["payment_id"], &again["url"]), (&body["payment_id"], &body["url"]));

    // A new amount before the payer subscribed: the open session is expired, the next shows it.
    let mut changed = monthly_request();
    changed["amount"] = json!("25.00");
    changed["recurring"] = json!({ "interval": "week", "interval_count": 2, "trial_days": 14 });
    let changed = app.post_link(&changed).await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["payment_id"], body["payment_id"]);
    assert_eq!(changed["amount_minor"], 2500);
    let (_, session) = checkout_session(&app, body["url"].as_str().unwrap()).await;
    assert_eq!(session["amount_total"], 2500);
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 1);
    let (interval, count, trial): (String, i64, i64) =
        sqlx::query_as("SELECT recurring_interval, recurring_interval_count, trial_days FROM payments")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((interval.as_str(), count, trial), ("week", 2, 14));
}

#[tokio::test]
async fn a_recurring_request_names_what_is_wrong_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let cases: [(Value, &str); 5] = [
        (json!({ "interval": "fortnight" }), "recurring.interval"),
        (json!({ "interval_count": 2 }), "recurring.interval"),
        (json!({ "interval": "month", "interval_count": 37 }), "recurring.interval_count"),
        (json!({ "interval": "month", "trial_days": 731 }), "recurring.trial_days"),
        (json!({ "interval": "month", "cycles": 0 }), "recurring.cycles"),
    ];
    for (recurring, field) in cases {
        let mut request = monthly_request();
        request["recurring"] = recurring.clone();
        let response = app.post_link(&request).await;
        assert_eq!(response.status(), 422, "{recurring}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{recurring}: {body}");
    }
    // A field the API does not know is refused by name, as at the top level.
    let mut unknown = monthly_request();
    unknown["recurring"] = json!({ "interval": "month", "every": 2 });
    let response = app.post_link(&unknown).await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("every"), "{text}");
    let mut invoice = monthly_request();
    invoice["collection"] = json!("invoice");
    let body: Value = app.post_link(&invoice).await.json().await.unwrap();
    assert_eq!(body["error"]["field"], "recurring", "{body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 0);
    assert!(app.stripe().customers().is_empty() || app.stripe().subscriptions().is_empty());
}

#[tokio::test]
async fn a_subscription_active_past_due_active_then_canceled_is_mirrored_in_salesforce() {
    let app = TestApp::spawn().await;
    let body: Value = app.post_link(&monthly_request()).await.json().await.unwrap();
    let link = body["payment_id"].as_str().unwrap().to_owned();
    let (location, _) = checkout_session(&app, body["url"].as_str().unwrap()).await;
    app.client.post(&location).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{link}'"), "paid").await;
    let subscription = app.stripe().subscriptions()[0]["id"].as_str().unwrap().to_owned();
    app.eventually("SELECT status FROM subscriptions", "active").await;
    app.outbox_idle().await;

    let mails: Vec<String> = std::fs::read_dir(&app.mail_dir)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    let link_mail = mails.iter().find(|m| m.contains("Subject: Payment request")).expect("the link was emailed");
    assert!(link_mail.contains("Billed: Every month, until you cancel"), "{link_mail}");

    let org = app.salesforce();
    let opportunity = record(&org.records("Opportunity"), OPPORTUNITY).clone();
    assert_eq!(opportunity["Stripe_Subscription_ID__c"], subscription.as_str());
    assert_eq!((opportunity["MRR__c"].as_f64(), opportunity["ARR__c"].as_f64()), (Some(20.0), Some(240.0)));
    assert_eq!(opportunity["StageName"], "Closed Won", "won on the first paid invoice");
    assert_eq!(record(&org.records("Account"), ACCOUNT)["Subscription_Status__c"], "Active");
    let payments = org.records("Payment__c");
    assert_eq!(payments.len(), 1);
    assert_eq!(
        (payments[0]["Kind__c"].as_str(), &payments[0]["Stripe_Subscription_ID__c"]),
        (Some("Subscription"), &json!(subscription))
    );

    // Renewed: a second payment, paid, with its own receipt.
    assert!(app.stripe().renew_subscription(&subscription, true));
    app.eventually(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM payments WHERE renewal_of = '{link}'"), "1").await;
    app.outbox_idle().await;
    let renewals =
        app.count("SELECT COUNT(*) FROM payments WHERE renewal_of IS NOT NULL AND receipt_number IS NOT NULL").await;
    assert_eq!(renewals, 1);

    // Declined at the next renewal: past due, one High Task with the amount and the next retry.
    assert!(app.stripe().renew_subscription(&subscription, false));
    app.eventually("SELECT status FROM subscriptions", "past_due").await;
    app.outbox_idle().await;
    assert_eq!(record(&app.salesforce().records("Account"), ACCOUNT)["Subscription_Status__c"], "Past Due");
    let failed = |org: &sandbox::Salesforce| -> Vec<Value> {
        org.records("Task")
            .into_iter()
            .filter(|t| t["Subject"] == "Payment Failed - Immediate Action Required")
            .collect()
    };
    let failures = failed(app.salesforce());
    assert_eq!(failures.len(), 1);
    let description = failures[0]["Description"].as_str().unwrap();
    assert!(description.contains("Amount due: 20.00 USD"), "{description}");
    assert!(description.contains("Stripe tries again on"), "{description}");
    assert!(description.contains("Reason code: generic_decline"), "the decline behind it: {description}");
    assert_eq!(failures[0]["Priority"], "High");

    // The retry is paid: active again, a third payment; the failure keeps its one Task.
    let invoice = app.stripe().subscriptions()[0]["latest_invoice"].as_str().unwrap().to_owned();
    assert!(app.stripe().pay_invoice(&invoice, true));
    app.eventually(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM payments WHERE renewal_of = '{link}'"), "2").await;
    app.eventually("SELECT status FROM subscriptions", "active").await;
    app.outbox_idle().await;
    assert_eq!(failed(app.salesforce()).len(), 1);
    assert_eq!(record(&app.salesforce().records("Account"), ACCOUNT)["Subscription_Status__c"], "Active");
    assert_eq!(app.salesforce().records("Payment__c").len(), 3);

    // Canceled: the owner hears of it, the revenue is gone, every transition is logged once.
    assert!(app.stripe().cancel_subscription(&subscription));
    app.eventually("SELECT status FROM subscriptions", "canceled").await;
    app.outbox_idle().await;
    let org = app.salesforce();
    assert_eq!(record(&org.records("Account"), ACCOUNT)["Subscription_Status__c"], "Canceled");
    let opportunity = record(&org.records("Opportunity"), OPPORTUNITY).clone();
    assert_eq!((opportunity["MRR__c"].as_f64(), opportunity["ARR__c"].as_f64()), (Some(0.0), Some(0.0)));
    let tasks = org.records("Task");
    let canceled: Vec<&Value> = tasks.iter().filter(|t| t["Subject"] == "Subscription Canceled").collect();
    assert_eq!(canceled.len(), 1);
    assert_eq!(canceled[0]["Status"], "Not Started");
    let logged: Vec<&str> =
        tasks.iter().filter(|t| t["Status"] == "Completed").map(|t| t["Subject"].as_str().unwrap()).collect();
    let mut logged_sorted = logged.clone();
    logged_sorted.sort_unstable();
    assert_eq!(
        logged_sorted,
        [
            "Subscription status: Active",
            "Subscription status: Active",
            "Subscription status: Canceled",
            "Subscription status: Past Due"
        ],
        "{logged:?}"
    );
    // Each renewal is one more Payment__c on the Opportunity, none twice.
    let payments = org.records("Payment__c");
    assert_eq!(payments.len(), 3);
    assert!(payments.iter().all(|p| p["Kind__c"] == "Subscription" && p["Payment_Status__c"] == "Paid"));
    assert!(payments.iter().all(|p| p["Opportunity__c"] == OPPORTUNITY));
}

#[tokio::test]
async fn a_free_trial_is_not_paid_until_its_first_invoice_collects_money() {
    let app = TestApp::spawn().await;
    let mut request = monthly_request();
    request["recurring"] = json!({ "interval": "month", "trial_days": 7 });
    let body: Value = app.post_link(&request).await.json().await.unwrap();
    let link = body["payment_id"].as_str().unwrap().to_owned();
    let (location, session) = checkout_session(&app, body["url"].as_str().unwrap()).await;
    assert_eq!(session["mode"], "subscription");
    app.client.post(&location).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    app.eventually("SELECT status FROM subscriptions", "trialing").await;
    app.outbox_idle().await;
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{link}'"), "processing").await;
    assert_eq!(record(&app.salesforce().records("Account"), ACCOUNT)["Subscription_Status__c"], "Trialing");
    let opportunity = record(&app.salesforce().records("Opportunity"), OPPORTUNITY).clone();
    assert_ne!(opportunity["StageName"], "Closed Won");
    assert_eq!(opportunity["MRR__c"].as_f64(), Some(0.0), "a trial brings no revenue yet");

    let subscription = app.stripe().subscriptions()[0]["id"].as_str().unwrap().to_owned();
    assert!(app.stripe().renew_subscription(&subscription, true));
    app.eventually(&format!("SELECT status FROM payments WHERE id = '{link}'"), "paid").await;
    app.outbox_idle().await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM payments WHERE renewal_of IS NOT NULL").await,
        0,
        "the trial's end paid the link"
    );
    let opportunity = record(&app.salesforce().records("Opportunity"), OPPORTUNITY).clone();
    assert_eq!(opportunity["StageName"], "Closed Won");
    assert_eq!(opportunity["MRR__c"].as_f64(), Some(20.0));
}

#[tokio::test]
async fn the_payers_account_lists_the_subscription_and_manage_opens_the_customer_portal() {
    use crate::accounts::{browser, csrf, post_form, sign_in};
    let app = TestApp::spawn().await;
    let body: Value = app.post_link(&monthly_request()).await.json().await.unwrap();
    let (location, _) = checkout_session(&app, body["url"].as_str().unwrap()).await;
    app.client.post(&location).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    app.eventually("SELECT status FROM subscriptions", "active").await;
    let subscription = app.stripe().subscriptions()[0]["id"].as_str().unwrap().to_owned();
    assert!(app.stripe().renew_subscription(&subscription, true));
    app.eventually("SELECT CAST(COUNT(*) AS TEXT) FROM payments WHERE renewal_of IS NOT NULL", "1").await;

    let ana = browser();
    sign_in(&app, &ana, "ana@example.com").await;
    let page = ana.get(format!("{}/account", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Subscriptions"), "{page}");
    assert!(page.contains("20.00 USD every month"), "{page}");
    assert!(page.contains("Active"), "{page}");
    assert!(page.contains("Next payment"), "{page}");
    assert_eq!(page.matches("Download receipt").count(), 2, "the first payment and the renewal each have one");

    let token = csrf(&app, &ana, "/account").await;
    let managed =
        post_form(&app, &ana, "/fn/manage-subscription", &[("subscription", &subscription), ("csrf", &token)]).await;
    assert_eq!(managed.status(), 303);
    let portal = managed.headers()["location"].to_str().unwrap().to_owned();
    assert!(portal.starts_with(app.stripe_url()), "{portal}");
    // The portal cancels it; the account shows it ended.
    let portal_page = app.client.get(&portal).send().await.unwrap().text().await.unwrap();
    assert!(portal_page.contains(&subscription), "{portal_page}");
    app.client.post(&portal).form(&[("subscription", subscription.as_str())]).send().await.unwrap();
    app.eventually("SELECT status FROM subscriptions", "canceled").await;
    let page = ana.get(format!("{}/account", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Canceled") && !page.contains("Manage"), "{page}");

    // Someone else cannot open a portal for it, nor can a form without the session's token.
    let ben = browser();
    let mut other = link_request();
    other["opportunity_id"] = json!("0065g00000Oth01");
    other["payer_email"] = json!("ben@example.com");
    app.post_link(&other).await;
    sign_in(&app, &ben, "ben@example.com").await;
    let token = csrf(&app, &ben, "/account").await;
    let refused =
        post_form(&app, &ben, "/fn/manage-subscription", &[("subscription", &subscription), ("csrf", &token)]).await;
    assert_eq!(refused.headers()["location"], "/account?problem=subscription");
    let forged =
        post_form(&app, &ana, "/fn/manage-subscription", &[("subscription", &subscription), ("csrf", "x")]).await;
    assert_eq!(forged.headers()["location"], "/account?problem=expired");
}

#[tokio::test]
async fn a_link_for_two_cycles_ends_its_subscription_once_both_are_paid() {
    let app = TestApp::spawn().await;
    let mut request = monthly_request();
    request["recurring"] = json!({ "interval": "month", "cycles": 2 });
    let body: Value = app.post_link(&request).await.json().await.unwrap();
    let (location, _) = checkout_session(&app, body["url"].as_str().unwrap()).await;
    app.client.post(&location).form(&[("outcome", "card_succeeds")]).send().await.unwrap();
    app.eventually("SELECT status FROM subscriptions", "active").await;
    app.outbox_idle().await;
    let subscription = app.stripe().subscriptions()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.stripe().subscriptions()[0]["cancel_at_period_end"], false, "one of two paid");

    assert!(app.stripe().renew_subscription(&subscription, true));
    app.eventually("SELECT CAST(cancel_at_period_end AS TEXT) FROM subscriptions", "1").await;
    assert_eq!(app.stripe().subscriptions()[0]["cancel_at_period_end"], true, "Remit told Stripe");

    // The second period ends: Stripe ends the subscription instead of billing a third.
    assert!(app.stripe().renew_subscription(&subscription, true));
    app.eventually("SELECT status FROM subscriptions", "canceled").await;
    app.outbox_idle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 2, "two paid periods, two payments");
    let invoices = app.stripe().invoices();
    assert_eq!(invoices.iter().filter(|i| i["status"] == "paid").count(), 2);
    let end_jobs = app.count("SELECT COUNT(*) FROM outbox_done WHERE kind = 'end_subscription'").await;
    assert_eq!(end_jobs, 1, "told once");
}
