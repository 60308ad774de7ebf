//! CSRF tokens that need no stored session (a signed double-submit cookie): the token is a random
//! nonce and its HMAC under a key every instance shares, set as an HttpOnly cookie and repeated in
//! every form; a form counts only when the two match and the signature holds. So a page view
//! writes nothing, and a browser that arrives with no cookie gets one with the page.

use axum::{
    extract::{Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

const COOKIE: &str = "remit_csrf";

/// This request's CSRF token: the one its cookie carried, or a new one the response sets.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

#[derive(Clone)]
pub struct CsrfKey {
    key: std::sync::Arc<[u8; 32]>,
    secure: bool,
}

impl CsrfKey {
    pub fn new(key: [u8; 32], secure: bool) -> Self {
        Self { key: std::sync::Arc::new(key), secure }
    }

    fn signature(&self, nonce: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_slice()).expect("HMAC takes any key length");
        mac.update(nonce.as_bytes());
        // 128 bits of the signature keep the token at 64 hex characters.
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// A new token: 128 random bits and their signature, 64 hex characters in all.
    fn issue(&self) -> String {
        let nonce = hex::encode(rand::rng().random::<[u8; 16]>());
        let signature = self.signature(&nonce);
        format!("{nonce}{signature}")
    }

    fn is_signed(&self, token: &str) -> bool {
        token.len() == 64 && token.is_char_boundary(32) && same(&self.signature(&token[..32]), &token[32..])
    }
}

/// Equal strings, compared without stopping at the first difference.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a form's token is this request's own (cookie and form agree, and it is ours).
pub fn matches(token: Option<&CsrfToken>, presented: &str) -> bool {
    token.is_some_and(|token| same(&token.0, presented))
}

/// Gives every request its [`CsrfToken`]; a page answered to a browser without a valid one
/// carries the cookie.
pub async fn layer(State(key): State<CsrfKey>, mut request: Request, next: Next) -> Response {
    let carried = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(&format!("{COOKIE}=")).map(str::to_owned))
        .find(|token| key.is_signed(token));
    let token = carried.clone().unwrap_or_else(|| key.issue());
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(request).await;
    let is_page = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if carried.is_none() && is_page {
        let secure = if key.secure { "; Secure" } else { "" };
        let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_ours_only_with_its_signature() {
        let key = CsrfKey::new([7; 32], false);
        let token = key.issue();
        assert_eq!(token.len(), 64);
        assert!(key.is_signed(&token));
        let mut forged = token.clone();
        forged.replace_range(40..41, if &token[40..41] == "0" { "1" } else { "0" });
        assert!(!key.is_signed(&forged));
        assert!(!CsrfKey::new([8; 32], false).is_signed(&token), "another key's token");
        assert!(!key.is_signed("é".repeat(32).as_str()));
    }
}
