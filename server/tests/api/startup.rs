//! Start-up failures: the real binary stops with one line that names the setting.

use std::process::Command;

fn remit(env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_remit"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .output()
        .expect("remit runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_malformed_database_url_stops_startup_naming_it() {
    let (code, stderr) = remit(&[("DATABASE_URL", "mysql://localhost/remit")]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("configuration error: DATABASE_URL:"), "{stderr}");
}

#[test]
fn a_missing_private_key_file_stops_startup_naming_it() {
    let (code, stderr) = remit(&[
        ("STRIPE_SECRET_KEY", "sk_test_123"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_123"),
        ("SALESFORCE_CLIENT_ID", "3MVG9example"),
        ("SALESFORCE_USERNAME", "integration@example.org"),
    ]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("configuration error: SALESFORCE_PRIVATE_KEY_FILE:"), "{stderr}");
}

#[test]
fn an_unreadable_private_key_file_stops_startup_naming_it() {
    let (code, stderr) = remit(&[
        ("STRIPE_SECRET_KEY", "sk_test_123"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_123"),
        ("SALESFORCE_CLIENT_ID", "3MVG9example"),
        ("SALESFORCE_USERNAME", "integration@example.org"),
        ("SALESFORCE_PRIVATE_KEY_FILE", "/nonexistent/key.pem"),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.starts_with("configuration error: SALESFORCE_PRIVATE_KEY_FILE: cannot read"), "{stderr}");
}

#[test]
fn a_secret_never_appears_in_a_startup_error() {
    let (code, stderr) = remit(&[("STRIPE_SECRET_KEY", "pk_live_topsecretvalue")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("STRIPE_SECRET_KEY"), "{stderr}");
    assert!(!stderr.contains("topsecretvalue"), "{stderr}");
}

#[test]
fn migrate_creates_the_sqlite_database_on_a_fresh_machine() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let output = Command::new(env!("CARGO_BIN_EXE_remit"))
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(db.exists());
}
