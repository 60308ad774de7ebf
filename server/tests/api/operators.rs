//! `remit operator`: who may use the operator console, and as what.

use server::ops::operators::{Role, role_of};

use crate::helpers::TestApp;

async fn remit(app: &TestApp, args: &[&str], operators: &str) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_remit"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("REMIT_OPERATORS", operators)
        .output()
        .await
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

#[tokio::test]
async fn operators_are_added_listed_given_roles_and_removed() {
    let app = TestApp::spawn().await;
    let boss = "Boss@Example.com";
    let (ok, out, err) = remit(&app, &["operator", "add", "Ops@Example.COM", "--role", "admin"], boss).await;
    assert!(ok, "{err}");
    assert_eq!(out, "ops@example.com is an operator (admin)\n");
    let (ok, out, _) = remit(&app, &["operator", "add", "finance@example.com"], boss).await;
    assert!(ok);
    assert_eq!(out, "finance@example.com is an operator (viewer)\n", "viewer unless told otherwise");

    let (_, listed, _) = remit(&app, &["operator", "list"], boss).await;
    assert_eq!(
        listed,
        "admin    boss@example.com  (REMIT_OPERATORS)\nviewer   finance@example.com\nadmin    ops@example.com\n"
    );
    let configured = vec!["boss@example.com".to_owned()];
    assert_eq!(role_of(&app.db, &configured, "BOSS@example.com").await.unwrap(), Some(Role::Admin));
    assert_eq!(role_of(&app.db, &configured, "finance@example.com").await.unwrap(), Some(Role::Viewer));
    assert_eq!(role_of(&app.db, &configured, "stranger@example.com").await.unwrap(), None);

    // A role changes in place; a removed operator is no one.
    remit(&app, &["operator", "add", "finance@example.com", "--role", "admin"], boss).await;
    assert_eq!(role_of(&app.db, &configured, "finance@example.com").await.unwrap(), Some(Role::Admin));
    let (ok, out, _) = remit(&app, &["operator", "remove", "finance@example.com"], boss).await;
    assert!(ok && out.contains("no longer an operator"), "{out}");
    assert_eq!(role_of(&app.db, &configured, "finance@example.com").await.unwrap(), None);
    let (ok, _, err) = remit(&app, &["operator", "remove", "boss@example.com"], boss).await;
    assert!(!ok && err.contains("REMIT_OPERATORS is changed in the configuration"), "{err}");
}

#[tokio::test]
async fn a_bad_role_address_or_setting_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    let (ok, _, err) = remit(&app, &["operator", "add", "ops@example.com", "--role", "owner"], "").await;
    assert!(!ok && err.contains("neither admin nor viewer"), "{err}");
    let (ok, _, err) = remit(&app, &["operator", "add", "not-an-address"], "").await;
    assert!(!ok && err.contains("not-an-address"), "{err}");
    let (ok, _, err) = remit(&app, &["operator", "list"], "boss@example.com, nobody").await;
    assert!(!ok && err.contains("REMIT_OPERATORS"), "{err}");
    assert_eq!(app.count("SELECT COUNT(*) FROM operators").await, 0, "nothing was written");
}
