//! `remit payments export`: finance's CSV, byte for byte, for a USD, a JPY and a KWD payment, and
//! its filters.

use serde_json::json;

use crate::{
    helpers::{TestApp, link_request},
    receipts::paid,
};

/// 2026-12-01T00:00:00Z and 2026-12-01T09:30:00Z, in Unix ms.
const DECEMBER_FIRST: i64 = 1_796_083_200_000;
const HALF_PAST_NINE: i64 = DECEMBER_FIRST + 34_200_000;

pub(crate) async fn export(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_remit"))
        .args(["payments", "export"])
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("REMIT_MAIL_DIR", app.mail_dir.display().to_string())
        .output()
        .await
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

/// A paid payment created and paid at known times, so its line can be written out in full.
pub(crate) async fn paid_at_known_times(
    app: &TestApp,
    opportunity: &str,
    amount: &str,
    currency: &str,
    day: i64,
) -> String {
    let mut request = link_request();
    request["opportunity_id"] = json!(opportunity);
    request["amount"] = json!(amount);
    request["currency"] = json!(currency);
    let (id, _) = paid(app, request, &format!("pi_{}", currency.to_lowercase())).await;
    sqlx::query("UPDATE payments SET created_at = $1, paid_at = $2 WHERE id = $3")
        .bind(DECEMBER_FIRST + day * 86_400_000)
        .bind(HALF_PAST_NINE + day * 86_400_000)
        .bind(&id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn the_csv_has_every_payment_in_its_currencys_decimals_and_filters_narrow_it() {
    let app = TestApp::spawn().await;
    let usd = paid_at_known_times(&app, "0065g00000Exp01", "125.00", "USD", 0).await;
    let jpy = paid_at_known_times(&app, "0065g00000Exp02", "5000", "JPY", 1).await;
    let kwd = paid_at_known_times(&app, "0065g00000Exp03", "12.34", "KWD", 2).await;
    let mut open = link_request();
    open["opportunity_id"] = json!("0065g00000Exp04");
    open["payer_name"] = json!("Lima, \"Ana\"");
    let open: serde_json::Value = app.post_link(&open).await.json().await.unwrap();
    sqlx::query("UPDATE payments SET created_at = $1 WHERE id = $2")
        .bind(DECEMBER_FIRST - 86_400_000)
        .bind(open["payment_id"].as_str().unwrap())
        .execute(&app.db.pool)
        .await
        .unwrap();
    app.outbox_idle().await;

    let (ok, csv, stderr) = export(&app, &["--status", "paid"]).await;
    assert!(ok, "{stderr}");
    // Salesforce ids as Remit keeps them: 18 characters.
    let line = |id: &str, day: u8, currency: &str, amount: &str, number: u8, intent: &str| {
        format!(
            "{id},2026-12-0{day}T00:00:00Z,2026-12-0{day}T09:30:00Z,paid,remit,{currency},{amount},,{zero},\
             ana@example.com,Ana Lima,Annual membership,0065g00000Exp0{number}AAB,0015g00000XyZaBAAV,REMIT-00000{number},{intent}\r\n",
            zero = if currency == "JPY" {
                "0"
            } else if currency == "KWD" {
                "0.000"
            } else {
                "0.00"
            },
        )
    };
    let expected = [
        "payment_id,created_at,paid_at,status,brand,currency,amount,paid_amount,refunded,payer_email,payer_name,\
         description,opportunity_id,account_id,receipt_number,stripe_payment_intent_id\r\n"
            .to_owned(),
        line(&usd, 1, "USD", "125.00", 1, "pi_usd"),
        line(&jpy, 2, "JPY", "5000", 2, "pi_jpy"),
        line(&kwd, 3, "KWD", "12.340", 3, "pi_kwd"),
    ]
    .concat();
    assert_eq!(csv, expected);
    assert!(stderr.contains("3 payment(s) exported"), "{stderr}");

    let (_, yen, _) = export(&app, &["--currency", "jpy"]).await;
    assert_eq!(yen.lines().count(), 2, "{yen}");
    assert!(yen.contains(&jpy));
    let (_, days, _) = export(&app, &["--from", "2026-12-02", "--to", "2026-12-02"]).await;
    assert_eq!(days.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect::<Vec<_>>(), [jpy.as_str()]);
    let (_, everything, _) = export(&app, &[]).await;
    let open_id = open["payment_id"].as_str().unwrap();
    let open_line = everything.lines().find(|l| l.starts_with(open_id)).expect("the open payment is exported");
    assert!(open_line.contains(",open,remit,USD,125.00,,0.00,ana@example.com,\"Lima, \"\"Ana\"\"\","), "{open_line}");

    let (ok, _, stderr) = export(&app, &["--status", "settled"]).await;
    assert!(!ok && stderr.contains("status \"settled\" is not one of"), "{stderr}");
}
