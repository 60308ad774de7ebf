//! The terms of a recurring payment, as a link request asks for them, and the revenue they are
//! worth a month and a year.

use std::fmt;

/// How often a subscription bills, in Stripe's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl Interval {
    pub const ALL: [Self; 4] = [Self::Day, Self::Week, Self::Month, Self::Year];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == raw)
    }

    /// Billing periods of one interval in a year: how revenue is annualised (a week is 1/52 of a
    /// year, a day 1/365, as integrations and finance teams count them).
    fn per_year(self) -> i64 {
        match self {
            Self::Day => 365,
            Self::Week => 52,
            Self::Month => 12,
            Self::Year => 1,
        }
    }

    /// The longest billing period Stripe allows, in intervals: three years.
    fn max_count(self) -> i64 {
        match self {
            Self::Day => 1095,
            Self::Week => 156,
            Self::Month => 36,
            Self::Year => 3,
        }
    }
}

impl Interval {
    /// How often, in words: "every month", "every 2 weeks".
    pub fn every(self, count: i64) -> String {
        match count {
            1 => format!("every {self}"),
            n => format!("every {n} {self}s"),
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stripe's longest trial, in days.
pub const MAX_TRIAL_DAYS: i64 = 730;

/// What a link request's `recurring` object asks: bill every `interval_count` × `interval`, after
/// `trial_days` free days, `cycles` times (or until canceled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurring {
    pub interval: Interval,
    pub interval_count: i64,
    pub trial_days: i64,
    pub cycles: Option<i64>,
}

/// What is wrong with a `recurring` object: the field (as the API names it) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringError {
    pub field: &'static str,
    pub message: String,
}

impl Recurring {
    /// Checks the terms as typed; `interval_count` defaults to 1, `trial_days` to 0.
    pub fn parse(
        interval: Option<&str>,
        interval_count: Option<i64>,
        trial_days: Option<i64>,
        cycles: Option<i64>,
    ) -> Result<Self, RecurringError> {
        let problem = |field, message: String| Err(RecurringError { field, message });
        let Some(raw) = interval else {
            return problem("recurring.interval", "interval is required: day, week, month or year".into());
        };
        let Some(interval) = Interval::parse(raw) else {
            return problem("recurring.interval", format!("interval {raw:?} is not one of day, week, month, year"));
        };
        let interval_count = interval_count.unwrap_or(1);
        if !(1..=interval.max_count()).contains(&interval_count) {
            return problem(
                "recurring.interval_count",
                format!(
                    "interval_count is between 1 and {} for {interval}s (Stripe bills at least every three years)",
                    interval.max_count()
                ),
            );
        }
        let trial_days = trial_days.unwrap_or(0);
        if !(0..=MAX_TRIAL_DAYS).contains(&trial_days) {
            return problem("recurring.trial_days", format!("trial_days is between 0 and {MAX_TRIAL_DAYS}"));
        }
        if let Some(cycles) = cycles
            && cycles < 1
        {
            return problem("recurring.cycles", "cycles is at least 1 (leave it out to bill until canceled)".into());
        }
        Ok(Self { interval, interval_count, trial_days, cycles })
    }
}

/// Recurring revenue in minor units of the subscription's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revenue {
    pub monthly_minor: i64,
    pub annual_minor: i64,
}

impl Recurring {
    /// The terms in words, as the pay page tells the payer: "Every month, the first 14 days free,
    /// 12 payments in all".
    pub fn in_words(&self) -> String {
        let every = self.interval.every(self.interval_count);
        let mut words = format!("{}{}", every[..1].to_uppercase(), &every[1..]);
        if self.trial_days > 0 {
            words += &format!(", the first {} free", plural(self.trial_days, "day"));
        }
        match self.cycles {
            Some(cycles) => words += &format!(", {} in all", plural(cycles, "payment")),
            None => words += ", until you cancel",
        }
        words
    }
}

fn plural(n: i64, one: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") }
}

/// What `amount_minor` billed every `interval_count` × `interval` is worth a year and a month
/// (a twelfth of the year), each rounded half away from zero to the minor unit.
pub fn revenue(amount_minor: i64, interval: Interval, interval_count: i64) -> Revenue {
    let per_year = i128::from(amount_minor) * i128::from(interval.per_year());
    let count = i128::from(interval_count.max(1));
    Revenue { monthly_minor: rounded(per_year, count * 12), annual_minor: rounded(per_year, count) }
}

fn rounded(numerator: i128, denominator: i128) -> i64 {
    let half_up = (numerator.abs() * 2 + denominator) / (denominator * 2);
    i64::try_from(numerator.signum() * half_up).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revenue_is_normalised_from_each_interval() {
        // 12.00 a month: 12.00 MRR, 144.00 ARR.
        assert_eq!(revenue(1200, Interval::Month, 1), Revenue { monthly_minor: 1200, annual_minor: 14_400 });
        // 10.00 a week: × 52 / 12 = 43.33 a month, 520.00 a year.
        assert_eq!(revenue(1000, Interval::Week, 1), Revenue { monthly_minor: 4333, annual_minor: 52_000 });
        // 1.00 a day: × 365 / 12 = 30.42 a month, 365.00 a year.
        assert_eq!(revenue(100, Interval::Day, 1), Revenue { monthly_minor: 3042, annual_minor: 36_500 });
        // 1,200.00 a year: 100.00 a month.
        assert_eq!(revenue(120_000, Interval::Year, 1), Revenue { monthly_minor: 10_000, annual_minor: 120_000 });
        // 300.00 a quarter: 100.00 a month, 1,200.00 a year.
        assert_eq!(revenue(30_000, Interval::Month, 3), Revenue { monthly_minor: 10_000, annual_minor: 120_000 });
        // 50.00 every two weeks: × 26 = 1,300.00 a year, 108.33 a month.
        assert_eq!(revenue(5000, Interval::Week, 2), Revenue { monthly_minor: 10_833, annual_minor: 130_000 });
        // 2,000 yen every two years: 1,000 a year, 83 a month (no minor unit below the yen).
        assert_eq!(revenue(2000, Interval::Year, 2), Revenue { monthly_minor: 83, annual_minor: 1000 });
    }

    #[test]
    fn terms_read_as_a_payer_reads_them() {
        let monthly = Recurring { interval: Interval::Month, interval_count: 1, trial_days: 0, cycles: None };
        assert_eq!(monthly.in_words(), "Every month, until you cancel");
        let fortnightly = Recurring { interval: Interval::Week, interval_count: 2, trial_days: 14, cycles: Some(12) };
        assert_eq!(fortnightly.in_words(), "Every 2 weeks, the first 14 days free, 12 payments in all");
        let once = Recurring { interval: Interval::Year, interval_count: 1, trial_days: 1, cycles: Some(1) };
        assert_eq!(once.in_words(), "Every year, the first 1 day free, 1 payment in all");
    }

    #[test]
    fn halves_round_away_from_zero() {
        assert_eq!(rounded(5, 2), 3);
        assert_eq!(rounded(7, 2), 4);
        assert_eq!(rounded(-5, 2), -3);
        assert_eq!(rounded(4, 3), 1);
    }

    #[test]
    fn terms_are_checked_and_the_field_named() {
        let ok = Recurring::parse(Some("month"), None, None, None).unwrap();
        assert_eq!(ok, Recurring { interval: Interval::Month, interval_count: 1, trial_days: 0, cycles: None });
        let field = |r: Result<Recurring, RecurringError>| r.unwrap_err().field;
        assert_eq!(field(Recurring::parse(None, None, None, None)), "recurring.interval");
        assert_eq!(field(Recurring::parse(Some("fortnight"), None, None, None)), "recurring.interval");
        assert_eq!(field(Recurring::parse(Some("month"), Some(0), None, None)), "recurring.interval_count");
        assert_eq!(field(Recurring::parse(Some("month"), Some(37), None, None)), "recurring.interval_count");
        assert!(Recurring::parse(Some("week"), Some(156), None, None).is_ok());
        assert_eq!(field(Recurring::parse(Some("year"), Some(4), None, None)), "recurring.interval_count");
        assert_eq!(field(Recurring::parse(Some("month"), None, Some(731), None)), "recurring.trial_days");
        assert_eq!(field(Recurring::parse(Some("month"), None, Some(-1), None)), "recurring.trial_days");
        assert_eq!(field(Recurring::parse(Some("month"), None, None, Some(0))), "recurring.cycles");
        assert!(Recurring::parse(Some("day"), Some(1095), Some(730), Some(12)).is_ok());
    }
}
