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
