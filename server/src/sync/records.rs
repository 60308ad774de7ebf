//! The bodies of Remit's Salesforce writes, built from a payment as it is now (DESIGN.md §6).
//! Pure: nothing here reads the database or calls Salesforce.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use time::{Date, Weekday, format_description::well_known::Rfc3339};

use super::subscriptions::{SubscriptionNews, canceled_cause, transition_cause};
use crate::{
    config::{ConfigError, SalesforceMapping},
    payments::{
        Collection, Currency, Payment, PaymentStatus, Payments,
        events::{Dispute, FailedAttempt},
    },
    salesforce::{CompositeResult, Subrequest},
    subscriptions::View,
};

pub const TASK_SUBJECT: &str = "Payment Failed - Immediate Action Required";
pub const AMOUNT_TASK_SUBJECT: &str = "Paid amount differs";
/// What `salesforce_tasks` calls the Task about a paid amount that differs.
pub const AMOUNT_TASK: &str = "paid-amount-differs";
/// The Task when a link's last reminder went out unpaid (DESIGN §6), and its cause's key.
pub const OUTSTANDING_TASK_SUBJECT: &str = "Payment Still Outstanding";
pub const OUTSTANDING_TASK: &str = "still-outstanding";
/// The start of a dispute Task's subject; the evidence due date follows.
pub const DISPUTE_TASK_SUBJECT: &str = "Payment Disputed - Respond by";

/// The picklist value Salesforce shows for each payment state (DESIGN.md §6 by default, the
/// mapping's `status_labels` where it says otherwise).
#[derive(Debug, Clone)]
pub struct StatusLabels {
    labels: BTreeMap<&'static str, String>,
    cancel_sets_failed: bool,
}

impl StatusLabels {
    /// Refuses labels for states that do not exist, and empty labels, naming the setting.
    pub fn from_mapping(mapping: &SalesforceMapping) -> Result<Self, ConfigError> {
        let mut labels = BTreeMap::new();
        for (status, label) in &mapping.status_labels {
            let setting = format!("remit.toml salesforce.status_labels.{status}");
            let status =
                PaymentStatus::parse(status).ok_or_else(|| ConfigError::new(&setting, "is not a payment state"))?;
            if label.trim().is_empty() {
                return Err(ConfigError::new(setting, "must not be empty"));
            }
            labels.insert(status.as_str(), label.clone());
        }
        Ok(Self { labels, cancel_sets_failed: mapping.cancel_sets_failed })
    }

    pub fn label(&self, status: PaymentStatus) -> String {
        let status = match status {
            PaymentStatus::Canceled if self.cancel_sets_failed => PaymentStatus::Failed,
            other => other,
        };
        if let Some(label) = self.labels.get(status.as_str()) {
            return label.clone();
        }
        match status {
            PaymentStatus::Open | PaymentStatus::Processing => "Pending",
            PaymentStatus::Paid => "Paid",
            PaymentStatus::PartiallyRefunded => "Partially Refunded",
            PaymentStatus::Refunded => "Refunded",
            PaymentStatus::Disputed => "Disputed",
            PaymentStatus::Failed => "Failed",
            PaymentStatus::Canceled => "Canceled",
            PaymentStatus::Expired => "Expired",
        }
        .to_owned()
    }
}

/// A Unix-millisecond time as Salesforce's datetime fields take it.
fn rfc3339_ms(ms: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?.format(&Rfc3339).ok()
}

/// Text as a Text(255) field takes it (the package's Failure_Reason__c): Salesforce refuses a
/// longer value with STRING_TOO_LONG rather than cutting it.
fn short_text(text: &str) -> String {
    const MAX: usize = 255;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX - 1).collect();
    short.push('…');
    short
}

/// Builds request bodies with the org's names for objects and fields.
pub struct Records {
    pub mapping: SalesforceMapping,
    pub labels: StatusLabels,
    /// For the payment's links (pay page, receipt).
    pub payments: Payments,
    pub api_version: String,
}

/// A failed attempt that has no Task yet, numbered among all of the payment's attempts.
pub type NewFailure<'a> = (usize, &'a FailedAttempt);

/// What a payment's sync has to tell beyond its state: the won stage once paid, the failed
/// attempts that have no Task yet, and whether a paid amount that differs still needs its Task.
pub struct News<'a> {
    pub won_stage: Option<&'a str>,
    pub failures: Vec<NewFailure<'a>>,
    pub amount_differs: bool,
    /// Every reminder went out and the payment is still unpaid.
    pub outstanding: bool,
    /// Open disputes that have no Task yet.
    pub disputes: Vec<&'a Dispute>,
    /// A recurring link's subscription, as its events say.
    pub subscription: Option<SubscriptionNews<'a>>,
}

/// Payment__c's `Kind__c` values Remit writes, in the package's words.
pub const KIND_LABELS: [&str; 3] = ["One-time", "Invoice", "Subscription"];

/// How the payment is collected, as `Kind__c` says it.
pub fn kind_label(payment: &Payment) -> &'static str {
    match payment.collection() {
        Collection::Checkout => KIND_LABELS[0],
        Collection::Invoice { .. } => KIND_LABELS[1],
        Collection::Subscription(_) => KIND_LABELS[2],
    }
}

impl Records {
    fn path(&self, rest: &str) -> String {
        format!("/services/data/v{}/{rest}", self.api_version)
    }

    /// The Payment__c fields for the payment; `opportunity` is an id or a composite reference.
    pub fn payment_record(&self, payment: &Payment, opportunity: &str) -> Map<String, Value> {
        let fields = &self.mapping.fields;
        let mut record = Map::new();
        if !self.mapping.payment_name_auto_number {
            let reference: String = payment.id.chars().take(8).collect();
            record.insert("Name".into(), json!(format!("{} {}", payment.amount_display(), reference.to_uppercase())));
        }
        for (field, value) in [
            (&fields.payment_opportunity, json!(opportunity)),
            (&fields.payment_amount, amount(payment)),
            (&fields.payment_currency, json!(payment.collected_currency().to_string())),
            (&fields.payment_status, json!(self.labels.label(payment.status()))),
            (&fields.payment_link, json!(self.payments.pay_url(payment))),
            (&fields.payment_checkout_session_id, json!(payment.stripe_checkout_session_id)),
            (&fields.payment_payment_intent_id, json!(payment.stripe_payment_intent_id)),
            (&fields.payment_receipt_url, json!(self.payments.receipt_url(payment))),
            (&fields.payment_paid_at, json!(payment.paid_at().and_then(|t| t.format(&Rfc3339).ok()))),
            (&fields.payment_failure_reason, json!(payment.failure_reason.as_deref().map(short_text))),
            (&fields.payment_refunded_amount, major(payment.collected_currency(), payment.refunded_minor)),
            (&fields.payment_reminders_sent, json!(payment.reminder_step)),
            (&fields.payment_last_reminder_at, json!(payment.last_reminder_at.and_then(rfc3339_ms))),
            (&fields.payment_invoice_id, json!(payment.stripe_invoice_id)),
            (&fields.payment_subscription_id, json!(payment.stripe_subscription_id)),
            (&fields.payment_kind, json!(kind_label(payment))),
        ] {
            record.insert(field.clone(), value);
        }
        record
    }

    /// The Opportunity fields for the payment: status and link, and on paid the won stage (and
    /// the day it was paid as the close date).
    pub fn opportunity_update(&self, payment: &Payment, won_stage: Option<&str>, today: Date) -> Map<String, Value> {
        let fields = &self.mapping.fields;
        let mut update = Map::new();
        update.insert(fields.opportunity_payment_status.clone(), json!(self.labels.label(payment.status())));
        update.insert(fields.opportunity_payment_link.clone(), json!(self.payments.pay_url(payment)));
        if let Some(customer) = &payment.stripe_customer_id {
            update.insert(fields.opportunity_stripe_customer_id.clone(), json!(customer));
        }
        if !payment.collection().by_checkout() {
            update.insert(fields.opportunity_invoice_id.clone(), json!(payment.stripe_invoice_id));
            update.insert(fields.opportunity_invoice_url.clone(), json!(payment.hosted_invoice_url));
        }
        if let Some(stage) = won_stage {
            update.insert("StageName".into(), json!(stage));
            let closed = payment.paid_at().map_or(today, |t| t.date());
            update.insert("CloseDate".into(), json!(closed.to_string()));
            update.insert("Amount".into(), amount(payment));
        }
        update
    }

    /// The composite request that makes the org show the payment as it is now: the Opportunity
    /// read (for its owner), the Payment__c upsert, the Opportunity and Account updates, one Task
    /// per new failure, and one when what was paid differs from what was asked.
    pub fn composite(&self, payment: &Payment, opportunity: &str, news: &News<'_>, today: Date) -> Vec<Subrequest> {
        let won_stage = news.won_stage;
        let (objects, fields) = (&self.mapping.objects, &self.mapping.fields);
        let mut requests = vec![
            Subrequest {
                method: "GET",
                url: self.path(&format!("sobjects/{}/{opportunity}?fields=Id,OwnerId", objects.opportunity)),
                reference_id: "opportunity".into(),
                body: None,
            },
            Subrequest {
                method: "PATCH",
                url: self.path(&format!("sobjects/{}/{}/{}", objects.payment, fields.payment_external_id, payment.id)),
                reference_id: "payment".into(),
                body: Some(Value::Object(self.payment_record(payment, "@{opportunity.Id}"))),
            },
        ];
        if payment.renewal_of.is_some() {
            // A renewal is one more Payment__c: the Opportunity and Account show the link's
            // subscription, which its own sync writes.
            return requests;
        }
        let subscription = news.subscription.as_ref().and_then(|s| s.view.subscription.as_ref());
        let mut opportunity_update = self.opportunity_update(payment, won_stage, today);
        if let Some(subscription) = subscription {
            self.subscription_fields(payment, subscription, &mut opportunity_update);
        }
        requests.push(Subrequest {
            method: "PATCH",
            url: self.path(&format!("sobjects/{}/{opportunity}", objects.opportunity)),
            reference_id: "opportunityUpdate".into(),
            body: Some(Value::Object(opportunity_update)),
        });
        if let (Some(account), Some(customer)) = (&payment.account_id, &payment.stripe_customer_id) {
            let mut update = Map::new();
            update.insert(fields.account_stripe_customer_id.clone(), json!(customer));
            if let Some(subscription) = subscription {
                self.account_subscription_status(subscription, &mut update);
            }
            requests.push(Subrequest {
                method: "PATCH",
                url: self.path(&format!("sobjects/{}/{account}", objects.account)),
                reference_id: "account".into(),
                body: Some(Value::Object(update)),
            });
        }
        let view = news.subscription.as_ref().map(|s| s.view);
        for (n, failure) in news.failures.iter().take(20) {
            requests.push(self.failure_task(payment, *n, failure, view, today));
        }
        if let Some(subscription) = &news.subscription {
            requests.extend(self.subscription_tasks(payment, subscription, today));
        }
        if news.amount_differs {
            requests.push(self.amount_task(payment, today));
        }
        if news.outstanding {
            requests.push(self.outstanding_task(payment, today));
        }
        for (n, dispute) in news.disputes.iter().enumerate() {
            requests.push(self.dispute_task(payment, n, dispute, today));
        }
        requests
    }

    fn amount_task(&self, payment: &Payment, today: Date) -> Subrequest {
        let paid = payment.collected_currency();
        let description = format!(
            "The payer paid {} {paid}; the payment asks {} (its terms changed while they paid).\n\
             Refund the difference or collect the rest in Stripe.\nRemit payment: {}",
            paid.format_major(payment.collected_minor()),
            payment.amount_display(),
            payment.id
        );
        let key = format!("{}-{AMOUNT_TASK}", payment.id);
        self.task(&key, "amountTask".into(), AMOUNT_TASK_SUBJECT, description, today)
    }

    fn outstanding_task(&self, payment: &Payment, today: Date) -> Subrequest {
        let description = format!(
            "{} is still unpaid after the last reminder ({} sent).\nCall the payer; the link still works: {}\n\
             Remit payment: {}",
            payment.amount_display(),
            payment.reminder_step,
            self.payments.pay_url(payment),
            payment.id
        );
        let key = format!("{}-{OUTSTANDING_TASK}", payment.id);
        self.task(&key, "outstandingTask".into(), OUTSTANDING_TASK_SUBJECT, description, today)
    }

    fn dispute_task(&self, payment: &Payment, n: usize, dispute: &Dispute, today: Date) -> Subrequest {
        let due = dispute.due_by.and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok()).map(|at| at.date());
        let subject =
            format!("{DISPUTE_TASK_SUBJECT} {}", due.map_or_else(|| "as soon as possible".into(), |d| d.to_string()));
        let currency = payment.collected_currency();
        let description = format!(
            "The payer's bank disputes {} {currency} of this payment.\nReason: {}\nRespond with evidence in \
             Stripe: https://dashboard.stripe.com/disputes/{}\nRemit payment: {}",
            currency.format_major(dispute.amount),
            dispute.reason,
            dispute.id,
            payment.id
        );
        self.task(&dispute_key(payment, dispute), format!("dispute{n}"), &subject, description, today)
    }

    /// A high-priority Task for the Opportunity's owner, upserted by its cause's own external id:
    /// a retry after a call whose answer was lost (Salesforce committed, then timed out) finds the
    /// Task it made instead of making another.
    pub(super) fn task(
        &self,
        key: &str,
        reference_id: String,
        subject: &str,
        description: String,
        today: Date,
    ) -> Subrequest {
        self.task_of(
            key,
            reference_id,
            json!({
                "Subject": subject,
                "Priority": "High",
                "Status": "Not Started",
                "Description": description,
                "ActivityDate": next_business_day(today).to_string(),
            }),
        )
    }

    /// A Task that records what happened on `on` (done already, nothing to act on).
    pub(super) fn logged_task(
        &self,
        key: &str,
        reference_id: String,
        subject: &str,
        description: String,
        on: Date,
    ) -> Subrequest {
        self.task_of(
            key,
            reference_id,
            json!({
                "Subject": subject,
                "Priority": "Normal",
                "Status": "Completed",
                "Description": description,
                "ActivityDate": on.to_string(),
            }),
        )
    }

    fn task_of(&self, key: &str, reference_id: String, mut body: Value) -> Subrequest {
        let (task, external_id) = (&self.mapping.objects.task, &self.mapping.fields.task_attempt_id);
        body["WhatId"] = json!("@{opportunity.Id}");
        body["OwnerId"] = json!("@{opportunity.OwnerId}");
        Subrequest {
            method: "PATCH",
            url: self.path(&format!("sobjects/{task}/{external_id}/{key}")),
            reference_id,
            body: Some(body),
        }
    }

    fn failure_task(
        &self,
        payment: &Payment,
        n: usize,
        failure: &FailedAttempt,
        view: Option<&View>,
        today: Date,
    ) -> Subrequest {
        let description = format!(
            "Payment of {} failed.\nReason code: {}\nAttempt: {} of this payment{}\nPay link: {}\nRemit payment: {}",
            payment.amount_display(),
            failure.reason,
            n + 1,
            self.invoice_failure_details(payment, view, &failure.attempt),
            self.payments.pay_url(payment),
            payment.id
        );
        self.task(&task_key(payment, failure), format!("task{n}"), TASK_SUBJECT, description, today)
    }

    /// The Payment__c upserts of a batch, one per payment, in order.
    pub fn payment_collection(&self, batch: &[&Payment]) -> Vec<Value> {
        let (objects, fields) = (&self.mapping.objects, &self.mapping.fields);
        batch
            .iter()
            .map(|p| {
                let mut record = self.payment_record(p, &p.opportunity_id);
                record.insert(fields.payment_external_id.clone(), json!(p.id));
                typed(record, &objects.payment)
            })
            .collect()
    }

    /// The Opportunity updates of a batch, one per payment in order, followed by the Account
    /// updates of the payments that have an Account and a Stripe customer.
    pub fn update_collection(&self, batch: &[&Payment], won_stage: Option<&str>, today: Date) -> Vec<Value> {
        let (objects, fields) = (&self.mapping.objects, &self.mapping.fields);
        let opportunities = batch.iter().map(|p| {
            let stage = won_stage.filter(|_| p.status() == PaymentStatus::Paid);
            let mut update = self.opportunity_update(p, stage, today);
            update.insert("Id".into(), json!(p.opportunity_id));
            typed(update, &objects.opportunity)
        });
        let accounts = batch.iter().filter_map(|p| {
            let (account, customer) = account_update(p)?;
            let mut update = Map::new();
            update.insert("Id".into(), json!(account));
            update.insert(fields.account_stripe_customer_id.clone(), json!(customer));
            Some(typed(update, &objects.account))
        });
        opportunities.chain(accounts).collect()
    }
}

/// The external id of the Task for one failed attempt of a payment: unique per cause, and safe in
/// a URL path (attempt ids are Stripe's, plus `@` in one fallback form).
/// The Task key of a dispute, and its cause as `salesforce_tasks` remembers it.
pub fn dispute_key(payment: &Payment, dispute: &Dispute) -> String {
    format!("{}-dispute-{}", payment.id, dispute.id)
}

pub fn dispute_cause(dispute: &Dispute) -> String {
    format!("dispute:{}", dispute.id)
}

/// Open disputes without a Task yet.
pub fn untasked_disputes<'a>(disputes: &'a [Dispute], tasked: &[String]) -> Vec<&'a Dispute> {
    disputes.iter().filter(|d| d.outcome.is_none() && !tasked.contains(&dispute_cause(d))).collect()
}

pub fn task_key(payment: &Payment, failure: &FailedAttempt) -> String {
    let attempt: String =
        failure.attempt.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
    format!("{}-failed-{attempt}", payment.id)
}

fn typed(mut record: Map<String, Value>, object: &str) -> Value {
    record.insert("attributes".into(), json!({ "type": object }));
    Value::Object(record)
}

fn account_update(payment: &Payment) -> Option<(&str, &str)> {
    Some((payment.account_id.as_deref()?, payment.stripe_customer_id.as_deref()?))
}

/// Records per sObject Collections request.
pub const COLLECTION_SIZE: usize = 200;

impl Records {
    /// The sObject Collections subrequests of one composite call for a batch: its Payment__c
    /// upserts and its Opportunity and Account updates, 200 records each, named `upsert{i}` and
    /// `update{i}`. Salesforce takes at most five collections in one composite call.
    pub fn batch_composite(&self, upserts: &[Value], updates: &[Value]) -> Vec<Subrequest> {
        let (objects, fields) = (&self.mapping.objects, &self.mapping.fields);
        let upsert_path = self.path(&format!("composite/sobjects/{}/{}", objects.payment, fields.payment_external_id));
        let update_path = self.path("composite/sobjects");
        let collection = |name: &str, url: &str, (i, records): (usize, &[Value])| Subrequest {
            method: "PATCH",
            url: url.to_owned(),
            reference_id: format!("{name}{i}"),
            body: Some(json!({ "allOrNone": false, "records": records })),
        };
        let upserts =
            upserts.chunks(COLLECTION_SIZE).enumerate().map(|chunk| collection("upsert", &upsert_path, chunk));
        let updates =
            updates.chunks(COLLECTION_SIZE).enumerate().map(|chunk| collection("update", &update_path, chunk));
        upserts.chain(updates).collect()
    }
}

/// One result per record of the collections named `{name}{i}` (`records` in all), in order; a
/// collection that failed as a whole fails each of its records with its errors.
pub fn collection_results(results: &[CompositeResult], name: &str, records: usize) -> Vec<Value> {
    let chunks = records.div_ceil(COLLECTION_SIZE);
    (0..chunks)
        .flat_map(|i| {
            let size = COLLECTION_SIZE.min(records - i * COLLECTION_SIZE);
            let reference = format!("{name}{i}");
            match results.iter().find(|r| r.reference_id == reference) {
                Some(result) if result.status < 300 && result.body.is_array() => {
                    result.body.as_array().cloned().unwrap_or_default()
                }
                other => {
                    let errors: Vec<Value> = other.map_or_else(
                        || vec![json!({ "statusCode": "UNKNOWN_EXCEPTION", "message": "no result for this collection" })],
                        |r| r.errors().iter().map(|e| json!({ "statusCode": e.error_code, "message": e.message })).collect(),
                    );
                    vec![json!({ "success": false, "errors": errors }); size]
                }
            }
        })
        .collect()
}

/// Each batched payment's errors, in order, from the results of [`Records::payment_collection`]
/// and [`Records::update_collection`].
pub fn batch_errors(batch: &[&Payment], upserted: &[Value], updated: &[Value]) -> Vec<Vec<String>> {
    // Account results follow the Opportunity results, one for each payment that has an Account.
    let mut next_account = batch.len();
    batch
        .iter()
        .enumerate()
        .map(|(n, payment)| {
            let account = account_update(payment).map(|_| {
                next_account += 1;
                next_account - 1
            });
            [upserted.get(n), updated.get(n), account.and_then(|i| updated.get(i))]
                .into_iter()
                .flat_map(|result| result.and_then(|r| r["errors"].as_array()).cloned().unwrap_or_default())
                .map(|e| format!("{}: {}", e["statusCode"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or("")))
                .collect()
        })
        .collect()
}

/// The failed attempts that have no Task yet, numbered among all of them.
pub fn untasked<'a>(failures: &'a [FailedAttempt], tasked: &[String]) -> Vec<NewFailure<'a>> {
    failures.iter().enumerate().filter(|(_, f)| !tasked.contains(&f.attempt)).collect()
}

/// The Tasks a composite call created: (attempt, or [`AMOUNT_TASK`]; Task id).
pub fn created_tasks(results: &[CompositeResult], news: &News<'_>) -> Vec<(String, String)> {
    let task_id = |reference: &str| {
        let result = results.iter().find(|r| r.reference_id == reference)?;
        Some(result.body["id"].as_str()?.to_owned())
    };
    let failures =
        news.failures.iter().filter_map(|(n, failure)| Some((failure.attempt.clone(), task_id(&format!("task{n}"))?)));
    let amount = news.amount_differs.then(|| task_id("amountTask").map(|id| (AMOUNT_TASK.to_owned(), id))).flatten();
    let outstanding =
        news.outstanding.then(|| task_id("outstandingTask").map(|id| (OUTSTANDING_TASK.to_owned(), id))).flatten();
    let disputes = news
        .disputes
        .iter()
        .enumerate()
        .filter_map(|(n, d)| Some((dispute_cause(d), task_id(&format!("dispute{n}"))?)));
    let mut created: Vec<(String, String)> = failures.chain(amount).chain(outstanding).chain(disputes).collect();
    if let Some(news) = &news.subscription
        && let Some(subscription) = &news.view.subscription
    {
        let id = subscription.latest.id.as_str();
        for (n, transition) in news.transitions.iter().enumerate() {
            created.extend(task_id(&format!("transition{n}")).map(|task| (transition_cause(id, transition), task)));
        }
        if news.canceled {
            created.extend(task_id("canceledTask").map(|task| (canceled_cause(id), task)));
        }
    }
    created
}

/// The first subrequest that failed for its own reason (not rolled back for another's), with its
/// errors as text.
pub fn failure(results: &[CompositeResult]) -> Option<(String, String)> {
    results.iter().filter(|r| r.status >= 300).find_map(|r| {
        let errors = r.errors();
        let own = errors.iter().filter(|e| e.error_code != "PROCESSING_HALTED").collect::<Vec<_>>();
        (!own.is_empty()).then(|| {
            (
                r.reference_id.clone(),
                own.iter().map(|e| format!("{}: {}", e.error_code, e.message)).collect::<Vec<_>>().join("; "),
            )
        })
    })
}

/// What was collected (what was asked, until paid) in major units, as Salesforce's currency
/// fields take it.
fn amount(payment: &Payment) -> Value {
    major(payment.collected_currency(), payment.collected_minor())
}

/// Minor units as a JSON number in major units (exact: formatted, then read as a JSON number).
pub(super) fn major(currency: Currency, minor: i64) -> Value {
    currency.format_major(minor).parse().unwrap_or(Value::Null)
}

/// Errors that clear by themselves: a locked row, a busy org, the daily limit.
pub fn is_retryable(errors: &str) -> bool {
    ["UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"].iter().any(|code| errors.contains(code))
}

/// Tasks are due the next working day.
fn next_business_day(today: Date) -> Date {
    let mut day = today.next_day().unwrap_or(today);
    while matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
        day = day.next_day().unwrap_or(day);
    }
    day
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn labels(text: &str) -> Result<StatusLabels, ConfigError> {
        let mapping: SalesforceMapping = toml::from_str(text).expect("a mapping");
        StatusLabels::from_mapping(&mapping)
    }

    #[test]
    fn tasks_fall_due_on_the_next_working_day() {
        assert_eq!(next_business_day(date!(2026 - 11 - 27)), date!(2026 - 11 - 30)); // Friday → Monday
        assert_eq!(next_business_day(date!(2026 - 11 - 24)), date!(2026 - 11 - 25));
    }

    #[test]
    fn the_default_labels_are_design_section_6() {
        let labels = labels("").unwrap();
        assert_eq!(labels.label(PaymentStatus::Open), "Pending");
        assert_eq!(labels.label(PaymentStatus::PartiallyRefunded), "Partially Refunded");
        assert_eq!(labels.label(PaymentStatus::Canceled), "Canceled");
    }

    #[test]
    fn labels_and_cancel_handling_can_be_changed() {
        let labels = labels("cancel_sets_failed = true\n[status_labels]\npaid = \"Received\"\n").unwrap();
        assert_eq!(labels.label(PaymentStatus::Paid), "Received");
        assert_eq!(labels.label(PaymentStatus::Canceled), "Failed");
    }

    #[test]
    fn a_label_for_no_state_or_an_empty_one_names_the_setting() {
        let error = labels("[status_labels]\nsettled = \"Paid\"\n").unwrap_err();
        assert_eq!(error.setting, "remit.toml salesforce.status_labels.settled");
        let error = labels("[status_labels]\npaid = \" \"\n").unwrap_err();
        assert_eq!(error.setting, "remit.toml salesforce.status_labels.paid");
    }

    #[test]
    fn only_attempts_without_a_task_are_new_and_keep_their_number() {
        let attempt = |id: &str| FailedAttempt { attempt: id.into(), reason: "card_declined".into(), at: 0 };
        let failures = [attempt("ch_1"), attempt("ch_2"), attempt("ch_3")];
        let new = untasked(&failures, &["ch_1".to_owned(), "ch_3".to_owned()]);
        assert_eq!(new.iter().map(|(n, f)| (*n, f.attempt.as_str())).collect::<Vec<_>>(), [(1, "ch_2")]);
    }

    #[test]
    fn a_long_failure_reason_is_cut_to_what_the_field_holds() {
        assert_eq!(short_text("card_declined"), "card_declined");
        let long = "x".repeat(300);
        let short = short_text(&long);
        assert_eq!(short.chars().count(), 255);
        assert!(short.ends_with('…'));
    }
}
