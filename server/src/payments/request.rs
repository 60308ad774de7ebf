//! A payment-link request as Salesforce sends it, and its validation into a [`LinkRequest`].

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{CheckoutOptions, Collection, Currency, EmailAddress, SalesforceId};
use crate::subscriptions::Recurring;

/// The longest a link may stay payable.
pub const MAX_EXPIRY_DAYS: u32 = 365;

/// The most days an invoice may give the payer, and what it gives when the request says nothing.
pub const MAX_DAYS_UNTIL_DUE: i64 = 365;
pub const DEFAULT_DAYS_UNTIL_DUE: i64 = 30;

/// The JSON body of `POST /api/v1/payment-links`, before any check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLinkRequest {
    pub opportunity_id: Option<String>,
    pub account_id: Option<String>,
    pub contact_id: Option<String>,
    /// Major units as a JSON number or string; read from its exact text, never as a float.
    pub amount: Option<Box<RawValue>>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub description: Option<String>,
    pub payer_email: Option<String>,
    pub payer_name: Option<String>,
    pub record_type: Option<String>,
    pub brand: Option<String>,
    pub send_email: Option<bool>,
    /// `false`: this link is never reminded.
    pub send_reminders: Option<bool>,
    /// RFC 3339; or `expires_in_days`.
    pub expires_at: Option<String>,
    pub expires_in_days: Option<u32>,
    pub payment_methods: Option<Vec<String>>,
    pub allow_promotion_codes: Option<bool>,
    pub submit_type: Option<String>,
    pub locale: Option<String>,
    pub custom_text: Option<String>,
    pub terms_of_service_url: Option<String>,
    pub collect_billing_address: Option<bool>,
    pub collect_phone: Option<bool>,
    /// `checkout` (the default) or `invoice`.
    pub collection: Option<String>,
    /// With `collection: "invoice"`: the days the payer has, from when it is sent.
    pub days_until_due: Option<i64>,
    /// A subscription instead of one payment: the amount is billed every period.
    pub recurring: Option<RawRecurring>,
}

/// The `recurring` object of a link request, before any check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecurring {
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
    pub trial_days: Option<i64>,
    pub cycles: Option<i64>,
}

/// When a link stops taking payments, as the request put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Unix milliseconds.
    At(i64),
    InDays(u32),
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    pub opportunity_id: SalesforceId,
    pub account_id: Option<SalesforceId>,
    pub contact_id: Option<SalesforceId>,
    pub amount_minor: i64,
    pub currency: Currency,
    pub description: Option<String>,
    pub payer_email: EmailAddress,
    pub payer_name: Option<String>,
    pub record_type: Option<String>,
    pub brand: Option<String>,
    pub send_email: bool,
    pub send_reminders: bool,
    pub expiry: Option<Expiry>,
    pub collection: Collection,
    /// The link's own options; the brand's fill in what these leave out.
    pub checkout_options: CheckoutOptions,
}

/// The field that is wrong and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError { field, message: message.into() }
}

fn salesforce_id(field: &'static str, raw: Option<&str>) -> Result<Option<SalesforceId>, ValidationError> {
    raw.filter(|v| !v.trim().is_empty()).map(|v| SalesforceId::parse(v).map_err(|m| invalid(field, m))).transpose()
}

fn text(field: &'static str, raw: Option<String>, max: usize) -> Result<Option<String>, ValidationError> {
    let value = raw.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    match value {
        Some(v) if v.chars().count() > max => Err(invalid(field, format!("must be at most {max} characters"))),
        Some(v) if v.chars().any(|c| c.is_control() && c != '\n') => {
            Err(invalid(field, "must not contain control characters"))
        }
        other => Ok(other),
    }
}

fn expiry(at: Option<&str>, in_days: Option<u32>) -> Result<Option<Expiry>, ValidationError> {
    match (at, in_days) {
        (Some(_), Some(_)) => Err(invalid("expires_at", "give expires_at or expires_in_days, not both")),
        (Some(at), None) => {
            let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .map_err(|_| invalid("expires_at", "is not an RFC 3339 time such as 2027-01-31T17:00:00Z"))?;
            let ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
                .map_err(|_| invalid("expires_at", "is too far away"))?;
            Ok(Some(Expiry::At(ms)))
        }
        (None, Some(days)) if (1..=MAX_EXPIRY_DAYS).contains(&days) => Ok(Some(Expiry::InDays(days))),
        (None, Some(_)) => Err(invalid("expires_in_days", format!("must be 1 to {MAX_EXPIRY_DAYS}"))),
        (None, None) => Ok(None),
    }
}

/// How the request asks to be paid; an invoice goes to an Account's Stripe customer, is due on a
/// day of its own and is paid on Stripe's invoice page, so Checkout's options and a link expiry
/// do not apply to it.
fn collection(raw: &RawLinkRequest, checkout_options: &CheckoutOptions) -> Result<Collection, ValidationError> {
    match raw.collection.as_deref().unwrap_or("checkout") {
        "checkout" if raw.days_until_due.is_some() => {
            Err(invalid("days_until_due", "applies only with collection \"invoice\""))
        }
        "checkout" => match &raw.recurring {
            None => Ok(Collection::Checkout),
            Some(_) if checkout_options.submit_type.is_some() => {
                Err(invalid("submit_type", "does not apply to a subscription: Checkout's button says Subscribe"))
            }
            Some(r) => Recurring::parse(r.interval.as_deref(), r.interval_count, r.trial_days, r.cycles)
                .map(Collection::Subscription)
                .map_err(|e| invalid(e.field, e.message)),
        },
        "invoice" if raw.recurring.is_some() => {
            Err(invalid("recurring", "applies only with collection \"checkout\": a subscription starts in Checkout"))
        }
        "invoice" => {
            let days_until_due = raw.days_until_due.unwrap_or(DEFAULT_DAYS_UNTIL_DUE);
            if !(1..=MAX_DAYS_UNTIL_DUE).contains(&days_until_due) {
                return Err(invalid("days_until_due", format!("must be 1 to {MAX_DAYS_UNTIL_DUE}")));
            }
            if raw.account_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
                return Err(invalid(
                    "account_id",
                    "is required with collection \"invoice\": an invoice goes to the Account's Stripe customer",
                ));
            }
            if raw.expires_at.is_some() {
                return Err(invalid(
                    "expires_at",
                    "does not apply to an invoice, which is due days_until_due after it is sent",
                ));
            }
            if raw.expires_in_days.is_some() {
                return Err(invalid(
                    "expires_in_days",
                    "does not apply to an invoice, which is due days_until_due after it is sent",
                ));
            }
            if !checkout_options.is_empty() {
                return Err(invalid(
                    "collection",
                    "Checkout's options (payment_methods, submit_type, locale, …) do not apply to an invoice",
                ));
            }
            Ok(Collection::Invoice { days_until_due })
        }
        other => Err(invalid("collection", format!("{other:?} is not one of checkout, invoice"))),
    }
}

impl RawLinkRequest {
    fn take_checkout_options(&mut self) -> CheckoutOptions {
        CheckoutOptions {
            payment_methods: self.payment_methods.take(),
            allow_promotion_codes: self.allow_promotion_codes.take(),
            submit_type: self.submit_type.take(),
            locale: self.locale.take(),
            custom_text: self.custom_text.take(),
            terms_of_service_url: self.terms_of_service_url.take(),
            collect_billing_address: self.collect_billing_address.take(),
            collect_phone: self.collect_phone.take(),
        }
    }

    pub fn validate(mut self) -> Result<LinkRequest, ValidationError> {
        let checkout_options = self.take_checkout_options().validate()?;
        let collection = collection(&self, &checkout_options)?;
        let opportunity_id = salesforce_id("opportunity_id", self.opportunity_id.as_deref())?
            .ok_or_else(|| invalid("opportunity_id", "is required"))?;
        if opportunity_id.key_prefix() != "006" {
            return Err(invalid("opportunity_id", "is not an Opportunity id (those start with 006)"));
        }
        let account_id = salesforce_id("account_id", self.account_id.as_deref())?;
        if account_id.as_ref().is_some_and(|id| id.key_prefix() != "001") {
            return Err(invalid("account_id", "is not an Account id (those start with 001)"));
        }
        let contact_id = salesforce_id("contact_id", self.contact_id.as_deref())?;
        if contact_id.as_ref().is_some_and(|id| id.key_prefix() != "003") {
            return Err(invalid("contact_id", "is not a Contact id (those start with 003)"));
        }
        let currency = self.currency.as_deref().ok_or_else(|| invalid("currency", "is required"))?;
        let currency = Currency::parse(currency).map_err(|e| invalid("currency", e.to_string()))?;
        let amount_minor = match (self.amount, self.amount_minor) {
            (Some(_), Some(_)) => return Err(invalid("amount", "give amount or amount_minor, not both")),
            (None, None) => return Err(invalid("amount", "is required (or amount_minor)")),
            (Some(raw), None) => {
                let text = raw.get();
                let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
                currency.parse_major(text).map_err(|e| invalid("amount", e.to_string()))?
            }
            (None, Some(minor)) => {
                currency.check(minor).map_err(|e| invalid("amount_minor", e.to_string()))?;
                minor
            }
        };
        let expiry = expiry(self.expires_at.as_deref(), self.expires_in_days)?;
        let payer_email = self.payer_email.as_deref().filter(|e| !e.trim().is_empty());
        let payer_email = payer_email.ok_or_else(|| invalid("payer_email", "is required"))?;
        let payer_email = EmailAddress::parse(payer_email).map_err(|m| invalid("payer_email", m))?;
        Ok(LinkRequest {
            opportunity_id,
            account_id,
            contact_id,
            amount_minor,
            currency,
            description: text("description", self.description, 500)?,
            payer_email,
            payer_name: text("payer_name", self.payer_name, 200)?,
            record_type: text("record_type", self.record_type, 80)?,
            brand: text("brand", self.brand, 80)?,
            send_email: self.send_email.unwrap_or(false),
            send_reminders: self.send_reminders.unwrap_or(true),
            expiry,
            collection,
            checkout_options,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LinkRequest, ValidationError> {
        serde_json::from_str::<RawLinkRequest>(json).unwrap().validate()
    }

    const BASE: &str = r#""opportunity_id":"006000000000001","currency":"usd","payer_email":"ana@example.com""#;

    #[test]
    fn amounts_are_read_exactly_from_numbers_and_strings() {
        assert_eq!(parse(&format!("{{{BASE},\"amount\":19.99}}")).unwrap().amount_minor, 1999);
        assert_eq!(parse(&format!("{{{BASE},\"amount\":\"1234.56\"}}")).unwrap().amount_minor, 123_456);
        assert_eq!(parse(&format!("{{{BASE},\"amount_minor\":5000}}")).unwrap().amount_minor, 5000);
        assert_eq!(parse(&format!("{{{BASE},\"amount\":1e3}}")).unwrap_err().field, "amount");
    }

    #[test]
    fn an_invoice_asks_for_an_account_and_days_and_nothing_of_checkout() {
        const INVOICE: &str = r#""opportunity_id":"006000000000001","account_id":"001000000000001","currency":"usd","payer_email":"ap@example.com","amount":10,"collection":"invoice""#;
        assert_eq!(parse(&format!("{{{INVOICE}}}")).unwrap().collection, Collection::Invoice { days_until_due: 30 });
        let with = |extra: &str| parse(&format!("{{{INVOICE},{extra}}}"));
        assert_eq!(with(r#""days_until_due":14"#).unwrap().collection, Collection::Invoice { days_until_due: 14 });
        for (extra, field) in [
            (r#""days_until_due":0"#, "days_until_due"),
            (r#""days_until_due":366"#, "days_until_due"),
            (r#""expires_in_days":5"#, "expires_in_days"),
            (r#""expires_at":"2030-01-01T00:00:00Z""#, "expires_at"),
            (r#""submit_type":"donate""#, "collection"),
        ] {
            assert_eq!(with(extra).unwrap_err().field, field, "{extra}");
        }
        let no_account = r#"{"opportunity_id":"006000000000001","currency":"usd","payer_email":"a@b.co","amount":10,"collection":"invoice"}"#;
        assert_eq!(parse(no_account).unwrap_err().field, "account_id");
        assert_eq!(
            parse(&format!("{{{BASE},\"amount\":10,\"collection\":\"cheque\"}}")).unwrap_err().field,
            "collection"
        );
        assert_eq!(
            parse(&format!("{{{BASE},\"amount\":10,\"days_until_due\":5}}")).unwrap_err().field,
            "days_until_due"
        );
        assert_eq!(parse(&format!("{{{BASE},\"amount\":10}}")).unwrap().collection, Collection::Checkout);
    }

    #[test]
    fn a_recurring_link_is_a_subscription_with_each_bad_field_named() {
        let with = |recurring: &str| parse(&format!("{{{BASE},\"amount\":10,\"recurring\":{recurring}}}"));
        let monthly = with(r#"{"interval":"month"}"#).unwrap();
        assert_eq!(
            monthly.collection,
            Collection::Subscription(Recurring {
                interval: crate::subscriptions::Interval::Month,
                interval_count: 1,
                trial_days: 0,
                cycles: None
            })
        );
        let Collection::Subscription(terms) =
            with(r#"{"interval":"week","interval_count":2,"trial_days":14,"cycles":6}"#).unwrap().collection
        else {
            panic!("a subscription")
        };
        assert_eq!((terms.interval_count, terms.trial_days, terms.cycles), (2, 14, Some(6)));
        for (recurring, field) in [
            (r#"{}"#, "recurring.interval"),
            (r#"{"interval":"fortnight"}"#, "recurring.interval"),
            (r#"{"interval":"month","interval_count":37}"#, "recurring.interval_count"),
            (r#"{"interval":"month","trial_days":-1}"#, "recurring.trial_days"),
            (r#"{"interval":"month","cycles":0}"#, "recurring.cycles"),
        ] {
            assert_eq!(with(recurring).unwrap_err().field, field, "{recurring}");
        }
        assert!(serde_json::from_str::<RawLinkRequest>(&format!("{{{BASE},\"recurring\":{{\"every\":1}}}}")).is_err());
        let invoice = format!(
            "{{{BASE},\"account_id\":\"001000000000001\",\"amount\":10,\"collection\":\"invoice\",\"recurring\":{{\"interval\":\"month\"}}}}"
        );
        assert_eq!(parse(&invoice).unwrap_err().field, "recurring");
        assert_eq!(
            parse(&format!(
                "{{{BASE},\"amount\":10,\"submit_type\":\"donate\",\"recurring\":{{\"interval\":\"month\"}}}}"
            ))
            .unwrap_err()
            .field,
            "submit_type"
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"{"currency":"usd","payer_email":"a@b.co","amount":10}"#, "opportunity_id"),
            (
                r#"{"opportunity_id":"001000000000001","currency":"usd","payer_email":"a@b.co","amount":10}"#,
                "opportunity_id",
            ),
            (
                r#"{"opportunity_id":"006000000000001AAB","currency":"usd","payer_email":"a@b.co","amount":10}"#,
                "opportunity_id",
            ),
            (r#"{"opportunity_id":"006000000000001","currency":"usx","payer_email":"a@b.co","amount":10}"#, "currency"),
            (
                r#"{"opportunity_id":"006000000000001","currency":"usd","payer_email":"nope","amount":10}"#,
                "payer_email",
            ),
            (
                r#"{"opportunity_id":"006000000000001","currency":"usd","payer_email":"a@b.co","amount":0.001}"#,
                "amount",
            ),
            (
                r#"{"opportunity_id":"006000000000001","currency":"usd","payer_email":"a@b.co","amount_minor":-5}"#,
                "amount_minor",
            ),
            (
                r#"{"opportunity_id":"006000000000001","account_id":"006000000000001","currency":"usd","payer_email":"a@b.co","amount":10}"#,
                "account_id",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(parse(json).unwrap_err().field, field, "{json}");
        }
    }
}
