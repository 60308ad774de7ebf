//! Remit's pages: server-rendered Leptos components that need no JavaScript.
//!
//! The app knows nothing of SQL, Stripe or Salesforce. The server provides, as Leptos context, a
//! [`SiteContext`] (brand and run mode), the [`PaymentPages`] backend that the payer pages' server
//! functions call, and the [`ops::Console`] the operator console's call.

mod account;
pub mod backend;
mod layout;
pub mod ops;
mod pages;
mod pay;
mod reminders;
#[cfg(feature = "ssr")]
mod response;
mod returns;
mod sandbox;
pub mod site;

use leptos::prelude::*;
use leptos_meta::{MetaTags, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

pub use backend::{
    AccountPayment, AccountSubscription, AccountView, Backend, CheckoutProblem, CreditNoteLink, PageError, PayState,
    PayView, PaymentPages, PortalProblem, ReturnState, ReturnView, SandboxObject, SignInOutcome,
};
pub use site::{BrandView, RunMode, SiteContext};

/// The HTML document around every page. No hydration scripts: pages work without JavaScript.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let _ = options;
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Router>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/") view=pages::HomePage ssr=SsrMode::Async />
                <Route path=path!("/pay/:token") view=pay::PayPage ssr=SsrMode::Async />
                <Route path=path!("/reminders/stop/:token") view=reminders::StopRemindersPage ssr=SsrMode::Async />
                <Route path=path!("/success") view=returns::SuccessPage ssr=SsrMode::Async />
                <Route path=path!("/cancel") view=returns::CancelPage ssr=SsrMode::Async />
                <Route path=path!("/account") view=account::AccountPage ssr=SsrMode::Async />
                <Route path=path!("/account/sign-in") view=account::SignInPage ssr=SsrMode::Async />
                <Route path=path!("/account/sign-in/:token") view=account::ConfirmPage ssr=SsrMode::Async />
                <Route path=path!("/ops") view=ops::OverviewPage ssr=SsrMode::Async />
                <Route path=path!("/ops/sign-in") view=ops::SignInPage ssr=SsrMode::Async />
                <Route path=path!("/ops/sign-in/:token") view=ops::ConfirmPage ssr=SsrMode::Async />
                <Route path=path!("/ops/payments") view=ops::PaymentsPage ssr=SsrMode::Async />
                <Route path=path!("/ops/payments/:id") view=ops::PaymentPage ssr=SsrMode::Async />
                <Route path=path!("/ops/outbox") view=ops::OutboxPage ssr=SsrMode::Async />
                <Route path=path!("/ops/api-keys") view=ops::ApiKeysPage ssr=SsrMode::Async />
                <Route path=path!("/ops/finance") view=ops::FinancePage ssr=SsrMode::Async />
                <Route path=path!("/sandbox/salesforce") view=sandbox::SalesforcePage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
