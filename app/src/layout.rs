use leptos::prelude::*;
use leptos_meta::{Link, Title};

use crate::site::{BrandView, RunMode, site};

/// The branded frame of every page: header with logo and name, sandbox notice, main, footer.
#[component]
pub fn Layout(
    /// The page's title; the brand name is appended.
    #[prop(into)]
    title: String,
    /// The brand to show; the default brand when absent.
    #[prop(optional)]
    brand: Option<BrandView>,
    children: Children,
) -> impl IntoView {
    let site = site();
    let brand = brand.unwrap_or(site.default_brand);
    let full_title = format!("{title} · {}", brand.name);
    view! {
        <Title text=full_title />
        <Link rel="stylesheet" href="/style/main.css" />
        <Link rel="stylesheet" href=brand.stylesheet_url() />
        <a class="skip-link" href="#main">"Skip to content"</a>
        {(site.mode == RunMode::Sandbox).then(SandboxNotice)}
        <header class="site-header">
            <a class="brand" href="/">
                <img class="brand-logo" src=brand.logo_url.clone() alt="" width="40" height="40" />
                <span class="brand-name">{brand.name.clone()}</span>
            </a>
        </header>
        <main id="main" class="content">{children()}</main>
        <Footer brand=brand />
    }
}

#[component]
fn SandboxNotice() -> impl IntoView {
    view! {
        <p class="sandbox-notice" role="status">
            <strong>"Sandbox mode"</strong>
            " — Stripe and Salesforce are local stand-ins. No real money moves. "
            <a href="/sandbox/salesforce">"See what reached Salesforce"</a>
        </p>
    }
}

#[component]
fn Footer(brand: BrandView) -> impl IntoView {
    let email = brand.support_email.map(|email| {
        let href = format!("mailto:{email}");
        view! { <a href=href>{email}</a> }
    });
    let phone = brand.support_phone.map(|phone| {
        let href = format!("tel:{}", phone.replace(' ', ""));
        view! { <a href=href>{phone}</a> }
    });
    view! {
        <footer class="site-footer">
            {(email.is_some() || phone.is_some())
                .then(|| view! { <p class="support">"Questions? " {email} " " {phone}</p> })}
            {brand.legal_footer.map(|text| view! { <p class="legal">{text}</p> })}
        </footer>
    }
}
