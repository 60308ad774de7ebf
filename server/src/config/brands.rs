//! Brands from `remit.toml`: the name, logo, colours and contact details payers see.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;
use crate::payments::{CheckoutOptions, MAX_EXPIRY_DAYS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub key: String,
    pub name: String,
    pub logo_url: String,
    pub primary_color: Color,
    pub accent_color: Color,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    pub legal_footer: Option<String>,
    /// Salesforce record types (e.g. `Nonprofit`) whose payments use this brand.
    pub record_types: Vec<String>,
    /// The paper size of its receipts.
    pub paper: Paper,
    /// A PNG or JPEG logo from a file, served at `/style/brand/{key}/logo` and drawn on receipts.
    pub logo: Option<Logo>,
    /// Checkout options of its links where a link asks for none (`[brands.KEY.checkout]`).
    pub checkout: CheckoutOptions,
    /// Days its links stay payable unless a link says otherwise; `None`: they never expire.
    pub link_expires_in_days: Option<u32>,
}

/// A raster logo read at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub bytes: std::sync::Arc<Vec<u8>>,
    pub format: LogoFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoFormat {
    Png,
    Jpeg,
}

impl LogoFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    A4,
    Letter,
}

impl Brand {
    fn builtin() -> Self {
        Self {
            key: "remit".into(),
            name: "Remit".into(),
            logo_url: "/style/logo.svg".into(),
            primary_color: Color([0x1d, 0x4e, 0xd8]),
            accent_color: Color([0x0f, 0x76, 0x6e]),
            support_email: None,
            support_phone: None,
            legal_footer: None,
            record_types: Vec::new(),
            paper: Paper::A4,
            logo: None,
            checkout: CheckoutOptions::default(),
            link_expires_in_days: None,
        }
    }

    /// The brand's colours as CSS variables; text on the primary colour is whichever of white or
    /// near-black contrasts more, so any brand colour stays readable.
    pub fn stylesheet(&self) -> String {
        format!(
            ":root {{\n  --brand-primary: {};\n  --brand-on-primary: {};\n  --brand-accent: {};\n}}\n",
            self.primary_color,
            self.primary_color.best_text(),
            self.accent_color,
        )
    }
}

/// Every configured brand and which one applies when a payment names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brands {
    brands: BTreeMap<String, Brand>,
    default_key: String,
}

impl Brands {
    fn builtin() -> Self {
        let brand = Brand::builtin();
        Self { default_key: brand.key.clone(), brands: BTreeMap::from([(brand.key.clone(), brand)]) }
    }

    /// Brands from the text of a `remit.toml`.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_file(super::RemitToml::parse(text)?)
    }

    pub(super) fn from_file(file: super::RemitToml) -> Result<Self, ConfigError> {
        if file.brands.is_empty() {
            return Ok(Self::builtin());
        }
        let mut brands = BTreeMap::new();
        for (key, raw) in file.brands {
            let brand = raw.validate(&key)?;
            brands.insert(key, brand);
        }
        let default_key = match file.default_brand {
            Some(key) if brands.contains_key(&key) => key,
            Some(key) => {
                return Err(ConfigError::new("remit.toml default_brand", format!("no brand named {key:?}")));
            }
            None if brands.len() == 1 => brands.keys().next().cloned().unwrap_or_default(),
            None => {
                return Err(ConfigError::new(
                    "remit.toml default_brand",
                    "is required when several brands are configured",
                ));
            }
        };
        Ok(Self { brands, default_key })
    }

    pub fn default_brand(&self) -> &Brand {
        &self.brands[&self.default_key]
    }

    /// Every brand, by key.
    pub fn all(&self) -> impl Iterator<Item = &Brand> {
        self.brands.values()
    }

    pub fn get(&self, key: &str) -> Option<&Brand> {
        self.brands.get(key)
    }

    /// The brand a payment link asked for by key, else the one for its record type, else the default.
    pub fn choose(&self, key: Option<&str>, record_type: Option<&str>) -> &Brand {
        key.and_then(|k| self.get(k))
            .or_else(|| {
                record_type.and_then(|rt| {
                    self.brands.values().find(|b| b.record_types.iter().any(|t| t.eq_ignore_ascii_case(rt)))
                })
            })
            .unwrap_or_else(|| self.default_brand())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBrand {
    name: String,
    logo_url: Option<String>,
    primary_color: Option<String>,
    accent_color: Option<String>,
    support_email: Option<String>,
    support_phone: Option<String>,
    legal_footer: Option<String>,
    #[serde(default)]
    record_types: Vec<String>,
    paper: Option<String>,
    logo_file: Option<std::path::PathBuf>,
    #[serde(default)]
    checkout: CheckoutOptions,
    link_expires_in_days: Option<u32>,
}

impl RawBrand {
    fn validate(self, key: &str) -> Result<Brand, ConfigError> {
        let setting = |field: &str| format!("remit.toml brands.{key}.{field}");
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(ConfigError::new(format!("remit.toml brands.{key}"), "a brand key uses a-z, 0-9 and -"));
        }
        if self.name.trim().is_empty() {
            return Err(ConfigError::new(setting("name"), "must not be empty"));
        }
        let builtin = Brand::builtin();
        let color = |field: &str, raw: Option<String>, fallback: Color| match raw {
            None => Ok(fallback),
            Some(raw) => raw.parse().map_err(|e: String| ConfigError::new(setting(field), e)),
        };
        let logo = self.logo_file.as_deref().map(|path| read_logo(path, &setting("logo_file"))).transpose()?;
        let logo_url = match (&logo, self.logo_url) {
            (Some(_), _) => format!("/style/brand/{key}/logo"),
            (None, url) => url.unwrap_or(builtin.logo_url),
        };
        if !(logo_url.starts_with('/') || logo_url.starts_with("https://")) || logo_url.contains(['"', '<', '>']) {
            return Err(ConfigError::new(setting("logo_url"), "must be a path on this site (/…) or an https:// URL"));
        }
        if let Some(email) = &self.support_email
            && !email.contains('@')
        {
            return Err(ConfigError::new(setting("support_email"), "must be an email address"));
        }
        let checkout = self
            .checkout
            .validate()
            .map_err(|e| ConfigError::new(setting(&format!("checkout.{}", e.field)), e.message))?;
        if self.link_expires_in_days.is_some_and(|days| !(1..=MAX_EXPIRY_DAYS).contains(&days)) {
            return Err(ConfigError::new(setting("link_expires_in_days"), format!("must be 1 to {MAX_EXPIRY_DAYS}")));
        }
        Ok(Brand {
            checkout,
            link_expires_in_days: self.link_expires_in_days,
            key: key.to_owned(),
            name: self.name,
            logo_url,
            primary_color: color("primary_color", self.primary_color, builtin.primary_color)?,
            accent_color: color("accent_color", self.accent_color, builtin.accent_color)?,
            support_email: self.support_email,
            support_phone: self.support_phone,
            legal_footer: self.legal_footer,
            record_types: self.record_types,
            logo,
            paper: match self.paper.as_deref() {
                None | Some("a4" | "A4") => Paper::A4,
                Some("letter" | "Letter") => Paper::Letter,
                Some(_) => return Err(ConfigError::new(setting("paper"), "must be a4 or letter")),
            },
        })
    }
}

fn read_logo(path: &std::path::Path, setting: &str) -> Result<Logo, ConfigError> {
    let bytes =
        std::fs::read(path).map_err(|e| ConfigError::new(setting, format!("cannot read {}: {e}", path.display())))?;
    let format = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        LogoFormat::Png
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        LogoFormat::Jpeg
    } else {
        return Err(ConfigError::new(setting, format!("{} is not a PNG or JPEG image", path.display())));
    };
    Ok(Logo { bytes: std::sync::Arc::new(bytes), format })
}

/// A colour given as `#rrggbb`: only that form reaches a stylesheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color([u8; 3]);

impl Color {
    /// WCAG relative luminance.
    fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * channel(self.0[0]) + 0.7152 * channel(self.0[1]) + 0.0722 * channel(self.0[2])
    }

    pub fn rgb(self) -> [u8; 3] {
        self.0
    }

    pub fn best_text(self) -> &'static str {
        let l = self.luminance();
        let against_white = 1.05 / (l + 0.05);
        let against_dark = (l + 0.05) / (0.0104 + 0.05); // #111827
        if against_white >= against_dark { "#ffffff" } else { "#111827" }
    }
}

impl std::str::FromStr for Color {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let hex = raw.strip_prefix('#').filter(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()));
        let hex = hex.ok_or_else(|| format!("{raw:?} is not a colour of the form #rrggbb"))?;
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string());
        Ok(Self([byte(0)?, byte(2)?, byte(4)?]))
    }
}

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_brands_uses_the_builtin_brand() {
        let brands = Brands::from_toml("").unwrap();
        assert_eq!(brands.default_brand().name, "Remit");
    }

    #[test]
    fn a_brand_is_chosen_by_key_then_record_type_then_default() {
        let brands = Brands::from_toml(
            r##"
            default_brand = "profit"
            [brands.profit]
            name = "Acme"
            [brands.giving]
            name = "Acme Foundation"
            primary_color = "#7c2d12"
            record_types = ["Nonprofit"]
            "##,
        )
        .unwrap();
        assert_eq!(brands.choose(Some("giving"), None).name, "Acme Foundation");
        assert_eq!(brands.choose(None, Some("nonprofit")).name, "Acme Foundation");
        assert_eq!(brands.choose(Some("nope"), Some("Other")).name, "Acme");
        assert!(brands.get("giving").unwrap().stylesheet().contains("--brand-primary: #7c2d12;"));
    }

    #[test]
    fn a_malformed_colour_names_the_setting() {
        let err = Brands::from_toml("[brands.acme]\nname = \"Acme\"\nprimary_color = \"red; }\"\n").unwrap_err();
        assert_eq!(err.setting, "remit.toml brands.acme.primary_color");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let err = Brands::from_toml("[brands.acme]\nname = \"Acme\"\ncolour = \"#000000\"\n").unwrap_err();
        assert_eq!(err.setting, "REMIT_CONFIG");
        assert!(err.problem.contains("colour"), "{}", err.problem);
    }

    #[test]
    fn a_logo_file_must_be_a_readable_png_or_jpeg() {
        let dir = tempfile::tempdir().unwrap();
        let not_an_image = dir.path().join("logo.svg");
        std::fs::write(&not_an_image, "<svg/>").unwrap();
        let toml = format!("[brands.acme]\nname = \"Acme\"\nlogo_file = \"{}\"\n", not_an_image.display());
        let err = Brands::from_toml(&toml).unwrap_err();
        assert_eq!(err.setting, "remit.toml brands.acme.logo_file");
        let toml = "[brands.acme]\nname = \"Acme\"\nlogo_file = \"/nonexistent.png\"\n";
        assert!(Brands::from_toml(toml).unwrap_err().problem.starts_with("cannot read"));
    }

    #[test]
    fn text_on_a_light_brand_colour_is_dark_and_on_a_dark_one_white() {
        assert_eq!("#fde047".parse::<Color>().unwrap().best_text(), "#111827");
        assert_eq!("#1d4ed8".parse::<Color>().unwrap().best_text(), "#ffffff");
    }
}
