//! How Remit's payments map onto the org's objects (`[salesforce]` in `remit.toml`). Defaults are
//! DESIGN.md §6; every name can be changed for an org that named things otherwise.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SalesforceMapping {
    /// The won stage's API name; unset: looked up from `OpportunityStage`.
    pub won_stage: Option<String>,
    /// Whether a payer's cancel (or an API cancel) shows as Failed rather than Canceled.
    pub cancel_sets_failed: bool,
    /// Leave `Name` out of Payment__c writes when the org auto-numbers it.
    pub payment_name_auto_number: bool,
    /// Above this share of the daily API limit Remit slows its writes.
    pub slow_down_at: f64,
    /// How long to hold writes back once past `slow_down_at`.
    pub slow_down_secs: u64,
    /// Picklist values by payment state; checked and applied by `sync::records::StatusLabels`.
    pub status_labels: BTreeMap<String, String>,
    pub objects: Objects,
    pub fields: Fields,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Objects {
    pub payment: String,
    pub opportunity: String,
    pub account: String,
    pub task: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fields {
    pub opportunity_payment_status: String,
    pub opportunity_payment_link: String,
    pub opportunity_stripe_customer_id: String,
    pub opportunity_invoice_id: String,
    pub opportunity_invoice_url: String,
    pub opportunity_subscription_id: String,
    /// Monthly and annual recurring revenue of the Opportunity's subscription.
    pub opportunity_mrr: String,
    pub opportunity_arr: String,
    pub account_stripe_customer_id: String,
    pub account_subscription_status: String,
    pub payment_external_id: String,
    pub payment_opportunity: String,
    pub payment_amount: String,
    pub payment_currency: String,
    pub payment_status: String,
    pub payment_link: String,
    pub payment_checkout_session_id: String,
    pub payment_payment_intent_id: String,
    pub payment_receipt_url: String,
    pub payment_paid_at: String,
    pub payment_failure_reason: String,
    pub payment_refunded_amount: String,
    pub payment_reminders_sent: String,
    pub payment_last_reminder_at: String,
    pub payment_invoice_id: String,
    pub payment_subscription_id: String,
    /// One-time or Invoice: how the payment is collected.
    pub payment_kind: String,
    /// Task's external id: one Task per cause, upserted, never created twice.
    pub task_attempt_id: String,
}

impl Default for SalesforceMapping {
    fn default() -> Self {
        Self {
            won_stage: None,
            cancel_sets_failed: false,
            payment_name_auto_number: false,
            slow_down_at: 0.8,
            slow_down_secs: 60,
            status_labels: BTreeMap::new(),
            objects: Objects::default(),
            fields: Fields::default(),
        }
    }
}

impl Default for Objects {
    fn default() -> Self {
        Self {
            payment: "Payment__c".into(),
            opportunity: "Opportunity".into(),
            account: "Account".into(),
            task: "Task".into(),
        }
    }
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            opportunity_payment_status: "Payment_Status__c".into(),
            opportunity_payment_link: "Payment_Link__c".into(),
            opportunity_stripe_customer_id: "Stripe_Customer_ID__c".into(),
            opportunity_invoice_id: "Stripe_Invoice_ID__c".into(),
            opportunity_invoice_url: "Stripe_Invoice_URL__c".into(),
            opportunity_subscription_id: "Stripe_Subscription_ID__c".into(),
            opportunity_mrr: "MRR__c".into(),
            opportunity_arr: "ARR__c".into(),
            account_stripe_customer_id: "Stripe_Customer_ID__c".into(),
            account_subscription_status: "Subscription_Status__c".into(),
            payment_external_id: "Remit_Payment_ID__c".into(),
            payment_opportunity: "Opportunity__c".into(),
            payment_amount: "Amount__c".into(),
            payment_currency: "Currency__c".into(),
            payment_status: "Payment_Status__c".into(),
            payment_link: "Payment_Link_Full__c".into(),
            payment_checkout_session_id: "Stripe_Checkout_Session_ID__c".into(),
            payment_payment_intent_id: "Stripe_Payment_Intent_ID__c".into(),
            payment_receipt_url: "Receipt_URL__c".into(),
            payment_paid_at: "Paid_At__c".into(),
            payment_failure_reason: "Failure_Reason__c".into(),
            payment_refunded_amount: "Refunded_Amount__c".into(),
            payment_reminders_sent: "Reminders_Sent__c".into(),
            payment_last_reminder_at: "Last_Reminder_At__c".into(),
            payment_invoice_id: "Stripe_Invoice_ID__c".into(),
            payment_subscription_id: "Stripe_Subscription_ID__c".into(),
            payment_kind: "Kind__c".into(),
            task_attempt_id: "Remit_Attempt_ID__c".into(),
        }
    }
}

/// What a field must hold for what Remit writes into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldUse {
    Text,
    Url,
    Number,
    Date,
    DateTime,
    /// A picklist (or text) field: the values Remit writes must be among its values.
    Picklist,
    /// A lookup to the object of the mapping's `objects.opportunity`.
    OpportunityLookup,
    /// The unique external id Remit upserts by.
    ExternalId,
}

/// One field Remit writes: where, what kind, and the `remit.toml` setting that names it (none for
/// Salesforce's standard fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenField<'a> {
    pub object: &'a str,
    pub field: &'a str,
    pub kind: FieldUse,
    pub setting: Option<&'static str>,
}

impl<'a> WrittenField<'a> {
    fn mapped(object: &'a str, field: &'a str, kind: FieldUse, setting: &'static str) -> Self {
        Self { object, field, kind, setting: Some(setting) }
    }

    fn standard(object: &'a str, field: &'a str, kind: FieldUse) -> Self {
        Self { object, field, kind, setting: None }
    }
}

fn is_api_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SalesforceMapping {
    /// Every field Remit writes, with the kind of value it writes there.
    pub fn written_fields(&self) -> Vec<WrittenField<'_>> {
        use FieldUse::{Date, DateTime, ExternalId, Number, OpportunityLookup, Picklist, Text, Url};
        let Objects { payment, opportunity, account, task } = &self.objects;
        let f = &self.fields;
        let (mapped, standard) = (WrittenField::mapped, WrittenField::standard);
        let mut fields = vec![
            mapped(opportunity, &f.opportunity_payment_status, Picklist, "fields.opportunity_payment_status"),
            mapped(opportunity, &f.opportunity_payment_link, Url, "fields.opportunity_payment_link"),
            mapped(opportunity, &f.opportunity_stripe_customer_id, Text, "fields.opportunity_stripe_customer_id"),
            mapped(opportunity, &f.opportunity_invoice_id, Text, "fields.opportunity_invoice_id"),
            mapped(opportunity, &f.opportunity_invoice_url, Url, "fields.opportunity_invoice_url"),
            mapped(opportunity, &f.opportunity_subscription_id, Text, "fields.opportunity_subscription_id"),
            mapped(opportunity, &f.opportunity_mrr, Number, "fields.opportunity_mrr"),
            mapped(opportunity, &f.opportunity_arr, Number, "fields.opportunity_arr"),
            standard(opportunity, "StageName", Picklist),
            standard(opportunity, "CloseDate", Date),
            standard(opportunity, "Amount", Number),
            mapped(account, &f.account_stripe_customer_id, Text, "fields.account_stripe_customer_id"),
            mapped(account, &f.account_subscription_status, Picklist, "fields.account_subscription_status"),
            mapped(payment, &f.payment_external_id, ExternalId, "fields.payment_external_id"),
            mapped(payment, &f.payment_opportunity, OpportunityLookup, "fields.payment_opportunity"),
            mapped(payment, &f.payment_amount, Number, "fields.payment_amount"),
            mapped(payment, &f.payment_currency, Text, "fields.payment_currency"),
            mapped(payment, &f.payment_status, Picklist, "fields.payment_status"),
            mapped(payment, &f.payment_link, Url, "fields.payment_link"),
            mapped(payment, &f.payment_checkout_session_id, Text, "fields.payment_checkout_session_id"),
            mapped(payment, &f.payment_payment_intent_id, Text, "fields.payment_payment_intent_id"),
            mapped(payment, &f.payment_receipt_url, Url, "fields.payment_receipt_url"),
            mapped(payment, &f.payment_paid_at, DateTime, "fields.payment_paid_at"),
            mapped(payment, &f.payment_failure_reason, Text, "fields.payment_failure_reason"),
            mapped(payment, &f.payment_refunded_amount, Number, "fields.payment_refunded_amount"),
            mapped(payment, &f.payment_reminders_sent, Number, "fields.payment_reminders_sent"),
            mapped(payment, &f.payment_last_reminder_at, DateTime, "fields.payment_last_reminder_at"),
            mapped(payment, &f.payment_invoice_id, Text, "fields.payment_invoice_id"),
            mapped(payment, &f.payment_subscription_id, Text, "fields.payment_subscription_id"),
            mapped(payment, &f.payment_kind, Picklist, "fields.payment_kind"),
            mapped(task, &f.task_attempt_id, ExternalId, "fields.task_attempt_id"),
            standard(task, "Subject", Text),
            standard(task, "Priority", Picklist),
            standard(task, "Status", Picklist),
            standard(task, "Description", Text),
            standard(task, "ActivityDate", Date),
        ];
        if !self.payment_name_auto_number {
            fields.push(standard(payment, "Name", Text));
        }
        fields
    }

    pub(super) fn validate(self) -> Result<Self, ConfigError> {
        let Objects { payment, opportunity, account, task } = &self.objects;
        let objects = [
            ("objects.payment", payment),
            ("objects.opportunity", opportunity),
            ("objects.account", account),
            ("objects.task", task),
        ];
        let written = self.written_fields();
        let fields = written.iter().filter_map(|w| Some((w.setting?, w.field)));
        for (setting, name) in objects.into_iter().map(|(s, n)| (s, n.as_str())).chain(fields) {
            if !is_api_name(name) {
                return Err(ConfigError::new(
                    format!("remit.toml salesforce.{setting}"),
                    format!("{name:?} is not a Salesforce API name"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.slow_down_at) {
            return Err(ConfigError::new("remit.toml salesforce.slow_down_at", "must be a share between 0 and 1"));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SalesforceMapping, ConfigError> {
        toml::from_str::<SalesforceMapping>(text)
            .map_err(|e| ConfigError::new("REMIT_CONFIG", e.to_string()))?
            .validate()
    }

    #[test]
    fn the_defaults_are_design_section_6() {
        let mapping = parse("").unwrap();
        assert_eq!(mapping.fields.payment_external_id, "Remit_Payment_ID__c");
        assert_eq!(mapping.objects.payment, "Payment__c");
    }

    #[test]
    fn a_bad_name_stops_start_up_naming_the_setting() {
        let error = parse("[fields]\npayment_status = \"Payment Status\"\n").unwrap_err();
        assert_eq!(error.setting, "remit.toml salesforce.fields.payment_status");
        assert!(parse("[fields]\nno_such_field = \"X\"\n").is_err());
    }
}
