//! The server side of the pages: [`app::PaymentPages`] over the payment domain.

use app::{CheckoutProblem, PayState, PayView, PaymentPages, SandboxObject};

use super::brand_view;
use crate::payments::{CheckoutError, PaymentStatus, Payments};

pub struct PageBackend {
    pub payments: Payments,
    /// The Salesforce stand-in, in sandbox mode.
    pub sandbox_org: Option<sandbox::Salesforce>,
}

/// What the sandbox page shows of each object.
const SANDBOX_COLUMNS: &[(&str, &[&str])] = &[
    (
        "Opportunity",
        &[
            "Id",
            "Name",
            "StageName",
            "CloseDate",
            "Amount",
            "Payment_Status__c",
            "Stripe_Customer_ID__c",
            "Payment_Link__c",
        ],
    ),
    (
        "Payment__c",
        &[
            "Id",
            "Name",
            "Opportunity__c",
            "Amount__c",
            "Currency__c",
            "Payment_Status__c",
            "Paid_At__c",
            "Failure_Reason__c",
            "Remit_Payment_ID__c",
        ],
    ),
    ("Account", &["Id", "Name", "Stripe_Customer_ID__c"]),
    ("Task", &["Id", "Subject", "Priority", "Status", "WhatId", "ActivityDate", "Description"]),
];

#[async_trait::async_trait]
impl PaymentPages for PageBackend {
    async fn pay_view(&self, token: &str) -> Result<Option<PayView>, String> {
        let payment = self.payments.by_pay_token(token).await.map_err(|e| {
            tracing::error!(error = %e, "pay page: database");
            "database unavailable".to_owned()
        })?;
        Ok(payment.map(|payment| {
            let brand = self.payments.brands.choose(Some(&payment.brand), None);
            let state = match payment.status() {
                status if status.is_payable() => PayState::Payable,
                status if status.is_settled() => PayState::Paid,
                PaymentStatus::Processing => PayState::Processing,
                _ => PayState::Closed,
            };
            PayView {
                token: payment.pay_token.clone(),
                description: payment.description.clone().unwrap_or_else(|| format!("Payment to {}", brand.name)),
                amount: payment.amount_display(),
                brand: brand_view(brand),
                state,
            }
        }))
    }

    fn sandbox_salesforce(&self) -> Option<Vec<SandboxObject>> {
        let org = self.sandbox_org.as_ref()?;
        let text = |value: &serde_json::Value| match value {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(
            SANDBOX_COLUMNS
                .iter()
                .map(|(name, columns)| SandboxObject {
                    name: (*name).to_owned(),
                    columns: columns.iter().map(|c| (*c).to_owned()).collect(),
                    rows: org.records(name).iter().map(|r| columns.iter().map(|c| text(&r[*c])).collect()).collect(),
                })
                .collect(),
        )
    }

    async fn start_checkout(&self, token: &str) -> Result<String, CheckoutProblem> {
        self.payments.checkout_url(token).await.map_err(|error| match error {
            CheckoutError::NotFound => CheckoutProblem::NotFound,
            CheckoutError::NotPayable(_) => CheckoutProblem::NotPayable,
            CheckoutError::Stripe(e) => {
                tracing::warn!(error = %e, "pay button: Stripe Checkout unavailable");
                CheckoutProblem::Unavailable
            }
            CheckoutError::Database(e) => {
                tracing::error!(error = %e, "pay button: database");
                CheckoutProblem::Unavailable
            }
        })
    }
}
