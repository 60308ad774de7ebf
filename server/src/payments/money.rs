//! Money: integer amounts in a currency's minor unit, with Stripe's currency rules.
//!
//! Amounts arrive as decimal text in major units ("12.50") and are converted exactly, digit by
//! digit, never through a float.

use std::fmt;

/// An ISO 4217 currency Stripe accepts, lower-case as Stripe writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    /// Decimal places of the minor unit in Stripe's API (0 for JPY, 3 for KWD).
    exponent: u32,
    /// Stripe's minimum charge, in minor units; 1 where Stripe publishes none.
    minimum_minor: i64,
    /// Minor-unit amounts must be a multiple of this (10 for three-decimal currencies,
    /// 100 for ISK, which Stripe takes as two-decimal but charges in whole krónur).
    granularity: i64,
}

/// The largest amount Stripe accepts (eight digits in the minor unit).
pub const MAX_AMOUNT_MINOR: i64 = 99_999_999;

const ZERO_DECIMAL: &[&str] =
    &["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"];
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];
const TWO_DECIMAL: &[&str] = &[
    "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt", "bgn", "bmd", "bnd",
    "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf", "cny", "cop", "crc", "cve", "czk", "dkk", "dop",
    "dzd", "egp", "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gtq", "gyd", "hkd", "hnl", "htg", "huf",
    "idr", "ils", "inr", "isk", "jmd", "kes", "kgs", "khr", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad",
    "mdl", "mkd", "mmk", "mnt", "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr",
    "nzd", "pab", "pen", "pgk", "php", "pkr", "pln", "qar", "ron", "rsd", "rub", "sar", "sbd", "scr", "sek", "sgd",
    "shp", "sle", "sos", "srd", "std", "szl", "thb", "tjs", "top", "try", "ttd", "twd", "tzs", "uah", "usd", "uyu",
    "uzs", "wst", "xcd", "yer", "zar", "zmw",
];

/// Stripe's published minimum charge amounts, in minor units.
const MINIMUMS: &[(&str, i64)] = &[
    ("usd", 50),
    ("aed", 200),
    ("aud", 50),
    ("bgn", 100),
    ("brl", 50),
    ("cad", 50),
    ("chf", 50),
    ("czk", 1500),
    ("dkk", 250),
    ("eur", 50),
    ("gbp", 30),
    ("hkd", 400),
    ("huf", 17500),
    ("inr", 50),
    ("jpy", 50),
    ("mxn", 1000),
    ("myr", 200),
    ("nok", 300),
    ("nzd", 50),
    ("pln", 200),
    ("ron", 200),
    ("sek", 300),
    ("sgd", 50),
    ("thb", 1000),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0:?} is not a currency Stripe accepts (use a three-letter ISO 4217 code such as USD)")]
    UnknownCurrency(String),
    #[error("{0:?} is not a decimal amount such as 12.50")]
    NotADecimal(String),
    #[error("{currency} has {exponent} decimal places; {amount:?} has more")]
    TooPrecise { currency: String, exponent: u32, amount: String },
    #[error("the amount must be greater than zero")]
    NotPositive,
    #[error("the amount is below Stripe's minimum of {minimum} for {currency}")]
    BelowMinimum { currency: String, minimum: String },
    #[error("the amount is above Stripe's maximum of {maximum} for {currency}")]
    AboveMaximum { currency: String, maximum: String },
    #[error("{currency} amounts must be a multiple of {step}")]
    NotAMultiple { currency: String, step: String },
}

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        let code = raw.trim().to_ascii_lowercase();
        let find = |list: &[&'static str]| list.iter().copied().find(|c| *c == code);
        let (code, exponent) = if let Some(c) = find(ZERO_DECIMAL) {
            (c, 0)
        } else if let Some(c) = find(THREE_DECIMAL) {
            (c, 3)
        } else if let Some(c) = find(TWO_DECIMAL) {
            (c, 2)
        } else {
            return Err(MoneyError::UnknownCurrency(raw.to_owned()));
        };
        let minimum_minor = MINIMUMS.iter().find(|(c, _)| *c == code).map_or(1, |(_, m)| *m);
        let granularity = match (code, exponent) {
            ("isk", _) => 100,
            (_, 3) => 10,
            _ => 1,
        };
        Ok(Self { code, exponent, minimum_minor, granularity })
    }

    /// Lower-case, as Stripe's API takes it.
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// Converts decimal text in major units ("12.5", "1000", "0.125") to minor units, exactly.
    pub fn parse_major(&self, raw: &str) -> Result<i64, MoneyError> {
        let text = raw.trim();
        let not_decimal = || MoneyError::NotADecimal(raw.to_owned());
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        if whole.starts_with('-') {
            return Err(MoneyError::NotPositive);
        }
        let whole = whole.strip_prefix('+').unwrap_or(whole);
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(not_decimal());
        }
        if text.contains('.') && fraction.is_empty() {
            return Err(not_decimal());
        }
        let significant = fraction.trim_end_matches('0');
        if significant.len() > self.exponent as usize {
            return Err(MoneyError::TooPrecise {
                currency: self.to_string(),
                exponent: self.exponent,
                amount: raw.to_owned(),
            });
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 12 {
            return Err(self.above_maximum());
        }
        let mut minor: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| not_decimal())? };
        for i in 0..self.exponent as usize {
            let digit = significant.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            minor = minor * 10 + digit;
        }
        self.check(minor)?;
        Ok(minor)
    }

    /// Checks an amount already in minor units against Stripe's rules for this currency.
    pub fn check(&self, minor: i64) -> Result<(), MoneyError> {
        if minor <= 0 {
            return Err(MoneyError::NotPositive);
        }
        if minor < self.minimum_minor {
            return Err(MoneyError::BelowMinimum {
                currency: self.to_string(),
                minimum: self.format_major(self.minimum_minor),
            });
        }
        if minor > MAX_AMOUNT_MINOR {
            return Err(self.above_maximum());
        }
        if minor % self.granularity != 0 {
            return Err(MoneyError::NotAMultiple {
                currency: self.to_string(),
                step: self.format_major(self.granularity),
            });
        }
        Ok(())
    }

    fn above_maximum(&self) -> MoneyError {
        MoneyError::AboveMaximum { currency: self.to_string(), maximum: self.format_major(MAX_AMOUNT_MINOR) }
    }

    /// Minor units as plain decimal text in major units: 1250 USD → "12.50", 500 JPY → "500".
    pub fn format_major(&self, minor: i64) -> String {
        if self.exponent == 0 {
            return minor.to_string();
        }
        let scale = 10_i64.pow(self.exponent);
        let sign = if minor < 0 { "-" } else { "" };
        let minor = minor.unsigned_abs();
        let scale = scale.unsigned_abs();
        format!("{sign}{}.{:0width$}", minor / scale, minor % scale, width = self.exponent as usize)
    }
}

/// Upper-case, as people read it.
impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code.to_ascii_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(currency: &str, amount: &str) -> Result<i64, MoneyError> {
        Currency::parse(currency).unwrap().parse_major(amount)
    }

    #[test]
    fn two_decimal_amounts_convert_exactly() {
        assert_eq!(minor("usd", "12.50"), Ok(1250));
        assert_eq!(minor("USD", "12.5"), Ok(1250));
        assert_eq!(minor("usd", "1000"), Ok(100_000));
        assert_eq!(minor("eur", "0.50"), Ok(50));
        // 0.1 + 0.2 style float trouble cannot happen: digits are read as digits.
        assert_eq!(minor("usd", "19.99"), Ok(1999));
        assert_eq!(minor("usd", "999999.99"), Ok(99_999_999));
        assert_eq!(minor("usd", "12.500"), Ok(1250), "trailing zeros are not extra precision");
    }

    #[test]
    fn zero_and_three_decimal_currencies_use_their_own_exponent() {
        assert_eq!(minor("jpy", "5000"), Ok(5000));
        assert!(matches!(minor("jpy", "5000.5"), Err(MoneyError::TooPrecise { .. })));
        assert_eq!(minor("kwd", "12.340"), Ok(12_340));
        assert_eq!(minor("kwd", "12.34"), Ok(12_340));
        assert!(matches!(minor("kwd", "12.345"), Err(MoneyError::NotAMultiple { .. })), "Stripe wants a final 0");
        assert!(matches!(minor("usd", "1.005"), Err(MoneyError::TooPrecise { .. })));
    }

    #[test]
    fn stripe_minimums_and_maximum_are_enforced() {
        assert!(matches!(minor("usd", "0.49"), Err(MoneyError::BelowMinimum { .. })));
        assert!(matches!(minor("gbp", "0.29"), Err(MoneyError::BelowMinimum { .. })));
        assert_eq!(minor("gbp", "0.30"), Ok(30));
        assert!(matches!(minor("jpy", "49"), Err(MoneyError::BelowMinimum { .. })));
        assert!(matches!(minor("usd", "1000000"), Err(MoneyError::AboveMaximum { .. })));
        assert!(matches!(minor("usd", "99999999999999999999999"), Err(MoneyError::AboveMaximum { .. })));
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for bad in ["", ".", "1.", ".5x", "1e3", "12,50", "abc", "1.2.3", " ", "0x10", "NaN"] {
            assert!(minor("usd", bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(minor("usd", "-5"), Err(MoneyError::NotPositive));
        assert_eq!(minor("usd", "0"), Err(MoneyError::NotPositive));
        assert_eq!(minor("usd", ".75"), Ok(75));
    }

    #[test]
    fn unknown_currencies_are_refused() {
        assert!(Currency::parse("xyz").is_err());
        assert!(Currency::parse("us").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn isk_is_charged_in_whole_kronur() {
        assert_eq!(minor("isk", "500"), Ok(50_000));
        assert!(Currency::parse("isk").unwrap().check(50_050).is_err());
    }

    #[test]
    fn format_major_round_trips_parse_major() {
        for (currency, minor_units) in [("usd", 1250_i64), ("jpy", 500), ("kwd", 12_340), ("usd", 5)] {
            let c = Currency::parse(currency).unwrap();
            let text = c.format_major(minor_units);
            assert_eq!(c.parse_major(&text).ok(), (minor_units >= c.minimum_minor).then_some(minor_units), "{text}");
        }
        assert_eq!(Currency::parse("usd").unwrap().format_major(5), "0.05");
        assert_eq!(Currency::parse("kwd").unwrap().format_major(12_340), "12.340");
    }
}
