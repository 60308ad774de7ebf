//! The console's pages. Each loads its view through one server function and shows it; forms post
//! to [`super::act`].

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{
    ActionButton, ApiKeysView, FinanceView, Gate, Operator, OpsFrame, OutboxView, Overview, PaymentDetail, PaymentList,
    PaymentQuery, Table, gated,
};
#[cfg(feature = "ssr")]
use super::{console, request};

#[server(prefix = "/fn", endpoint = "ops-overview")]
pub async fn load_overview() -> Result<Gate<Overview>, ServerFnError> {
    console().overview(&request()?).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "ops-payments")]
pub async fn load_payments(query: PaymentQuery) -> Result<Gate<PaymentList>, ServerFnError> {
    console().payments(&request()?, query).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "ops-payment")]
pub async fn load_payment(id: String) -> Result<Gate<PaymentDetail>, ServerFnError> {
    console().payment(&request()?, &id).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "ops-outbox")]
pub async fn load_outbox() -> Result<Gate<OutboxView>, ServerFnError> {
    console().outbox(&request()?).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "ops-api-keys")]
pub async fn load_api_keys() -> Result<Gate<ApiKeysView>, ServerFnError> {
    console().api_keys(&request()?).await.map_err(ServerFnError::new)
}

#[server(prefix = "/fn", endpoint = "ops-finance")]
pub async fn load_finance(query: PaymentQuery) -> Result<Gate<FinanceView>, ServerFnError> {
    console().finance(&request()?, query).await.map_err(ServerFnError::new)
}

/// The filter in the address bar.
fn payment_query() -> PaymentQuery {
    let query = use_query_map().read_untracked().clone();
    let text = |name: &str| query.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    PaymentQuery {
        q: text("q"),
        status: text("status"),
        brand: text("brand"),
        currency: text("currency"),
        from: text("from"),
        to: text("to"),
        page: text("page").parse::<i64>().unwrap_or(0).max(0),
    }
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let overview = Resource::new(|| (), |()| load_overview());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                gated(overview.await, |operator, overview| view! {
                    <OpsFrame title="Overview" operator=operator>
                        <h2>"Health"</h2>
                        <dl class="facts">
                            {overview.health.into_iter().map(|(what, state)| view! { <dt>{what}</dt><dd>{state}</dd> }).collect_view()}
                        </dl>
                        <h2>"Outbox"</h2>
                        <Table caption="Jobs by class" headers=&["Class", "Due", "Running", "Retrying", "Dead", "Oldest due"] rows=overview.queue />
                        <h2>"Payments"</h2>
                        {overview.windows.into_iter().map(|(window, rows)| view! {
                            <Table caption=format!("Payments created {window}") headers=&["Status", "Currency", "Payments", "Amount"] rows=rows />
                        }).collect_view()}
                    </OpsFrame>
                }.into_any())
            })}
        </Suspense>
    }
}

/// The filter form of the payments and finance pages.
#[component]
fn FilterForm(
    action: &'static str,
    query: PaymentQuery,
    brands: Vec<(String, String)>,
    statuses: Vec<String>,
    with_search: bool,
) -> impl IntoView {
    let option = |value: String, label: String, chosen: &str| {
        let selected = value == chosen;
        view! { <option value=value selected=selected>{label}</option> }
    };
    view! {
        <form method="get" action=action class="filters">
            {with_search.then(|| view! {
                <div class="field wide">
                    <label for="q">"Search"</label>
                    <input id="q" name="q" type="search" value=query.q.clone()
                        placeholder="Email, Opportunity, Remit, session, intent, customer or invoice id" />
                </div>
            })}
            {(!statuses.is_empty()).then(|| view! {
                <div class="field">
                    <label for="status">"Status"</label>
                    <select id="status" name="status">
                        {option(String::new(), "Any".into(), &query.status)}
                        {statuses.into_iter().map(|s| option(s.clone(), s, &query.status)).collect_view()}
                    </select>
                </div>
            })}
            <div class="field">
                <label for="brand">"Brand"</label>
                <select id="brand" name="brand">
                    {option(String::new(), "Any".into(), &query.brand)}
                    {brands.into_iter().map(|(key, name)| option(key, name, &query.brand)).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="currency">"Currency"</label>
                <input id="currency" name="currency" value=query.currency.clone() maxlength="3" size="4" placeholder="USD" />
            </div>
            <div class="field">
                <label for="from">"Created from"</label>
                <input id="from" name="from" type="date" value=query.from.clone() />
            </div>
            <div class="field">
                <label for="to">"Created to"</label>
                <input id="to" name="to" type="date" value=query.to.clone() />
            </div>
            <button class="button" type="submit">"Show"</button>
        </form>
    }
}

#[component]
pub fn PaymentsPage() -> impl IntoView {
    let list = Resource::new(payment_query, load_payments);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                gated(list.await, |operator, list| {
                    let filter = list.query.filter_query();
                    let page_link = |page: i64| format!("/ops/payments?{filter}{}page={page}", if filter.is_empty() { "" } else { "&" });
                    let newer = (list.query.page > 0).then(|| page_link(list.query.page - 1));
                    let older = list.more.then(|| page_link(list.query.page + 1));
                    let csv = format!("/ops/payments.csv?{filter}");
                    let empty = list.payments.is_empty() && list.problem.is_none();
                    view! {
                        <OpsFrame title="Payments" operator=operator>
                            <FilterForm action="/ops/payments" query=list.query.clone() brands=list.brands statuses=list.statuses with_search=true />
                            {list.problem.map(|text| view! { <p class="alert" role="alert">{text}</p> })}
                            <p><a href=csv download="">"Download these payments as CSV"</a></p>
                            {empty.then(|| view! { <p>"No payments match."</p> })}
                            <div class="table-scroll" tabindex="0" role="region" aria-label="Payments">
                                <table>
                                    <caption>"Payments, newest first"</caption>
                                    <thead><tr>
                                        {["Created", "Payer", "Description", "Amount", "Status"].map(|h| view! { <th scope="col">{h}</th> }).collect_view()}
                                    </tr></thead>
                                    <tbody>
                                        {list.payments.into_iter().map(|row| {
                                            let href = format!("/ops/payments/{}", row[0]);
                                            let mut cells = row.into_iter().skip(1);
                                            let created = cells.next().unwrap_or_default();
                                            view! {
                                                <tr>
                                                    <td><a href=href>{created}</a></td>
                                                    {cells.map(|cell| view! { <td>{cell}</td> }).collect_view()}
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <nav class="pager" aria-label="More payments">
                                {newer.map(|href| view! { <a href=href>"Newer payments"</a> })}
                                {older.map(|href| view! { <a href=href>"Older payments"</a> })}
                            </nav>
                        </OpsFrame>
                    }
                    .into_any()
                })
            })}
        </Suspense>
    }
}

#[component]
pub fn PaymentPage() -> impl IntoView {
    let id = use_params_map().read_untracked().get("id").unwrap_or_default();
    let detail = Resource::new(move || id.clone(), load_payment);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                gated(detail.await, |operator, payment| view! { <Payment operator=operator payment=payment /> }.into_any())
            })}
        </Suspense>
    }
}

#[component]
fn Payment(operator: Operator, payment: PaymentDetail) -> impl IntoView {
    let csrf = operator.csrf.clone();
    let admin = operator.admin;
    let id = payment.id.clone();
    view! {
        <OpsFrame title=payment.title operator=operator>
            <dl class="facts">
                {payment.facts.into_iter().map(|(what, value)| view! { <dt>{what}</dt><dd>{value}</dd> }).collect_view()}
            </dl>
            <p class="documents">
                {payment.receipt_url.map(|href| view! { <a href=href>"Receipt (PDF)"</a> })}
                {payment.credit_notes.into_iter().map(|note| view! {
                    " " <a href=note.href>"Credit note " {note.number} " · " {note.amount}</a>
                    {note.void.then_some(" (void)")}
                }).collect_view()}
            </p>
            {admin.then(|| view! {
                <h2>"Actions"</h2>
                <div class="actions">
                    {payment.can_resend.then(|| view! { <ActionButton action="resend-link" subject=id.clone() csrf=csrf.clone() label="Resend the link" /> })}
                    {payment.can_cancel.then(|| view! { <ActionButton action="cancel" subject=id.clone() csrf=csrf.clone() label="Cancel the payment" /> })}
                    <ActionButton action="resync" subject=id.clone() csrf=csrf.clone() label="Sync to Salesforce again" />
                </div>
                {payment.refundable.map(|left| view! {
                    <form method="post" action="/fn/ops-act" class="stacked refund">
                        <input type="hidden" name="csrf" value=csrf.clone() />
                        <input type="hidden" name="action" value="refund" />
                        <input type="hidden" name="subject" value=id.clone() />
                        <input type="hidden" name="key" value=payment.refund_key.clone() />
                        <label for="amount">"Refund amount (up to " {left} "; empty for all of it)"</label>
                        <input id="amount" name="amount" inputmode="decimal" />
                        <label for="reason">"Reason"</label>
                        <select id="reason" name="reason">
                            <option value="requested_by_customer">"Requested by the customer"</option>
                            <option value="duplicate">"Duplicate"</option>
                            <option value="fraudulent">"Fraudulent"</option>
                        </select>
                        <button class="button" type="submit">"Refund"</button>
                    </form>
                })}
            })}
            <h2>"Timeline"</h2>
            <Table caption="What happened, oldest first" headers=&["When", "What", "Detail"] rows=payment.timeline />
        </OpsFrame>
    }
}

#[component]
pub fn OutboxPage() -> impl IntoView {
    let outbox = Resource::new(|| (), |()| load_outbox());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                gated(outbox.await, |operator, outbox| {
                    let csrf = operator.csrf.clone();
                    let admin = operator.admin;
                    let none = outbox.dead.is_empty();
                    view! {
                        <OpsFrame title="Dead letters" operator=operator>
                            <p>"Jobs that failed every attempt. Replaying one puts it back in the queue, attempts reset."</p>
                            {none.then(|| view! { <p>"There are no dead letters."</p> })}
                            {admin.then(|| view! {
                                <div class="actions">
                                    {outbox.dead_classes.into_iter().map(|class| view! {
                                        <ActionButton action="replay-class" subject=class.clone() csrf=csrf.clone() label=format!("Replay all {class} jobs") />
                                    }).collect_view()}
                                </div>
                            })}
                            <ul class="dead-letters">
                                {outbox.dead.into_iter().map(|row| {
                                    let job = row[0].clone();
                                    view! {
                                        <li class="dead-letter">
                                            <div><strong>"Job " {job.clone()} " · " {row[2].clone()}</strong> " (" {row[1].clone()} ", " {row[3].clone()} ", " {row[4].clone()} ")"</div>
                                            <div class="about">{row[6].clone()}</div>
                                            <pre class="error">{row[5].clone()}</pre>
                                            {admin.then(|| view! { <ActionButton action="replay" subject=job.clone() csrf=csrf.clone() label=format!("Replay job {job}") /> })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                            <h2>"Unmatched Stripe events"</h2>
                            <p>"Events that matched no payment: kept, not dropped."</p>
                            <Table caption="Unmatched events, newest first" headers=&["Event", "Type", "Received", "Why it matched nothing"] rows=outbox.unmatched />
                        </OpsFrame>
                    }
                    .into_any()
                })
            })}
        </Suspense>
    }
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let keys = Resource::new(|| (), |()| load_api_keys());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                gated(keys.await, |operator, keys| {
                    let csrf = operator.csrf.clone();
                    let admin = operator.admin;
                    view! {
                        <OpsFrame title="API keys" operator=operator>
                            {keys.new_key.map(|(name, key)| view! {
                                <div class="new-key" role="status">
                                    <p>"The key " <strong>{name}</strong> " is below. It is shown this once: put it in Salesforce's Named Credential now."</p>
                                    <p><code class="key">{key}</code></p>
                                </div>
                            })}
                            <ul class="keys">
                                {keys.keys.into_iter().map(|row| {
                                    let live = row[4].is_empty();
                                    view! {
                                        <li>
                                            <strong>{row[1].clone()}</strong> " · created " {row[2].clone()} " · last used " {row[3].clone()}
                                            {(!live).then(|| view! { " · revoked " {row[4].clone()} })}
                                            {(admin && live).then(|| view! { <ActionButton action="revoke-key" subject=row[0].clone() csrf=csrf.clone() label=format!("Revoke {}", row[1]) /> })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                            {admin.then(|| view! {
                                <form method="post" action="/fn/ops-act" class="stacked">
                                    <input type="hidden" name="csrf" value=csrf.clone() />
                                    <input type="hidden" name="action" value="create-key" />
                                    <label for="key-name">"Name of the new key"</label>
                                    <input id="key-name" name="subject" required placeholder="Salesforce production" />
                                    <button class="button" type="submit">"Create a key"</button>
                                </form>
                            })}
                        </OpsFrame>
                    }
                    .into_any()
                })
            })}
        </Suspense>
    }
}

#[component]
pub fn FinancePage() -> impl IntoView {
    let finance = Resource::new(payment_query, load_finance);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                gated(finance.await, |operator, finance| {
                    let csv = format!("/ops/payments.csv?{}", finance.query.filter_query());
                    view! {
                        <OpsFrame title="Finance" operator=operator>
                            <p>"Payments paid each day (UTC), by brand and currency, amounts in the currency's major unit."</p>
                            <FilterForm action="/ops/finance" query=finance.query.clone() brands=finance.brands statuses=Vec::new() with_search=false />
                            {finance.problem.map(|text| view! { <p class="alert" role="alert">{text}</p> })}
                            <p><a href=csv download="">"Download these payments as CSV"</a></p>
                            <Table caption="Daily totals, newest first" headers=&["Day", "Brand", "Currency", "Payments", "Collected", "Refunded", "Net"] rows=finance.days />
                        </OpsFrame>
                    }
                    .into_any()
                })
            })}
        </Suspense>
    }
}
