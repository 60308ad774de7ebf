//! The SOQL subset Remit uses: `SELECT f, … FROM Object [WHERE f = literal [AND …]]
//! [ORDER BY f [ASC|DESC]] [LIMIT n]`, with string literals escaped as Salesforce escapes them.

use serde_json::Value;

#[derive(Debug, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub object: String,
    pub conditions: Vec<(String, Value)>,
    pub order_by: Option<(String, bool)>,
    pub limit: Option<usize>,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Comma,
    Equals,
}

fn tokenize(soql: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = soql.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' => {
                chars.next();
                tokens.push(Token::Comma);
            }
            '=' => {
                chars.next();
                tokens.push(Token::Equals);
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => text.push('\n'),
                            Some('r') => text.push('\r'),
                            Some('t') => text.push('\t'),
                            Some('b') => text.push('\u{8}'),
                            Some('f') => text.push('\u{c}'),
                            Some(e @ ('\'' | '"' | '\\' | '_' | '%')) => text.push(e),
                            other => return Err(format!("invalid escape sequence \\{}", other.unwrap_or(' '))),
                        },
                        Some(c) => text.push(c),
                    }
                }
                tokens.push(Token::Text(text));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            other => return Err(format!("unexpected token: '{other}'")),
        }
    }
    Ok(tokens)
}

pub fn parse(soql: &str) -> Result<Query, String> {
    let tokens = tokenize(soql)?;
    let mut at = 0;
    let word = |at: usize| match tokens.get(at) {
        Some(Token::Word(w)) => Some(w.as_str()),
        _ => None,
    };
    let keyword = |at: usize, k: &str| word(at).is_some_and(|w| w.eq_ignore_ascii_case(k));
    if !keyword(at, "SELECT") {
        return Err("expected SELECT".into());
    }
    at += 1;
    let mut fields = Vec::new();
    loop {
        let field = word(at).ok_or("expected a field name")?;
        fields.push(field.to_owned());
        at += 1;
        if tokens.get(at) == Some(&Token::Comma) {
            at += 1;
        } else {
            break;
        }
    }
    if !keyword(at, "FROM") {
        return Err("expected FROM".into());
    }
    let object = word(at + 1).ok_or("expected an object name")?.to_owned();
    at += 2;
    let mut conditions = Vec::new();
    if keyword(at, "WHERE") {
        at += 1;
        loop {
            let field = word(at).ok_or("expected a field in WHERE")?.to_owned();
            if tokens.get(at + 1) != Some(&Token::Equals) {
                return Err("only = comparisons are supported".into());
            }
            let value = match tokens.get(at + 2) {
                Some(Token::Text(text)) => Value::String(text.clone()),
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
                Some(Token::Word(w)) => {
                    w.parse::<f64>().map(Value::from).map_err(|_| format!("unexpected token: '{w}'"))?
                }
                _ => return Err("expected a value".into()),
            };
            conditions.push((field, value));
            at += 3;
            if keyword(at, "AND") {
                at += 1;
            } else {
                break;
            }
        }
    }
    let mut order_by = None;
    if keyword(at, "ORDER") && keyword(at + 1, "BY") {
        let field = word(at + 2).ok_or("expected a field in ORDER BY")?.to_owned();
        at += 3;
        let ascending = if keyword(at, "DESC") {
            at += 1;
            false
        } else {
            if keyword(at, "ASC") {
                at += 1;
            }
            true
        };
        order_by = Some((field, ascending));
    }
    let mut limit = None;
    if keyword(at, "LIMIT") {
        limit = Some(word(at + 1).and_then(|w| w.parse().ok()).ok_or("expected a number after LIMIT")?);
        at += 2;
    }
    if at != tokens.len() {
        return Err("unexpected tokens at the end of the query".into());
    }
    Ok(Query { fields, object, conditions, order_by, limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_with_escaped_quotes_and_backslashes_parses() {
        let query =
            parse(r"SELECT Id, Name FROM Account WHERE Name = 'O\'Brien \\ Sons' AND IsActive = true LIMIT 5").unwrap();
        assert_eq!(query.fields, ["Id", "Name"]);
        assert_eq!(query.conditions[0].1, Value::String(r"O'Brien \ Sons".into()));
        assert_eq!(query.conditions[1].1, Value::Bool(true));
        assert_eq!(query.limit, Some(5));
    }

    #[test]
    fn an_unescaped_quote_is_malformed() {
        assert!(parse("SELECT Id FROM Account WHERE Name = 'O'Brien'").is_err());
    }
}
