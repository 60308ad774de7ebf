//! The API keeps to its OpenAPI document: every rejection, the framework's own included, is the
//! documented JSON error with a status the document declares, and changes nothing; a request at
//! each documented bound is accepted, one past it is refused naming its field.

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, link_request};

/// Sends the request and checks the answer is the documented error: its status, its code, JSON.
async fn refused(request: RequestBuilder, status: StatusCode, code: &str) -> Value {
    let response = request.send().await.expect("answered");
    assert_eq!(response.status(), status, "{code}");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{code}: {content_type}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body
}

/// Whether the document declares this status for this operation.
fn declared(document: &Value, method: &str, path: &str, status: StatusCode) -> bool {
    document["paths"][path][method]["responses"].get(status.as_str()).is_some()
}

#[tokio::test]
async fn every_framework_rejection_is_the_documented_json_error_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let document: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let url = |path: &str| format!("{}{path}", app.address);
    let links = || app.client.post(url("/api/v1/payment-links")).bearer_auth(&app.api_key);
    let list = |query: &str| app.client.get(url(&format!("/api/v1/payments?{query}"))).bearer_auth(&app.api_key);
    let valid = link_request().to_string();
    let too_large = json!({ "description": "x".repeat(70 * 1024) }).to_string();
    let cases: Vec<(&str, &str, RequestBuilder, StatusCode, &str)> = vec![
        (
            "get",
            "/api/v1/payments",
            list("opportunity_id=0065g00000AbCdE&opportunity_id=0065g00000AbCdE"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "get",
            "/api/v1/payments",
            list("opportunity_id=0065g00000AbCdE&limit=5"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        ("get", "/api/v1/payments", list("opportunity_id=%FF"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (
            "post",
            "/api/v1/payment-links",
            links().header("content-type", "application/json").body("{\"opportunity_id\": "),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "post",
            "/api/v1/payment-links",
            links().header("content-type", "text/plain").body(valid.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "post",
            "/api/v1/payment-links",
            links().body(valid.clone()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "post",
            "/api/v1/payment-links",
            links().header("content-type", "application/json").body(too_large),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "post",
            "/api/v1/payment-links",
            links().header("idempotency-key", "k".repeat(256)).json(&link_request()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "get",
            "/api/v1/payments/{id}",
            app.client.get(url("/api/v1/payments/%FF%FE")).bearer_auth(&app.api_key),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (method, path, request, status, code) in cases {
        refused(request, status, code).await;
        assert!(declared(&document, method, path, status), "{method} {path} does not declare {status}");
    }
    // A method a path does not take has no operation to declare it in, but is the same JSON.
    refused(
        app.client.get(url("/api/v1/payment-links")).bearer_auth(&app.api_key),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    refused(
        app.client.delete(url("/api/v1/payments/x")).bearer_auth(&app.api_key),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 0, "no rejection wrote anything");
}

#[tokio::test]
async fn a_request_at_every_documented_bound_is_accepted() {
    let app = TestApp::spawn().await;
    let local = "a".repeat(64);
    let domain = format!("{}.{}.{}.example.com", "b".repeat(60), "c".repeat(60), "d".repeat(55));
    let email = format!("{local}@{domain}");
    assert_eq!(email.len(), 254);
    let request = json!({
        "opportunity_id": "0065g00000AbCdEAAV",
        "account_id": "0015g00000XyZaBAAV",
        "contact_id": "0035g00000QrStU",
        "amount_minor": 99_999_999,
        "currency": "usd",
        "description": "d".repeat(500),
        "payer_email": email,
        "payer_name": "n".repeat(200),
        "record_type": "r".repeat(80),
    });
    let response = app
        .client
        .post(format!("{}/api/v1/payment-links", app.address))
        .bearer_auth(&app.api_key)
        .header("idempotency-key", "k".repeat(255))
        .json(&request)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(status, StatusCode::CREATED, "{}", response.text().await.unwrap());

    for (opportunity, amount, currency) in [
        ("0065g00000AbCdF", "999999.99", "USD"),
        ("0065g00000AbCdG", "5000", "JPY"),
        ("0065g00000AbCdH", "12.340", "KWD"),
    ] {
        let mut request = link_request();
        request["opportunity_id"] = json!(opportunity);
        request["amount"] = json!(amount);
        request["currency"] = json!(currency);
        let response = app.post_link(&request).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{amount} {currency}: {}", response.text().await.unwrap());
    }
}

#[tokio::test]
async fn a_value_just_past_a_documented_bound_is_refused_naming_its_field() {
    let app = TestApp::spawn().await;
    let cases = [
        ("description", json!("d".repeat(501))),
        ("payer_name", json!("n".repeat(201))),
        ("record_type", json!("r".repeat(81))),
        ("amount_minor", json!(100_000_000)),
        ("currency", json!("US")),
        ("opportunity_id", json!("0065g00000AbCd")),
        ("payer_email", json!(format!("{}@example.com", "a".repeat(65)))),
    ];
    for (field, value) in cases {
        let mut request = link_request();
        if field == "amount_minor" {
            request.as_object_mut().unwrap().remove("amount");
        }
        request[field] = value;
        let body = refused(
            app.client.post(format!("{}/api/v1/payment-links", app.address)).bearer_auth(&app.api_key).json(&request),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM payments").await, 0);
}
