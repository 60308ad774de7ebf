//! How a link's Stripe Checkout looks and what it asks: options a Salesforce admin sets per link
//! (the API) or per brand (`remit.toml`), with Stripe's names and limits, checked before Stripe
//! sees them, and turned into exactly the Checkout Session parameters they mean.

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Checkout options; `None` leaves Stripe's default (the account's dynamic payment methods, no
/// promotion codes, `auto` submit button and locale, no extra fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckoutOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_methods: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_promotion_codes: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submit_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collect_billing_address: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collect_phone: Option<bool>,
}

/// Stripe's payment method types that Checkout takes in payment mode.
pub const PAYMENT_METHOD_TYPES: &[&str] = &[
    "acss_debit",
    "affirm",
    "afterpay_clearpay",
    "alipay",
    "alma",
    "amazon_pay",
    "au_becs_debit",
    "bacs_debit",
    "bancontact",
    "billie",
    "blik",
    "boleto",
    "card",
    "cashapp",
    "customer_balance",
    "eps",
    "fpx",
    "giropay",
    "grabpay",
    "ideal",
    "kakao_pay",
    "klarna",
    "konbini",
    "kr_card",
    "link",
    "mobilepay",
    "multibanco",
    "naver_pay",
    "oxxo",
    "p24",
    "pay_by_bank",
    "payco",
    "paynow",
    "paypal",
    "pix",
    "promptpay",
    "revolut_pay",
    "samsung_pay",
    "satispay",
    "sepa_debit",
    "sofort",
    "swish",
    "twint",
    "us_bank_account",
    "wechat_pay",
    "zip",
];

/// The submit button's wording Stripe offers in payment mode.
pub const SUBMIT_TYPES: &[&str] = &["auto", "pay", "book", "donate"];

/// The languages Stripe Checkout is shown in.
pub const LOCALES: &[&str] = &[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu",
    "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv",
    "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
];

/// Stripe's limit on `custom_text[…][message]`.
pub const MAX_CUSTOM_TEXT: usize = 1200;

fn invalid(field: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError { field, message: message.into() }
}

fn one_of(field: &'static str, value: &str, allowed: &[&str]) -> Result<(), ValidationError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, format!("{value:?} is not one of {}", allowed.join(", "))))
    }
}

impl CheckoutOptions {
    /// Refuses what Stripe would refuse, naming the field.
    pub fn validate(self) -> Result<Self, ValidationError> {
        if let Some(methods) = &self.payment_methods {
            if methods.is_empty() {
                return Err(invalid("payment_methods", "list at least one, or leave it out for the account's own"));
            }
            for method in methods {
                one_of("payment_methods", method, PAYMENT_METHOD_TYPES)?;
            }
        }
        if let Some(submit_type) = &self.submit_type {
            one_of("submit_type", submit_type, SUBMIT_TYPES)?;
        }
        if let Some(locale) = &self.locale {
            one_of("locale", locale, LOCALES)?;
        }
        if let Some(text) = &self.custom_text {
            if text.trim().is_empty() {
                return Err(invalid("custom_text", "must not be empty"));
            }
            if text.chars().count() > MAX_CUSTOM_TEXT {
                return Err(invalid("custom_text", format!("must be at most {MAX_CUSTOM_TEXT} characters")));
            }
        }
        if let Some(url) = &self.terms_of_service_url {
            let parsed = url::Url::parse(url).map_err(|_| invalid("terms_of_service_url", "is not a URL"))?;
            if parsed.scheme() != "https" {
                return Err(invalid("terms_of_service_url", "must be an https:// URL"));
            }
        }
        Ok(self)
    }

    /// These options, with `defaults` (the brand's) where these say nothing.
    #[must_use]
    pub fn over(self, defaults: &Self) -> Self {
        Self {
            payment_methods: self.payment_methods.or_else(|| defaults.payment_methods.clone()),
            allow_promotion_codes: self.allow_promotion_codes.or(defaults.allow_promotion_codes),
            submit_type: self.submit_type.or_else(|| defaults.submit_type.clone()),
            locale: self.locale.or_else(|| defaults.locale.clone()),
            custom_text: self.custom_text.or_else(|| defaults.custom_text.clone()),
            terms_of_service_url: self.terms_of_service_url.or_else(|| defaults.terms_of_service_url.clone()),
            collect_billing_address: self.collect_billing_address.or(defaults.collect_billing_address),
            collect_phone: self.collect_phone.or(defaults.collect_phone),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The Checkout Session parameters these options mean, and nothing for what they leave out.
    pub fn session_params(&self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        for (i, method) in self.payment_methods.iter().flatten().enumerate() {
            params.push((format!("payment_method_types[{i}]"), method.clone()));
        }
        if let Some(allow) = self.allow_promotion_codes {
            params.push(("allow_promotion_codes".into(), allow.to_string()));
        }
        if let Some(submit_type) = &self.submit_type {
            params.push(("submit_type".into(), submit_type.clone()));
        }
        if let Some(locale) = &self.locale {
            params.push(("locale".into(), locale.clone()));
        }
        if let Some(text) = &self.custom_text {
            params.push(("custom_text[submit][message]".into(), text.clone()));
        }
        if let Some(url) = &self.terms_of_service_url {
            // Checkout links its own terms from the account's settings; the message names ours.
            params.push(("consent_collection[terms_of_service]".into(), "required".into()));
            params.push((
                "custom_text[terms_of_service_acceptance][message]".into(),
                format!("I agree to the [terms of service]({url})."),
            ));
        }
        if let Some(collect) = self.collect_billing_address {
            params.push(("billing_address_collection".into(), if collect { "required" } else { "auto" }.into()));
        }
        if let Some(collect) = self.collect_phone {
            params.push(("phone_number_collection[enabled]".into(), collect.to_string()));
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(json: &str) -> Result<CheckoutOptions, ValidationError> {
        serde_json::from_str::<CheckoutOptions>(json).unwrap().validate()
    }

    #[test]
    fn each_option_becomes_exactly_its_stripe_parameters() {
        let all = options(
            r#"{"payment_methods":["card","us_bank_account"],"allow_promotion_codes":true,"submit_type":"donate",
                "locale":"fr","custom_text":"Merci !","terms_of_service_url":"https://example.org/terms",
                "collect_billing_address":true,"collect_phone":false}"#,
        )
        .unwrap();
        let params = all.session_params();
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            params,
            [
                ("payment_method_types[0]", "card"),
                ("payment_method_types[1]", "us_bank_account"),
                ("allow_promotion_codes", "true"),
                ("submit_type", "donate"),
                ("locale", "fr"),
                ("custom_text[submit][message]", "Merci !"),
                ("consent_collection[terms_of_service]", "required"),
                (
                    "custom_text[terms_of_service_acceptance][message]",
                    "I agree to the [terms of service](https://example.org/terms)."
                ),
                ("billing_address_collection", "required"),
                ("phone_number_collection[enabled]", "false"),
            ]
        );
        assert!(CheckoutOptions::default().session_params().is_empty());
    }

    #[test]
    fn what_stripe_refuses_is_refused_naming_the_field() {
        let cases = [
            (r#"{"payment_methods":["card","bitcoin"]}"#, "payment_methods"),
            (r#"{"payment_methods":[]}"#, "payment_methods"),
            (r#"{"submit_type":"subscribe"}"#, "submit_type"),
            (r#"{"locale":"xx"}"#, "locale"),
            (r#"{"terms_of_service_url":"http://example.org/terms"}"#, "terms_of_service_url"),
            (r#"{"terms_of_service_url":"terms"}"#, "terms_of_service_url"),
        ];
        for (json, field) in cases {
            assert_eq!(options(json).unwrap_err().field, field, "{json}");
        }
        let long = format!(r#"{{"custom_text":"{}"}}"#, "x".repeat(MAX_CUSTOM_TEXT + 1));
        assert_eq!(options(&long).unwrap_err().field, "custom_text");
        let longest = format!(r#"{{"custom_text":"{}"}}"#, "x".repeat(MAX_CUSTOM_TEXT));
        assert!(options(&longest).is_ok());
    }

    #[test]
    fn a_links_options_win_over_its_brands_and_fill_in_from_them() {
        let brand = options(r#"{"submit_type":"donate","locale":"de"}"#).unwrap();
        let link = options(r#"{"locale":"fr"}"#).unwrap().over(&brand);
        assert_eq!(link.submit_type.as_deref(), Some("donate"));
        assert_eq!(link.locale.as_deref(), Some("fr"));
    }
}
