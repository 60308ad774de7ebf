//! Finance's daily totals: what was paid each day (UTC), by brand and currency.

use std::collections::BTreeMap;

use crate::payments::Payment;

/// One day's figures of one brand in one currency, in the currency's minor unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayTotal {
    pub payments: i64,
    pub collected: i64,
    pub refunded: i64,
}

/// (day, brand, currency) → totals, where `day` is `2026-12-01`.
pub type DailyTotals = BTreeMap<(String, String, String), DayTotal>;

/// Adds the payments that were paid to `totals`, on the day they were paid, in the currency
/// they were collected in. Unpaid payments count nothing.
pub fn add(totals: &mut DailyTotals, payments: &[Payment]) {
    for payment in payments {
        let Some(paid_at) = payment.paid_at() else { continue };
        let key = (paid_at.date().to_string(), payment.brand.clone(), payment.collected_currency().to_string());
        let total = totals.entry(key).or_default();
        total.payments += 1;
        total.collected += payment.collected_minor();
        total.refunded += payment.refunded_minor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::PaymentStatus;

    #[test]
    fn paid_payments_count_on_their_paid_day_in_the_currency_collected() {
        let day_one = 1_796_083_200_000; // 2026-12-01T00:00:00Z
        let mut usd = Payment::sample(PaymentStatus::PartiallyRefunded);
        usd.paid_at = Some(day_one + 3_600_000);
        usd.refunded_minor = 2_500;
        let mut yen = Payment::sample(PaymentStatus::Paid);
        yen.paid_at = Some(day_one + 25 * 3_600_000);
        yen.paid_amount_minor = Some(13_000);
        yen.paid_currency = Some("jpy".into());
        let mut second_usd = Payment::sample(PaymentStatus::Paid);
        second_usd.paid_at = Some(day_one + 23 * 3_600_000);
        let open = Payment::sample(PaymentStatus::Open);
        let mut totals = DailyTotals::new();
        add(&mut totals, &[usd, yen, open]);
        add(&mut totals, &[second_usd]);
        let key = |day: &str, currency: &str| (day.to_owned(), "acme".to_owned(), currency.to_owned());
        assert_eq!(totals.len(), 2, "{totals:?}");
        assert_eq!(totals[&key("2026-12-01", "USD")], DayTotal { payments: 2, collected: 25_000, refunded: 2_500 });
        assert_eq!(totals[&key("2026-12-02", "JPY")], DayTotal { payments: 1, collected: 13_000, refunded: 0 });
    }
}
