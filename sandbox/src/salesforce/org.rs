//! The stand-in org's data and the rules Salesforce applies to writes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rand::{Rng, distr::Alphanumeric};
use serde_json::{Map, Value, json};

use super::schema::{Field, FieldType, Object, Record, Schema, new_id, normalize_id};

/// An error as the REST API returns it: a status and `[{"errorCode", "message", "fields"}]`.
#[derive(Debug, Clone)]
pub struct SfError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub fields: Vec<String>,
}

impl SfError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into(), fields: Vec::new() }
    }

    pub fn body(&self) -> Value {
        let mut error = json!({ "errorCode": self.code, "message": self.message });
        if !self.fields.is_empty() {
            error["fields"] = json!(self.fields);
        }
        json!([error])
    }
}

/// A failure to inject into the next API calls.
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub error_code: String,
    pub message: String,
}

pub struct Org {
    schema: Schema,
    data: BTreeMap<String, BTreeMap<String, Record>>,
    /// (object, external-id field) → value → ids of the records holding it, so an upsert finds
    /// its record without reading every record (a burst upserts thousands into thousands).
    external: HashMap<(String, String), HashMap<String, BTreeSet<String>>>,
    pub tokens: HashSet<String>,
    pub faults: Vec<(Fault, u32)>,
    pub api_usage: u64,
    pub daily_limit: u64,
}

/// The records every stand-in org starts with: an integration user, the standard stages, and the
/// sample Account and Opportunity of the first-run example.
const SAMPLE_ACCOUNT: &str = "0015g00000XyZaBAAV";
const SAMPLE_OPPORTUNITY: &str = "0065g00000AbCdEAAV";
pub const INTEGRATION_USER: &str = "0055g00000IntUsAAJ";

impl Org {
    pub fn seeded(schema: Schema) -> Self {
        let mut org = Self {
            schema,
            data: BTreeMap::new(),
            external: HashMap::new(),
            tokens: HashSet::new(),
            faults: Vec::new(),
            api_usage: 0,
            daily_limit: 100_000,
        };
        org.put(
            "User",
            INTEGRATION_USER,
            json!({ "Name": "Integration User", "Username": "integration@remit.sandbox" }),
        );
        for (i, (name, won, closed)) in [
            ("Prospecting", false, false),
            ("Negotiation", false, false),
            ("Closed Won", true, true),
            ("Closed Lost", false, true),
        ]
        .into_iter()
        .enumerate()
        {
            let id = new_id("01J");
            org.put("OpportunityStage", &id, json!({ "ApiName": name, "MasterLabel": name, "IsWon": won, "IsClosed": closed, "IsActive": true, "SortOrder": i + 1 }));
        }
        org.put("Account", SAMPLE_ACCOUNT, json!({ "Name": "Sample Account", "OwnerId": INTEGRATION_USER }));
        org.put(
            "Opportunity",
            SAMPLE_OPPORTUNITY,
            json!({ "Name": "Sample Opportunity — Annual membership", "AccountId": SAMPLE_ACCOUNT, "OwnerId": INTEGRATION_USER, "StageName": "Prospecting", "CloseDate": "2026-12-31", "Amount": 125.0 }),
        );
        org
    }

    fn put(&mut self, object: &str, id: &str, fields: Value) {
        let mut record: Record = fields.as_object().cloned().unwrap_or_default().into_iter().collect();
        record.insert("Id".into(), json!(id));
        self.store(object, id, record);
    }

    /// Stores `record` as record `id` of `object`, replacing what was there, and keeps the
    /// external-id index true. Every write of a record goes through here.
    fn store(&mut self, object: &str, id: &str, record: Record) {
        let fields: Vec<(String, bool)> = self
            .object(object)
            .map(|o| o.fields.iter().filter(|f| f.external_id).map(|f| (f.name.clone(), f.case_sensitive)).collect())
            .unwrap_or_default();
        let old = self.data.get(object).and_then(|records| records.get(id));
        for (field, case_sensitive) in &fields {
            let index = self.external.entry((object.to_owned(), field.clone())).or_default();
            if let Some(value) = old.and_then(|r| r.get(field)).and_then(Value::as_str)
                && let Some(ids) = index.get_mut(&index_key(value, *case_sensitive))
            {
                ids.remove(id);
            }
            if let Some(value) = record.get(field).and_then(Value::as_str) {
                index.entry(index_key(value, *case_sensitive)).or_default().insert(id.to_owned());
            }
        }
        self.data.entry(object.into()).or_default().insert(id.into(), record);
    }

    pub fn set_schema(&mut self, schema: Schema) {
        self.schema = schema;
        let data = std::mem::take(&mut self.data);
        self.restore(data);
    }

    /// `GET sobjects/{object}/describe`: the object and its fields as the integration user sees them.
    pub fn describe(&self, object: &str) -> Result<Value, SfError> {
        let schema = self.object(object)?;
        let fields: Vec<Value> = schema.fields.iter().map(describe_field).collect();
        let writable = schema.fields.iter().any(|f| f.writable);
        Ok(json!({
            "name": schema.name,
            "label": schema.label,
            "keyPrefix": schema.key_prefix,
            "custom": schema.custom,
            "createable": writable,
            "updateable": writable,
            "queryable": true,
            "fields": fields,
        }))
    }

    /// `GET limits`: the org's daily API requests.
    pub fn limits(&self) -> Value {
        json!({ "DailyApiRequests": { "Max": self.daily_limit, "Remaining": self.daily_limit.saturating_sub(self.api_usage) } })
    }

    pub fn new_token(&mut self) -> String {
        let tail: String = rand::rng().sample_iter(Alphanumeric).take(96).map(char::from).collect();
        let token = format!("00D5g000000SbxE!{tail}");
        self.tokens.insert(token.clone());
        token
    }

    pub fn rename_won_stage(&mut self, api_name: &str) {
        if let Some(stages) = self.data.get_mut("OpportunityStage") {
            for stage in stages.values_mut() {
                if stage.get("IsWon") == Some(&json!(true)) {
                    stage.insert("ApiName".into(), json!(api_name));
                    stage.insert("MasterLabel".into(), json!(api_name));
                }
            }
        }
    }

    fn object(&self, name: &str) -> Result<&Object, SfError> {
        self.schema.object(name).ok_or_else(|| {
            SfError::new(
                404,
                "NOT_FOUND",
                format!("The requested resource does not exist: sObject type '{name}' is not supported."),
            )
        })
    }

    /// A record as the API shows it: `attributes` first.
    fn present(&self, object: &str, record: &Record, fields: Option<&[String]>) -> Value {
        let mut out = Map::new();
        let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
        out.insert(
            "attributes".into(),
            json!({ "type": object, "url": format!("/services/data/v64.0/sobjects/{object}/{id}") }),
        );
        match fields {
            Some(fields) => {
                for field in fields {
                    out.insert(field.clone(), record.get(field).cloned().unwrap_or(Value::Null));
                }
            }
            None => {
                for (key, value) in record {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        Value::Object(out)
    }

    pub fn records(&self, object: &str) -> Vec<Value> {
        self.data
            .get(object)
            .map(|r| r.values().map(|rec| self.present(object, rec, None)).collect())
            .unwrap_or_default()
    }

    pub fn insert(&mut self, object: &str, fields: Value) -> String {
        let prefix = self.object(object).map_or_else(|_| "a00".to_owned(), |o| o.key_prefix.clone());
        let id = new_id(&prefix);
        self.put(object, &id, fields);
        id
    }

    /// Checks a write's fields the way Salesforce does: known columns the user may write, the
    /// value's type and length, restricted picklists, well-formed ids in reference fields.
    fn check(&self, object: &str, body: &Value) -> Result<Record, SfError> {
        let schema = self.object(object)?;
        let Some(fields) = body.as_object() else {
            return Err(SfError::new(400, "JSON_PARSER_ERROR", "The request body must be a JSON object"));
        };
        let mut record = Record::new();
        for (name, value) in fields {
            if name == "attributes" {
                continue;
            }
            let Some(field) = schema.field(name) else {
                return Err(SfError::new(
                    400,
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {object}"),
                ));
            };
            record.insert(name.clone(), checked_value(field, value)?);
        }
        Ok(record)
    }

    pub fn create(&mut self, object: &str, body: &Value) -> Result<Value, SfError> {
        let mut record = self.check(object, body)?;
        stamp(&mut record);
        let id = new_id(&self.object(object)?.key_prefix);
        record.insert("Id".into(), json!(id));
        self.store(object, &id, record);
        Ok(json!({ "id": id, "success": true, "errors": [] }))
    }

    pub fn update(&mut self, object: &str, id: &str, body: &Value) -> Result<(), SfError> {
        let mut changes = self.check(object, body)?;
        stamp(&mut changes);
        let id = normalize_id(id).ok_or_else(|| {
            SfError::new(400, "MALFORMED_ID", format!("{object} ID: id value of incorrect type: {id}"))
        })?;
        let mut record = self
            .data
            .get(object)
            .and_then(|r| r.get(&id))
            .cloned()
            .ok_or_else(|| SfError::new(404, "NOT_FOUND", "The requested resource does not exist"))?;
        record.extend(changes);
        self.store(object, &id, record);
        Ok(())
    }

    pub fn retrieve(&self, object: &str, id: &str, fields: Option<&[String]>) -> Result<Value, SfError> {
        self.object(object)?;
        let id = normalize_id(id).unwrap_or_default();
        let record = self
            .data
            .get(object)
            .and_then(|r| r.get(&id))
            .ok_or_else(|| SfError::new(404, "NOT_FOUND", "The requested resource does not exist"))?;
        Ok(self.present(object, record, fields))
    }

    /// Upsert by external id: 201 and `created: true` for a new record, 200 for an update, 300 when
    /// several records carry the value.
    pub fn upsert(&mut self, object: &str, field: &str, value: &str, body: &Value) -> Result<(u16, Value), SfError> {
        let schema = self.object(object)?;
        let Some(key) = schema.field(field).filter(|f| f.external_id) else {
            return Err(SfError::new(
                400,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {field}"),
            ));
        };
        let (key_prefix, lookup) = (schema.key_prefix.clone(), index_key(value, key.case_sensitive));
        let mut changes = self.check(object, body)?;
        stamp(&mut changes);
        let matching: Vec<String> = self
            .external
            .get(&(object.to_owned(), field.to_owned()))
            .and_then(|index| index.get(&lookup))
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        match matching.as_slice() {
            [] => {
                changes.insert(field.into(), json!(value));
                let id = new_id(&key_prefix);
                changes.insert("Id".into(), json!(id));
                self.store(object, &id, changes);
                Ok((201, json!({ "id": id, "success": true, "errors": [], "created": true })))
            }
            [id] => {
                let id = id.clone();
                if let Some(mut record) = self.data.get(object).and_then(|r| r.get(&id)).cloned() {
                    record.extend(changes);
                    self.store(object, &id, record);
                }
                Ok((200, json!({ "id": id, "success": true, "errors": [], "created": false })))
            }
            many => {
                Err(SfError::new(300, "MULTIPLE_CHOICES", format!("{} records match {field} = {value}", many.len())))
            }
        }
    }

    pub fn query(&self, soql: &str) -> Result<Value, SfError> {
        let query = super::soql::parse(soql).map_err(|e| SfError::new(400, "MALFORMED_QUERY", e))?;
        let schema = self.object(&query.object).map_err(|_| {
            SfError::new(400, "INVALID_TYPE", format!("sObject type '{}' is not supported.", query.object))
        })?;
        for field in query.fields.iter().chain(query.conditions.iter().map(|(f, _)| f)) {
            if schema.field(field).is_none() {
                return Err(SfError::new(
                    400,
                    "INVALID_FIELD",
                    format!("No such column '{field}' on entity '{}'.", query.object),
                ));
            }
        }
        let mut rows: Vec<&Record> = self
            .data
            .get(&query.object)
            .map(|records| {
                records
                    .values()
                    .filter(|r| {
                        query
                            .conditions
                            .iter()
                            .all(|(f, v)| r.get(f).unwrap_or(&Value::Null) == v || numeric_equal(r.get(f), v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some((field, ascending)) = &query.order_by {
            rows.sort_by(|a, b| {
                let ordering = compare(a.get(field), b.get(field));
                if *ascending { ordering } else { ordering.reverse() }
            });
        }
        if let Some(limit) = query.limit {
            rows.truncate(limit);
        }
        let records: Vec<Value> = rows.iter().map(|r| self.present(&query.object, r, Some(&query.fields))).collect();
        Ok(json!({ "totalSize": records.len(), "done": true, "records": records }))
    }

    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, Record>> {
        self.data.clone()
    }

    pub fn restore(&mut self, data: BTreeMap<String, BTreeMap<String, Record>>) {
        self.data = BTreeMap::new();
        self.external.clear();
        for (object, records) in data {
            for (id, record) in records {
                self.store(&object, &id, record);
            }
        }
    }
}

fn describe_field(field: &Field) -> Value {
    let picklist: Vec<Value> = field
        .picklist
        .iter()
        .map(|v| json!({ "value": v, "label": v, "active": true, "defaultValue": false, "validFor": null }))
        .collect();
    json!({
        "name": field.name,
        "label": field.label,
        "type": field.kind.describe_name(),
        "length": field.length.unwrap_or(0),
        "custom": field.custom,
        "externalId": field.external_id,
        "unique": field.unique,
        "caseSensitive": field.case_sensitive,
        "idLookup": field.external_id || field.name == "Id",
        "nillable": field.writable,
        "createable": field.writable,
        "updateable": field.writable,
        "restrictedPicklist": field.restricted,
        "picklistValues": picklist,
        "referenceTo": field.reference_to.iter().collect::<Vec<_>>(),
    })
}

/// The key an external id is found by: case-insensitive ones in lower case.
fn index_key(value: &str, case_sensitive: bool) -> String {
    if case_sensitive { value.to_owned() } else { value.to_lowercase() }
}

/// A field's value as Salesforce stores it, or the error Salesforce answers a wrong one with.
fn checked_value(field: &Field, value: &Value) -> Result<Value, SfError> {
    let refused = |code: &str, message: String| {
        Err(SfError { fields: vec![field.name.clone()], ..SfError::new(400, code, message) })
    };
    if !field.writable {
        return refused(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                field.name
            ),
        );
    }
    if value.is_null() {
        return Ok(Value::Null);
    }
    let shown = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    let wrong_type = || {
        refused(
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of {} from {} value {shown} or request may be missing a required field",
                field.kind.describe_name(),
                if value.is_string() { "VALUE_STRING" } else { "VALUE_OTHER" }
            ),
        )
    };
    match field.kind {
        FieldType::Picklist
            if field.restricted && !value.as_str().is_some_and(|v| field.picklist.iter().any(|p| p == v)) =>
        {
            return refused(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                format!("{}: bad value for restricted picklist field: {shown}", field.label),
            );
        }
        FieldType::Reference => {
            return match value.as_str().and_then(normalize_id) {
                Some(id) => Ok(json!(id)),
                None => refused("MALFORMED_ID", format!("{}: id value of incorrect type: {shown}", field.label)),
            };
        }
        FieldType::Number | FieldType::Currency
            if !value.is_number() && value.as_str().is_none_or(|v| v.parse::<f64>().is_err()) =>
        {
            return wrong_type();
        }
        FieldType::Boolean if !value.is_boolean() => return wrong_type(),
        FieldType::Date
        | FieldType::DateTime
        | FieldType::Text
        | FieldType::TextArea
        | FieldType::Url
        | FieldType::Email
            if !value.is_string() && !value.is_number() =>
        {
            return wrong_type();
        }
        _ => {}
    }
    if let Some(max) = field.length
        && shown.chars().count() > max
    {
        return refused(
            "STRING_TOO_LONG",
            format!("{}: data value too large: {shown} (max length={max})", field.label),
        );
    }
    Ok(value.clone())
}

/// Salesforce's `LastModifiedDate`, to the millisecond, as the API writes it.
fn stamp(record: &mut Record) {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");
    let now = time::OffsetDateTime::now_utc().format(&format).unwrap_or_default();
    record.insert("LastModifiedDate".into(), json!(now));
}

fn numeric_equal(a: Option<&Value>, b: &Value) -> bool {
    matches!((a.and_then(Value::as_f64), b.as_f64()), (Some(x), Some(y)) if x == y)
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a.and_then(Value::as_f64), b.and_then(Value::as_f64)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.map(Value::to_string).cmp(&b.map(Value::to_string)),
    }
}
