//! The Salesforce package in `salesforce/` against what Remit writes: every mapped field is in it
//! with a compatible type and every picklist value Remit writes; the stand-in org, which reads its
//! schema from the package, refuses a field the package lacks; and `remit salesforce check` finds
//! an org in order, or says line by line what is missing.

use std::path::{Path, PathBuf};

use sandbox::{
    Sandbox, Schema,
    salesforce::schema::{FieldType, Object},
};
use server::{
    config::{FieldUse, SalesforceMapping},
    payments::PaymentStatus,
    sync::records::StatusLabels,
};

use crate::helpers::{TestApp, link_request};

fn package_objects() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../salesforce/force-app/main/default/objects")
}

fn holds(kind: FieldUse, field: FieldType) -> bool {
    use FieldType as T;
    match kind {
        FieldUse::Text => matches!(field, T::Text | T::TextArea | T::Url | T::Email | T::Picklist),
        FieldUse::Url => matches!(field, T::Url | T::Text | T::TextArea),
        FieldUse::Number => matches!(field, T::Number | T::Currency),
        FieldUse::Date => field == T::Date,
        FieldUse::DateTime => field == T::DateTime,
        FieldUse::Picklist => matches!(field, T::Picklist | T::Text),
        FieldUse::OpportunityLookup | FieldUse::ExternalId => {
            matches!(field, T::Reference | T::Text)
        }
    }
}

#[test]
fn every_field_and_picklist_value_the_default_mapping_writes_is_in_the_package() {
    let schema = Schema::package();
    let mapping = SalesforceMapping::default();
    let labels = StatusLabels::from_mapping(&mapping).unwrap();
    let object = |name: &str| -> &Object { schema.object(name).unwrap_or_else(|| panic!("no object {name}")) };
    for written in mapping.written_fields() {
        let field = object(written.object)
            .field(written.field)
            .unwrap_or_else(|| panic!("{}.{} is not in salesforce/", written.object, written.field));
        assert!(holds(written.kind, field.kind), "{}.{} is {:?}", written.object, written.field, field.kind);
        assert!(field.writable, "{}.{}", written.object, written.field);
        match written.kind {
            FieldUse::ExternalId => {
                assert!(field.external_id && field.unique && !field.case_sensitive, "{}", written.field);
                assert_eq!(field.kind, FieldType::Text);
            }
            FieldUse::OpportunityLookup => {
                assert_eq!(field.reference_to.as_deref(), Some(mapping.objects.opportunity.as_str()));
            }
            _ => {}
        }
    }
    for (object_name, field_name) in [
        (&mapping.objects.opportunity, &mapping.fields.opportunity_payment_status),
        (&mapping.objects.payment, &mapping.fields.payment_status),
    ] {
        let field = object(object_name).field(field_name).unwrap();
        assert!(field.restricted, "{object_name}.{field_name} is a restricted picklist");
        for status in PaymentStatus::ALL {
            let label = labels.label(status);
            assert!(field.picklist.contains(&label), "{object_name}.{field_name} lacks {label:?}");
        }
    }
    // Fields of later waves (DESIGN §6) are in the package too, with their picklist values.
    let payment = object("Payment__c");
    for name in ["Refunded_Amount__c", "Reminders_Sent__c", "Last_Reminder_At__c", "Stripe_Invoice_ID__c", "Kind__c"] {
        assert!(payment.field(name).is_some(), "Payment__c.{name}");
    }
    assert_eq!(payment.field("Kind__c").unwrap().picklist, ["One-time", "Subscription", "Invoice"]);
    let account = object("Account");
    assert_eq!(
        account.field("Subscription_Status__c").unwrap().picklist,
        ["Trialing", "Active", "Past Due", "Canceled", "Unpaid"]
    );
}

/// Copies the package's objects, leaving out one file.
fn package_without(file: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path, skip: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            let path = entry.path();
            let target = to.join(entry.file_name());
            if path.is_dir() {
                copy(&path, &target, skip);
            } else if !path.ends_with(skip) {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&package_objects(), dir.path(), Path::new(file));
    dir
}

#[tokio::test]
async fn a_field_removed_from_the_package_makes_the_sandbox_refuse_the_write_with_invalid_field() {
    let without = package_without("Payment__c/fields/Payment_Link_Full__c.field-meta.xml");
    let schema = Schema::with_package_dir(without.path()).unwrap();
    assert!(schema.object("Payment__c").unwrap().field("Payment_Link_Full__c").is_none());

    let app = TestApp::spawn().await;
    app.salesforce().set_schema(schema);
    let body: serde_json::Value = app.post_link(&link_request()).await.json().await.unwrap();
    let payment = body["payment_id"].as_str().unwrap();
    app.eventually(&format!("SELECT status FROM outbox WHERE dedupe_key = 'sync_payment:{payment}'"), "dead").await;
    let (error,): (String,) =
        sqlx::query_as("SELECT last_error FROM outbox WHERE status = 'dead'").fetch_one(&app.db.pool).await.unwrap();
    assert!(error.contains("INVALID_FIELD") && error.contains("Payment_Link_Full__c"), "{error}");
    assert!(app.salesforce().records("Payment__c").is_empty(), "nothing half-written");
}

/// `remit salesforce check` with these settings: its exit code and what it printed.
async fn salesforce_check(env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_remit"))
        .args(["salesforce", "check"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .output()
        .await
        .expect("remit runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

fn live_env(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    let credentials = sandbox::SalesforceCredentials::default();
    vec![
        ("STRIPE_SECRET_KEY", sandbox::STRIPE_SECRET_KEY.into()),
        ("STRIPE_WEBHOOK_SECRET", "whsec_check".into()),
        ("STRIPE_API_BASE", sandbox.stripe_url.clone()),
        ("SALESFORCE_LOGIN_URL", sandbox.salesforce_url.clone()),
        ("SALESFORCE_CLIENT_ID", credentials.client_id),
        ("SALESFORCE_CLIENT_SECRET", credentials.client_secret),
    ]
}

#[tokio::test]
async fn salesforce_check_finds_the_sandbox_org_in_order() {
    let (code, out) = salesforce_check(&[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().count() > 25, "{out}");
    assert!(out.lines().all(|line| line.starts_with("ok ")), "{out}");
    assert!(out.contains("ok       Payment__c.Remit_Payment_ID__c (string)"), "{out}");
    assert!(out.contains("ok       won stage Closed Won"), "{out}");
}

#[tokio::test]
async fn salesforce_check_names_a_missing_field_picklist_value_and_external_id_and_fails() {
    let sandbox = Sandbox::spawn().await.unwrap();
    sandbox.salesforce.set_schema(
        Schema::package()
            .without_field("Payment__c", "Receipt_URL__c")
            .without_picklist_value("Opportunity", "Payment_Status__c", "Disputed")
            .without_external_id("Task", "Remit_Attempt_ID__c"),
    );
    let env = live_env(&sandbox);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, out) = salesforce_check(&env).await;
    assert_ne!(code, 0, "{out}");
    let problems: Vec<&str> = out.lines().filter(|line| !line.starts_with("ok ")).collect();
    assert_eq!(problems.len(), 3, "{out}");
    assert!(problems[0].starts_with("missing  Opportunity.Payment_Status__c value \"Disputed\": "), "{out}");
    assert!(problems[1].starts_with("missing  Payment__c.Receipt_URL__c: "), "{out}");
    assert!(problems[1].contains("salesforce.fields.payment_receipt_url"), "{out}");
    assert!(problems[2].starts_with("missing  Task.Remit_Attempt_ID__c: not an external id"), "{out}");
}

#[tokio::test]
async fn remit_serve_logs_what_the_org_lacks_and_starts_anyway() {
    let sandbox = Sandbox::spawn().await.unwrap();
    sandbox.salesforce.set_schema(Schema::package().without_field("Payment__c", "Paid_At__c"));
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let mut env = live_env(&sandbox);
    env.push(("REMIT_BIND", bind.clone()));
    env.push(("REMIT_LOG_FORMAT", "json".into()));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_remit"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("remit starts");
    let mut logs = String::new();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio_stream_lines(stdout, stderr);
    while let Some(line) = lines.recv().await {
        logs.push_str(&line);
        logs.push('\n');
        if line.contains("Salesforce check found problems") {
            break;
        }
    }
    assert!(logs.contains("Payment__c.Paid_At__c: no such field"), "{logs}");
    // The check runs beside start-up; the listener may open a moment after it reports.
    let mut health = None;
    for _ in 0..400 {
        if let Ok(response) = reqwest::get(format!("http://{bind}/healthz")).await {
            health = Some(response.status());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(health, Some(reqwest::StatusCode::OK), "Remit serves despite the problem");
    child.kill().await.unwrap();
}

/// Both output streams of a child, line by line.
fn tokio_stream_lines(
    stdout: tokio::process::ChildStdout,
    stderr: tokio::process::ChildStderr,
) -> tokio::sync::mpsc::Receiver<String> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let (send, receive) = tokio::sync::mpsc::channel(64);
    let out = send.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = out.send(line).await;
        }
    });
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = send.send(line).await;
        }
    });
    receive
}

/// Each metadata file of the package, with the root element its suffix calls for.
#[test]
fn every_metadata_file_parses_as_the_type_its_name_says() {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out)
            } else if path.to_string_lossy().ends_with("-meta.xml") {
                out.push(path)
            }
        }
    }
    let roots = [
        (".field-meta.xml", "CustomField"),
        (".object-meta.xml", "CustomObject"),
        (".listView-meta.xml", "ListView"),
        (".layout-meta.xml", "Layout"),
        (".permissionset-meta.xml", "PermissionSet"),
        (".externalCredential-meta.xml", "ExternalCredential"),
        (".namedCredential-meta.xml", "NamedCredential"),
        (".externalServiceRegistration-meta.xml", "ExternalServiceRegistration"),
        (".flow-meta.xml", "Flow"),
        (".quickAction-meta.xml", "QuickAction"),
        (".reportType-meta.xml", "ReportType"),
        (".report-meta.xml", "Report"),
        (".reportFolder-meta.xml", "ReportFolder"),
        (".labels-meta.xml", "CustomLabels"),
    ];
    let mut all = Vec::new();
    files(&package_objects().join(".."), &mut all);
    assert!(all.len() > 40, "{} files", all.len());
    for path in all {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (_, root) =
            roots.iter().find(|(suffix, _)| name.ends_with(suffix)).unwrap_or_else(|| panic!("{name}: unknown type"));
        let xml = std::fs::read_to_string(&path).unwrap();
        let document = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let element = document.root_element();
        assert_eq!(element.tag_name().name(), *root, "{name}");
        assert_eq!(element.tag_name().namespace(), Some("http://soap.sforce.com/2006/04/metadata"), "{name}");
    }
}

/// What the Flows and the quick action refer to exists in the package.
#[test]
fn the_flows_refer_to_what_the_package_installs() {
    let root = package_objects().join("..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let action = read("quickActions/Opportunity.Send_Payment_Link.quickAction-meta.xml");
    assert!(action.contains("<flowDefinition>Remit_Send_Payment_Link</flowDefinition>"));
    let screen = read("flows/Remit_Send_Payment_Link.flow-meta.xml");
    assert!(screen.contains("<flowName>Remit_Get_Payment_Link</flowName>"));
    for flow in ["flows/Remit_Get_Payment_Link.flow-meta.xml", "flows/Remit_Request_Payment_Link.flow-meta.xml"] {
        let text = read(flow);
        assert!(text.contains("<actionName>Remit.createPaymentLink</actionName>"), "{flow}");
        assert!(text.contains("<apexClass>ExternalService__Remit_PaymentLinkRequest</apexClass>"), "{flow}");
    }
    let trigger = read("flows/Remit_Request_Payment_Link.flow-meta.xml");
    assert!(trigger.contains("<recordTriggerType>CreateAndUpdate</recordTriggerType>"));
    assert!(trigger.contains("$Label.Remit_Payment_Link_Stage"));
    assert!(read("labels/CustomLabels.labels-meta.xml").contains("<fullName>Remit_Payment_Link_Stage</fullName>"));
    let payments = read("permissionsets/Remit_Payments.permissionset-meta.xml");
    let credential = read("externalCredentials/Remit.externalCredential-meta.xml");
    assert!(payments.contains("<externalCredentialPrincipal>Remit-Remit_API_Key</externalCredentialPrincipal>"));
    assert!(credential.contains("<parameterName>Remit_API_Key</parameterName>"));
    assert!(credential.contains("$Credential.Remit.ApiKey"));
    // Every field of the package is granted to the integration user, and none is left out.
    let integration = read("permissionsets/Remit_Integration.permissionset-meta.xml");
    for object in Schema::package().objects() {
        for field in object.fields.iter().filter(|f| f.custom) {
            let grant = format!("<field>{}.{}</field>", object.name, field.name);
            assert!(integration.contains(&grant), "Remit Integration lacks {grant}");
        }
    }
}
