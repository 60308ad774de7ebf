//! The finance export: payments as CSV (RFC 4180: comma-separated, CRLF line ends, fields quoted
//! when they hold a comma, quote or line break, quotes doubled), amounts in major units with their
//! currency's own decimals. Written by hand: it is one small, fixed format, and a CSV crate would
//! still leave the amounts and dates to us.

use crate::payments::{Currency, PageCursor, Payment, PaymentFilter, PaymentStatus, Payments};

/// What an export is asked for, as typed: `--status paid --currency jpy --from 2026-12-01 --to 2026-12-31`.
#[derive(Debug, Default, Clone)]
pub struct ExportRequest {
    /// A payer's email or one of the payment's ids.
    pub search: Option<String>,
    pub status: Option<String>,
    pub brand: Option<String>,
    pub currency: Option<String>,
    /// The first day (UTC), `YYYY-MM-DD`.
    pub from: Option<String>,
    /// The last day (UTC), included.
    pub to: Option<String>,
}

impl ExportRequest {
    /// The filter it means, or what is wrong with it.
    pub fn filter(&self) -> Result<PaymentFilter, String> {
        if let Some(status) = &self.status
            && PaymentStatus::parse(status).is_none()
        {
            let known: Vec<&str> = PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
            return Err(format!("status {status:?} is not one of {}", known.join(", ")));
        }
        if let Some(currency) = &self.currency {
            Currency::parse(currency).map_err(|e| format!("currency: {e}"))?;
        }
        let day = |name: &str, raw: &Option<String>| -> Result<Option<i64>, String> {
            let Some(raw) = raw else { return Ok(None) };
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let date =
                time::Date::parse(raw, &format).map_err(|_| format!("{name} {raw:?} is not a date like 2026-12-31"))?;
            Ok(Some(date.midnight().assume_utc().unix_timestamp() * 1000))
        };
        let from = day("from", &self.from)?;
        let to = day("to", &self.to)?;
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            return Err("to is before from".into());
        }
        Ok(PaymentFilter {
            search: self.search.as_deref().map(searched_id),
            status: self.status.clone(),
            brand: self.brand.clone(),
            currency: self.currency.clone(),
            created_from: from,
            created_before: to.map(|to| to + 24 * 3600 * 1000),
        })
    }
}

/// The term as payments store it: Salesforce shows 15-character ids in its pages and URLs,
/// Remit keeps the 18-character form (nothing else Remit searches by is 15 letters and digits).
fn searched_id(term: &str) -> String {
    match crate::payments::SalesforceId::parse(term) {
        Ok(id) if term.len() == 15 => id.as_str().to_owned(),
        _ => term.to_owned(),
    }
}

/// Writes the CSV of every payment `filter` takes to `out`, a page at a time (the export of a
/// year never sits in memory); returns how many payments it wrote.
pub async fn export(payments: &Payments, filter: &PaymentFilter, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
    out.write_all(header().as_bytes())?;
    let mut written = 0;
    let mut at: PageCursor = None;
    loop {
        let (rows, count, next) = page(payments, filter, &at).await?;
        out.write_all(rows.as_bytes())?;
        written += count;
        match next {
            Some(next) => at = next,
            None => break,
        }
    }
    out.flush()?;
    Ok(written)
}

/// One page of an export, from `at`: its rows, how many, and where the next page starts (`None`
/// after the last).
pub async fn page(
    payments: &Payments,
    filter: &PaymentFilter,
    at: &PageCursor,
) -> Result<(String, u64, Option<PageCursor>), sqlx::Error> {
    let (page, next) = payments.filtered_page(filter, at).await?;
    let rows: String = page.iter().map(|payment| row(payment, payments.receipt_number_of(payment))).collect();
    Ok((rows, page.len() as u64, next))
}

pub const HEADER: &[&str] = &[
    "payment_id",
    "created_at",
    "paid_at",
    "status",
    "brand",
    "currency",
    "amount",
    "paid_amount",
    "refunded",
    "payer_email",
    "payer_name",
    "description",
    "opportunity_id",
    "account_id",
    "receipt_number",
    "stripe_payment_intent_id",
];

/// The header line.
pub fn header() -> String {
    line(HEADER.iter().map(|h| (*h).to_owned()))
}

/// One payment's line. `receipt_number` as printed (`ACME-000042`), when it has one.
pub fn row(payment: &Payment, receipt_number: Option<String>) -> String {
    let currency = payment.currency();
    let collected = payment.collected_currency();
    let major = |currency: &Currency, minor: i64| currency.format_major(minor);
    line([
        payment.id.clone(),
        rfc3339(payment.created_at),
        payment.paid_at.map(rfc3339).unwrap_or_default(),
        payment.status.clone(),
        payment.brand.clone(),
        currency.to_string(),
        major(&currency, payment.amount_minor),
        payment.paid_amount_minor.map(|paid| format!("{} {collected}", major(&collected, paid))).unwrap_or_default(),
        major(&collected, payment.refunded_minor),
        payment.payer_email.clone(),
        payment.payer_name.clone().unwrap_or_default(),
        payment.description.clone().unwrap_or_default(),
        payment.opportunity_id.clone(),
        payment.account_id.clone().unwrap_or_default(),
        receipt_number.unwrap_or_default(),
        payment.stripe_payment_intent_id.clone().unwrap_or_default(),
    ])
}

fn line(fields: impl IntoIterator<Item = String>) -> String {
    let fields: Vec<String> = fields.into_iter().map(|f| field(&f)).collect();
    format!("{}\r\n", fields.join(","))
}

fn field(value: &str) -> String {
    // A leading =, +, - or @ would be a formula to a spreadsheet: quoted and prefixed with an
    // apostrophe, as OWASP advises for CSV that people open in Excel.
    let value = if value.starts_with(['=', '+', '-', '@']) && value.parse::<f64>().is_err() {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\r', '\n']) || value.starts_with('\'') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn rfc3339(ms: i64) -> String {
    crate::payments::time_of(ms)
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_request_names_what_is_wrong_and_takes_whole_days() {
        let ask = |status: Option<&str>, currency: Option<&str>, from: Option<&str>, to: Option<&str>| {
            ExportRequest {
                search: None,
                status: status.map(Into::into),
                brand: None,
                currency: currency.map(Into::into),
                from: from.map(Into::into),
                to: to.map(Into::into),
            }
            .filter()
        };
        let filter = ask(Some("paid"), Some("JPY"), Some("2026-12-01"), Some("2026-12-01")).unwrap();
        assert_eq!(filter.created_from, Some(1_796_083_200_000));
        assert_eq!(filter.created_before, Some(1_796_083_200_000 + 86_400_000), "the last day is included");
        assert!(ask(Some("settled"), None, None, None).unwrap_err().contains("not one of open"));
        assert!(ask(None, Some("XYZ"), None, None).unwrap_err().starts_with("currency"));
        assert!(ask(None, None, Some("01/12/2026"), None).unwrap_err().contains("not a date"));
        assert_eq!(ask(None, None, Some("2026-12-02"), Some("2026-12-01")).unwrap_err(), "to is before from");
    }

    #[test]
    fn a_15_character_opportunity_id_is_searched_in_its_18_character_form() {
        let search =
            |term: &str| ExportRequest { search: Some(term.into()), ..Default::default() }.filter().unwrap().search;
        assert_eq!(search("0065g00000AbCdE").as_deref(), Some("0065g00000AbCdEAAV"));
        assert_eq!(search("0065g00000AbCdEAAV").as_deref(), Some("0065g00000AbCdEAAV"));
        assert_eq!(search("ana@example.com").as_deref(), Some("ana@example.com"));
        assert_eq!(search("cs_test_a1B2c3D4e5").as_deref(), Some("cs_test_a1B2c3D4e5"));
    }

    #[test]
    fn fields_are_quoted_only_when_they_must_be_and_formulas_are_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("Lima, Ana"), "\"Lima, Ana\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-12.50"), "-12.50", "a negative number stays a number");
        assert!(header().ends_with("stripe_payment_intent_id\r\n"));
    }
}
