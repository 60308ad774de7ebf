//! The job that pushes a payment's *current* state to Salesforce (DESIGN.md §6): the Payment__c
//! record upserted by Remit's id, the Opportunity's payment status (and on paid its won stage and
//! close date), the Account's Stripe customer, and one high-priority Task per failed attempt. All of
//! it in one composite call with `allOrNone`, so the org never holds half a change.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{Map, Value, json};
use time::{Date, OffsetDateTime, Weekday, format_description::well_known::Rfc3339};

use crate::{
    config::SalesforceMapping,
    db::now_ms,
    payments::{Payment, PaymentStatus, Payments, events::FailedAttempt},
    salesforce::{CompositeResult, SalesforceClient, SalesforceError, Subrequest, soql},
};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Permanent(String),
}

impl From<SalesforceError> for SyncError {
    fn from(error: SalesforceError) -> Self {
        if error.is_retryable() { Self::Retryable(error.to_string()) } else { Self::Permanent(error.to_string()) }
    }
}

impl From<sqlx::Error> for SyncError {
    fn from(error: sqlx::Error) -> Self {
        Self::Retryable(format!("database: {error}"))
    }
}

pub struct SalesforceSync {
    pub payments: Payments,
    pub client: SalesforceClient,
    pub mapping: SalesforceMapping,
    won_stage: tokio::sync::Mutex<Option<String>>,
    /// Until when writes hold back because the org's API usage is high.
    slow_until: Mutex<Option<Instant>>,
}

pub const TASK_SUBJECT: &str = "Payment Failed - Immediate Action Required";

impl SalesforceSync {
    pub fn new(payments: Payments, client: SalesforceClient, mapping: SalesforceMapping) -> Self {
        Self { payments, client, mapping, won_stage: tokio::sync::Mutex::new(None), slow_until: Mutex::new(None) }
    }

    pub async fn sync_payment(&self, payment_id: &str) -> Result<(), SyncError> {
        self.respect_api_limit()?;
        let payment = self
            .payments
            .get(payment_id)
            .await?
            .ok_or_else(|| SyncError::Permanent(format!("payment {payment_id} does not exist")))?;
        let failures = self.payments.derived(&payment).await?.failures;
        let tasked: Vec<(String,)> = sqlx::query_as("SELECT attempt_id FROM salesforce_tasks WHERE payment_id = $1")
            .bind(&payment.id)
            .fetch_all(&self.payments.db.pool)
            .await?;
        let new_failures: Vec<(usize, &FailedAttempt)> =
            failures.iter().enumerate().filter(|(_, f)| !tasked.iter().any(|(a,)| a == &f.attempt)).collect();
        let won_stage = if payment.status() == PaymentStatus::Paid { Some(self.won_stage().await?) } else { None };

        let mut opportunity = payment.opportunity_id.clone();
        let results = loop {
            let requests = self.requests(&payment, &opportunity, won_stage.as_deref(), &new_failures);
            let results = self.client.composite(true, &requests).await?;
            self.note_api_usage();
            match failure(&results) {
                None => break results,
                Some((reference, errors))
                    if reference == "opportunity"
                        && errors.contains("NOT_FOUND")
                        && opportunity == payment.opportunity_id =>
                {
                    opportunity = self.resolve_opportunity(&payment).await?.ok_or_else(|| {
                        SyncError::Permanent(format!(
                            "Opportunity {} does not exist and no Opportunity has the payment's Stripe customer",
                            payment.opportunity_id
                        ))
                    })?;
                    tracing::warn!(payment = %payment.id, from = %payment.opportunity_id, to = %opportunity, "payment's Opportunity resolved by Stripe customer");
                }
                Some((_, errors)) if is_retryable(&errors) => return Err(SyncError::Retryable(errors)),
                Some((_, errors)) => return Err(SyncError::Permanent(errors)),
            }
        };
        for (n, failure) in &new_failures {
            let task =
                results.iter().find(|r| r.reference_id == format!("task{n}")).and_then(|r| r.body["id"].as_str());
            if let Some(task) = task {
                sqlx::query(
                    "INSERT INTO salesforce_tasks (payment_id, attempt_id, task_id, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (payment_id, attempt_id) DO NOTHING",
                )
                .bind(&payment.id)
                .bind(&failure.attempt)
                .bind(task)
                .bind(now_ms())
                .execute(&self.payments.db.pool)
                .await?;
            }
        }
        tracing::info!(payment = %payment.id, status = %payment.status(), "payment synced to Salesforce");
        Ok(())
    }

    /// Many payments at once: their Payment__c upserts in one collection call and their
    /// Opportunity and Account updates in another. Payments with new failure Tasks, or whose
    /// Opportunity is gone, take the one-by-one path. One outcome per payment, in order.
    pub async fn sync_many(&self, payment_ids: &[&str]) -> Vec<Result<(), SyncError>> {
        match self.try_sync_many(payment_ids).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                let retryable = matches!(error, SyncError::Retryable(_));
                payment_ids
                    .iter()
                    .map(|_| {
                        Err(if retryable {
                            SyncError::Retryable(error.to_string())
                        } else {
                            SyncError::Permanent(error.to_string())
                        })
                    })
                    .collect()
            }
        }
    }

    async fn try_sync_many(&self, payment_ids: &[&str]) -> Result<Vec<Result<(), SyncError>>, SyncError> {
        self.respect_api_limit()?;
        let mut outcomes: Vec<Option<Result<(), SyncError>>> = payment_ids.iter().map(|_| None).collect();
        let mut batch: Vec<(usize, Payment)> = Vec::new();
        for (i, id) in payment_ids.iter().enumerate() {
            match self.payments.get(id).await? {
                None => outcomes[i] = Some(Err(SyncError::Permanent(format!("payment {id} does not exist")))),
                Some(payment) => {
                    let failures = self.payments.derived(&payment).await?.failures;
                    let (tasked,): (i64,) =
                        sqlx::query_as("SELECT COUNT(*) FROM salesforce_tasks WHERE payment_id = $1")
                            .bind(&payment.id)
                            .fetch_one(&self.payments.db.pool)
                            .await?;
                    if failures.len() as i64 > tasked {
                        outcomes[i] = Some(self.sync_payment(id).await);
                    } else {
                        batch.push((i, payment));
                    }
                }
            }
        }
        if !batch.is_empty() {
            let payments: Vec<&Payment> = batch.iter().map(|(_, p)| p).collect();
            let errors = self.push_batch(&payments).await?;
            for ((i, payment), errors) in batch.iter().zip(errors) {
                outcomes[*i] = Some(if errors.is_empty() {
                    Ok(())
                } else if errors.iter().any(|e| e.starts_with("NOT_FOUND") || e.starts_with("ENTITY_IS_DELETED")) {
                    // Gone Opportunities are resolved one by one.
                    self.sync_payment(&payment.id).await
                } else if is_retryable(&errors.join("; ")) {
                    Err(SyncError::Retryable(errors.join("; ")))
                } else {
                    Err(SyncError::Permanent(errors.join("; ")))
                });
            }
        }
        Ok(outcomes.into_iter().map(|o| o.unwrap_or(Ok(()))).collect())
    }

    /// Two collection calls for the whole batch; each payment's errors, in order.
    async fn push_batch(&self, batch: &[&Payment]) -> Result<Vec<Vec<String>>, SyncError> {
        let won_stage =
            if batch.iter().any(|p| p.status() == PaymentStatus::Paid) { Some(self.won_stage().await?) } else { None };
        let (objects, fields) = (&self.mapping.objects, &self.mapping.fields);
        let with_type = |mut record: Map<String, Value>, object: &str| {
            record.insert("attributes".into(), json!({ "type": object }));
            Value::Object(record)
        };
        let records: Vec<Value> = batch
            .iter()
            .map(|p| {
                let mut record = self.payment_record(p, &p.opportunity_id);
                record.insert(fields.payment_external_id.clone(), json!(p.id));
                with_type(record, &objects.payment)
            })
            .collect();
        let upserted = self.client.upsert_collection(&objects.payment, &fields.payment_external_id, &records).await?;
        let opportunities = batch.iter().map(|p| {
            let mut update =
                self.opportunity_update(p, won_stage.as_deref().filter(|_| p.status() == PaymentStatus::Paid));
            update.insert("Id".into(), json!(p.opportunity_id));
            with_type(update, &objects.opportunity)
        });
        let accounts = batch.iter().filter_map(|p| match (&p.account_id, &p.stripe_customer_id) {
            (Some(account), Some(customer)) => {
                let mut update = Map::new();
                update.insert("Id".into(), json!(account));
                update.insert(fields.account_stripe_customer_id.clone(), json!(customer));
                Some(with_type(update, &objects.account))
            }
            _ => None,
        });
        let updates: Vec<Value> = opportunities.chain(accounts).collect();
        let updated = self.client.update_collection(&updates).await?;
        self.note_api_usage();
        // Account results follow the Opportunity results, one for each payment that has an Account.
        let mut account_result = batch.len();
        let account_results: Vec<Option<usize>> = batch
            .iter()
            .map(|p| {
                (p.account_id.is_some() && p.stripe_customer_id.is_some()).then(|| {
                    account_result += 1;
                    account_result - 1
                })
            })
            .collect();
        Ok((0..batch.len())
            .map(|n| {
                [upserted.get(n), updated.get(n), account_results[n].and_then(|i| updated.get(i))]
                    .into_iter()
                    .flat_map(|result| result.and_then(|r| r["errors"].as_array()).cloned().unwrap_or_default())
                    .map(|e| {
                        format!("{}: {}", e["statusCode"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or(""))
                    })
                    .collect()
            })
            .collect())
    }

    /// The Payment__c fields for the payment; `opportunity` is an id or a composite reference.
    fn payment_record(&self, payment: &Payment, opportunity: &str) -> Map<String, Value> {
        let fields = &self.mapping.fields;
        let mut record = Map::new();
        if !self.mapping.payment_name_auto_number {
            let reference: String = payment.id.chars().take(8).collect();
            record.insert("Name".into(), json!(format!("{} {}", payment.amount_display(), reference.to_uppercase())));
        }
        for (field, value) in [
            (&fields.payment_opportunity, json!(opportunity)),
            (&fields.payment_amount, amount(payment)),
            (&fields.payment_currency, json!(payment.currency().to_string())),
            (&fields.payment_status, json!(self.mapping.status_label(payment.status()))),
            (&fields.payment_link, json!(self.payments.pay_url(payment))),
            (&fields.payment_checkout_session_id, json!(payment.stripe_checkout_session_id)),
            (&fields.payment_payment_intent_id, json!(payment.stripe_payment_intent_id)),
            (&fields.payment_receipt_url, json!(self.payments.receipt_url(payment))),
            (&fields.payment_paid_at, json!(payment.paid_at().and_then(|t| t.format(&Rfc3339).ok()))),
            (&fields.payment_failure_reason, json!(payment.failure_reason)),
        ] {
            record.insert(field.clone(), value);
        }
        record
    }

    /// The Opportunity fields for the payment: status and link, and on paid the won stage.
    fn opportunity_update(&self, payment: &Payment, won_stage: Option<&str>) -> Map<String, Value> {
        let fields = &self.mapping.fields;
        let mut update = Map::new();
        update.insert(fields.opportunity_payment_status.clone(), json!(self.mapping.status_label(payment.status())));
        update.insert(fields.opportunity_payment_link.clone(), json!(self.payments.pay_url(payment)));
        if let Some(customer) = &payment.stripe_customer_id {
            update.insert(fields.opportunity_stripe_customer_id.clone(), json!(customer));
        }
        if let Some(stage) = won_stage {
            update.insert("StageName".into(), json!(stage));
            let closed = payment.paid_at().unwrap_or_else(OffsetDateTime::now_utc).date();
            update.insert("CloseDate".into(), json!(closed.to_string()));
            update.insert("Amount".into(), amount(payment));
        }
        update
    }

    /// The composite request that makes the org show the payment as it is now.
    fn requests(
        &self,
        payment: &Payment,
        opportunity: &str,
        won_stage: Option<&str>,
        new_failures: &[(usize, &FailedAttempt)],
    ) -> Vec<Subrequest> {
        let (objects, fields) = (&self.mapping.objects, &self.mapping.fields);
        let link = self.payments.pay_url(payment);
        let mut requests = vec![
            Subrequest {
                method: "GET",
                url: self.client.path(&format!("sobjects/{}/{opportunity}?fields=Id,OwnerId", objects.opportunity)),
                reference_id: "opportunity".into(),
                body: None,
            },
            Subrequest {
                method: "PATCH",
                url: self
                    .client
                    .path(&format!("sobjects/{}/{}/{}", objects.payment, fields.payment_external_id, payment.id)),
                reference_id: "payment".into(),
                body: Some(Value::Object(self.payment_record(payment, "@{opportunity.Id}"))),
            },
            Subrequest {
                method: "PATCH",
                url: self.client.path(&format!("sobjects/{}/{opportunity}", objects.opportunity)),
                reference_id: "opportunityUpdate".into(),
                body: Some(Value::Object(self.opportunity_update(payment, won_stage))),
            },
        ];
        if let (Some(account), Some(customer)) = (&payment.account_id, &payment.stripe_customer_id) {
            requests.push(Subrequest {
                method: "PATCH",
                url: self.client.path(&format!("sobjects/{}/{account}", objects.account)),
                reference_id: "account".into(),
                body: Some(json!({ fields.account_stripe_customer_id.clone(): customer })),
            });
        }
        for (n, failure) in new_failures.iter().take(20) {
            let description = format!(
                "Payment of {} failed.\nReason code: {}\nAttempt: {} of this payment\nPay link: {link}\nRemit payment: {}",
                payment.amount_display(),
                failure.reason,
                n + 1,
                payment.id
            );
            requests.push(Subrequest {
                method: "POST",
                url: self.client.path(&format!("sobjects/{}", objects.task)),
                reference_id: format!("task{n}"),
                body: Some(json!({
                    "Subject": TASK_SUBJECT,
                    "Priority": "High",
                    "Status": "Not Started",
                    "WhatId": "@{opportunity.Id}",
                    "OwnerId": "@{opportunity.OwnerId}",
                    "Description": description,
                    "ActivityDate": next_business_day(OffsetDateTime::now_utc().date()).to_string(),
                })),
            });
        }
        requests
    }

    /// The org's won stage: from the mapping, else the first active won-and-closed stage.
    async fn won_stage(&self) -> Result<String, SyncError> {
        if let Some(stage) = &self.mapping.won_stage {
            return Ok(stage.clone());
        }
        let mut cached = self.won_stage.lock().await;
        if let Some(stage) = cached.as_ref() {
            return Ok(stage.clone());
        }
        let rows = self
            .client
            .query("SELECT ApiName FROM OpportunityStage WHERE IsWon = true AND IsClosed = true AND IsActive = true ORDER BY SortOrder LIMIT 1")
            .await?;
        let stage = rows
            .first()
            .and_then(|r| r["ApiName"].as_str())
            .ok_or_else(|| SyncError::Permanent("the org has no active won stage; set salesforce.won_stage".into()))?
            .to_owned();
        *cached = Some(stage.clone());
        Ok(stage)
    }

    /// When the payment's Opportunity is gone (merged, deleted), the Opportunity that carries the
    /// payment's Stripe customer.
    async fn resolve_opportunity(&self, payment: &Payment) -> Result<Option<String>, SyncError> {
        let Some(customer) = &payment.stripe_customer_id else { return Ok(None) };
        let soql = format!(
            "SELECT Id FROM {} WHERE {} = {} LIMIT 1",
            self.mapping.objects.opportunity,
            self.mapping.fields.opportunity_stripe_customer_id,
            soql::literal(customer)
        );
        let rows = self.client.query(&soql).await?;
        Ok(rows.first().and_then(|r| r["Id"].as_str()).map(str::to_owned))
    }

    fn respect_api_limit(&self) -> Result<(), SyncError> {
        let slow_until = *self.slow_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match slow_until {
            Some(until) if Instant::now() < until => Err(SyncError::Retryable(format!(
                "Salesforce API usage is past {:.0}% of the daily limit; slowing down",
                self.mapping.slow_down_at * 100.0
            ))),
            _ => Ok(()),
        }
    }

    fn note_api_usage(&self) {
        let Some(usage) = self.client.api_usage() else { return };
        if usage.share() >= self.mapping.slow_down_at {
            tracing::warn!(
                used = usage.used,
                limit = usage.limit,
                "Salesforce API usage is high; Remit slows its writes down"
            );
            *self.slow_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(Instant::now() + Duration::from_secs(self.mapping.slow_down_secs));
        }
    }
}

/// The first subrequest that failed for its own reason (not rolled back for another's), with its
/// errors as text.
fn failure(results: &[CompositeResult]) -> Option<(String, String)> {
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

/// The amount in major units, as Salesforce's currency fields take it.
fn amount(payment: &Payment) -> Value {
    payment.currency().format_major(payment.amount_minor).parse().unwrap_or(Value::Null)
}

fn is_retryable(errors: &str) -> bool {
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

    #[test]
    fn tasks_fall_due_on_the_next_working_day() {
        assert_eq!(super::next_business_day(date!(2026 - 11 - 27)), date!(2026 - 11 - 30)); // Friday → Monday
        assert_eq!(super::next_business_day(date!(2026 - 11 - 24)), date!(2026 - 11 - 25));
    }
}
