//! Stripe's request format: `application/x-www-form-urlencoded` with bracketed keys. Unknown
//! parameters are refused with 400 `parameter_unknown`, as Stripe refuses them.

use serde_json::{Map, Value};

use super::error::ApiError;

/// Form pairs checked against an endpoint's allowed keys and nested into a JSON tree.
#[derive(Debug)]
pub struct Params {
    pub tree: Value,
}

/// `allowed` holds key patterns: `[]` stands for any array index, `[*]` for any map key
/// (e.g. `metadata[*]`, `line_items[][price_data][currency]`).
pub fn parse(body: &[u8], allowed: &[&str]) -> Result<Params, ApiError> {
    let mut tree = Value::Object(Map::new());
    for (key, value) in url::form_urlencoded::parse(body) {
        let segments =
            split_key(&key).ok_or_else(|| ApiError::invalid(format!("Invalid parameter name: {key}"), &key))?;
        if !allowed.iter().any(|pattern| matches(pattern, &segments)) {
            return Err(ApiError::unknown_parameter(&key));
        }
        insert(&mut tree, &segments, value.into_owned())
            .map_err(|()| ApiError::invalid(format!("Invalid array or object for {key}"), &key))?;
    }
    Ok(Params { tree })
}

/// `line_items[0][price_data][currency]` → `["line_items", "0", "price_data", "currency"]`.
fn split_key(key: &str) -> Option<Vec<String>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut segments = vec![head.to_owned()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        segments.push(inner[..close].to_owned());
        rest = &inner[close + 1..];
    }
    Some(segments)
}

fn matches(pattern: &str, segments: &[String]) -> bool {
    let Some(pattern) = split_key(pattern) else { return false };
    pattern.len() == segments.len()
        && pattern.iter().zip(segments).all(|(p, s)| match p.as_str() {
            "" => s.parse::<usize>().is_ok(),
            "*" => !s.is_empty(),
            literal => literal == s,
        })
}

fn insert(node: &mut Value, segments: &[String], value: String) -> Result<(), ()> {
    let Some((first, rest)) = segments.split_first() else { return Err(()) };
    let map = node.as_object_mut().ok_or(())?;
    if rest.is_empty() {
        map.insert(first.clone(), Value::String(value));
        return Ok(());
    }
    // Arrays arrive as index-keyed objects; `index_lists` turns them into JSON arrays later.
    let child = map.entry(first.clone()).or_insert_with(|| Value::Object(Map::new()));
    insert(child, rest, value)
}

impl Params {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.tree.get(key).and_then(Value::as_str)
    }

    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        self.str(key).filter(|v| !v.is_empty()).ok_or_else(|| ApiError::missing(key))
    }

    pub fn integer(&self, key: &str) -> Result<Option<i64>, ApiError> {
        integer_at(&self.tree, key)
    }

    /// A `[*]` map such as metadata, as a JSON object of strings.
    pub fn map(&self, key: &str) -> Value {
        self.tree.get(key).cloned().unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// An index-keyed list (`line_items[0]…`, `line_items[1]…`) in index order.
    pub fn list(&self, key: &str) -> Vec<Value> {
        let Some(Value::Object(items)) = self.tree.get(key) else { return Vec::new() };
        let mut indexed: Vec<(usize, Value)> =
            items.iter().filter_map(|(i, v)| i.parse().ok().map(|i| (i, v.clone()))).collect();
        indexed.sort_by_key(|(i, _)| *i);
        indexed.into_iter().map(|(_, v)| v).collect()
    }
}

pub fn integer_at(node: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match node.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some(raw) => raw.parse().map(Some).map_err(|_| ApiError::invalid(format!("Invalid integer: {raw}"), key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_keys_nest_and_unknown_keys_are_refused() {
        let allowed = ["mode", "metadata[*]", "line_items[][quantity]"];
        let params = parse(b"mode=payment&metadata[a]=1&line_items[0][quantity]=2", &allowed).unwrap();
        assert_eq!(params.str("mode"), Some("payment"));
        assert_eq!(params.map("metadata")["a"], "1");
        assert_eq!(params.list("line_items")[0]["quantity"], "2");

        let error = parse(b"mode=payment&colour=red", &allowed).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("colour"));
        assert!(parse(b"line_items[x][quantity]=2", &allowed).is_err());
    }
}
