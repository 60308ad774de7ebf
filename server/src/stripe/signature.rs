//! Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, each `v1` an
//! HMAC-SHA256 of `"{t}.{raw body}"` under an endpoint secret. Any `v1` under any configured
//! secret will do (secrets roll); the timestamp must be within the tolerance either way.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Stripe's own libraries use five minutes.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the signature timestamp is outside the tolerance")]
    OutsideTolerance,
    #[error("no signature matches")]
    NoMatch,
}

/// Checks `header` against `body` at time `now` (Unix seconds).
pub fn verify(header: Option<&str>, body: &[u8], secrets: &[SecretString], now: i64) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", value)) => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            Some(_) => {} // v0 and schemes Remit does not use
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Checked: a timestamp near i64's ends must be refused, not overflow.
    if now.checked_sub(timestamp).and_then(i64::checked_abs).is_none_or(|age| age > TOLERANCE_SECS) {
        return Err(SignatureError::OutsideTolerance);
    }
    let matches = secrets.iter().any(|secret| {
        signatures.iter().any(|signature| {
            // verify_slice compares in constant time.
            mac(secret, timestamp, body).verify_slice(signature).is_ok()
        })
    });
    if matches { Ok(()) } else { Err(SignatureError::NoMatch) }
}

fn mac(secret: &SecretString, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header Stripe would send for `body` at `timestamp` (tests and the sandbox use it).
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_at_the_ends_of_i64_is_outside_the_tolerance() {
        let secrets = [SecretString::from("whsec_test")];
        for t in [i64::MIN, i64::MAX, i64::MIN + 1] {
            let header = format!("t={t},v1=00");
            assert_eq!(verify(Some(&header), b"{}", &secrets, 1_800_000_000), Err(SignatureError::OutsideTolerance));
        }
    }

    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
    const NOW: i64 = 1_800_000_000;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn a_valid_signature_passes() {
        let header = sign(&secret("whsec_a"), NOW, BODY);
        assert_eq!(verify(Some(&header), BODY, &[secret("whsec_a")], NOW), Ok(()));
    }

    #[test]
    fn a_tampered_body_fails() {
        let header = sign(&secret("whsec_a"), NOW, BODY);
        let tampered = br#"{"id":"evt_1","type":"payment_intent.succeedeD"}"#;
        assert_eq!(verify(Some(&header), tampered, &[secret("whsec_a")], NOW), Err(SignatureError::NoMatch));
    }

    #[test]
    fn the_wrong_secret_fails() {
        let header = sign(&secret("whsec_other"), NOW, BODY);
        assert_eq!(verify(Some(&header), BODY, &[secret("whsec_a")], NOW), Err(SignatureError::NoMatch));
    }

    #[test]
    fn old_and_future_timestamps_fail_and_the_edge_passes() {
        let s = [secret("whsec_a")];
        let old = sign(&s[0], NOW - TOLERANCE_SECS - 1, BODY);
        let future = sign(&s[0], NOW + TOLERANCE_SECS + 1, BODY);
        let edge = sign(&s[0], NOW - TOLERANCE_SECS, BODY);
        assert_eq!(verify(Some(&old), BODY, &s, NOW), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify(Some(&future), BODY, &s, NOW), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify(Some(&edge), BODY, &s, NOW), Ok(()));
    }

    #[test]
    fn any_of_several_v1_signatures_may_match() {
        let good = sign(&secret("whsec_a"), NOW, BODY);
        let good_v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t={NOW},v1={},v1={good_v1},v0=abc", "00".repeat(32));
        assert_eq!(verify(Some(&header), BODY, &[secret("whsec_a")], NOW), Ok(()));
    }

    #[test]
    fn every_configured_secret_is_tried() {
        let header = sign(&secret("whsec_new"), NOW, BODY);
        assert_eq!(verify(Some(&header), BODY, &[secret("whsec_old"), secret("whsec_new")], NOW), Ok(()));
    }

    #[test]
    fn a_missing_or_malformed_header_fails() {
        let s = [secret("whsec_a")];
        assert_eq!(verify(None, BODY, &s, NOW), Err(SignatureError::Missing));
        for bad in ["", "t=abc,v1=00", "v1=00", &format!("t={NOW}"), &format!("t={NOW},v1=zz")] {
            assert_eq!(verify(Some(bad), BODY, &s, NOW), Err(SignatureError::Malformed), "{bad:?}");
        }
    }
}
