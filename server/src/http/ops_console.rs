//! The server side of the operator console: [`app::ops::OpsConsole`] over the domain. Every page
//! checks the console sign-in and the operator's role afresh (a removed operator is out at once);
//! every action checks the CSRF token, then the role, and is written to the operator audit log.

use app::{
    CreditNoteLink, PageError, SignInOutcome,
    ops::{
        Acted, Action, ApiKeysView, FinanceView, Gate, Notice, Operator, OpsConsole, OutboxView, Overview,
        PaymentDetail, PaymentList, PaymentQuery, Row,
    },
};
use axum::{extract::ConnectInfo, http::request::Parts};
use tower_sessions::Session;

use super::{
    pages::{csrf_matches, csrf_token, session, status_in_words, unavailable},
    sessions,
};
use crate::{
    Cause,
    accounts::{Accounts, Scope, SignInError},
    api_keys,
    db::{Db, now_ms},
    jobs,
    ops::{
        audit,
        csv::ExportRequest,
        finance,
        operators::{self, Role},
    },
    outbox,
    payments::{
        Currency, LinkError, Payment, PaymentFilter, PaymentStatus, Payments, RawRefundRequest, RefundError,
        events::unmatched_reason, refundable,
    },
    sync::SalesforceHealth,
    telemetry,
};

/// Payments per page of the list.
const PAGE_SIZE: i64 = 25;
/// How long a console sign-in lasts, however busy: a working day and then some.
const SIGN_IN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);
const DAY_MS: i64 = 24 * 3600 * 1000;

pub struct ConsoleBackend {
    pub db: Db,
    pub payments: Payments,
    pub accounts: Accounts,
    /// The addresses `REMIT_OPERATORS` names.
    pub configured_operators: Vec<String>,
    pub salesforce_health: SalesforceHealth,
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The operator signed in to this request's session.
struct Who {
    email: String,
    role: Role,
    session: Session,
}

#[async_trait::async_trait]
impl OpsConsole for ConsoleBackend {
    async fn request_sign_in(&self, request: &Parts, email: &str, csrf: &str) -> Result<SignInOutcome, PageError> {
        if !csrf_matches(request, csrf) {
            return Ok(SignInOutcome::FormExpired);
        }
        let configured = self.configured_operators.clone();
        match self.accounts.request_operator_sign_in(email, self.client_ip(request), configured).await {
            Ok(()) => Ok(SignInOutcome::Sent),
            Err(SignInError::InvalidEmail(_)) => Ok(SignInOutcome::InvalidEmail),
            Err(SignInError::RateLimited) => Ok(SignInOutcome::RateLimited),
            Err(SignInError::Database(e)) => Err(unavailable("console sign-in")(e)),
        }
    }

    async fn sign_in_link_valid(&self, token: &str) -> Result<bool, PageError> {
        self.accounts.link_is_valid(token, Scope::Operator).await.map_err(unavailable("console sign-in link"))
    }

    async fn confirm_sign_in(&self, request: &Parts, token: &str, csrf: &str) -> Result<bool, PageError> {
        if !csrf_matches(request, csrf) {
            return Ok(false);
        }
        let redeemed = self.accounts.redeem(token, Scope::Operator).await.map_err(unavailable("console sign-in"))?;
        let Some(email) = redeemed else { return Ok(false) };
        if self.role_of(&email).await?.is_none() {
            return Ok(false);
        }
        sessions::sign_in_operator(&session(request)?, email).await.map_err(unavailable("console sign-in"))?;
        Ok(true)
    }

    async fn sign_out(&self, request: &Parts, csrf: &str) -> Result<(), PageError> {
        if csrf_matches(request, csrf) {
            sessions::sign_out_operator(&session(request)?).await.map_err(unavailable("console sign-out"))?;
        }
        Ok(())
    }

    async fn overview(&self, request: &Parts) -> Result<Gate<Overview>, PageError> {
        let Some(who) = self.who(request).await? else { return Ok(Gate::SignedOut) };
        let overview = self.overview_now().await.map_err(unavailable("console overview"))?;
        Ok(Gate::Shown(self.operator(request, &who).await?, overview))
    }

    async fn payments(&self, request: &Parts, query: PaymentQuery) -> Result<Gate<PaymentList>, PageError> {
        let Some(who) = self.who(request).await? else { return Ok(Gate::SignedOut) };
        let (payments, more, problem) = match export_request(&query).filter() {
            Err(problem) => (Vec::new(), false, Some(problem)),
            Ok(filter) => {
                let offset = query.page.saturating_mul(PAGE_SIZE);
                let found = self.payments.newest_filtered(&filter, PAGE_SIZE + 1, offset).await;
                let mut found = found.map_err(unavailable("console payments"))?;
                let more = found.len() as i64 > PAGE_SIZE;
                found.truncate(PAGE_SIZE as usize);
                (found.iter().map(|p| self.list_row(p)).collect(), more, None)
            }
        };
        let list = PaymentList {
            query,
            problem,
            payments,
            more,
            brands: self.brands(),
            statuses: PaymentStatus::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
        };
        Ok(Gate::Shown(self.operator(request, &who).await?, list))
    }

    async fn payment(&self, request: &Parts, id: &str) -> Result<Gate<PaymentDetail>, PageError> {
        let Some(who) = self.who(request).await? else { return Ok(Gate::SignedOut) };
        let Some(payment) = self.payments.get(id).await.map_err(unavailable("console payment"))? else {
            return Ok(Gate::Missing);
        };
        let detail = self.detail(&payment).await.map_err(unavailable("console payment"))?;
        Ok(Gate::Shown(self.operator(request, &who).await?, detail))
    }

    async fn outbox(&self, request: &Parts) -> Result<Gate<OutboxView>, PageError> {
        let Some(who) = self.who(request).await? else { return Ok(Gate::SignedOut) };
        let view = self.outbox_now().await.map_err(unavailable("console outbox"))?;
        Ok(Gate::Shown(self.operator(request, &who).await?, view))
    }

    async fn api_keys(&self, request: &Parts) -> Result<Gate<ApiKeysView>, PageError> {
        let Some(who) = self.who(request).await? else { return Ok(Gate::SignedOut) };
        let keys = api_keys::list(&self.db).await.map_err(unavailable("console API keys"))?;
        let new_key = sessions::take_new_key(&who.session).await.map_err(unavailable("console API keys"))?;
        let keys = keys
            .into_iter()
            .map(|k| {
                let last_used = k.last_used_at.map_or_else(|| "never".to_owned(), when);
                vec![k.id, k.name, when(k.created_at), last_used, k.revoked_at.map(when).unwrap_or_default()]
            })
            .collect();
        Ok(Gate::Shown(self.operator(request, &who).await?, ApiKeysView { keys, new_key }))
    }

    async fn finance(&self, request: &Parts, mut query: PaymentQuery) -> Result<Gate<FinanceView>, PageError> {
        let Some(who) = self.who(request).await? else { return Ok(Gate::SignedOut) };
        if query.from.is_empty() && query.to.is_empty() {
            // Thirty days unless asked otherwise: the totals of all time are one click away.
            query.from = day(now_ms() - 29 * DAY_MS);
        }
        query.q.clear();
        query.status.clear();
        let (days, problem) = match export_request(&query).filter() {
            Err(problem) => (Vec::new(), Some(problem)),
            Ok(filter) => (self.daily_totals(&filter).await.map_err(unavailable("console finance"))?, None),
        };
        let view = FinanceView { query, problem, days, brands: self.brands() };
        Ok(Gate::Shown(self.operator(request, &who).await?, view))
    }

    async fn act(&self, request: &Parts, action: Action, csrf: &str) -> Result<Acted, PageError> {
        let Some(who) = self.who(request).await? else { return Ok(Acted::SignedOut) };
        if !csrf_matches(request, csrf) {
            return Ok(Acted::FormExpired);
        }
        if who.role != Role::Admin {
            return Ok(Acted::Forbidden);
        }
        let (name, subject) = action_names(&action);
        let outcome = self.carry_out(&who, action).await;
        let (text, problem) = match &outcome {
            Ok(done) => (done.clone(), false),
            Err(refused) => (refused.clone(), true),
        };
        audit::record(&self.db, &who.email, name, &subject, &text).await.map_err(unavailable("console action"))?;
        sessions::tell_operator(&who.session, text, problem).await.map_err(unavailable("console action"))?;
        Ok(Acted::Told)
    }
}

/// The audit log's name of an action, and what it was done to.
fn action_names(action: &Action) -> (&'static str, String) {
    match action {
        Action::ResendLink { payment } => ("resend-link", payment.clone()),
        Action::Cancel { payment } => ("cancel", payment.clone()),
        Action::Resync { payment } => ("resync", payment.clone()),
        Action::Refund { payment, .. } => ("refund", payment.clone()),
        Action::Replay { job } => ("replay", job.to_string()),
        Action::ReplayClass { class } => ("replay-class", class.clone()),
        Action::CreateKey { name } => ("create-key", name.clone()),
        Action::RevokeKey { key } => ("revoke-key", key.clone()),
    }
}

/// The filter the form asks for, as the finance export reads it (empty fields ask nothing).
fn export_request(query: &PaymentQuery) -> ExportRequest {
    let given = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    ExportRequest {
        search: given(&query.q),
        status: given(&query.status),
        brand: given(&query.brand),
        currency: given(&query.currency),
        from: given(&query.from),
        to: given(&query.to),
    }
}

impl ConsoleBackend {
    async fn role_of(&self, email: &str) -> Result<Option<Role>, PageError> {
        operators::role_of(&self.db, &self.configured_operators, email).await.map_err(unavailable("console"))
    }

    /// The operator signed in to this request's session and still an operator.
    async fn who(&self, request: &Parts) -> Result<Option<Who>, PageError> {
        let session = session(request)?;
        let signed_in = sessions::signed_in_operator(&session, SIGN_IN_LIFETIME).await;
        let Some(email) = signed_in.map_err(unavailable("console"))? else { return Ok(None) };
        let Some(role) = self.role_of(&email).await? else {
            sessions::sign_out_operator(&session).await.map_err(unavailable("console"))?;
            return Ok(None);
        };
        Ok(Some(Who { email, role, session }))
    }

    /// The operator as a page shows them, with word of their last action (once).
    async fn operator(&self, request: &Parts, who: &Who) -> Result<Operator, PageError> {
        let notice = sessions::take_operator_notice(&who.session).await.map_err(unavailable("console"))?;
        Ok(Operator {
            email: who.email.clone(),
            admin: who.role == Role::Admin,
            csrf: csrf_token(request)?,
            notice: notice.map(|(text, problem)| Notice { text, problem }),
        })
    }

    fn client_ip(&self, request: &Parts) -> Option<std::net::IpAddr> {
        let peer = request.extensions.get::<ConnectInfo<std::net::SocketAddr>>()?;
        Some(super::client_addr::client_ip(peer.0.ip(), &request.headers, &self.trusted_proxies))
    }

    fn brands(&self) -> Vec<(String, String)> {
        self.payments.brands().all().map(|b| (b.key.clone(), b.name.clone())).collect()
    }

    /// Does what an admin asked: what was done, or why nothing was.
    async fn carry_out(&self, who: &Who, action: Action) -> Result<String, String> {
        match action {
            Action::ResendLink { payment } => {
                let payment = self.payments.resend_link(&payment).await.map_err(link_problem)?;
                Ok(format!("The pay link is on its way to {} again.", payment.payer_email))
            }
            Action::Cancel { payment } => {
                let cause = format!("canceled from the console by {}", who.email);
                self.payments.cancel(&payment, &cause).await.map_err(link_problem)?;
                Ok("The payment is canceled; Salesforce will show it.".into())
            }
            Action::Resync { payment } => {
                self.payments.resync(&payment).await.map_err(link_problem)?;
                Ok("The payment's state is queued for Salesforce again.".into())
            }
            Action::Refund { payment, amount, reason, key } => self.refund(&payment, &amount, reason, &key).await,
            Action::Replay { job } => match outbox::replay(&self.db, outbox::Replay::One(job)).await {
                Ok(0) => Err(format!("Job {job} is not a dead letter (any more): nothing to replay.")),
                Ok(_) => Ok(format!("Job {job} is back in the queue.")),
                Err(error) => Err(logged("replay", &error)),
            },
            Action::ReplayClass { class } => {
                let kinds = jobs::kinds_of(&class);
                if kinds.is_empty() {
                    return Err(format!("There is no job class {class:?}."));
                }
                match outbox::replay(&self.db, outbox::Replay::Kinds(&kinds)).await {
                    Ok(n) => Ok(format!("{n} dead {class} job(s) are back in the queue.")),
                    Err(error) => Err(logged("replay", &error)),
                }
            }
            Action::CreateKey { name } => {
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 100 {
                    return Err("Give the key a name of 1 to 100 characters, such as \"Salesforce production\".".into());
                }
                let (id, key) = api_keys::create(&self.db, &name).await.map_err(|e| logged("create key", &e))?;
                sessions::hand_over_key(&who.session, name.clone(), key).await.map_err(|e| logged("create key", &e))?;
                Ok(format!("Created the key {name} ({id})."))
            }
            Action::RevokeKey { key } => match api_keys::revoke(&self.db, &key).await {
                Ok(true) => Ok(format!("Revoked the key {key}: requests with it are refused from now on.")),
                Ok(false) => Err(format!("There is no live key {key}.")),
                Err(error) => Err(logged("revoke key", &error)),
            },
        }
    }

    async fn refund(&self, payment: &str, amount: &str, reason: String, key: &str) -> Result<String, String> {
        let amount = amount.trim();
        let raw = RawRefundRequest {
            amount: (!amount.is_empty()).then(|| serde_json::value::to_raw_value(amount).ok()).flatten(),
            amount_minor: None,
            reason: Some(reason).filter(|r| !r.is_empty()),
            note: None,
        };
        let key = (!key.is_empty()).then_some(key);
        match self.payments.refund(payment, raw, key).await {
            Ok(refund) => {
                let currency = Currency::parse(&refund.currency).map_err(|e| e.to_string())?;
                Ok(format!(
                    "Refund of {} {currency} asked of Stripe ({}).",
                    currency.format_major(refund.amount_minor),
                    refund.status
                ))
            }
            Err(RefundError::Invalid(invalid)) => {
                Err(format!("Nothing was refunded: {} {}.", invalid.field, invalid.message))
            }
            Err(
                error @ (RefundError::NotFound
                | RefundError::NotRefundable(_)
                | RefundError::NothingLeft
                | RefundError::CollectedByInvoice),
            ) => Err(format!("Nothing was refunded: {error}.")),
            Err(RefundError::Stripe(error)) => Err(logged("refund", &error)),
            Err(RefundError::Database(error)) => Err(logged("refund", &error)),
        }
    }

    async fn overview_now(&self) -> Result<Overview, Cause> {
        let now = now_ms();
        let midnight = now - now.rem_euclid(DAY_MS);
        let mut windows = Vec::new();
        for (label, since) in
            [("today", midnight), ("in the last 7 days", now - 7 * DAY_MS), ("in the last 30 days", now - 30 * DAY_MS)]
        {
            let rows = self.payments.totals_since(since).await?;
            let rows = rows
                .into_iter()
                .map(|(status, currency, count, minor)| {
                    let status =
                        PaymentStatus::parse(&status).map_or(status.clone(), |s| status_in_words(s).to_owned());
                    vec![status, currency.clone(), count.to_string(), major(&currency, minor)]
                })
                .collect();
            windows.push((label.to_owned(), rows));
        }
        let figures = crate::ops::metrics::queue_figures(&outbox::census(&self.db).await?, now);
        let mut classes: Vec<&str> = figures.keys().map(|(class, _)| *class).collect();
        classes.dedup();
        let queue = classes
            .into_iter()
            .map(|class| {
                let count = |state| figures.get(&(class, state)).map_or(0, |f| f.0).to_string();
                let oldest = figures.get(&(class, "due")).map_or_else(|| "—".to_owned(), |f| waited(f.1));
                vec![class.to_owned(), count("due"), count("running"), count("retrying"), count("dead"), oldest]
            })
            .collect();
        let (last_event, last_reconciliation) = self.payments.last_heard().await?;
        let salesforce = match self.salesforce_health.unreachable_since() {
            None => "reachable".to_owned(),
            Some(since) => {
                let ms = since.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
                format!("unreachable since {}", when(ms))
            }
        };
        let usage = self.salesforce_health.api_usage().map_or_else(
            || "not known yet (no call since start)".to_owned(),
            |u| format!("{} of {} requests today ({:.0}%)", u.used, u.limit, u.share() * 100.0),
        );
        let health = vec![
            ("Last Stripe webhook".to_owned(), last_event.map_or_else(|| "never".to_owned(), when)),
            (
                "Last reconciliation with Stripe".to_owned(),
                last_reconciliation.map_or_else(|| "never".to_owned(), when),
            ),
            ("Salesforce".to_owned(), salesforce),
            ("Salesforce API use".to_owned(), usage),
            (
                "Stripe errors in the last hour (this instance)".to_owned(),
                self.payments.stripe_failures_in_last_hour().to_string(),
            ),
        ];
        Ok(Overview { windows, queue, health })
    }

    fn list_row(&self, payment: &Payment) -> Row {
        vec![
            payment.id.clone(),
            when(payment.created_at),
            payment.payer_email.clone(),
            self.payments.display_name(payment),
            payment.amount_display(),
            status_in_words(payment.status()).to_owned(),
        ]
    }

    async fn detail(&self, payment: &Payment) -> Result<PaymentDetail, Cause> {
        let refunds = self.payments.refunds(&payment.id).await?.unwrap_or_default();
        let status = payment.status();
        let left = refundable(payment, payment.refunded_minor);
        let collected = payment.collected_currency();
        Ok(PaymentDetail {
            id: payment.id.clone(),
            title: format!("{} · {}", self.payments.display_name(payment), payment.amount_display()),
            facts: payment_facts(payment, &self.payments.brand_of(payment).name, self.payments.pay_url(payment)),
            timeline: self.timeline(payment, &refunds).await?,
            receipt_url: status.is_settled().then(|| self.payments.receipt_url(payment)).flatten(),
            credit_notes: refunds
                .iter()
                .filter_map(|r| {
                    Some(CreditNoteLink {
                        number: r.credit_note()?,
                        amount: r.amount_display(),
                        href: self.payments.credit_note_url(r)?,
                        void: r.is_void(),
                    })
                })
                .collect(),
            can_resend: status.is_payable() && !payment.link_expired(now_ms()),
            can_cancel: status.is_payable(),
            // Remit refunds what Checkout collected; an invoice's payment is refunded in Stripe.
            refundable: (matches!(status, PaymentStatus::Paid | PaymentStatus::PartiallyRefunded)
                && left > 0
                && payment.stripe_payment_intent_id.is_some())
            .then(|| format!("{} {collected}", collected.format_major(left))),
            refund_key: format!("console-{}-{}", payment.id, refunds.len()),
        })
    }

    /// Everything that happened to a payment, oldest first.
    async fn timeline(&self, payment: &Payment, refunds: &[crate::payments::Refund]) -> Result<Vec<Row>, Cause> {
        let mut entries: Vec<(i64, Row)> = Vec::new();
        for (id, kind, received, outcome) in self.payments.events_of(&payment.id).await? {
            let outcome = outcome.unwrap_or_else(|| "waiting to be applied".into());
            entries.push((received, vec![format!("Stripe event {kind}"), format!("{id} · {outcome}")]));
        }
        for (from, to, cause, event, at) in self.payments.audit_of(&payment.id).await? {
            let moved = match from {
                Some(from) if from != to => format!("{from} → {to}"),
                _ => to,
            };
            let cause = event.map_or(cause.clone(), |event| format!("{cause} ({event})"));
            entries.push((at, vec![format!("State: {moved}"), cause]));
        }
        let keys: Vec<String> =
            std::iter::once(payment.id.clone()).chain(refunds.iter().map(|r| r.id.clone())).collect();
        for job in outbox::jobs_about(&self.db, &keys).await? {
            let mut detail = format!("{} after {} attempt(s)", job.status, job.attempts);
            if let Some(error) = job.last_error {
                detail.push_str(&format!(": {error}"));
            }
            entries.push((job.at, vec![job_in_words(&job.kind).to_owned(), detail]));
        }
        for action in audit::of_subject(&self.db, &payment.id).await? {
            entries.push((
                action.at,
                vec![format!("Operator: {}", action.action), format!("{}: {}", action.operator, action.detail)],
            ));
        }
        entries.sort_by_key(|(at, _)| *at);
        Ok(entries
            .into_iter()
            .map(|(at, mut row)| {
                row.insert(0, when(at));
                row
            })
            .collect())
    }

    async fn outbox_now(&self) -> Result<OutboxView, Cause> {
        let dead = outbox::list(&self.db, true).await?;
        let mut dead_classes: Vec<String> =
            dead.iter().filter_map(|job| jobs::class_of(&job.kind)).map(str::to_owned).collect();
        dead_classes.sort();
        dead_classes.dedup();
        let dead = dead
            .into_iter()
            .map(|job| {
                vec![
                    job.id.to_string(),
                    jobs::class_of(&job.kind).unwrap_or("unknown").to_owned(),
                    job_in_words(&job.kind).to_owned(),
                    match job.attempts {
                        1 => "1 attempt".to_owned(),
                        n => format!("{n} attempts"),
                    },
                    format!("last tried {}", when(job.run_at)),
                    job.last_error.unwrap_or_default(),
                    payload_summary(&job.payload),
                ]
            })
            .collect();
        let unmatched = self
            .payments
            .unmatched_events()
            .await?
            .into_iter()
            .take(200)
            .map(|(id, kind, received, payload)| {
                let reason = serde_json::from_str(&payload)
                    .map_or_else(|_| "unreadable payload".into(), |e| unmatched_reason(&e));
                vec![id, kind, when(received), reason]
            })
            .collect();
        Ok(OutboxView { dead, dead_classes, unmatched })
    }

    /// The daily totals of the payments `filter` takes, newest day first, read a page at a time.
    async fn daily_totals(&self, filter: &PaymentFilter) -> Result<Vec<Row>, sqlx::Error> {
        let mut totals = finance::DailyTotals::new();
        let mut at = None;
        loop {
            let (page, next) = self.payments.filtered_page(filter, &at).await?;
            finance::add(&mut totals, &page);
            match next {
                Some(next) => at = next,
                None => break,
            }
        }
        let names = self.brands();
        Ok(totals
            .into_iter()
            .rev()
            .map(|((day, brand, currency), total)| {
                let brand = names.iter().find(|(key, _)| *key == brand).map_or(brand.clone(), |(_, name)| name.clone());
                vec![
                    day,
                    brand,
                    currency.clone(),
                    total.payments.to_string(),
                    major(&currency, total.collected),
                    major(&currency, total.refunded),
                    major(&currency, total.collected - total.refunded),
                ]
            })
            .collect())
    }
}

/// `GET /ops/payments.csv?q=…&status=…`: the payments of the console's filter as CSV, streamed a
/// page at a time, to any signed-in operator.
pub async fn payments_csv(
    axum::extract::State(console): axum::extract::State<std::sync::Arc<ConsoleBackend>>,
    axum::extract::Query(query): axum::extract::Query<CsvQuery>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::{
        http::{StatusCode, header},
        response::IntoResponse,
    };
    let (parts, _) = request.into_parts();
    match console.who(&parts).await {
        Ok(Some(_)) => {}
        Ok(None) => return (StatusCode::UNAUTHORIZED, "Sign in to the console first: /ops/sign-in").into_response(),
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "The console is unavailable right now.").into_response(),
    }
    let filter = match query.0.filter() {
        Ok(filter) => filter,
        Err(problem) => return (StatusCode::BAD_REQUEST, format!("Cannot export: {problem}")).into_response(),
    };
    let payments = console.payments.clone();
    // The header, then one chunk per page, until a page is the last.
    let pages = futures::stream::unfold(Some(None), move |cursor: Option<crate::payments::PageCursor>| {
        let (payments, filter) = (payments.clone(), filter.clone());
        async move {
            let at = cursor?;
            let head = if at.is_none() { crate::ops::csv::header() } else { String::new() };
            match crate::ops::csv::page(&payments, &filter, &at).await {
                Ok((rows, _, next)) => Some((Ok(head + &rows), next)),
                Err(error) => {
                    tracing::error!(error = %telemetry::chain(&error), "CSV export cut short");
                    Some((Err(error), None))
                }
            }
        }
    });
    let filename = format!("remit-payments-{}.csv", day(now_ms()));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        axum::body::Body::from_stream(pages),
    )
        .into_response()
}

/// The export's filter from the address's query (the payments page's own fields).
#[derive(serde::Deserialize)]
#[serde(from = "PaymentQueryFields")]
pub struct CsvQuery(ExportRequest);

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct PaymentQueryFields {
    q: String,
    status: String,
    brand: String,
    currency: String,
    from: String,
    to: String,
}

impl From<PaymentQueryFields> for CsvQuery {
    fn from(f: PaymentQueryFields) -> Self {
        let query = PaymentQuery {
            q: f.q,
            status: f.status,
            brand: f.brand,
            currency: f.currency,
            from: f.from,
            to: f.to,
            page: 0,
        };
        Self(export_request(&query))
    }
}

/// Why a link action did nothing, in words; a failure of the database or Stripe is logged.
fn link_problem(error: LinkError) -> String {
    match error {
        LinkError::NotFound => "There is no such payment.".into(),
        LinkError::AlreadyPaid(_) => "The payment is paid already: nothing was done.".into(),
        LinkError::InProgress(payment) => {
            format!("The payment is {}: nothing was done.", status_in_words(payment.status()).to_lowercase())
        }
        other => logged("payment action", &other),
    }
}

/// Logs a failure the operator cannot fix, and says so without its cause.
fn logged(action: &'static str, error: &(dyn std::error::Error + 'static)) -> String {
    tracing::error!(action, error = %telemetry::chain(error), "console action failed");
    "That did not work: a service did not answer. Nothing was changed; try again in a moment.".into()
}

/// A job's kind as an operator reads it.
fn job_in_words(kind: &str) -> &str {
    match kind {
        "sync_payment" => "Salesforce sync",
        "email_payment_link" => "Email: pay link",
        "email_reminder" => "Email: reminder",
        "email_receipt" => "Email: receipt",
        "email_credit_note" => "Email: credit note",
        "apply_stripe_event" => "Applying a Stripe event",
        "expire_checkout_session" => "Expiring a Checkout session",
        other => other,
    }
}

/// A job's payload in a line: its fields and values.
fn payload_summary(payload: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(fields)) => fields
            .iter()
            .map(|(name, value)| format!("{name}: {}", value.as_str().map_or_else(|| value.to_string(), str::to_owned)))
            .collect::<Vec<_>>()
            .join(", "),
        _ => payload.chars().take(200).collect(),
    }
}

fn major(currency: &str, minor: i64) -> String {
    Currency::parse(currency).map_or_else(|_| format!("{minor} (minor units)"), |c| c.format_major(minor))
}

/// What the payment page lists about a payment, in words: what every payment has, then what
/// this one has of the rest.
fn payment_facts(payment: &Payment, brand: &str, pay_url: String) -> Vec<(String, String)> {
    let collected = payment.collected_currency();
    let payer = match &payment.payer_name {
        Some(name) => format!("{name} <{}>", payment.payer_email),
        None => payment.payer_email.clone(),
    };
    let always = [
        ("Remit id", payment.id.clone()),
        ("Status", status_in_words(payment.status()).to_owned()),
        ("Amount", payment.amount_display()),
        ("Payer", payer),
        ("Brand", brand.to_owned()),
        ("Opportunity", payment.opportunity_id.clone()),
        ("Created", when(payment.created_at)),
        ("Pay link", pay_url),
    ];
    let optional = [
        ("Paid", payment.paid_at.map(when)),
        ("Collected", payment.paid_amount_minor.map(|m| format!("{} {collected}", collected.format_major(m)))),
        (
            "Refunded",
            (payment.refunded_minor > 0)
                .then(|| format!("{} {collected}", collected.format_major(payment.refunded_minor))),
        ),
        ("Last failure", payment.failure_reason.clone()),
        ("Link expires", payment.expires_at.map(when)),
        ("Account", payment.account_id.clone()),
        ("Stripe customer", payment.stripe_customer_id.clone()),
        ("Checkout session", payment.stripe_checkout_session_id.clone()),
        ("Payment intent", payment.stripe_payment_intent_id.clone()),
        ("Invoice", payment.stripe_invoice_id.clone()),
        ("Hosted invoice page", payment.hosted_invoice_url.clone()),
        ("Subscription", payment.stripe_subscription_id.clone()),
        ("Renewal of", payment.renewal_of.clone()),
    ];
    let optional = optional.into_iter().filter_map(|(label, value)| Some((label, value?)));
    always.into_iter().chain(optional).map(|(label, value)| (label.to_owned(), value)).collect()
}

/// `2026-12-02 19:30 UTC` for a Unix-millisecond time.
fn when(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    crate::payments::time_of(ms).and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

/// `2026-12-02` for a Unix-millisecond time.
fn day(ms: i64) -> String {
    crate::payments::time_of(ms).map(|t| t.date().to_string()).unwrap_or_default()
}

/// How long a job has waited: `42 s`, `7 min`, `3 h`.
fn waited(ms: i64) -> String {
    match ms / 1000 {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_page_lists_what_every_payment_has_and_only_what_this_one_has_of_the_rest() {
        let mut renewal = Payment::sample(PaymentStatus::Paid);
        renewal.stripe_checkout_session_id = None;
        renewal.stripe_subscription_id = Some("sub_1".into());
        renewal.renewal_of = Some("p0".into());
        let facts = payment_facts(&renewal, "Acme", "https://remit.test/pay/t".into());
        let labels: Vec<&str> = facts.iter().map(|(label, _)| label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Remit id",
                "Status",
                "Amount",
                "Payer",
                "Brand",
                "Opportunity",
                "Created",
                "Pay link",
                "Subscription",
                "Renewal of"
            ]
        );
        assert_eq!(facts[3].1, "ana@example.com");
        assert_eq!(facts[9].1, "p0");
    }

    #[test]
    fn the_form_asks_only_what_it_was_given() {
        let query = PaymentQuery { q: " ana@example.com ".into(), currency: "jpy".into(), ..Default::default() };
        let request = export_request(&query);
        assert_eq!(request.search.as_deref(), Some("ana@example.com"));
        assert_eq!(request.currency.as_deref(), Some("jpy"));
        assert!(request.status.is_none() && request.brand.is_none() && request.from.is_none());
    }

    #[test]
    fn payloads_and_waits_read_as_words() {
        assert_eq!(payload_summary(r#"{"payment_id":"p-1","step":2}"#), "payment_id: p-1, step: 2");
        assert_eq!(waited(42_000), "42 s");
        assert_eq!(waited(7 * 60_000), "7 min");
        assert_eq!(waited(3 * 3_600_000), "3 h");
        assert_eq!(when(1_796_083_200_000), "2026-12-01 00:00 UTC");
    }
}
