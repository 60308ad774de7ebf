//! Start-up failures: the real binary stops with one line that names the setting.

use std::process::Command;

fn remit(env: &[(&str, &str)]) -> (i32, String) {
    remit_command(&[], env)
}

fn remit_command(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_remit"))
        .args(args)
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
fn a_malformed_trusted_proxy_stops_startup_naming_it() {
    let (code, stderr) = remit(&[("REMIT_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal")]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim(),
        r#"configuration error: REMIT_TRUSTED_PROXIES: "proxy.internal" is not an IP address or CIDR block"#
    );
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

#[test]
fn the_first_sandbox_run_prints_a_curl_that_creates_a_payment_link_as_printed() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_remit"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REMIT_BIND", format!("127.0.0.1:{port}"))
        .env("REMIT_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut command = String::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.starts_with("curl") || !command.is_empty() {
            command.push_str(&line);
            command.push('\n');
            if !line.ends_with('\\') {
                break;
            }
        }
    }
    // The server may print before it listens: wait (bounded) for it to answer.
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let output = Command::new("bash").arg("-c").arg(&command).output().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let body: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {command} → {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(body["status"], "open", "{body}");
    assert!(body["url"].as_str().unwrap().starts_with(&format!("http://127.0.0.1:{port}/pay/")), "{body}");
}

#[test]
fn api_keys_are_created_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("keys.db").display());
    let remit = |args: &[&str]| {
        let output =
            Command::new(env!("CARGO_BIN_EXE_remit")).args(args).env_clear().env("DATABASE_URL", &db).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let created = remit(&["api-key", "create", "salesforce-flow"]);
    let key = created.lines().last().unwrap();
    assert!(key.starts_with("remit_") && key.len() > 40, "{created}");
    let id = created.split_whitespace().nth(2).unwrap();
    let listed = remit(&["api-key", "list"]);
    assert!(listed.contains(id) && listed.contains("active") && listed.contains("salesforce-flow"), "{listed}");
    assert!(!listed.contains(key), "a key is never shown again");
    remit(&["api-key", "revoke", id]);
    assert!(remit(&["api-key", "list"]).contains("revoked"));
}

#[test]
fn an_unreachable_postgresql_is_named_with_its_reason_and_never_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://remit@127.0.0.1:{port}/remit?password=hunter2&sslmode=disable");
    let (code, stderr) = remit_command(&["migrate"], &[("DATABASE_URL", &url)]);
    assert_ne!(code, 0);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn a_sqlite_url_that_cannot_be_opened_names_database_url() {
    let (code, stderr) = remit_command(&["migrate"], &[("DATABASE_URL", "sqlite:://bad url")]);
    assert_ne!(code, 0);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
