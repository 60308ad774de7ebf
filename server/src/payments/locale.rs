//! Amounts as a payer reads them: the currency's symbol and the locale's separators, taken from
//! the browser's `Accept-Language`. Decimals always follow the currency (none for JPY, three for
//! KWD), whatever the locale.

use super::Currency;

struct Convention {
    decimal: char,
    group: char,
    /// The symbol goes after the number, with a space ("125,00 €").
    symbol_after: bool,
}

fn convention(language: &str) -> Convention {
    match language {
        "de" | "es" | "it" | "pt" | "nl" | "da" | "id" | "tr" => {
            Convention { decimal: ',', group: '.', symbol_after: language != "nl" }
        }
        "fr" | "sv" | "nb" | "fi" | "pl" | "cs" | "ru" | "uk" => {
            Convention { decimal: ',', group: '\u{202f}', symbol_after: true }
        }
        "de-ch" => Convention { decimal: '.', group: '\'', symbol_after: false },
        _ => Convention { decimal: '.', group: ',', symbol_after: false },
    }
}

fn symbol(currency: &Currency, language: &str) -> String {
    match (currency.code(), language) {
        ("usd", "en") => "$".into(),
        ("usd", _) => "US$".into(),
        ("eur", _) => "€".into(),
        ("gbp", _) => "£".into(),
        ("jpy", "ja") => "￥".into(),
        ("jpy", _) => "¥".into(),
        ("inr", _) => "₹".into(),
        ("krw", _) => "₩".into(),
        ("cad", _) => "CA$".into(),
        ("aud", _) => "A$".into(),
        _ => currency.to_string(),
    }
}

/// The first language of an `Accept-Language` header, lower-cased: `de-DE,de;q=0.9` → `de`
/// (`de-ch` is kept whole: Switzerland writes numbers its own way).
pub fn language(accept_language: Option<&str>) -> String {
    let first = accept_language
        .and_then(|header| header.split(',').next())
        .map(|tag| tag.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if first == "de-ch" {
        return first;
    }
    first
        .split('-')
        .next()
        .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphabetic()))
        .unwrap_or("en")
        .to_owned()
}

/// `minor` units of `currency` for a reader of `language`: "$125.00", "125,00 €", "￥5,000".
pub fn format_money(minor: i64, currency: &Currency, language: &str) -> String {
    let convention = convention(language);
    let plain = currency.format_major(minor);
    let (whole, fraction) = plain.split_once('.').unwrap_or((&plain, ""));
    let (sign, whole) = whole.strip_prefix('-').map_or(("", whole), |w| ("-", w));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(convention.group);
        }
        grouped.push(digit);
    }
    let number = if fraction.is_empty() { grouped } else { format!("{grouped}{}{fraction}", convention.decimal) };
    let symbol = symbol(currency, language);
    let spaced = symbol.chars().all(|c| c.is_ascii_alphabetic());
    match (convention.symbol_after, spaced) {
        (true, _) => format!("{sign}{number}\u{a0}{symbol}"),
        (false, true) => format!("{sign}{symbol}\u{a0}{number}"),
        (false, false) => format!("{sign}{symbol}{number}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(minor: i64, currency: &str, accept: &str) -> String {
        format_money(minor, &Currency::parse(currency).unwrap(), &language(Some(accept)))
    }

    #[test]
    fn amounts_follow_the_readers_locale_and_the_currencys_decimals() {
        assert_eq!(money(12_500, "usd", "en-US,en;q=0.9"), "$125.00");
        assert_eq!(money(123_456_789, "usd", "en-US"), "$1,234,567.89");
        assert_eq!(money(12_500, "eur", "de-DE,de;q=0.9"), "125,00\u{a0}€");
        assert_eq!(money(123_456, "eur", "fr-FR"), "1\u{202f}234,56\u{a0}€");
        assert_eq!(money(500_000, "jpy", "ja-JP"), "￥500,000");
        assert_eq!(money(12_340, "kwd", "en"), "KWD\u{a0}12.340");
        assert_eq!(money(12_340, "kwd", "ar-KW"), "KWD\u{a0}12.340");
        assert_eq!(money(100_000, "chf", "de-CH"), "CHF\u{a0}1'000.00");
    }

    #[test]
    fn a_missing_or_odd_header_reads_as_english() {
        assert_eq!(language(None), "en");
        assert_eq!(language(Some("*")), "en");
        assert_eq!(language(Some("")), "en");
    }
}
