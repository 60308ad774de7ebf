//! What the server tells the pages about the site they are rendered for.

use leptos::prelude::*;

/// Whether Remit talks to the real Stripe and Salesforce or to the local stand-ins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    Sandbox,
    Live,
}

/// A brand as pages need it: already validated by the server's configuration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrandView {
    /// Key of the brand in `remit.toml`; also names its stylesheet `/style/brand/{key}.css`.
    pub key: String,
    pub name: String,
    pub logo_url: String,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    pub legal_footer: Option<String>,
}

impl BrandView {
    pub fn stylesheet_url(&self) -> String {
        format!("/style/brand/{}.css", self.key)
    }
}

/// Provided as Leptos context on every request.
#[derive(Clone, Debug)]
pub struct SiteContext {
    pub mode: RunMode,
    pub default_brand: BrandView,
}

pub fn site() -> SiteContext {
    expect_context::<SiteContext>()
}
