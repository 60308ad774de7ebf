//! `/reminders/stop/{token}`: where a reminder email's "stop reminders" link leads. The page only
//! asks; the button posts to the same address (as a mail client's one-click unsubscribe does,
//! RFC 8058), and the server records the stop and comes back here.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::{
    layout::Layout,
    pages::{NotFound, Unavailable},
    pay::load_pay_view,
};

#[component]
pub fn StopRemindersPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let view = Resource::new(token, load_pay_view);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(Some(view)) => {
                        let action = format!("/reminders/stop/{}", view.token);
                        let pay = format!("/pay/{}", view.token);
                        view! {
                            <Layout title="Payment reminders" brand=view.brand.clone()>
                                {if view.reminders_coming {
                                    view! {
                                        <h1>"Stop reminders for this payment?"</h1>
                                        <p>{format!("{} — {}", view.description, view.amount)}</p>
                                        <form method="post" action=action>
                                            <input type="hidden" name="List-Unsubscribe" value="One-Click" />
                                            <button class="button" type="submit">"Stop reminders"</button>
                                        </form>
                                    }.into_any()
                                } else {
                                    view! {
                                        <h1>"No more reminders"</h1>
                                        <p>{format!("You will get no more reminders for {} — {}.", view.description, view.amount)}</p>
                                        <p><a href=pay>"You can still pay with your link."</a></p>
                                    }.into_any()
                                }}
                            </Layout>
                        }.into_any()
                    }
                    Ok(None) => view! { <NotFound /> }.into_any(),
                    Err(_) => view! { <Unavailable /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
