//! The objects of the stand-in org and their fields: Salesforce's standard fields that Remit
//! touches, plus every custom field and object of the package in `salesforce/force-app` (types,
//! lengths, restricted picklists, external ids), read from its metadata. What Remit writes is
//! checked against what the package installs, so the two cannot drift. Also 18-character ids with
//! Salesforce's checksum.

use std::{collections::BTreeMap, path::Path};

use rand::Rng;

mod package {
    include!(concat!(env!("OUT_DIR"), "/package_objects.rs"));
}

/// A field's type, as the Metadata API names it and describe calls report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Id,
    Text,
    TextArea,
    Url,
    Email,
    Number,
    Currency,
    Date,
    DateTime,
    Boolean,
    Picklist,
    Reference,
    AutoNumber,
}

impl FieldType {
    fn from_metadata(name: &str) -> Option<Self> {
        Some(match name {
            "Text" => Self::Text,
            "TextArea" | "LongTextArea" => Self::TextArea,
            "Url" => Self::Url,
            "Email" => Self::Email,
            "Number" => Self::Number,
            "Currency" => Self::Currency,
            "Date" => Self::Date,
            "DateTime" => Self::DateTime,
            "Checkbox" => Self::Boolean,
            "Picklist" => Self::Picklist,
            "Lookup" | "MasterDetail" => Self::Reference,
            "AutoNumber" => Self::AutoNumber,
            _ => return None,
        })
    }

    /// The `type` a describe call shows.
    pub fn describe_name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Text | Self::AutoNumber => "string",
            Self::TextArea => "textarea",
            Self::Url => "url",
            Self::Email => "email",
            Self::Number => "double",
            Self::Currency => "currency",
            Self::Date => "date",
            Self::DateTime => "datetime",
            Self::Boolean => "boolean",
            Self::Picklist => "picklist",
            Self::Reference => "reference",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub kind: FieldType,
    /// Characters a text field holds.
    pub length: Option<usize>,
    pub picklist: Vec<String>,
    /// A restricted picklist refuses values it does not list.
    pub restricted: bool,
    pub external_id: bool,
    pub unique: bool,
    pub case_sensitive: bool,
    pub reference_to: Option<String>,
    /// Whether the integration user may write it (field-level security; system fields never).
    pub writable: bool,
    pub custom: bool,
}

impl Field {
    fn standard(name: &str, label: &str, kind: FieldType) -> Self {
        let length = matches!(kind, FieldType::Text | FieldType::Url | FieldType::Email).then_some(255);
        let length = if kind == FieldType::TextArea { Some(32_000) } else { length };
        Self {
            name: name.into(),
            label: label.into(),
            kind,
            length,
            picklist: Vec::new(),
            restricted: false,
            external_id: false,
            unique: false,
            case_sensitive: false,
            reference_to: None,
            writable: true,
            custom: false,
        }
    }

    fn system(name: &str, label: &str, kind: FieldType) -> Self {
        Self { writable: false, ..Self::standard(name, label, kind) }
    }

    fn reference(name: &str, label: &str, to: &str) -> Self {
        Self { reference_to: Some(to.into()), ..Self::standard(name, label, FieldType::Reference) }
    }

    fn picklist(name: &str, label: &str, values: &[&str]) -> Self {
        Self {
            picklist: values.iter().map(|v| (*v).to_owned()).collect(),
            restricted: true,
            ..Self::standard(name, label, FieldType::Picklist)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Object {
    pub name: String,
    pub label: String,
    pub key_prefix: String,
    pub custom: bool,
    pub fields: Vec<Field>,
}

impl Object {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    fn field_mut(&mut self, name: &str) -> Option<&mut Field> {
        self.fields.iter_mut().find(|f| f.name == name)
    }
}

/// The org's objects.
#[derive(Debug, Clone)]
pub struct Schema {
    objects: Vec<Object>,
}

impl Schema {
    /// Salesforce's standard objects with the package installed: what a configured org holds.
    pub fn package() -> Self {
        let files = package::OBJECT_FILES.iter().map(|(path, text)| ((*path).to_owned(), (*text).to_owned()));
        Self::standard().install(files).expect("the package in salesforce/force-app is valid metadata")
    }

    /// The standard objects with the package read from a directory (the `objects` folder of a
    /// source-format project): an org where the package differs from the one in the repository.
    pub fn with_package_dir(objects: &Path) -> Result<Self, String> {
        let mut files = Vec::new();
        read_dir(objects, objects, &mut files)?;
        Self::standard().install(files.into_iter())
    }

    pub fn object(&self, name: &str) -> Option<&Object> {
        self.objects.iter().find(|o| o.name == name)
    }

    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// This schema without one field, as in an org where it was never created.
    #[must_use]
    pub fn without_field(mut self, object: &str, field: &str) -> Self {
        if let Some(o) = self.objects.iter_mut().find(|o| o.name == object) {
            o.fields.retain(|f| f.name != field);
        }
        self
    }

    /// This schema with a picklist missing one of its values.
    #[must_use]
    pub fn without_picklist_value(mut self, object: &str, field: &str, value: &str) -> Self {
        if let Some(f) = self.field_mut(object, field) {
            f.picklist.retain(|v| v != value);
        }
        self
    }

    /// This schema with a field that is not (or no longer) an external id.
    #[must_use]
    pub fn without_external_id(mut self, object: &str, field: &str) -> Self {
        if let Some(f) = self.field_mut(object, field) {
            f.external_id = false;
            f.unique = false;
        }
        self
    }

    /// This schema with a field the integration user may read but not write.
    #[must_use]
    pub fn read_only(mut self, object: &str, field: &str) -> Self {
        if let Some(f) = self.field_mut(object, field) {
            f.writable = false;
        }
        self
    }

    fn field_mut(&mut self, object: &str, field: &str) -> Option<&mut Field> {
        self.objects.iter_mut().find(|o| o.name == object)?.field_mut(field)
    }

    /// The standard objects and the standard fields Remit reads or writes.
    fn standard() -> Self {
        use FieldType::{Boolean, Currency, Date, Number, Text, TextArea};
        let object = |name: &str, label: &str, key_prefix: &str, mut fields: Vec<Field>| {
            let mut all = system_fields(label);
            all.append(&mut fields);
            Object { name: name.into(), label: label.into(), key_prefix: key_prefix.into(), custom: false, fields: all }
        };
        Self {
            objects: vec![
                object(
                    "Account",
                    "Account",
                    "001",
                    vec![
                        Field::standard("Name", "Account Name", Text),
                        Field::reference("OwnerId", "Owner ID", "User"),
                    ],
                ),
                object(
                    "Opportunity",
                    "Opportunity",
                    "006",
                    vec![
                        Field::standard("Name", "Name", Text),
                        Field::reference("AccountId", "Account ID", "Account"),
                        Field::reference("OwnerId", "Owner ID", "User"),
                        Field::standard("StageName", "Stage", Text),
                        Field::standard("CloseDate", "Close Date", Date),
                        Field::standard("Amount", "Amount", Currency),
                    ],
                ),
                object(
                    "Task",
                    "Task",
                    "00T",
                    vec![
                        Field::standard("Subject", "Subject", Text),
                        Field::picklist("Priority", "Priority", &["High", "Normal", "Low"]),
                        Field::picklist(
                            "Status",
                            "Status",
                            &["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"],
                        ),
                        Field::reference("WhatId", "Related To ID", "Opportunity"),
                        Field::reference("OwnerId", "Assigned To ID", "User"),
                        Field::standard("Description", "Comments", TextArea),
                        Field::standard("ActivityDate", "Due Date", Date),
                    ],
                ),
                object(
                    "OpportunityStage",
                    "Opportunity Stage",
                    "01J",
                    vec![
                        Field::system("ApiName", "Api Name", Text),
                        Field::system("MasterLabel", "Master Label", Text),
                        Field::system("IsWon", "Won", Boolean),
                        Field::system("IsClosed", "Closed", Boolean),
                        Field::system("IsActive", "Active", Boolean),
                        Field::system("SortOrder", "Sort Order", Number),
                    ],
                ),
                object(
                    "User",
                    "User",
                    "005",
                    vec![Field::standard("Name", "Full Name", Text), Field::standard("Username", "Username", Text)],
                ),
            ],
        }
    }

    /// Adds the package's objects and fields: `files` are (path under `objects/`, XML) pairs.
    fn install(mut self, files: impl Iterator<Item = (String, String)>) -> Result<Self, String> {
        let mut files: Vec<(String, String)> = files.collect();
        // Objects before their fields, so a custom object exists when its fields arrive.
        files.sort_by_key(|(path, _)| !path.ends_with(".object-meta.xml"));
        for (path, text) in files {
            let mut parts = path.split('/');
            let folder = parts.next().unwrap_or_default();
            // Task's custom fields are defined on Activity (shared with Event).
            let object = if folder == "Activity" { "Task" } else { folder };
            let document = roxmltree::Document::parse(&text).map_err(|e| format!("{path}: {e}"))?;
            let root = document.root_element();
            match root.tag_name().name() {
                "CustomObject" => self.install_object(object, root),
                "CustomField" => {
                    let field = custom_field(root).map_err(|e| format!("{path}: {e}"))?;
                    let target = self
                        .objects
                        .iter_mut()
                        .find(|o| o.name == object)
                        .ok_or_else(|| format!("{path}: no object {object}"))?;
                    target.fields.retain(|f| f.name != field.name);
                    target.fields.push(field);
                }
                _ => {} // list views, compact layouts: nothing the API checks
            }
        }
        Ok(self)
    }

    fn install_object(&mut self, name: &str, root: roxmltree::Node) {
        // A standard object's own file (settings, not fields) changes nothing the stand-in checks.
        if self.object(name).is_some() {
            return;
        }
        let name_field = root.children().find(|n| n.has_tag_name("nameField"));
        let name_type = name_field.and_then(|n| text(n, "type")).unwrap_or("Text");
        let label = text(root, "label").unwrap_or(name);
        // Custom objects get key prefixes a00, a01, … in the order they are installed.
        let custom = self.objects.iter().filter(|o| o.custom).count();
        let key_prefix = if name == "Payment__c" { "a0P".to_owned() } else { format!("a{custom:02}") };
        let mut record_name = Field::standard(
            "Name",
            name_field.and_then(|n| text(n, "label")).unwrap_or("Name"),
            FieldType::from_metadata(name_type).unwrap_or(FieldType::Text),
        );
        record_name.writable = record_name.kind != FieldType::AutoNumber;
        let mut fields = system_fields(label);
        fields.extend([Field::reference("OwnerId", "Owner ID", "User"), record_name]);
        self.objects.push(Object { name: name.into(), label: label.into(), key_prefix, custom: true, fields });
    }
}

/// The fields every record has and nobody writes.
fn system_fields(label: &str) -> Vec<Field> {
    vec![
        Field::system("Id", &format!("{label} ID"), FieldType::Id),
        Field::system("CreatedDate", "Created Date", FieldType::DateTime),
        Field::system("LastModifiedDate", "Last Modified Date", FieldType::DateTime),
    ]
}

fn text<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> Option<&'a str> {
    node.children().find(|n| n.has_tag_name(tag)).and_then(|n| n.text()).map(str::trim)
}

fn flag(node: roxmltree::Node, tag: &str) -> bool {
    text(node, tag) == Some("true")
}

/// A `<CustomField>` as the stand-in enforces it.
fn custom_field(root: roxmltree::Node) -> Result<Field, String> {
    let name = text(root, "fullName").ok_or("no fullName")?;
    let kind_name = text(root, "type").ok_or("no type")?;
    let kind = FieldType::from_metadata(kind_name).ok_or_else(|| format!("unknown field type {kind_name}"))?;
    let length = match kind {
        FieldType::Text => text(root, "length").and_then(|l| l.parse().ok()),
        FieldType::Url | FieldType::Email | FieldType::TextArea => Some(255),
        _ => None,
    };
    let value_set = root.children().find(|n| n.has_tag_name("valueSet"));
    let picklist = value_set
        .and_then(|v| v.children().find(|n| n.has_tag_name("valueSetDefinition")))
        .map(|d| {
            d.children()
                .filter(|n| n.has_tag_name("value"))
                .filter_map(|v| text(v, "fullName"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Field {
        name: name.into(),
        label: text(root, "label").unwrap_or(name).into(),
        kind,
        length,
        picklist,
        restricted: value_set.is_some_and(|v| flag(v, "restricted")),
        external_id: flag(root, "externalId"),
        unique: flag(root, "unique"),
        case_sensitive: flag(root, "caseSensitive"),
        reference_to: text(root, "referenceTo").map(str::to_owned),
        writable: true,
        custom: true,
    })
}

fn read_dir(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_dir(root, &path, files)?;
        } else if path.to_string_lossy().ends_with("-meta.xml") {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let relative = path.strip_prefix(root).map_err(|e| e.to_string())?.to_string_lossy().replace('\\', "/");
            files.push((relative, text));
        }
    }
    Ok(())
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
