//! `/sandbox/salesforce`: in sandbox mode, the Salesforce stand-in's records, read-only, so a
//! newcomer sees the Opportunity change as the payment moves. Refreshes itself without JavaScript.

use leptos::prelude::*;

use crate::{
    backend::SandboxObject,
    layout::Layout,
    pages::{NotFound, refresh_every_few_seconds},
};

#[server(prefix = "/fn", endpoint = "sandbox-salesforce")]
pub async fn load_sandbox_salesforce() -> Result<Option<Vec<SandboxObject>>, ServerFnError> {
    Ok(expect_context::<crate::Backend>().sandbox_salesforce())
}

#[component]
pub fn SalesforcePage() -> impl IntoView {
    let objects = Resource::new(|| (), |()| load_sandbox_salesforce());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match objects.await {
                    Ok(Some(objects)) => view! { <Records objects=objects /> }.into_any(),
                    _ => view! { <NotFound /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Records(objects: Vec<SandboxObject>) -> impl IntoView {
    refresh_every_few_seconds();
    view! {
        <Layout title="Sandbox Salesforce">
            <h1>"Sandbox Salesforce"</h1>
            <p>"What Remit has written to the Salesforce stand-in. This page refreshes every five seconds."</p>
            {objects
                .into_iter()
                .map(|object| {
                    let caption = format!("{} ({})", object.name, object.rows.len());
                    view! {
                        <div class="table-scroll">
                            <table>
                                <caption>{caption}</caption>
                                <thead>
                                    <tr>{object.columns.into_iter().map(|c| view! { <th scope="col">{c}</th> }).collect_view()}</tr>
                                </thead>
                                <tbody>
                                    {object
                                        .rows
                                        .into_iter()
                                        .map(|row| view! { <tr>{row.into_iter().map(|v| view! { <td>{v}</td> }).collect_view()}</tr> })
                                        .collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }
                })
                .collect_view()}
        </Layout>
    }
}
