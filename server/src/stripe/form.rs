/// Parameters in Stripe's request format: `application/x-www-form-urlencoded` with bracketed keys
/// for nested objects (`metadata[remit_payment_id]`, `line_items[0][quantity]`).
#[derive(Debug, Default, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.0.push((key.into(), value.to_string()));
        self
    }

    pub fn set_opt(self, key: impl Into<String>, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.set(key, value),
            None => self,
        }
    }

    /// `prefix[name]=value` for each pair, e.g. metadata.
    pub fn set_map<'a>(mut self, prefix: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (name, value) in pairs {
            self.0.push((format!("{prefix}[{name}]"), value.to_owned()));
        }
        self
    }

    pub fn encode(&self) -> String {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.0 {
            serializer.append_pair(key, value);
        }
        serializer.finish()
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}
