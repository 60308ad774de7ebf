//! Signing in to the console: an operator's address gets a single-use link; any other address
//! gets the same answer and nothing else.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[cfg(feature = "ssr")]
use super::{console, request, see_other};
use crate::{account::load_csrf, backend::SignInOutcome, layout::Layout, pages::Unavailable};

#[server(prefix = "/fn", endpoint = "ops-request-sign-in")]
pub async fn request_sign_in(email: String, csrf: String) -> Result<(), ServerFnError> {
    let outcome = console().request_sign_in(&request()?, &email, &csrf).await.map_err(ServerFnError::new)?;
    see_other(match outcome {
        SignInOutcome::Sent => "/ops/sign-in?sent=1",
        SignInOutcome::InvalidEmail => "/ops/sign-in?problem=email",
        SignInOutcome::RateLimited => "/ops/sign-in?problem=limit",
        SignInOutcome::FormExpired => "/ops/sign-in?problem=expired",
    });
    Ok(())
}

#[server(prefix = "/fn", endpoint = "ops-sign-in-link")]
pub async fn load_link_valid(token: String) -> Result<bool, ServerFnError> {
    console().sign_in_link_valid(&token).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "ops-confirm-sign-in")]
pub async fn confirm_sign_in(token: String, csrf: String) -> Result<(), ServerFnError> {
    let signed_in = console().confirm_sign_in(&request()?, &token, &csrf).await.map_err(ServerFnError::new)?;
    let token: String = token.chars().filter(char::is_ascii_alphanumeric).collect();
    see_other(&if signed_in { "/ops".to_owned() } else { format!("/ops/sign-in/{token}") });
    Ok(())
}

#[server(prefix = "/fn", endpoint = "ops-sign-out")]
pub async fn sign_out(csrf: String) -> Result<(), ServerFnError> {
    console().sign_out(&request()?, &csrf).await.map_err(ServerFnError::new)?;
    see_other("/ops/sign-in");
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
                    <Layout title="Operations sign-in">
                        <h1>"Sign in to operations"</h1>
                        {sent.then(|| view! {
                            <p class="notice" role="status">
                                "Check your inbox. If that address belongs to an operator, we have sent a sign-in link. It works once, for 15 minutes."
                            </p>
                        })}
                        {problem.map(|text| view! { <p class="alert" role="alert">{text}</p> })}
                        <form method="post" action="/fn/ops-request-sign-in" class="stacked">
                            <input type="hidden" name="csrf" value=csrf />
                            <label for="email">"Operator email address"</label>
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
                            <Layout title="Operations sign-in">
                                <h1>"Sign in to operations"</h1>
                                <form method="post" action="/fn/ops-confirm-sign-in">
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
    super::set_status(http::StatusCode::GONE);
    view! {
        <Layout title="Link expired">
            <h1>"This sign-in link has expired"</h1>
            <p>"Sign-in links work once, for 15 minutes. This one was already used or is too old."</p>
            <p><a class="button" href="/ops/sign-in">"Send me a new link"</a></p>
        </Layout>
    }
}
