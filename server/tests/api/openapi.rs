//! The OpenAPI document: valid OpenAPI 3.0, and it describes every `/api/v1` route.

use std::process::Command;

use serde_json::Value;

use crate::{helpers::TestApp, python::python};

/// Every operation the API serves: keep in step with `server/src/http/api.rs`.
const SERVED: &[(&str, &str)] = &[
    ("post", "/api/v1/payment-links"),
    ("get", "/api/v1/payments"),
    ("get", "/api/v1/payments/{id}"),
    ("post", "/api/v1/payments/{id}/cancel"),
    ("post", "/api/v1/payments/{id}/refunds"),
    ("get", "/api/v1/payments/{id}/refunds"),
];

#[tokio::test]
async fn the_openapi_document_is_valid_openapi_3_0() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.0"));
    assert_eq!(document["servers"][0]["url"], app.address);

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), document.to_string()).unwrap();
    let output = Command::new(python()).args(["-m", "openapi_spec_validator"]).arg(file.path()).output().unwrap();
    assert!(
        output.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn every_api_route_is_documented_with_an_operation_id_and_2xx_and_4xx_bodies() {
    let app = TestApp::spawn().await;
    let document: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let paths = document["paths"].as_object().unwrap();
    let mut documented = 0;
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            documented += 1;
            assert!(SERVED.contains(&(method.as_str(), path.as_str())), "{method} {path} is documented but not served");
            assert!(operation["operationId"].is_string(), "{method} {path} has no operationId");
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path}: no 2XX");
            assert!(responses.keys().any(|s| s.starts_with('4')), "{method} {path}: no 4XX");
        }
    }
    assert_eq!(documented, SERVED.len(), "every served route is documented");
    // And each documented route is really served (not the API's fallback).
    for (method, path) in SERVED {
        let url = format!("{}{}", app.address, path.replace("{id}", "unknown"));
        let request = if *method == "get" { app.client.get(&url) } else { app.client.post(&url) };
        let response = request.bearer_auth(&app.api_key).json(&serde_json::json!({})).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        assert_ne!(body["error"]["code"], "no_such_operation", "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn an_unknown_api_operation_is_a_json_404() {
    let app = TestApp::spawn().await;
    let response = app.api_get("/api/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "no_such_operation");
}

/// Where a schema breaks what Salesforce External Services (and Flow's HTTP callouts) take: no
/// `oneOf`/`anyOf`/`allOf`/`not`, no `enum`, no 64-bit or floating-point numbers, arrays only of
/// named schemas or plain values, objects only as named schemas.
fn external_services_problems(at: &str, schema: &Value, problems: &mut Vec<String>) {
    let Some(object) = schema.as_object() else { return };
    if object.contains_key("$ref") {
        return;
    }
    for keyword in ["oneOf", "anyOf", "allOf", "not", "enum"] {
        if object.contains_key(keyword) {
            problems.push(format!("{at}: {keyword}"));
        }
    }
    match object.get("type").and_then(Value::as_str) {
        Some("number") => problems.push(format!("{at}: type number (a float)")),
        Some("integer") if object.get("format").and_then(Value::as_str) != Some("int32") => {
            problems.push(format!("{at}: an integer that is not int32"));
        }
        Some("array")
            if object["items"].get("$ref").is_none()
                && !matches!(object["items"]["type"].as_str(), Some("string" | "integer" | "boolean")) =>
        {
            problems.push(format!("{at}: an array of anonymous objects or arrays"));
        }
        _ => {}
    }
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            if property.get("type").and_then(Value::as_str) == Some("object") || property.get("properties").is_some() {
                problems.push(format!("{at}.{name}: an anonymous nested object"));
            }
            external_services_problems(&format!("{at}.{name}"), property, problems);
        }
    }
    if let Some(items) = object.get("items") {
        external_services_problems(&format!("{at}[]"), items, problems);
    }
}

#[tokio::test]
async fn the_openapi_document_follows_the_external_services_rules() {
    let app = TestApp::spawn().await;
    let document: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.0."), "External Services take OpenAPI 3.0.x");
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let responses = document["components"]["responses"].as_object().unwrap();
    let mut problems = Vec::new();
    for (name, schema) in schemas {
        external_services_problems(name, schema, &mut problems);
    }
    let mut operation_ids = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = operation["operationId"].as_str().unwrap_or_default();
            let camel = id.len() <= 40
                && id.starts_with(|c: char| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric());
            if !camel {
                problems.push(format!("{at}: operationId {id:?} is not short camelCase"));
            }
            operation_ids.push(id.to_owned());
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                external_services_problems(&format!("{at} parameter"), &parameter["schema"], &mut problems);
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                let response = match response.get("$ref").and_then(Value::as_str) {
                    Some(reference) => &responses[reference.trim_start_matches("#/components/responses/")],
                    None => response,
                };
                let content = response["content"].as_object();
                if content.is_some_and(|c| c.keys().any(|media| media != "application/json")) {
                    problems.push(format!("{at} {status}: a body other than JSON"));
                }
                if status.starts_with('2') || status.starts_with('4') {
                    let reference = response["content"]["application/json"]["schema"]["$ref"].as_str();
                    let named = reference
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                        .and_then(|name| schemas.get(name))
                        .is_some_and(|schema| schema["type"] == "object");
                    if !named {
                        problems.push(format!("{at} {status}: the body is not a named object schema"));
                    }
                }
            }
        }
    }
    assert_eq!(problems, Vec::<String>::new());
    let mut ids = operation_ids.clone();
    ids.sort();
    assert_eq!(
        ids,
        ["cancelPayment", "createPaymentLink", "getPayment", "listPayments", "listRefunds", "refundPayment"]
    );
}

#[tokio::test]
async fn the_external_service_in_the_package_is_the_served_document() {
    let app = TestApp::spawn().await;
    let mut served: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    served.as_object_mut().unwrap().remove("servers");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../salesforce/force-app/main/default/externalServiceRegistrations/Remit.externalServiceRegistration-meta.xml"
    );
    let xml = std::fs::read_to_string(path).unwrap();
    let registration = roxmltree::Document::parse(&xml).unwrap();
    let text = |tag: &str| registration.descendants().find(|n| n.has_tag_name(tag)).and_then(|n| n.text());
    let schema: Value = serde_json::from_str(text("schema").unwrap()).unwrap();
    assert!(schema == served, "the package's External Service is stale: run ./scripts/salesforce-external-service");
    assert_eq!(text("schemaType"), Some("OpenApi3"));
    assert_eq!(text("namedCredentialReference"), Some("Remit"));
    let mut operations: Vec<&str> = registration
        .descendants()
        .filter(|n| n.has_tag_name("operations"))
        .filter_map(|n| n.children().find(|c| c.has_tag_name("name")).and_then(|c| c.text()))
        .collect();
    operations.sort_unstable();
    assert_eq!(
        operations,
        ["cancelpayment", "createpaymentlink", "getpayment", "listpayments", "listrefunds", "refundpayment"]
    );
}
