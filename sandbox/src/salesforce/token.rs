//! `POST /services/oauth2/token`: the JWT bearer and client credentials grants.

use axum::{Form, Json, extract::State, http::StatusCode, response::IntoResponse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;

use super::Salesforce;

#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: String,
    assertion: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
}

fn refuse(error: &str, description: &str) -> axum::response::Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error, "error_description": description }))).into_response()
}

pub async fn issue(State(sf): State<Salesforce>, Form(request): Form<TokenRequest>) -> axum::response::Response {
    if sf.disruptions.login_outage() {
        let page =
            "<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>";
        return (StatusCode::SERVICE_UNAVAILABLE, [("content-type", "text/html")], page).into_response();
    }
    let credentials = &sf.credentials;
    match request.grant_type.as_str() {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let Some(assertion) = request.assertion else { return refuse("invalid_request", "assertion is required") };
            let Ok(key) = DecodingKey::from_rsa_pem(credentials.public_key_pem.as_bytes()) else {
                return refuse("invalid_client", "the connected app has no certificate");
            };
            let mut validation = Validation::new(Algorithm::RS256);
            validation.set_audience(&[
                sf.base_url.as_str(),
                "https://login.salesforce.com",
                "https://test.salesforce.com",
            ]);
            validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
            validation.leeway = 0;
            let claims = match jsonwebtoken::decode::<Claims>(&assertion, &key, &validation) {
                Ok(data) => data.claims,
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                    return refuse("invalid_grant", "expired authorization code");
                }
                Err(_) => return refuse("invalid_grant", "invalid assertion"),
            };
            if claims.iss != credentials.client_id {
                return refuse("invalid_client_id", "client identifier invalid");
            }
            if claims.sub != credentials.username {
                return refuse("invalid_grant", "user hasn't approved this consumer");
            }
        }
        "client_credentials" => {
            let ok = request.client_id.as_deref() == Some(credentials.client_id.as_str())
                && request.client_secret.as_deref() == Some(credentials.client_secret.as_str());
            if !ok {
                return refuse("invalid_client", "invalid client credentials");
            }
        }
        _ => return refuse("unsupported_grant_type", "grant type not supported"),
    }
    let token = sf.lock().new_token();
    Json(json!({
        "access_token": token,
        "instance_url": sf.base_url,
        "id": format!("{}/id/00D5g000000SbxEEAS/0055g00000IntUsAAJ", sf.base_url),
        "token_type": "Bearer",
        "issued_at": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()).to_string(),
        "scope": "api",
    }))
    .into_response()
}
