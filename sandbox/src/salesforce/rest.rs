//! `/services/data/vXX.X/…`: authentication, limits, faults, then the resources.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    Salesforce,
    org::{Org, SfError},
};

pub async fn handle(
    State(sf): State<Salesforce>,
    Path((version, _)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sf.disruptions.before_call(format!("{method} {} {}", uri.path(), String::from_utf8_lossy(&body))).await;
    let response = carry_out(&sf, &version, &method, &uri, &headers, &body);
    if let Some(stall) = sf.disruptions.stall_after_call() {
        tokio::time::sleep(stall).await;
    }
    response
}

fn carry_out(
    sf: &Salesforce,
    version: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let mut org = sf.lock();
    let valid_version =
        version.strip_prefix('v').and_then(|v| v.strip_suffix(".0")).is_some_and(|m| m.parse::<u32>().is_ok());
    if !valid_version {
        return error(&org, &SfError::new(404, "NOT_FOUND", "The requested resource does not exist"));
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| org.tokens.contains(t)) {
        return error(&org, &SfError::new(401, "INVALID_SESSION_ID", "Session expired or invalid"));
    }
    org.api_usage += 1;
    if org.api_usage > org.daily_limit {
        return error(&org, &SfError::new(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."));
    }
    if sf.disruptions.fails_at_random() {
        return error(&org, &SfError::new(503, "SERVER_UNAVAILABLE", "Server unavailable (a random fault)"));
    }
    if let Some((fault, times)) = org.faults.first_mut() {
        let fault = fault.clone();
        *times -= 1;
        if *times == 0 {
            org.faults.remove(0);
        }
        return error(&org, &SfError::new(fault.status, &fault.error_code, fault.message));
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(body) => body,
            Err(e) => {
                return error(&org, &SfError::new(400, "JSON_PARSER_ERROR", format!("Unexpected character: {e}")));
            }
        }
    };
    let path = uri.path().split_once(&format!("/services/data/{version}/")).map_or("", |(_, rest)| rest);
    let result = execute(&mut org, method, path, uri.query().unwrap_or(""), &body);
    match result {
        Ok((status, body)) => with_limits(&org, status, body),
        Err(e) => error(&org, &e),
    }
}

fn with_limits(org: &Org, status: u16, body: Option<Value>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = match body {
        Some(body) => (status, Json(body)).into_response(),
        None => status.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&format!("api-usage={}/{}", org.api_usage, org.daily_limit)) {
        response.headers_mut().insert("sforce-limit-info", value);
    }
    response
}

fn error(org: &Org, error: &SfError) -> Response {
    with_limits(org, error.status, Some(error.body()))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// One REST call against the org (also each subrequest of a composite request).
fn execute(
    org: &mut Org,
    method: &Method,
    path: &str,
    query: &str,
    body: &Value,
) -> Result<(u16, Option<Value>), SfError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let not_found = || SfError::new(404, "NOT_FOUND", "The requested resource does not exist");
    let method_not_allowed = || {
        SfError::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{method}' not allowed. Allowed are GET,PATCH,POST"),
        )
    };
    match segments.as_slice() {
        ["query"] if method == Method::GET => {
            let soql = query_param(query, "q")
                .ok_or_else(|| SfError::new(400, "MALFORMED_QUERY", "A query string is required"))?;
            Ok((200, Some(org.query(&soql)?)))
        }
        ["limits"] if method == Method::GET => Ok((200, Some(org.limits()))),
        ["sobjects", object, "describe"] if method == Method::GET => Ok((200, Some(org.describe(object)?))),
        ["sobjects", object] if method == Method::POST => Ok((201, Some(org.create(object, body)?))),
        ["sobjects", object, id] => match *method {
            Method::GET => {
                let fields = query_param(query, "fields").map(|f| f.split(',').map(str::to_owned).collect::<Vec<_>>());
                Ok((200, Some(org.retrieve(object, id, fields.as_deref())?)))
            }
            Method::PATCH => org.update(object, id, body).map(|()| (204, None)),
            _ => Err(method_not_allowed()),
        },
        ["sobjects", object, field, value] if method == Method::PATCH => {
            let (status, result) = org.upsert(object, field, value, body)?;
            Ok((status, Some(result)))
        }
        ["composite"] if method == Method::POST => Ok((200, Some(composite(org, body)?))),
        ["composite", "sobjects", object, field] if method == Method::PATCH => {
            Ok((200, Some(collection_upsert(org, object, field, body)?)))
        }
        ["composite", "sobjects"] if method == Method::PATCH => Ok((200, Some(collection_update(org, body)?))),
        _ => Err(not_found()),
    }
}

/// `POST /composite`: up to 25 subrequests in order, `@{ref.field}` references resolved, and with
/// `allOrNone` everything rolled back when one fails.
fn composite(org: &mut Org, body: &Value) -> Result<Value, SfError> {
    let requests = body["compositeRequest"]
        .as_array()
        .ok_or_else(|| SfError::new(400, "JSON_PARSER_ERROR", "compositeRequest is required"))?;
    if requests.len() > 25 {
        return Err(SfError::new(400, "LIMIT_EXCEEDED", "A composite request may hold at most 25 subrequests"));
    }
    let heavy = requests
        .iter()
        .filter(|r| {
            let url = r["url"].as_str().unwrap_or_default();
            url.contains("/composite/sobjects") || url.contains("/query")
        })
        .count();
    if heavy > 5 {
        return Err(SfError::new(
            400,
            "LIMIT_EXCEEDED",
            "A composite request may hold at most 5 sObject Collections or query subrequests",
        ));
    }
    let all_or_none = body["allOrNone"].as_bool().unwrap_or(false);
    let before = all_or_none.then(|| org.snapshot());
    let mut results: Vec<(String, u16, Value)> = Vec::new();
    let mut failed = false;
    for request in requests {
        let reference = request["referenceId"].as_str().unwrap_or_default().to_owned();
        if failed && all_or_none {
            results.push((reference, 400, json!([{ "errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed." }])));
            continue;
        }
        let url = resolve(request["url"].as_str().unwrap_or_default(), &results);
        let sub_body = resolve_value(request.get("body").cloned().unwrap_or(Value::Null), &results);
        let method: Method = request["method"].as_str().unwrap_or("GET").parse().unwrap_or(Method::GET);
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let path =
            path.split_once("/services/data/").and_then(|(_, rest)| rest.split_once('/')).map_or("", |(_, rest)| rest);
        let outcome = execute(org, &method, path, query, &sub_body);
        match outcome {
            Ok((status, body)) => results.push((reference, status, body.unwrap_or(Value::Null))),
            Err(error) => {
                failed = true;
                results.push((reference, error.status, error.body()));
            }
        }
    }
    if failed && let Some(before) = before {
        org.restore(before);
        for result in results.iter_mut().filter(|r| r.1 < 300) {
            result.1 = 400;
            result.2 = json!([{ "errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed." }]);
        }
    }
    let responses: Vec<Value> = results
        .into_iter()
        .map(|(reference, status, body)| json!({ "body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference }))
        .collect();
    Ok(json!({ "compositeResponse": responses }))
}

/// Replaces `@{reference.field}` with that field of an earlier subrequest's result.
fn resolve(text: &str, results: &[(String, u16, Value)]) -> String {
    let mut out = text.to_owned();
    for (reference, _, body) in results {
        if let Some(fields) = body.as_object() {
            for (field, value) in fields {
                let placeholder = format!("@{{{reference}.{field}}}");
                if let Some(value) = value.as_str() {
                    out = out.replace(&placeholder, value);
                }
            }
        }
    }
    out
}

fn resolve_value(value: Value, results: &[(String, u16, Value)]) -> Value {
    match value {
        Value::String(s) => Value::String(resolve(&s, results)),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, resolve_value(v, results))).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| resolve_value(v, results)).collect()),
        other => other,
    }
}

/// `PATCH /composite/sobjects/{object}/{externalIdField}`: up to 200 upserts, one result each.
fn collection_upsert(org: &mut Org, object: &str, field: &str, body: &Value) -> Result<Value, SfError> {
    for_each_record(org, body, |org, record| {
        let value = record[field].as_str().unwrap_or_default().to_owned();
        let mut fields = record.clone();
        if let Some(map) = fields.as_object_mut() {
            map.remove(field);
        }
        org.upsert(object, field, &value, &fields).map(|(_, result)| result)
    })
}

/// `PATCH /composite/sobjects`: up to 200 updates by id, each record naming its type.
fn collection_update(org: &mut Org, body: &Value) -> Result<Value, SfError> {
    for_each_record(org, body, |org, record| {
        let object = record["attributes"]["type"].as_str().unwrap_or_default().to_owned();
        let id = record["Id"].as_str().unwrap_or_default().to_owned();
        let mut fields = record.clone();
        if let Some(map) = fields.as_object_mut() {
            map.remove("Id");
        }
        org.update(&object, &id, &fields).map(|()| json!({ "id": id, "success": true, "errors": [] }))
    })
}

/// sObject Collections: at most 200 records, one result each, all rolled back on a failure when
/// `allOrNone` says so.
fn for_each_record(
    org: &mut Org,
    body: &Value,
    mut write: impl FnMut(&mut Org, &Value) -> Result<Value, SfError>,
) -> Result<Value, SfError> {
    let records =
        body["records"].as_array().ok_or_else(|| SfError::new(400, "JSON_PARSER_ERROR", "records is required"))?;
    if records.len() > 200 {
        return Err(SfError::new(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        ));
    }
    let before = body["allOrNone"].as_bool().unwrap_or(false).then(|| org.snapshot());
    let mut failed = false;
    let results: Vec<Value> = records
        .iter()
        .map(|record| {
            write(org, record).unwrap_or_else(|error| {
                failed = true;
                json!({ "success": false, "errors": [{ "statusCode": error.code, "message": error.message, "fields": error.fields }] })
            })
        })
        .collect();
    if failed && let Some(before) = before {
        org.restore(before);
    }
    Ok(Value::Array(results))
}
