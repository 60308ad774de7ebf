//! The payer's account: sign in with a single-use emailed link, then see every payment made with
//! that address. Plain forms that post to server functions; every form carries a CSRF token.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    backend::{AccountView, SignInOutcome},
    layout::Layout,
    pages::Unavailable,
};

#[cfg(feature = "ssr")]
use crate::response::{request, see_other};

/// The CSRF token of this request's session, for the forms of a page.
#[server(prefix = "/fn", endpoint = "csrf-token")]
pub async fn load_csrf() -> Result<String, ServerFnError> {
    expect_context::<crate::Backend>().csrf_token(&request()?).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "request-sign-in")]
pub async fn request_sign_in(email: String, csrf: String) -> Result<(), ServerFnError> {
    let outcome = expect_context::<crate::Backend>()
        .request_sign_in(&request()?, &email, &csrf)
        .await
        .map_err(ServerFnError::new)?;
    see_other(match outcome {
        SignInOutcome::Sent => "/account/sign-in?sent=1",
        SignInOutcome::InvalidEmail => "/account/sign-in?problem=email",
        SignInOutcome::RateLimited => "/account/sign-in?problem=limit",
        SignInOutcome::FormExpired => "/account/sign-in?problem=expired",
    });
    Ok(())
}

#[server(prefix = "/fn", endpoint = "sign-in-link")]
pub async fn load_link_valid(token: String) -> Result<bool, ServerFnError> {
    expect_context::<crate::Backend>().sign_in_link_valid(&token).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "confirm-sign-in")]
pub async fn confirm_sign_in(token: String, csrf: String) -> Result<(), ServerFnError> {
    let signed_in = expect_context::<crate::Backend>()
        .confirm_sign_in(&request()?, &token, &csrf)
        .await
        .map_err(ServerFnError::new)?;
    let token: String = token.chars().filter(char::is_ascii_alphanumeric).collect();
    see_other(&if signed_in { "/account".to_owned() } else { format!("/account/sign-in/{token}") });
    Ok(())
}

#[server(prefix = "/fn", endpoint = "account")]
pub async fn load_account(page: i64) -> Result<Option<AccountView>, ServerFnError> {
    expect_context::<crate::Backend>().account(&request()?, page).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "manage-subscription")]
pub async fn manage_subscription(subscription: String, csrf: String) -> Result<(), ServerFnError> {
    use crate::backend::PortalProblem;
    let outcome = expect_context::<crate::Backend>().manage_subscription(&request()?, &subscription, &csrf).await;
    see_other(&match outcome {
        Ok(portal) => portal,
        Err(PortalProblem::SignedOut) => "/account/sign-in".to_owned(),
        Err(PortalProblem::NotYours) => "/account?problem=subscription".to_owned(),
        Err(PortalProblem::FormExpired) => "/account?problem=expired".to_owned(),
        Err(PortalProblem::Unavailable) => "/account?problem=portal".to_owned(),
    });
    Ok(())
}

#[server(prefix = "/fn", endpoint = "sign-out")]
pub async fn sign_out(csrf: String) -> Result<(), ServerFnError> {
    expect_context::<crate::Backend>().sign_out(&request()?, &csrf).await.map_err(ServerFnError::new)?;
    see_other("/account/sign-in");
    Ok(())
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map().read_untracked().clone();
    let sent = query.get("sent").is_some();
    let problem = query.get("problem").map(|p| match p.as_str() {
        "email" => "Enter an email address such as you@example.com.",
        "limit" => "Too many sign-in requests. Please wait a few minutes and try again.",
        _ => "The form had expired. Please try again.",
    });
    let csrf = Resource::new(|| (), |()| load_csrf());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let Ok(csrf) = csrf.await else { return view! { <Unavailable /> }.into_any() };
                view! {
                    <Layout title="Sign in">
                        <h1>"See your payments"</h1>
                        {sent.then(|| view! {
                            <p class="notice" role="status">
                                "Check your inbox. If there are payments for that address, we have sent a sign-in link. It works once, for 15 minutes."
                            </p>
                        })}
                        {problem.map(|text| view! { <p class="alert" role="alert">{text}</p> })}
                        <p>"Enter the email address you paid with. We will email you a link to sign in — no password needed."</p>
                        <form method="post" action="/fn/request-sign-in" class="stacked">
                            <input type="hidden" name="csrf" value=csrf />
                            <label for="email">"Email address"</label>
                            <input id="email" name="email" type="email" autocomplete="email" required />
                            <button class="button" type="submit">"Email me a sign-in link"</button>
                        </form>
                    </Layout>
                }
                .into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn ConfirmPage() -> impl IntoView {
    let token = use_params_map().read_untracked().get("token").unwrap_or_default();
    let token_for_form = token.clone();
    let state = Resource::new(
        move || token.clone(),
        |token| async move { Ok::<_, ServerFnError>((load_link_valid(token).await?, load_csrf().await?)) },
    );
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let token = token_for_form.clone();
                Suspend::new(async move {
                    match state.await {
                        Ok((true, csrf)) => view! {
                            <Layout title="Sign in">
                                <h1>"Sign in"</h1>
                                <p>"Continue to see every payment made with your email address."</p>
                                <form method="post" action="/fn/confirm-sign-in">
                                    <input type="hidden" name="token" value=token />
                                    <input type="hidden" name="csrf" value=csrf />
                                    <button class="button" type="submit">"Sign in"</button>
                                </form>
                            </Layout>
                        }
                        .into_any(),
                        Ok((false, _)) => view! { <LinkExpired /> }.into_any(),
                        Err(_) => view! { <Unavailable /> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn LinkExpired() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::response::set_status(http::StatusCode::GONE);
    view! {
        <Layout title="Link expired">
            <h1>"This sign-in link has expired"</h1>
            <p>"Sign-in links work once, for 15 minutes. This one was already used or is too old."</p>
            <p><a class="button" href="/account/sign-in">"Send me a new link"</a></p>
        </Layout>
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let page = use_query_map().read_untracked().get("page").and_then(|p| p.parse::<i64>().ok()).unwrap_or(0).max(0);
    let account = Resource::new(move || page, load_account);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match account.await {
                    Ok(Some(account)) => view! { <Account account=account /> }.into_any(),
                    Ok(None) => {
                        #[cfg(feature = "ssr")]
                        see_other("/account/sign-in");
                        view! { <p><a href="/account/sign-in">"Sign in"</a></p> }.into_any()
                    }
                    Err(_) => view! { <Unavailable /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Account(account: AccountView) -> impl IntoView {
    let newer = (account.page > 0).then(|| format!("/account?page={}", account.page - 1));
    let older = account.more.then(|| format!("/account?page={}", account.page + 1));
    let empty = account.payments.is_empty();
    let problem = use_query_map().read_untracked().get("problem").map(|p| match p.as_str() {
        "subscription" => "That subscription is not one of yours.",
        "expired" => "The form expired. Please try again.",
        _ => "Stripe's subscription page cannot be opened right now. Please try again in a few minutes.",
    });
    let csrf = account.csrf.clone();
    let subscriptions = (!account.subscriptions.is_empty()).then(|| view! {
        <h2>"Subscriptions"</h2>
        <ul class="payments subscriptions">
            {account
                .subscriptions
                .into_iter()
                .map(|s| {
                    let csrf = csrf.clone();
                    let label = format!("Manage subscription: {}", s.description);
                    view! {
                        <li class="payment subscription">
                            <div class="payment-main">
                                <span class="payment-description">{s.description}</span>
                                <span class="amount">{s.amount}</span>
                            </div>
                            <div class="payment-meta"><span class="status">{s.status}</span>
                                {s.next.map(|next| view! { " · " {next} })}
                            </div>
                            {s.manageable.then(|| view! {
                                <form method="post" action="/fn/manage-subscription">
                                    <input type="hidden" name="csrf" value=csrf />
                                    <input type="hidden" name="subscription" value=s.id />
                                    <button class="button secondary" type="submit" aria-label=label>"Manage"</button>
                                </form>
                            })}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
        <h2>"Payments"</h2>
    });
    view! {
        <Layout title="Your payments">
            <h1>"Your payments"</h1>
            <p>"Signed in as " <strong>{account.email.clone()}</strong></p>
            {problem.map(|text| view! { <p class="alert" role="alert">{text}</p> })}
            {subscriptions}
            {empty.then(|| view! { <p>"There are no payments for this address."</p> })}
            <ul class="payments">
                {account
                    .payments
                    .into_iter()
                    .map(|p| view! {
                        <li class="payment">
                            <div class="payment-main">
                                <span class="payment-description">{p.description}</span>
                                <span class="amount">{p.amount}</span>
                            </div>
                            <div class="payment-meta">{p.date} " · " {p.brand} " · " <span class="status">{p.status}</span></div>
                            {p.receipt_url.map(|href| view! { <a href=href>"Download receipt"</a> })}
                            {(!p.credit_notes.is_empty()).then(|| view! {
                                <ul class="credit-notes">
                                    {p.credit_notes
                                        .into_iter()
                                        .map(|note| view! {
                                            <li>
                                                "Refunded " {note.amount} " · "
                                                <a href=note.href>"Download credit note " {note.number}</a>
                                                {note.void.then_some(" (void: the bank returned this refund)")}
                                            </li>
                                        })
                                        .collect_view()}
                                </ul>
                            })}
                            {p.due.map(|due| view! { <div class="payment-due">{due}</div> })}
                            {p.pay_url.map(|href| view! { <a class="button" href=href>"Pay now"</a> })}
                        </li>
                    })
                    .collect_view()}
            </ul>
            <nav class="pager" aria-label="More payments">
                {newer.map(|href| view! { <a href=href>"Newer payments"</a> })}
                {older.map(|href| view! { <a href=href>"Older payments"</a> })}
            </nav>
            <form method="post" action="/fn/sign-out">
                <input type="hidden" name="csrf" value=account.csrf />
                <button class="button secondary" type="submit">"Sign out"</button>
            </form>
        </Layout>
    }
}
