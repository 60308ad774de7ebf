//! Absolute URLs that paths are joined onto: Remit's public address, Salesforce's login and
//! instance URLs. Kept without a trailing slash, so joining never doubles or drops one.

use std::{fmt, str::FromStr};

use url::Url;

#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl {
    url: Url,
    /// `url` as text without its trailing slash.
    base: String,
}

impl BaseUrl {
    /// `path` starts with `/`: `https://pay.example.org` + `/pay/abc`.
    pub fn join(&self, path: &str) -> String {
        debug_assert!(path.starts_with('/'), "joined paths start with a slash");
        format!("{}{path}", self.base)
    }

    /// The URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    pub fn host_str(&self) -> Option<&str> {
        self.url.host_str()
    }

    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

impl From<Url> for BaseUrl {
    fn from(url: Url) -> Self {
        let base = url.as_str().trim_end_matches('/').to_owned();
        Self { url, base }
    }
}

impl FromStr for BaseUrl {
    type Err = url::ParseError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Url::parse(raw).map(Self::from)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::BaseUrl;

    #[test]
    fn paths_join_with_exactly_one_slash() {
        let with: BaseUrl = "https://pay.example.org/".parse().unwrap();
        let without: BaseUrl = "https://pay.example.org".parse().unwrap();
        let prefixed: BaseUrl = "https://example.org/remit/".parse().unwrap();
        assert_eq!(with.join("/pay/abc"), "https://pay.example.org/pay/abc");
        assert_eq!(without.join("/pay/abc"), "https://pay.example.org/pay/abc");
        assert_eq!(prefixed.join("/pay/abc"), "https://example.org/remit/pay/abc");
    }
}
