//! The server side of the pages: [`app::PaymentPages`] over the payment domain.

use app::{
    AccountPayment, AccountSubscription, AccountView, CheckoutProblem, CreditNoteLink, PageError, PayState, PayView,
    PaymentPages, PortalProblem, ReturnState, ReturnView, SandboxObject, SignInOutcome,
};
use axum::{extract::ConnectInfo, http::request::Parts};
use tower_sessions::Session;

use super::{
    brand_view,
    csrf::{self, CsrfToken},
    sessions,
};
use crate::{
    Cause,
    accounts::{Accounts, Scope, SignInError},
    db::now_ms,
    payments::{
        CheckoutError, Currency, Payment, PaymentStatus, Payments, SubscriptionRow,
        locale::{format_money, language},
    },
    subscriptions::{Interval, SubscriptionStatus},
    telemetry,
};

pub struct PageBackend {
    pub payments: Payments,
    pub accounts: Accounts,
    /// The Salesforce stand-in, in sandbox mode.
    pub sandbox_org: Option<sandbox::Salesforce>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a sign-in lasts however active the payer is.
    pub session_lifetime: std::time::Duration,
    /// Stripe lookups of unrecorded Checkout sessions, per client.
    pub stripe_lookups: crate::accounts::RateLimiter,
}

/// How many unrecorded Checkout sessions one client may have looked up at Stripe per window.
pub const STRIPE_LOOKUPS_PER_CLIENT: u32 = 20;
pub const STRIPE_LOOKUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

fn accept_language(request: &Parts) -> Option<&str> {
    request.headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
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
    async fn pay_view(&self, token: &str) -> Result<Option<PayView>, PageError> {
        let payment = self.payments.by_pay_token(token).await.map_err(unavailable("pay page"))?;
        Ok(payment.map(|payment| {
            let state = match payment.status() {
                PaymentStatus::Expired => PayState::Expired,
                status if status.is_payable() && payment.link_expired(now_ms()) => PayState::Expired,
                status if status.is_payable() => PayState::Payable,
                status if status.is_settled() => PayState::Paid,
                PaymentStatus::Processing => PayState::Processing,
                _ => PayState::Closed,
            };
            PayView {
                token: payment.pay_token.clone(),
                description: self.payments.display_name(&payment),
                amount: payment.amount_display(),
                billing: payment.recurring().map(|r| r.in_words()),
                brand: brand_view(self.payments.brand_of(&payment)),
                state,
                reminders_coming: payment.reminders == "on",
            }
        }))
    }

    async fn success_view(&self, request: &Parts, session_id: &str) -> Result<Option<ReturnView>, PageError> {
        let lookup_allowed = || self.may_ask_stripe(request);
        let payment = self.payments.confirm_return(session_id, lookup_allowed).await;
        Ok(payment.map_err(unavailable("success page"))?.map(|p| self.return_view(&p, accept_language(request))))
    }

    async fn cancel_view(&self, request: &Parts, session_id: &str) -> Result<Option<ReturnView>, PageError> {
        let lookup_allowed = || self.may_ask_stripe(request);
        let payment = self.payments.abandoned_checkout(session_id, lookup_allowed).await;
        Ok(payment.map_err(unavailable("cancel page"))?.map(|p| self.return_view(&p, accept_language(request))))
    }

    async fn csrf_token(&self, request: &Parts) -> Result<String, PageError> {
        csrf_token(request)
    }

    async fn request_sign_in(&self, request: &Parts, email: &str, csrf: &str) -> Result<SignInOutcome, PageError> {
        if !csrf_matches(request, csrf) {
            return Ok(SignInOutcome::FormExpired);
        }
        match self.accounts.request_sign_in(email, self.client_ip(request)).await {
            Ok(()) => Ok(SignInOutcome::Sent),
            Err(SignInError::InvalidEmail(_)) => Ok(SignInOutcome::InvalidEmail),
            Err(SignInError::RateLimited) => Ok(SignInOutcome::RateLimited),
            Err(SignInError::Database(e)) => Err(unavailable("sign-in")(e)),
        }
    }

    async fn sign_in_link_valid(&self, token: &str) -> Result<bool, PageError> {
        self.accounts.link_is_valid(token, Scope::Payer).await.map_err(unavailable("sign-in link"))
    }

    async fn confirm_sign_in(&self, request: &Parts, token: &str, csrf: &str) -> Result<bool, PageError> {
        if !csrf_matches(request, csrf) {
            return Ok(false);
        }
        let Some(email) = self.accounts.redeem(token, Scope::Payer).await.map_err(unavailable("sign-in"))? else {
            return Ok(false);
        };
        sessions::sign_in(&session(request)?, email).await.map_err(unavailable("sign-in"))?;
        Ok(true)
    }

    async fn account(&self, request: &Parts, page: i64) -> Result<Option<AccountView>, PageError> {
        let session = session(request)?;
        let signed_in = sessions::signed_in_payer(&session, self.session_lifetime).await;
        let Some(email) = signed_in.map_err(unavailable("account"))? else { return Ok(None) };
        let (payments, more) = self.accounts.payments_of(&email, page).await.map_err(unavailable("account"))?;
        let credit_notes = self.payments.credit_notes_of_payer(&email).await.map_err(unavailable("account"))?;
        let date = time::macros::format_description!("[day] [month repr:short] [year]");
        let payments = payments
            .iter()
            .map(|p| {
                let created =
                    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(p.created_at) * 1_000_000).ok();
                AccountPayment {
                    date: p.paid_at().or(created).and_then(|d| d.format(&date).ok()).unwrap_or_default(),
                    description: self.payments.display_name(p),
                    brand: self.payments.brand_of(p).name.clone(),
                    amount: p.amount_display(),
                    status: status_in_words(p.status()).to_owned(),
                    receipt_url: p.status().is_settled().then(|| format!("/account/receipts/{}.pdf", p.id)),
                    credit_notes: credit_notes
                        .iter()
                        .filter(|r| r.payment_id == p.id)
                        .map(|r| CreditNoteLink {
                            number: r.credit_note().unwrap_or_default(),
                            amount: r.amount_display(),
                            href: format!("/account/credit-notes/{}.pdf", r.id),
                            void: r.is_void(),
                        })
                        .collect(),
                    pay_url: p.status().is_payable().then(|| self.payments.pay_url(p)),
                    due: p
                        .expires_at
                        .filter(|_| p.status().is_payable())
                        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
                        .and_then(|at| at.format(&date).ok())
                        .map(|day| format!("Pay by {day}")),
                }
            })
            .collect();
        let mut subscriptions = Vec::new();
        for row in self.payments.subscriptions_of_payer(&email).await.map_err(unavailable("account"))? {
            let link = self.payments.get(&row.payment_id).await.map_err(unavailable("account"))?;
            let description = link.as_ref().map(|p| self.payments.display_name(p)).unwrap_or_default();
            subscriptions.push(account_subscription(&row, description));
        }
        Ok(Some(AccountView { email, subscriptions, payments, page, more, csrf: csrf_token(request)? }))
    }

    async fn manage_subscription(
        &self,
        request: &Parts,
        subscription: &str,
        csrf: &str,
    ) -> Result<String, PortalProblem> {
        if !csrf_matches(request, csrf) {
            return Err(PortalProblem::FormExpired);
        }
        let session = session(request).map_err(|_| PortalProblem::Unavailable)?;
        let signed_in = sessions::signed_in_payer(&session, self.session_lifetime).await;
        let Some(email) = signed_in.map_err(|_| PortalProblem::Unavailable)? else {
            return Err(PortalProblem::SignedOut);
        };
        match self.payments.portal_url(&email, subscription, "/account").await {
            Ok(Some(url)) => Ok(url),
            Ok(None) => Err(PortalProblem::NotYours),
            Err(error) => {
                tracing::warn!(error = %telemetry::chain(&error), "account: cannot open Stripe's customer portal");
                Err(PortalProblem::Unavailable)
            }
        }
    }

    async fn sign_out(&self, request: &Parts, csrf: &str) -> Result<(), PageError> {
        if csrf_matches(request, csrf) {
            session(request)?.flush().await.map_err(unavailable("sign-out"))?;
        }
        Ok(())
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

    async fn start_checkout(&self, request: &Parts, token: &str, csrf: &str) -> Result<String, CheckoutProblem> {
        if !csrf_matches(request, csrf) {
            return Err(CheckoutProblem::FormExpired);
        }
        self.payments.checkout_url(token).await.map_err(|error| match error {
            CheckoutError::NotFound => CheckoutProblem::NotFound,
            CheckoutError::NotPayable(_) | CheckoutError::Expired => CheckoutProblem::NotPayable,
            unavailable_now => {
                tracing::warn!(error = %telemetry::chain(&unavailable_now), "pay button: cannot open Stripe Checkout");
                CheckoutProblem::Unavailable
            }
        })
    }
}

/// Logs why a page's data cannot be had, with the cause chain, and hands the page an error that
/// keeps the cause but shows none of it.
pub(super) fn unavailable<E: Into<Cause>>(page: &'static str) -> impl FnOnce(E) -> PageError {
    move |error| {
        let error = PageError::new(error);
        if let Some(cause) = std::error::Error::source(&error) {
            tracing::error!(page, error = %telemetry::chain(cause), "page data unavailable");
        }
        error
    }
}

impl PageBackend {
    fn client_ip(&self, request: &Parts) -> Option<std::net::IpAddr> {
        let peer = request.extensions.get::<ConnectInfo<std::net::SocketAddr>>()?;
        Some(super::client_addr::client_ip(peer.0.ip(), &request.headers, &self.trusted_proxies))
    }

    /// Whether this client may have Remit ask Stripe about a Checkout session Remit has no record
    /// of: anyone can make up session ids, so such lookups are limited per client.
    fn may_ask_stripe(&self, request: &Parts) -> bool {
        let client = self.client_ip(request).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        self.stripe_lookups.allow(&client)
    }

    fn return_view(&self, payment: &Payment, accept_language: Option<&str>) -> ReturnView {
        let language = language(accept_language);
        let state = match payment.status() {
            status if status.is_settled() => ReturnState::Paid,
            PaymentStatus::Processing => ReturnState::Processing,
            status if status.is_payable() => ReturnState::Unpaid,
            _ => ReturnState::Closed,
        };
        let date = time::macros::format_description!("[day] [month repr:long] [year]");
        ReturnView {
            token: payment.pay_token.clone(),
            description: self.payments.display_name(payment),
            amount: format_money(payment.amount_minor, &payment.currency(), &language),
            state,
            failure: payment.failure_reason.as_deref().map(failure_in_words),
            paid_on: payment.paid_at().and_then(|t| t.format(&date).ok()),
            reference: payment.id.chars().take(8).collect::<String>().to_uppercase(),
            payer_email: payment.payer_email.clone(),
            receipt_url: self.payments.receipt_url(payment),
            brand: brand_view(self.payments.brand_of(payment)),
        }
    }
}

/// Stripe's reason codes, as a payer would want them said.
fn failure_in_words(code: &str) -> String {
    match code {
        "insufficient_funds" => "Your card has insufficient funds. Nothing was charged.",
        "expired_card" => "Your card has expired. Nothing was charged.",
        "incorrect_cvc" | "invalid_cvc" => "The card's security code was not accepted. Nothing was charged.",
        "async_payment_failed" | "payment_method_provider_decline" => {
            "Your bank did not complete the debit. Nothing was charged."
        }
        _ => "Your card was declined. Nothing was charged.",
    }
    .to_owned()
}

pub(super) fn session(request: &Parts) -> Result<Session, PageError> {
    request.extensions.get::<Session>().cloned().ok_or_else(|| unavailable("any")("no session layer"))
}

/// This request's CSRF token, for the forms of a page (see `csrf.rs`).
pub(super) fn csrf_token(request: &Parts) -> Result<String, PageError> {
    let token = request.extensions.get::<CsrfToken>().ok_or_else(|| unavailable("any")("no CSRF layer"))?;
    Ok(token.0.clone())
}

pub(super) fn csrf_matches(request: &Parts, presented: &str) -> bool {
    csrf::matches(request.extensions.get::<CsrfToken>(), presented)
}

/// A subscription as the account view lists it: what it costs, where it stands, what is next.
fn account_subscription(row: &SubscriptionRow, description: String) -> AccountSubscription {
    let date = time::macros::format_description!("[day] [month repr:short] [year]");
    let status = SubscriptionStatus::parse(&row.status).unwrap_or(SubscriptionStatus::Incomplete);
    let every = row.recurring_interval.as_deref().and_then(Interval::parse).map(|i| i.every(row.interval_count));
    let every = every.unwrap_or_default();
    let amount = match Currency::parse(&row.currency) {
        Ok(currency) => format!("{} {currency} {every}", currency.format_major(row.amount_minor)),
        Err(_) => format!("{} {} {every}", row.amount_minor, row.currency.to_uppercase()),
    };
    let period_end = row
        .current_period_end
        .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
        .and_then(|at| at.format(&date).ok());
    let next = period_end
        .filter(|_| !status.is_final())
        .map(|day| if row.cancel_at_period_end != 0 { format!("Ends {day}") } else { format!("Next payment {day}") });
    AccountSubscription {
        id: row.id.clone(),
        description,
        amount: amount.trim_end().to_owned(),
        status: subscription_in_words(status).to_owned(),
        next,
        manageable: !status.is_final() && row.customer.is_some(),
    }
}

fn subscription_in_words(status: SubscriptionStatus) -> &'static str {
    match status {
        SubscriptionStatus::Incomplete => "Starting",
        SubscriptionStatus::Trialing => "Free trial",
        SubscriptionStatus::Active => "Active",
        SubscriptionStatus::PastDue => "Payment overdue",
        SubscriptionStatus::Unpaid => "Unpaid",
        SubscriptionStatus::Paused => "Paused",
        SubscriptionStatus::IncompleteExpired | SubscriptionStatus::Canceled => "Canceled",
    }
}

pub(super) fn status_in_words(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Open => "Open",
        PaymentStatus::Processing => "Processing",
        PaymentStatus::Paid => "Paid",
        PaymentStatus::PartiallyRefunded => "Partially refunded",
        PaymentStatus::Refunded => "Refunded",
        PaymentStatus::Disputed => "Disputed",
        PaymentStatus::Failed => "Failed",
        PaymentStatus::Canceled => "Canceled",
        PaymentStatus::Expired => "Expired",
    }
}
