//! The operator console at `/ops`: server-rendered pages that need no JavaScript, behind a
//! console sign-in of their own (a magic link to an operator's address). Viewers see every page;
//! admins also act, through forms that post to [`act`] and carry a CSRF token.

mod backend;
mod pages;
mod sign_in;

use leptos::prelude::*;

pub use backend::{
    Acted, Action, ApiKeysView, Console, FinanceView, Gate, Notice, Operator, OpsConsole, OutboxView, Overview,
    PaymentDetail, PaymentList, PaymentQuery, Row,
};
pub use pages::{ApiKeysPage, FinancePage, OutboxPage, OverviewPage, PaymentPage, PaymentsPage};
pub use sign_in::{ConfirmPage, SignInPage};

#[cfg(feature = "ssr")]
use crate::response::{request, see_other, set_status};
use crate::{layout::Layout, pages::Unavailable};

#[cfg(feature = "ssr")]
fn console() -> Console {
    expect_context::<Console>()
}

/// Every console form posts here: the action it names, for the subject it names. Answers with a
/// 303 to the page the action belongs to (which tells what became of it), or 403 with the reason.
#[server(prefix = "/fn", endpoint = "ops-act")]
pub async fn act(
    csrf: String,
    action: String,
    #[server(default)] subject: String,
    #[server(default)] amount: String,
    #[server(default)] reason: String,
    #[server(default)] key: String,
) -> Result<String, ServerFnError> {
    let (action, page) = match action.as_str() {
        "resend-link" => (Action::ResendLink { payment: subject.clone() }, format!("/ops/payments/{subject}")),
        "cancel" => (Action::Cancel { payment: subject.clone() }, format!("/ops/payments/{subject}")),
        "resync" => (Action::Resync { payment: subject.clone() }, format!("/ops/payments/{subject}")),
        "refund" => {
            (Action::Refund { payment: subject.clone(), amount, reason, key }, format!("/ops/payments/{subject}"))
        }
        "replay" => (Action::Replay { job: subject.parse().unwrap_or(-1) }, "/ops/outbox".to_owned()),
        "replay-class" => (Action::ReplayClass { class: subject }, "/ops/outbox".to_owned()),
        "create-key" => (Action::CreateKey { name: subject }, "/ops/api-keys".to_owned()),
        "revoke-key" => (Action::RevokeKey { key: subject }, "/ops/api-keys".to_owned()),
        other => {
            set_status(http::StatusCode::BAD_REQUEST);
            return Ok(format!("There is no console action {other:?}."));
        }
    };
    // Only an address the console itself makes: ids are URL-safe, anything else goes home.
    let page = if page.chars().all(|c| c.is_ascii_alphanumeric() || "/-_".contains(c)) { page } else { "/ops".into() };
    match console().act(&request()?, action, &csrf).await.map_err(ServerFnError::new)? {
        Acted::Told => see_other(&page),
        Acted::SignedOut => see_other("/ops/sign-in"),
        Acted::Forbidden => {
            set_status(http::StatusCode::FORBIDDEN);
            return Ok("Viewers can see the console but not act. Ask an admin.".into());
        }
        Acted::FormExpired => {
            set_status(http::StatusCode::FORBIDDEN);
            return Ok("The form had expired, so nothing was done. Go back, reload the page and try again.".into());
        }
    }
    Ok(String::new())
}

/// A console page around its content: the console's navigation, who is signed in, what the last
/// action did.
#[component]
fn OpsFrame(#[prop(into)] title: String, operator: Operator, children: Children) -> impl IntoView {
    let links = [
        ("/ops", "Overview"),
        ("/ops/payments", "Payments"),
        ("/ops/outbox", "Dead letters"),
        ("/ops/finance", "Finance"),
        ("/ops/api-keys", "API keys"),
    ];
    let role = if operator.admin { "admin" } else { "viewer" };
    view! {
        <Layout title=format!("{title} · Operations")>
            <nav class="ops-nav" aria-label="Console">
                <ul>
                    {links.into_iter().map(|(href, label)| view! { <li><a href=href>{label}</a></li> }).collect_view()}
                </ul>
            </nav>
            <div class="ops-who">
                <span>"Signed in as " <strong>{operator.email}</strong> " (" {role} ")"</span>
                <form method="post" action="/fn/ops-sign-out">
                    <input type="hidden" name="csrf" value=operator.csrf />
                    <button class="button secondary" type="submit">"Sign out"</button>
                </form>
            </div>
            {operator.notice.map(|notice| if notice.problem {
                view! { <p class="alert" role="alert">{notice.text}</p> }.into_any()
            } else {
                view! { <p class="notice" role="status">{notice.text}</p> }.into_any()
            })}
            <h1>{title}</h1>
            {children()}
        </Layout>
    }
}

/// A console page's data as the page needs it: the sign-in page when nobody is signed in, 404
/// for a subject that does not exist, 503 when the data cannot be had.
fn gated<T>(loaded: Result<Gate<T>, ServerFnError>, page: impl FnOnce(Operator, T) -> AnyView) -> AnyView {
    match loaded {
        Ok(Gate::Shown(operator, data)) => page(operator, data),
        Ok(Gate::SignedOut) => {
            #[cfg(feature = "ssr")]
            see_other("/ops/sign-in");
            view! { <p><a href="/ops/sign-in">"Sign in"</a></p> }.into_any()
        }
        Ok(Gate::Missing) => view! { <crate::pages::NotFound /> }.into_any(),
        Err(_) => view! { <Unavailable /> }.into_any(),
    }
}

/// A table with a header row, scrolling sideways on a narrow screen.
#[component]
fn Table(
    /// What the table holds, for screen readers.
    #[prop(into)]
    caption: String,
    headers: &'static [&'static str],
    rows: Vec<Row>,
) -> impl IntoView {
    let label = caption.clone();
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label=label>
            <table>
                <caption>{caption}</caption>
                <thead><tr>{headers.iter().map(|h| view! { <th scope="col">{*h}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|row| view! { <tr>{row.into_iter().map(|cell| view! { <td>{cell}</td> }).collect_view()}</tr> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// A one-button form for an action on `subject`.
#[component]
fn ActionButton(
    action: &'static str,
    #[prop(into)] subject: String,
    #[prop(into)] csrf: String,
    #[prop(into)] label: String,
) -> impl IntoView {
    view! {
        <form method="post" action="/fn/ops-act" class="inline">
            <input type="hidden" name="csrf" value=csrf />
            <input type="hidden" name="action" value=action />
            <input type="hidden" name="subject" value=subject />
            <button class="button secondary" type="submit">{label}</button>
        </form>
    }
}
