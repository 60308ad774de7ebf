//! `/pay/{token}`: the stable pay link. Shows what is to be paid and a button that leads to Stripe
//! Checkout; a plain form post, so it works without JavaScript.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[cfg(feature = "ssr")]
use crate::response::see_other;
use crate::{
    backend::{PayState, PayView},
    layout::Layout,
    pages::{NotFound, Unavailable},
};

#[server(prefix = "/fn", endpoint = "pay-view")]
pub async fn load_pay_view(token: String) -> Result<Option<PayView>, ServerFnError> {
    let backend = expect_context::<crate::Backend>();
    backend.pay_view(&token).await.map_err(ServerFnError::new)
}

/// The pay button: answers 303 to the Checkout page, or back to the pay page with a reason.
#[server(prefix = "/fn", endpoint = "start-checkout")]
pub async fn start_checkout(token: String, csrf: String) -> Result<(), ServerFnError> {
    use crate::backend::CheckoutProblem;
    let backend = expect_context::<crate::Backend>();
    let request = use_context::<http::request::Parts>().ok_or_else(|| ServerFnError::new("no request"))?;
    let back = |reason: &str| format!("/pay/{}?problem={reason}", safe_token(&token));
    let target = match backend.start_checkout(&request, &token, &csrf).await {
        Ok(url) => url,
        Err(CheckoutProblem::NotFound) => back("unknown"),
        Err(CheckoutProblem::NotPayable) => format!("/pay/{}", safe_token(&token)),
        Err(CheckoutProblem::Unavailable) => back("unavailable"),
        Err(CheckoutProblem::FormExpired) => back("expired"),
    };
    see_other(&target);
    Ok(())
}

#[cfg(feature = "ssr")]
/// Tokens are hex: anything else is dropped so a forged token cannot reshape the redirect.
fn safe_token(text: &str) -> String {
    text.chars().filter(char::is_ascii_alphanumeric).collect()
}

#[component]
pub fn PayPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let view = Resource::new(token, |token| async move {
        Ok::<_, ServerFnError>((load_pay_view(token).await?, crate::account::load_csrf().await?))
    });
    let problem = move || query.read().get("problem");
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match view.await {
                    Ok((Some(view), csrf)) => view! { <PayContent view=view csrf=csrf problem=problem() /> }.into_any(),
                    Ok((None, _)) => view! { <NotFound /> }.into_any(),
                    Err(_) => view! { <Unavailable /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PayContent(view: PayView, csrf: String, problem: Option<String>) -> impl IntoView {
    let payee = view.brand.name.clone();
    let payee_again = payee.clone();
    let (title, heading) = match view.state {
        PayState::Payable => (format!("Pay {payee}"), format!("Pay {payee}")),
        PayState::Processing => ("Payment being confirmed".to_owned(), "We are confirming your payment".to_owned()),
        PayState::Paid => ("Already paid".to_owned(), "This payment has already been made".to_owned()),
        PayState::Closed => ("Link no longer active".to_owned(), "This payment link is no longer active".to_owned()),
        PayState::Expired => ("Payment link expired".to_owned(), "This payment link has expired".to_owned()),
    };
    #[cfg(feature = "ssr")]
    if view.state == PayState::Expired {
        crate::response::set_status(http::StatusCode::GONE);
    }
    let problem = problem.map(|p| match p.as_str() {
        "unavailable" => "We could not reach our payment provider. Nothing was charged; please try again in a moment.",
        "expired" => "The page had expired. Nothing was charged; please press the button again.",
        _ => "Something went wrong. Nothing was charged; please try again.",
    });
    let (support, phone) = (view.brand.support_email.clone(), view.brand.support_phone.clone());
    view! {
        <Layout title=title brand=view.brand.clone()>
            <h1>{heading}</h1>
            {problem.map(|text| view! { <p class="alert" role="alert">{text}</p> })}
            <dl class="summary">
                <dt>"Payment to"</dt>
                <dd>{payee}</dd>
                <dt>"For"</dt>
                <dd>{view.description.clone()}</dd>
                <dt>"Amount"</dt>
                <dd class="amount">{view.amount.clone()}</dd>
                {view.billing.clone().map(|billing| view! { <dt>"Billed"</dt> <dd>{billing}</dd> })}
            </dl>
            {match view.state {
                PayState::Payable => view! {
                    <form method="post" action="/fn/start-checkout">
                        <input type="hidden" name="token" value=view.token.clone() />
                        <input type="hidden" name="csrf" value=csrf />
                        <button class="button" type="submit">"Pay securely"</button>
                    </form>
                    <p class="fine-print">"You will enter your payment details on Stripe, our payment provider."</p>
                }.into_any(),
                PayState::Paid => view! { <p>"Thank you — there is nothing left to pay."</p> }.into_any(),
                PayState::Processing => view! {
                    <p>"Your payment is on its way. We will email you as soon as it is confirmed."</p>
                }.into_any(),
                PayState::Closed => view! {
                    <AskForNewLink lead="If you still want to pay, please ask for a new link".to_owned() email=support phone=None />
                }.into_any(),
                PayState::Expired => view! {
                    <AskForNewLink lead=format!("Nothing was charged. To pay, please ask {payee_again} for a new link") email=support phone=phone />
                }.into_any(),
            }}
        </Layout>
    }
}

/// Where to ask for a new link: the brand's support address and phone, when it has them.
#[component]
fn AskForNewLink(lead: String, email: Option<String>, phone: Option<String>) -> impl IntoView {
    view! {
        <p>
            {lead}
            {email.map(|email| view! { " at " <a href=format!("mailto:{email}")>{email.clone()}</a> })}
            {phone.map(|phone| view! { " or call " <a href=format!("tel:{}", phone.replace(' ', ""))>{phone.clone()}</a> })}
            "."
        </p>
    }
}
