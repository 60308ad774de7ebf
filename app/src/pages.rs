use leptos::prelude::*;

use crate::layout::Layout;
use crate::site::{RunMode, site};

#[component]
pub fn HomePage() -> impl IntoView {
    let site = site();
    let mode = match site.mode {
        RunMode::Sandbox => {
            "Remit is running in sandbox mode: payments go to a local Stripe stand-in \
                             and status goes to a local Salesforce stand-in."
        }
        RunMode::Live => "Remit is running in live mode, connected to Stripe and Salesforce.",
    };
    view! {
        <Layout title="Payments for Salesforce">
            <h1>"Payments, straight from Salesforce"</h1>
            <p class="lead">
                "Remit turns a Salesforce Opportunity into a Stripe payment link, emails it to the payer, \
                 and writes the payment's status back into Salesforce by itself."
            </p>
            <ul class="features">
                <li>"Agents ask for a link from a Flow or Apex; Remit answers with one that never goes stale."</li>
                <li>"Payers pay on Stripe Checkout and land on branded pages with their receipt."</li>
                <li>"Salesforce shows Paid, Failed or Refunded without anyone typing it in."</li>
            </ul>
            <p class="mode" data-mode=format!("{:?}", site.mode).to_lowercase()>{mode}</p>
        </Layout>
    }
}

/// The branded page for every unknown address. Answers with HTTP status 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::response::set_status(http::StatusCode::NOT_FOUND);
    view! {
        <Layout title="Page not found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. If you followed a payment link, check that it was copied whole."</p>
            <p><a href="/">"Go to the home page"</a></p>
        </Layout>
    }
}

/// The database or a provider did not answer: status 503, and a page that says to try again.
#[component]
pub fn Unavailable() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::response::set_status(http::StatusCode::SERVICE_UNAVAILABLE);
    view! {
        <Layout title="Temporarily unavailable">
            <h1>"Temporarily unavailable"</h1>
            <p>"We cannot show this payment right now. Please try again in a moment."</p>
        </Layout>
    }
}

/// Asks the browser to load the page again in five seconds: an HTTP `Refresh` header, so it works
/// without JavaScript and the payer can turn it off ("Stop updating").
pub fn refresh_every_few_seconds() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(http::header::HeaderName::from_static("refresh"), http::HeaderValue::from_static("5"));
    }
}
