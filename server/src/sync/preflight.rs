//! `remit salesforce check`: does the org hold what the mapping writes? Describe calls show the
//! objects and fields as the integration user sees them (a field it may not see is missing); the
//! check compares them with every field Remit writes, the picklist values it writes, the external
//! ids it upserts by, the won stage, and the day's API usage. `survey` does the calls, `assess`
//! decides, and each finding says how to fix what is wrong.

use std::{collections::BTreeMap, fmt};

use crate::{
    config::{FieldUse, SalesforceMapping, WrittenField},
    payments::PaymentStatus,
    salesforce::{DailyLimit, FieldDescription, ObjectDescription, SalesforceClient, SalesforceError},
    sync::records::StatusLabels,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Missing,
    Wrong,
}

/// One line of the check: what was checked, and for a problem, what is wrong and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub subject: String,
    pub detail: String,
}

impl Finding {
    fn new(verdict: Verdict, subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { verdict, subject: subject.into(), detail: detail.into() }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Missing => "missing",
            Verdict::Wrong => "wrong",
        };
        write!(f, "{verdict:<8} {}", self.subject)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// An `OpportunityStage` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub api_name: String,
    pub is_won: bool,
    pub is_closed: bool,
    pub is_active: bool,
}

/// What the org answered: each object Remit writes (`None`: not there), its stages, its limit.
#[derive(Debug, Clone)]
pub struct Survey {
    pub objects: BTreeMap<String, Option<ObjectDescription>>,
    pub stages: Vec<Stage>,
    pub daily_limit: DailyLimit,
}

/// Asks the org: one describe per object the mapping writes, its stages and its limits.
pub async fn survey(client: &SalesforceClient, mapping: &SalesforceMapping) -> Result<Survey, SalesforceError> {
    let mut objects = BTreeMap::new();
    for object in written_objects(mapping) {
        objects.insert(object.to_owned(), client.describe(object).await?);
    }
    let rows = client.query("SELECT ApiName, IsWon, IsClosed, IsActive FROM OpportunityStage").await?;
    let stages = rows
        .iter()
        .map(|row| Stage {
            api_name: row["ApiName"].as_str().unwrap_or_default().to_owned(),
            is_won: row["IsWon"].as_bool().unwrap_or(false),
            is_closed: row["IsClosed"].as_bool().unwrap_or(false),
            is_active: row["IsActive"].as_bool().unwrap_or(false),
        })
        .collect();
    Ok(Survey { objects, stages, daily_limit: client.daily_limit().await? })
}

/// Surveys the org and assesses it: the findings of `remit salesforce check`.
pub async fn check(
    client: &SalesforceClient,
    mapping: &SalesforceMapping,
    labels: &StatusLabels,
) -> Result<Vec<Finding>, SalesforceError> {
    Ok(assess(mapping, labels, &survey(client, mapping).await?))
}

/// At start-up in live mode: the same check, its problems logged; Remit starts either way, since
/// what is missing may only matter to some payments, and the admin may be fixing it right now.
pub async fn log_at_start_up(client: SalesforceClient, mapping: SalesforceMapping, labels: StatusLabels) {
    match check(&client, &mapping, &labels).await {
        Ok(findings) => {
            let problems: Vec<&Finding> = findings.iter().filter(|f| f.verdict != Verdict::Ok).collect();
            for problem in &problems {
                tracing::warn!(check = %problem, "Salesforce is not ready for Remit");
            }
            if problems.is_empty() {
                tracing::info!(checks = findings.len(), "Salesforce check: the org holds everything Remit writes");
            } else {
                tracing::warn!(
                    problems = problems.len(),
                    "Salesforce check found problems; `remit salesforce check` lists them with their fixes"
                );
            }
        }
        Err(error) => tracing::warn!(%error, "Salesforce check could not run at start-up"),
    }
}

fn written_objects(mapping: &SalesforceMapping) -> Vec<&str> {
    let o = &mapping.objects;
    let mut objects = vec![o.payment.as_str(), o.opportunity.as_str(), o.account.as_str(), o.task.as_str()];
    objects.dedup();
    objects
}

/// Every check, in the order an admin fixes them: objects, fields, picklist values, stage, limits.
pub fn assess(mapping: &SalesforceMapping, labels: &StatusLabels, survey: &Survey) -> Vec<Finding> {
    let mut findings = Vec::new();
    for object in written_objects(mapping) {
        findings.push(object_access(mapping, object, survey.objects.get(object).and_then(Option::as_ref)));
    }
    for written in mapping.written_fields() {
        let Some(Some(object)) = survey.objects.get(written.object) else { continue };
        findings.push(field(mapping, &written, object));
        let values = picklist_values(mapping, labels, &written);
        let missing: Vec<Finding> =
            values.iter().filter_map(|value| missing_picklist_value(&written, object, value)).collect();
        let is_picklist = object.field(written.field).is_some_and(|f| f.kind == "picklist");
        if missing.is_empty() && is_picklist && !values.is_empty() {
            let subject = format!("{}.{} values {}", written.object, written.field, values.join(", "));
            findings.push(Finding::new(Verdict::Ok, subject, ""));
        }
        findings.extend(missing);
    }
    findings.push(won_stage(mapping, &survey.stages));
    findings.push(api_usage(mapping, survey.daily_limit));
    findings
}

fn object_access(mapping: &SalesforceMapping, object: &str, described: Option<&ObjectDescription>) -> Finding {
    let Some(described) = described else {
        return Finding::new(
            Verdict::Missing,
            format!("object {object}"),
            "the org has no such object, or the integration user cannot see it: deploy salesforce/ \
             (salesforce/README.md) and assign the Remit Integration permission set",
        );
    };
    let creates = object == mapping.objects.payment || object == mapping.objects.task;
    let allowed = described.updateable && (!creates || described.createable);
    if allowed {
        Finding::new(Verdict::Ok, format!("object {object}"), "")
    } else {
        let can = if creates { "create and edit" } else { "edit" };
        Finding::new(
            Verdict::Wrong,
            format!("object {object}"),
            format!("the integration user cannot {can} {object} records: assign the Remit Integration permission set"),
        )
    }
}

fn field(mapping: &SalesforceMapping, written: &WrittenField, object: &ObjectDescription) -> Finding {
    let subject = format!("{}.{}", written.object, written.field);
    let Some(described) = object.field(written.field) else {
        let rename = written
            .setting
            .map(|s| format!(", or if the org names it otherwise set salesforce.{s} in remit.toml"))
            .unwrap_or_default();
        return Finding::new(
            Verdict::Missing,
            subject,
            format!(
                "no such field, or the integration user cannot see it: deploy salesforce/ and assign the \
                 Remit Integration permission set{rename}"
            ),
        );
    };
    if !compatible(mapping, written.kind, described) {
        return Finding::new(
            Verdict::Wrong,
            subject,
            format!("the field is of type {}; Remit writes {} into it", described.kind, expected(written.kind)),
        );
    }
    if !(described.createable && described.updateable) {
        return Finding::new(
            Verdict::Wrong,
            subject,
            "the integration user may read but not write it: assign the Remit Integration permission set \
             (field-level security)",
        );
    }
    if written.kind == FieldUse::ExternalId {
        if !described.external_id {
            return Finding::new(
                Verdict::Missing,
                subject,
                "not an external id, and Remit upserts by it: mark the field External ID and Unique",
            );
        }
        if !described.unique {
            return Finding::new(
                Verdict::Wrong,
                subject,
                "an external id but not unique, so one cause could make two records: mark it Unique",
            );
        }
    }
    Finding::new(Verdict::Ok, format!("{subject} ({})", described.kind), "")
}

fn compatible(mapping: &SalesforceMapping, kind: FieldUse, field: &FieldDescription) -> bool {
    let types: &[&str] = match kind {
        FieldUse::Text => &["string", "textarea", "url", "email", "phone", "picklist"],
        FieldUse::Url => &["url", "string", "textarea"],
        FieldUse::Number => &["double", "currency", "percent", "int"],
        FieldUse::Date => &["date"],
        FieldUse::DateTime => &["datetime"],
        FieldUse::Picklist => &["picklist", "string"],
        FieldUse::ExternalId => &["string", "email"],
        FieldUse::OpportunityLookup => {
            return field.kind == "reference" && field.reference_to.contains(&mapping.objects.opportunity);
        }
    };
    types.contains(&field.kind.as_str())
}

fn expected(kind: FieldUse) -> &'static str {
    match kind {
        FieldUse::Text => "text",
        FieldUse::Url => "a URL",
        FieldUse::Number => "a number",
        FieldUse::Date => "a date",
        FieldUse::DateTime => "a date and time",
        FieldUse::Picklist => "picklist values",
        FieldUse::ExternalId => "its own ids (a text external id)",
        FieldUse::OpportunityLookup => "the Opportunity's id (a lookup to Opportunity)",
    }
}

/// The values Remit writes into a picklist field: status labels, kinds, and Task's priority and
/// status.
fn picklist_values(mapping: &SalesforceMapping, labels: &StatusLabels, written: &WrittenField) -> Vec<String> {
    let f = &mapping.fields;
    let objects = &mapping.objects;
    let status_field = (written.object == objects.opportunity && written.field == f.opportunity_payment_status)
        || (written.object == objects.payment && written.field == f.payment_status);
    if status_field {
        let mut values: Vec<String> = PaymentStatus::ALL.iter().map(|s| labels.label(*s)).collect();
        values.dedup();
        return values;
    }
    if written.object == objects.payment && written.field == f.payment_kind {
        return super::records::KIND_LABELS.map(str::to_owned).to_vec();
    }
    if written.object == objects.account && written.field == f.account_subscription_status {
        return super::subscriptions::STATUS_LABELS.map(str::to_owned).to_vec();
    }
    // Tasks to act on are High and Not Started; those that log a subscription's change, Normal
    // and Completed.
    match (written.object == objects.task, written.field) {
        (true, "Priority") => vec!["High".into(), "Normal".into()],
        (true, "Status") => vec!["Not Started".into(), "Completed".into()],
        _ => Vec::new(),
    }
}

fn missing_picklist_value(written: &WrittenField, object: &ObjectDescription, value: &str) -> Option<Finding> {
    let described = object.field(written.field).filter(|f| f.kind == "picklist")?;
    if described.picklist_values.iter().any(|v| v.active && v.value == value) {
        return None;
    }
    let restricted = if described.restricted_picklist { " restricted" } else { "" };
    Some(Finding::new(
        Verdict::Missing,
        format!("{}.{} value {value:?}", written.object, written.field),
        format!(
            "the{restricted} picklist has no active value {value:?}, which Remit writes: add it \
             (Setup > Object Manager > {} > Fields > {})",
            written.object, written.field
        ),
    ))
}

fn won_stage(mapping: &SalesforceMapping, stages: &[Stage]) -> Finding {
    let subject = "won stage";
    match &mapping.won_stage {
        Some(name) => match stages.iter().find(|s| s.api_name == *name) {
            Some(stage) if stage.is_won && stage.is_active => {
                Finding::new(Verdict::Ok, format!("{subject} {name}"), "")
            }
            Some(_) => Finding::new(
                Verdict::Wrong,
                format!("{subject} {name}"),
                "salesforce.won_stage names a stage that is not an active won stage: name one that is",
            ),
            None => Finding::new(
                Verdict::Missing,
                format!("{subject} {name}"),
                "salesforce.won_stage names a stage the org does not have: use a stage's API name",
            ),
        },
        None => match stages.iter().find(|s| s.is_won && s.is_closed && s.is_active) {
            Some(stage) => Finding::new(Verdict::Ok, format!("{subject} {}", stage.api_name), ""),
            None => Finding::new(
                Verdict::Missing,
                subject,
                "the org has no active won stage: activate one, or set salesforce.won_stage in remit.toml",
            ),
        },
    }
}

fn api_usage(mapping: &SalesforceMapping, limit: DailyLimit) -> Finding {
    let used = limit.max.saturating_sub(limit.remaining);
    let share = if limit.max == 0 { 1.0 } else { used as f64 / limit.max as f64 };
    let subject = format!("API usage {used} of {} requests today ({:.0}%)", limit.max, share * 100.0);
    if share < mapping.slow_down_at {
        Finding::new(Verdict::Ok, subject, "")
    } else {
        Finding::new(
            Verdict::Wrong,
            subject,
            format!(
                "past {:.0}% of the daily limit, where Remit holds its writes back: raise the org's limit or \
                 lower other integrations' use",
                mapping.slow_down_at * 100.0
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::PicklistValue;

    fn text(name: &str) -> FieldDescription {
        FieldDescription {
            name: name.into(),
            kind: "string".into(),
            length: 255,
            external_id: false,
            unique: false,
            createable: true,
            updateable: true,
            restricted_picklist: false,
            picklist_values: Vec::new(),
            reference_to: Vec::new(),
        }
    }

    /// An org holding exactly what the default mapping writes.
    fn complete_org(mapping: &SalesforceMapping, labels: &StatusLabels) -> Survey {
        let mut objects: BTreeMap<String, Option<ObjectDescription>> = BTreeMap::new();
        for written in mapping.written_fields() {
            let mut field = text(written.field);
            field.kind = match written.kind {
                FieldUse::Text | FieldUse::ExternalId => "string",
                FieldUse::Url => "url",
                FieldUse::Number => "double",
                FieldUse::Date => "date",
                FieldUse::DateTime => "datetime",
                FieldUse::Picklist => "picklist",
                FieldUse::OpportunityLookup => "reference",
            }
            .into();
            field.external_id = written.kind == FieldUse::ExternalId;
            field.unique = field.external_id;
            field.reference_to = vec!["Opportunity".into()];
            field.picklist_values = picklist_values(mapping, labels, &written)
                .into_iter()
                .map(|value| PicklistValue { value, active: true })
                .collect();
            objects
                .entry(written.object.to_owned())
                .or_insert_with(|| {
                    Some(ObjectDescription {
                        name: written.object.into(),
                        createable: true,
                        updateable: true,
                        fields: Vec::new(),
                    })
                })
                .as_mut()
                .unwrap()
                .fields
                .push(field);
        }
        let stages = vec![Stage { api_name: "Closed Won".into(), is_won: true, is_closed: true, is_active: true }];
        Survey { objects, stages, daily_limit: DailyLimit { max: 15_000, remaining: 14_000 } }
    }

    fn problems(findings: &[Finding]) -> Vec<String> {
        findings.iter().filter(|f| f.verdict != Verdict::Ok).map(ToString::to_string).collect()
    }

    #[test]
    fn an_org_with_every_field_passes_every_check() {
        let mapping = SalesforceMapping::default();
        let labels = StatusLabels::from_mapping(&mapping).unwrap();
        let findings = assess(&mapping, &labels, &complete_org(&mapping, &labels));
        assert_eq!(problems(&findings), Vec::<String>::new());
        assert!(findings.iter().any(|f| f.subject == "won stage Closed Won"));
    }

    #[test]
    fn each_gap_is_one_line_with_its_fix() {
        let mapping = SalesforceMapping::default();
        let labels = StatusLabels::from_mapping(&mapping).unwrap();
        let mut org = complete_org(&mapping, &labels);
        let payment = org.objects.get_mut("Payment__c").unwrap().as_mut().unwrap();
        payment.fields.retain(|f| f.name != "Receipt_URL__c");
        payment.fields.iter_mut().find(|f| f.name == "Amount__c").unwrap().kind = "date".into();
        let task = org.objects.get_mut("Task").unwrap().as_mut().unwrap();
        task.fields.iter_mut().find(|f| f.name == "Remit_Attempt_ID__c").unwrap().external_id = false;
        org.daily_limit = DailyLimit { max: 100, remaining: 5 };
        org.stages.clear();
        let found = problems(&assess(&mapping, &labels, &org));
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].starts_with("wrong    Payment__c.Amount__c: the field is of type date"));
        assert!(
            found[1].starts_with("missing  Payment__c.Receipt_URL__c: ")
                && found[1].contains("fields.payment_receipt_url")
        );
        assert!(found[2].starts_with("missing  Task.Remit_Attempt_ID__c: not an external id"));
        assert!(found[3].starts_with("missing  won stage: "));
        assert!(found[4].starts_with("wrong    API usage 95 of 100 requests today (95%)"));
    }

    #[test]
    fn a_renamed_status_label_must_be_in_the_picklist() {
        let mut mapping = SalesforceMapping::default();
        let labels = StatusLabels::from_mapping(&mapping).unwrap();
        let org = complete_org(&mapping, &labels);
        mapping.status_labels.insert("paid".into(), "Received".into());
        let labels = StatusLabels::from_mapping(&mapping).unwrap();
        let found = problems(&assess(&mapping, &labels, &org));
        assert_eq!(found.len(), 2, "both status fields: {found:#?}");
        assert!(found.iter().all(|line| line.contains("value \"Received\"")));
    }

    #[test]
    fn a_missing_object_is_one_line_and_its_fields_are_not_listed() {
        let mapping = SalesforceMapping::default();
        let labels = StatusLabels::from_mapping(&mapping).unwrap();
        let mut org = complete_org(&mapping, &labels);
        org.objects.insert("Payment__c".into(), None);
        let found = problems(&assess(&mapping, &labels, &org));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].starts_with("missing  object Payment__c: "));
    }

    #[test]
    fn a_field_the_integration_user_cannot_write_is_wrong_with_the_permission_set_as_fix() {
        let mapping = SalesforceMapping::default();
        let labels = StatusLabels::from_mapping(&mapping).unwrap();
        let mut org = complete_org(&mapping, &labels);
        let payment = org.objects.get_mut("Payment__c").unwrap().as_mut().unwrap();
        payment.fields.iter_mut().find(|f| f.name == "Paid_At__c").unwrap().updateable = false;
        payment.createable = false;
        let found = problems(&assess(&mapping, &labels, &org));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("wrong    object Payment__c: the integration user cannot create and edit"));
        assert!(found[1].starts_with("wrong    Payment__c.Paid_At__c: the integration user may read but not write"));
        assert!(found.iter().all(|line| line.contains("Remit Integration permission set")));
    }
}
