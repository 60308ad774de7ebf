//! Identifiers that arrive from Salesforce and payers, checked once at the boundary.

use std::fmt;

/// A Salesforce record id, always kept in its 18-character, case-insensitive-safe form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SalesforceId(String);

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

impl SalesforceId {
    /// Accepts a 15-character id (and adds its checksum) or an 18-character id whose checksum is right.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("a Salesforce id has only letters and digits");
        }
        match raw.len() {
            15 => Ok(Self(format!("{raw}{}", checksum(raw)))),
            18 if raw[15..] == checksum(&raw[..15]) => Ok(Self(raw.to_owned())),
            18 => Err("the last three characters of this 18-character Salesforce id do not match its checksum"),
            _ => Err("a Salesforce id has 15 or 18 characters"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The three-character prefix that names the object (006 for Opportunity, 001 for Account).
    pub fn key_prefix(&self) -> &str {
        &self.0[..3]
    }
}

/// The suffix Salesforce appends to a 15-character id: each block of five characters becomes one
/// letter whose bits say which of them are upper-case.
pub fn checksum(id15: &str) -> String {
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits =
                chunk.iter().enumerate().filter(|(_, b)| b.is_ascii_uppercase()).fold(0, |acc, (i, _)| acc | 1 << i);
            char::from(CHECKSUM_ALPHABET[bits])
        })
        .collect()
}

impl fmt::Display for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address good enough to send to: one `@`, a dotted domain, no spaces or controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        let bad = "is not an email address such as payer@example.com";
        let (local, domain) = raw.rsplit_once('@').ok_or(bad)?;
        let ok = !local.is_empty()
            && local.len() <= 64
            && raw.len() <= 254
            && !local.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-')
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'));
        if ok { Ok(Self(format!("{local}@{}", domain.to_lowercase()))) } else { Err(bad) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_15_character_id_gains_its_checksum() {
        // Salesforce's own documented example: 001A0000006Vm9r → 001A0000006Vm9rIAC.
        assert_eq!(SalesforceId::parse("001A0000006Vm9r").unwrap().as_str(), "001A0000006Vm9rIAC");
        assert_eq!(SalesforceId::parse("006000000000001").unwrap().as_str(), "006000000000001AAA");
    }

    #[test]
    fn an_18_character_id_must_carry_the_right_checksum() {
        assert!(SalesforceId::parse("001A0000006Vm9rIAC").is_ok());
        assert!(SalesforceId::parse("001A0000006Vm9rAAA").is_err());
    }

    #[test]
    fn other_lengths_and_characters_are_refused() {
        for bad in ["", "001", "001A0000006Vm9rIA", "001A0000006Vm9r-AC", "001A0000006Vm9rIACX"] {
            assert!(SalesforceId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_are_checked_and_their_domain_lower_cased() {
        assert_eq!(EmailAddress::parse(" Ana.Lima@Example.COM ").unwrap().as_str(), "Ana.Lima@example.com");
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "a b@example.com",
            "ana@exa mple.com",
            "ana@example..com",
            "<ana@example.com>",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }
}
