//! `/success` and `/cancel`: where Stripe Checkout sends the payer back. The payer's last
//! impression of the payment, and the place they come back to.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    backend::{ReturnState, ReturnView},
    layout::Layout,
    pages::{NotFound, Unavailable, refresh_every_few_seconds},
};

#[cfg(feature = "ssr")]
use crate::response::request;

#[server(prefix = "/fn", endpoint = "success-view")]
pub async fn load_success(session_id: String) -> Result<Option<ReturnView>, ServerFnError> {
    let backend = expect_context::<crate::Backend>();
    backend.success_view(&request()?, &session_id).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "cancel-view")]
pub async fn load_cancel(session_id: String) -> Result<Option<ReturnView>, ServerFnError> {
    let backend = expect_context::<crate::Backend>();
    backend.cancel_view(&request()?, &session_id).await.map_err(ServerFnError::new)
}

fn session_id() -> String {
    use_query_map().read_untracked().get("session_id").unwrap_or_default()
}

#[component]
pub fn SuccessPage() -> impl IntoView {
    let view = Resource::new(session_id, load_success);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(Some(view)) => view! { <Success view=view /> }.into_any(),
                    Ok(None) => view! { <NotFound /> }.into_any(),
                    Err(_) => view! { <Unavailable /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn CancelPage() -> impl IntoView {
    let view = Resource::new(session_id, load_cancel);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(Some(view)) => view! { <Canceled view=view /> }.into_any(),
                    Ok(None) => view! { <NotFound /> }.into_any(),
                    Err(_) => view! { <Unavailable /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Success(view: ReturnView) -> impl IntoView {
    let brand = view.brand.clone();
    let pay_link = format!("/pay/{}", view.token);
    match view.state {
        ReturnState::Paid => view! {
            <Layout title="Payment received" brand=brand>
                <h1>"Thank you — your payment was received"</h1>
                <Summary view=view.clone() />
                {view.receipt_url.clone().map(|href| view! { <p><a class="button" href=href download>"Download receipt (PDF)"</a></p> })}
                <p><a href="/account">"See all your payments"</a></p>
            </Layout>
        }
        .into_any(),
        ReturnState::Processing => {
            let updating = use_query_map().read_untracked().get("updates").as_deref() != Some("off");
            if updating {
                refresh_every_few_seconds();
            }
            let session = use_query_map().read_untracked().get("session_id").unwrap_or_default();
            let stop = format!("/success?session_id={session}&updates=off");
            let check = format!("/success?session_id={session}");
            view! {
                <Layout title="Confirming your payment" brand=brand>
                    <h1>"We are confirming your payment"</h1>
                    <p role="status">
                        "Your bank is processing the payment. You can close this page — we will email you when it is confirmed."
                    </p>
                    <Summary view=view.clone() />
                    {if updating {
                        view! { <p class="fine-print">"This page updates itself every few seconds. " <a href=stop>"Stop updating"</a></p> }.into_any()
                    } else {
                        view! { <p><a class="button" href=check>"Check again"</a></p> }.into_any()
                    }}
                </Layout>
            }
            .into_any()
        }
        ReturnState::Unpaid => view! {
            <Layout title="Payment not completed" brand=brand>
                <h1>"Your payment did not go through"</h1>
                <p class="alert" role="alert">
                    {view.failure.clone().unwrap_or_else(|| "The payment was not completed. Nothing was charged.".into())}
                </p>
                <Summary view=view.clone() />
                <p><a class="button" href=pay_link>"Try again"</a></p>
            </Layout>
        }
        .into_any(),
        ReturnState::Closed => view! {
            <Layout title="Link no longer active" brand=brand>
                <h1>"This payment is no longer active"</h1>
                <Summary view=view.clone() />
            </Layout>
        }
        .into_any(),
    }
}

#[component]
fn Canceled(view: ReturnView) -> impl IntoView {
    let brand = view.brand.clone();
    let pay_link = format!("/pay/{}", view.token);
    let support = view.brand.support_email.clone().map(|email| {
        let href = format!("mailto:{email}");
        view! { <p>"Questions? Write to " <a href=href>{email}</a> "."</p> }
    });
    let payable = view.state == ReturnState::Unpaid;
    view! {
        <Layout title="Payment not completed" brand=brand>
            <h1>"Payment not completed"</h1>
            <p>"You left the payment page before paying. Nothing was charged."</p>
            <dl class="summary">
                <dt>"Payment to"</dt>
                <dd>{view.brand.name.clone()}</dd>
                <dt>"For"</dt>
                <dd>{view.description.clone()}</dd>
                <dt>{if payable { "Still due" } else { "Amount" }}</dt>
                <dd class="amount">{view.amount.clone()}</dd>
            </dl>
            {payable.then(|| view! { <p><a class="button" href=pay_link>"Try again"</a></p> })}
            {support}
        </Layout>
    }
}

#[component]
fn Summary(view: ReturnView) -> impl IntoView {
    view! {
        <dl class="summary">
            <dt>"Paid to"</dt>
            <dd>{view.brand.name.clone()}</dd>
            <dt>"For"</dt>
            <dd>{view.description.clone()}</dd>
            <dt>"Amount"</dt>
            <dd class="amount">{view.amount.clone()}</dd>
            {view.paid_on.clone().map(|date| view! { <dt>"Date"</dt> <dd>{date}</dd> })}
            <dt>"Reference"</dt>
            <dd>{view.reference.clone()}</dd>
            <dt>"Email"</dt>
            <dd>{view.payer_email.clone()}</dd>
        </dl>
    }
}
