//! What each outbox job does: one file per kind, each owning its kind name, dedupe key and
//! handler (as crates.io's `worker/jobs/`). Adding a job is one new file and one line below.

use std::sync::Arc;

use crate::{
    mail::{MailError, Mailer},
    outbox::{JobError, Registry},
    payments::{ApplyError, Payment, Payments, ReceiptError},
    salesforce::SalesforceError,
    stripe::StripeError,
    sync::SalesforceSync,
};

/// What job handlers run with.
pub struct Context {
    pub payments: Payments,
    pub mailer: Mailer,
    pub sync: SalesforceSync,
}

/// Declares each job kind's module and registers it, so the list is written once.
macro_rules! job_kinds {
    ($($module:ident :: $job:ident),* $(,)?) => {
        $(mod $module; pub use $module::$job;)*

        /// Every job kind, each run with `context`.
        pub fn registry(context: Arc<Context>) -> Registry {
            Registry::default()$(.register::<$job>(context.clone()))*
        }

        /// The class whose workers run jobs of `kind` (`None` for a kind this build does not know).
        pub fn class_of(kind: &str) -> Option<&'static str> {
            use crate::outbox::Job;
            $(if kind == $job::KIND {
                return Some($job::CLASS);
            })*
            None
        }

        /// The kinds whose jobs `class`'s workers run.
        pub fn kinds_of(class: &str) -> Vec<&'static str> {
            use crate::outbox::Job;
            let mut kinds = Vec::new();
            $(if class == $job::CLASS {
                kinds.push($job::KIND);
            })*
            kinds
        }
    };
}

job_kinds! {
    email_payment_link::EmailPaymentLink,
    email_reminder::EmailReminder,
    apply_stripe_event::ApplyStripeEvent,
    sync_payment::SyncPayment,
    email_receipt::EmailReceipt,
    email_credit_note::EmailCreditNote,
    expire_checkout_session::ExpireCheckoutSession,
    end_subscription::EndSubscription,
}

impl Context {
    /// The payment a job is about; a job for a payment that does not exist can never succeed.
    async fn payment(&self, payment_id: &str) -> Result<Payment, JobError> {
        self.payments
            .get(payment_id)
            .await?
            .ok_or_else(|| JobError::permanent(format!("payment {payment_id} does not exist")))
    }
}

// How each outside system's failures are classed: worth another try, or not.

impl From<sqlx::Error> for JobError {
    fn from(error: sqlx::Error) -> Self {
        Self::retryable(error)
    }
}

impl From<SalesforceError> for JobError {
    fn from(error: SalesforceError) -> Self {
        if error.is_retryable() { Self::retryable(error) } else { Self::permanent(error) }
    }
}

impl From<StripeError> for JobError {
    fn from(error: StripeError) -> Self {
        if error.is_retryable() { Self::retryable(error) } else { Self::permanent(error) }
    }
}

impl From<MailError> for JobError {
    fn from(error: MailError) -> Self {
        if error.is_permanent() { Self::permanent(error) } else { Self::retryable(error) }
    }
}

impl From<ApplyError> for JobError {
    fn from(error: ApplyError) -> Self {
        match error {
            ApplyError::Database(e) => e.into(),
            ApplyError::Stripe(e) => e.into(),
            batch @ ApplyError::Batch(..) => Self::retryable(batch),
            unreadable @ ApplyError::Unreadable(..) => Self::permanent(unreadable),
        }
    }
}

impl From<ReceiptError> for JobError {
    /// A receipt that cannot be rendered now may render after a fix and a replay.
    fn from(error: ReceiptError) -> Self {
        Self::retryable(error)
    }
}
