use std::{sync::Mutex, time::Duration};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    describe::{DailyLimit, ObjectDescription},
    error::{SalesforceError, SfError},
};
use crate::{
    base_url::BaseUrl,
    config::{SalesforceAuth, SalesforceConfig},
};

#[derive(Clone)]
struct Token {
    access_token: SecretString,
    instance_url: BaseUrl,
}

/// What `Sforce-Limit-Info` last said: API requests used today out of the org's daily limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    pub used: u64,
    pub limit: u64,
}

impl ApiUsage {
    pub fn share(&self) -> f64 {
        if self.limit == 0 { 1.0 } else { self.used as f64 / self.limit as f64 }
    }
}

/// One subrequest of a composite request.
#[derive(Debug, Clone, Serialize)]
pub struct Subrequest {
    pub method: &'static str,
    pub url: String,
    #[serde(rename = "referenceId")]
    pub reference_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CompositeResult {
    #[serde(rename = "referenceId")]
    pub reference_id: String,
    #[serde(rename = "httpStatusCode")]
    pub status: u16,
    pub body: Value,
}

impl CompositeResult {
    pub fn errors(&self) -> Vec<SfError> {
        serde_json::from_value(self.body.clone()).unwrap_or_default()
    }
}

pub struct SalesforceClient {
    http: reqwest::Client,
    config: SalesforceConfig,
    token: tokio::sync::Mutex<Option<Token>>,
    usage: Mutex<Option<ApiUsage>>,
}

impl SalesforceClient {
    pub fn new(config: SalesforceConfig, timeout: Duration) -> Self {
        Self {
            http: crate::outbound::client(timeout),
            config,
            token: tokio::sync::Mutex::new(None),
            usage: Mutex::new(None),
        }
    }

    /// A resource path under this API version, as composite subrequests name them.
    pub fn api_version(&self) -> &str {
        &self.config.api_version
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/services/data/v{}/{rest}", self.config.api_version)
    }

    pub fn api_usage(&self) -> Option<ApiUsage> {
        *self.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub async fn query(&self, soql: &str) -> Result<Vec<Value>, SalesforceError> {
        let url = format!("query?q={}", url::form_urlencoded::byte_serialize(soql.as_bytes()).collect::<String>());
        let (_, body) = self.call(Method::GET, &url, None).await?;
        let body = body.unwrap_or_default();
        Ok(body["records"].as_array().cloned().unwrap_or_default())
    }

    /// An object as the integration user sees it; `None` when the org has no such object.
    pub async fn describe(&self, object: &str) -> Result<Option<ObjectDescription>, SalesforceError> {
        match self.call(Method::GET, &format!("sobjects/{object}/describe"), None).await {
            Ok((_, body)) => serde_json::from_value(body.unwrap_or_default())
                .map(Some)
                .map_err(|e| SalesforceError::Decode(format!("describe {object}: {e}"))),
            Err(SalesforceError::Api { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The org's daily API requests: its limit and what is left today.
    pub async fn daily_limit(&self) -> Result<DailyLimit, SalesforceError> {
        let (_, body) = self.call(Method::GET, "limits", None).await?;
        serde_json::from_value(body.unwrap_or_default()["DailyApiRequests"].clone())
            .map_err(|e| SalesforceError::Decode(format!("limits: {e}")))
    }

    /// Up to 25 subrequests in one call. The results come back per subrequest: callers check each.
    pub async fn composite(
        &self,
        all_or_none: bool,
        requests: &[Subrequest],
    ) -> Result<Vec<CompositeResult>, SalesforceError> {
        assert!(requests.len() <= 25, "a composite request holds at most 25 subrequests");
        let body = json!({ "allOrNone": all_or_none, "compositeRequest": requests });
        let (_, body) = self.call(Method::POST, "composite", Some(&body)).await?;
        let results = body.map(|b| b["compositeResponse"].clone()).unwrap_or_default();
        serde_json::from_value(results).map_err(|e| SalesforceError::Decode(e.to_string()))
    }

    /// One API call; an expired session is renewed once and the call repeated.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Option<Value>), SalesforceError> {
        match self.send(method.clone(), path, body).await {
            Err(error) if error.has_code("INVALID_SESSION_ID") => {
                tracing::info!("Salesforce session expired; renewing the token once");
                *self.token.lock().await = None;
                self.send(method, path, body).await
            }
            other => other,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Option<Value>), SalesforceError> {
        let token = self.token().await?;
        let url = token.instance_url.join(&self.path(path));
        let mut request = self.http.request(method, url).bearer_auth(token.access_token.expose_secret());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                metrics::counter!("remit_salesforce_calls_total", "outcome" => "unreachable").increment(1);
                return Err(transport(error));
            }
        };
        let status = response.status().as_u16();
        let outcome = if (200..300).contains(&status) { "ok" } else { "error" };
        metrics::counter!("remit_salesforce_calls_total", "outcome" => outcome).increment(1);
        if let Some(usage) =
            response.headers().get("sforce-limit-info").and_then(|v| v.to_str().ok()).and_then(parse_usage)
        {
            metrics::gauge!("remit_salesforce_daily_api_remaining").set(usage.limit.saturating_sub(usage.used) as f64);
            *self.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(usage);
        }
        let bytes = response.bytes().await.map_err(transport)?;
        let body: Option<Value> = if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() };
        if (200..300).contains(&status) {
            return Ok((status, body));
        }
        let errors: Vec<SfError> = body.and_then(|b| serde_json::from_value(b).ok()).unwrap_or_else(|| {
            vec![SfError { error_code: format!("HTTP_{status}"), message: excerpt(&bytes), fields: vec![] }]
        });
        Err(SalesforceError::Api { status, errors })
    }

    async fn token(&self) -> Result<Token, SalesforceError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let token = self.fetch_token().await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    async fn fetch_token(&self) -> Result<Token, SalesforceError> {
        let login = &self.config.login_url;
        let form: Vec<(&str, String)> = match &self.config.auth {
            SalesforceAuth::JwtBearer { username, private_key_pem } => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let claims =
                    json!({ "iss": self.config.client_id, "sub": username, "aud": login.as_str(), "exp": now + 180 });
                let key = EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes()).map_err(|_| {
                    SalesforceError::Auth("SALESFORCE_PRIVATE_KEY_FILE is not an RSA private key".into())
                })?;
                let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
                    .map_err(|e| SalesforceError::Auth(format!("cannot sign the JWT assertion: {e}")))?;
                vec![("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".into()), ("assertion", assertion)]
            }
            SalesforceAuth::ClientCredentials { client_secret } => vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", self.config.client_id.clone()),
                ("client_secret", client_secret.expose_secret().to_owned()),
            ],
        };
        let response =
            self.http.post(login.join("/services/oauth2/token")).form(&form).send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        // By status first: a login server in trouble answers 5xx with whatever page its proxy has.
        if status.is_server_error() {
            let message = format!("the login server answered {status}: {}", excerpt(&bytes));
            return Err(SalesforceError::Api {
                status: status.as_u16(),
                errors: vec![SfError { error_code: "SERVER_UNAVAILABLE".into(), message, fields: vec![] }],
            });
        }
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|e| SalesforceError::Decode(format!("token answer ({status}): {e}: {}", excerpt(&bytes))))?;
        if !status.is_success() {
            let reason = format!(
                "{}: {}",
                body["error"].as_str().unwrap_or("error"),
                body["error_description"].as_str().unwrap_or("")
            );
            return Err(SalesforceError::Auth(reason));
        }
        let access_token =
            body["access_token"].as_str().ok_or_else(|| SalesforceError::Decode("no access_token".into()))?;
        let instance_url = body["instance_url"]
            .as_str()
            .and_then(|url| url.parse().ok())
            .ok_or_else(|| SalesforceError::Decode("no usable instance_url".into()))?;
        Ok(Token { access_token: SecretString::from(access_token.to_owned()), instance_url })
    }
}

fn transport(error: reqwest::Error) -> SalesforceError {
    if error.is_timeout() {
        SalesforceError::Timeout
    } else {
        SalesforceError::Transport(error.without_url().to_string())
    }
}

/// The start of an answer's body, for an error message.
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(200).collect()
}

/// `api-usage=25/15000` → 25 of 15000.
fn parse_usage(header: &str) -> Option<ApiUsage> {
    let usage = header.split(',').find_map(|part| part.trim().strip_prefix("api-usage="))?;
    let (used, limit) = usage.split_once('/')?;
    Some(ApiUsage { used: used.parse().ok()?, limit: limit.parse().ok()? })
}
