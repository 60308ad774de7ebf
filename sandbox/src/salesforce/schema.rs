//! The objects of the stand-in org: the ones Remit writes (DESIGN.md §6), their fields, restricted
//! picklists and external ids, and 18-character ids with Salesforce's checksum.

use std::collections::BTreeMap;

use rand::Rng;

pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// Values a restricted picklist accepts.
    pub picklist: Option<&'static [&'static str]>,
    pub external_id: bool,
}

pub struct Object {
    pub name: &'static str,
    pub key_prefix: &'static str,
    pub fields: Vec<Field>,
}

const PAYMENT_STATUSES: &[&str] =
    &["Pending", "Paid", "Failed", "Refunded", "Partially Refunded", "Canceled", "Expired", "Disputed"];

fn field(name: &'static str, label: &'static str) -> Field {
    Field { name, label, picklist: None, external_id: false }
}

fn picklist(name: &'static str, label: &'static str, values: &'static [&'static str]) -> Field {
    Field { name, label, picklist: Some(values), external_id: false }
}

pub fn objects() -> Vec<Object> {
    vec![
        Object {
            name: "Account",
            key_prefix: "001",
            fields: vec![
                field("Name", "Account Name"),
                field("Stripe_Customer_ID__c", "Stripe Customer ID"),
                field("OwnerId", "Owner ID"),
            ],
        },
        Object {
            name: "Opportunity",
            key_prefix: "006",
            fields: vec![
                field("Name", "Name"),
                field("AccountId", "Account ID"),
                field("OwnerId", "Owner ID"),
                field("StageName", "Stage"),
                field("CloseDate", "Close Date"),
                field("Amount", "Amount"),
                picklist("Payment_Status__c", "Payment Status", PAYMENT_STATUSES),
                field("Stripe_Customer_ID__c", "Stripe Customer ID"),
                field("Payment_Link__c", "Payment Link"),
            ],
        },
        Object {
            name: "Payment__c",
            key_prefix: "a0P",
            fields: vec![
                field("Name", "Payment Name"),
                field("Opportunity__c", "Opportunity"),
                field("Amount__c", "Amount"),
                field("Currency__c", "Currency"),
                picklist("Payment_Status__c", "Payment Status", PAYMENT_STATUSES),
                field("Payment_Link_Full__c", "Payment Link"),
                field("Stripe_Checkout_Session_ID__c", "Stripe Checkout Session ID"),
                field("Stripe_Payment_Intent_ID__c", "Stripe Payment Intent ID"),
                field("Receipt_URL__c", "Receipt URL"),
                field("Paid_At__c", "Paid At"),
                field("Failure_Reason__c", "Failure Reason"),
                Field { name: "Remit_Payment_ID__c", label: "Remit Payment ID", picklist: None, external_id: true },
            ],
        },
        Object {
            name: "Task",
            key_prefix: "00T",
            fields: vec![
                field("Subject", "Subject"),
                picklist("Priority", "Priority", &["High", "Normal", "Low"]),
                picklist(
                    "Status",
                    "Status",
                    &["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"],
                ),
                field("WhatId", "Related To ID"),
                field("OwnerId", "Assigned To ID"),
                field("Description", "Comments"),
                field("ActivityDate", "Due Date"),
                Field { name: "Remit_Attempt_ID__c", label: "Remit Attempt ID", picklist: None, external_id: true },
            ],
        },
        Object {
            name: "OpportunityStage",
            key_prefix: "01J",
            fields: vec![
                field("ApiName", "Api Name"),
                field("MasterLabel", "Master Label"),
                field("IsWon", "Won"),
                field("IsClosed", "Closed"),
                field("IsActive", "Active"),
                field("SortOrder", "Sort Order"),
            ],
        },
        Object {
            name: "User",
            key_prefix: "005",
            fields: vec![field("Name", "Full Name"), field("Username", "Username")],
        },
    ]
}

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// An 18-character id: 15 case-sensitive characters and the checksum Salesforce appends.
pub fn new_id(key_prefix: &str) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let tail: String = (0..9).map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())])).collect();
    let id15 = format!("{key_prefix}5g0{tail}");
    format!("{id15}{}", checksum(&id15))
}

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

/// A 15- or 18-character id in its 18-character form, if it is well-formed.
pub fn normalize_id(raw: &str) -> Option<String> {
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match raw.len() {
        15 => Some(format!("{raw}{}", checksum(raw))),
        18 if raw[15..] == checksum(&raw[..15]) => Some(raw.to_owned()),
        _ => None,
    }
}

pub type Record = BTreeMap<String, serde_json::Value>;

#[cfg(test)]
mod tests {
    #[test]
    fn seeded_ids_carry_their_checksum() {
        for id in [super::super::org::INTEGRATION_USER, "0015g00000XyZaBAAV", "0065g00000AbCdEAAV"] {
            assert_eq!(super::normalize_id(id).as_deref(), Some(id), "{id}");
        }
        let fresh = super::new_id("006");
        assert_eq!(super::normalize_id(&fresh[..15]).as_deref(), Some(fresh.as_str()));
    }
}
