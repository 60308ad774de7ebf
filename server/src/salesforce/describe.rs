//! What describe and limits calls answer, as far as Remit's preflight check reads them.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct ObjectDescription {
    pub name: String,
    pub createable: bool,
    pub updateable: bool,
    pub fields: Vec<FieldDescription>,
}

impl ObjectDescription {
    pub fn field(&self, name: &str) -> Option<&FieldDescription> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDescription {
    pub name: String,
    /// `string`, `picklist`, `reference`, `double`, `datetime`, …
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub length: u32,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub restricted_picklist: bool,
    #[serde(default)]
    pub picklist_values: Vec<PicklistValue>,
    #[serde(default)]
    pub reference_to: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PicklistValue {
    pub value: String,
    #[serde(default = "active")]
    pub active: bool,
}

fn active() -> bool {
    true
}

/// `DailyApiRequests` of the limits resource.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct DailyLimit {
    pub max: u64,
    pub remaining: u64,
}
