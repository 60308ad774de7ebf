//! SOQL string literals. A value from outside (an id, a name) goes into a query only through
//! [`literal`], which escapes it as Salesforce requires.

/// `value` as a quoted SOQL string literal.
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(super::literal(r"O'Brien \ Sons"), r"'O\'Brien \\ Sons'");
        assert_eq!(super::literal("a\nb"), r"'a\nb'");
        assert_eq!(super::literal("' OR Name != '"), r"'\' OR Name != \''");
    }
}
