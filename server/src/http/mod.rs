//! The axum router: health, static style, receipts, the API, the Stripe webhook and the Leptos
//! pages. Handlers stay thin; what they do lives in the domain modules. HTTP types stop here.

mod api;
mod client_addr;
mod csrf;
mod error;
mod health;
mod metrics;
mod ops_console;
mod pages;
mod receipt_downloads;
mod reminder_stop;
mod serve;
pub mod sessions;
mod style;
mod success_page;
mod webhook_endpoint;

use std::sync::Arc;

use app::{BrandView, RunMode, SiteContext};
use axum::http::{HeaderName, StatusCode};
use axum::{
    Router,
    body::Body,
    extract::State,
    http::Request,
    response::{IntoResponse, Response},
    routing::get,
};
use leptos::prelude::{LeptosOptions, provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use secrecy::SecretString;

use crate::{
    config::{Brand, Config},
    db::Db,
    outbox::WorkerHealth,
    payments::Payments,
    sync::SalesforceHealth,
};

/// Everything a request handler may need, cloned cheaply per request.
#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    pub site: SiteContext,
    pub pages: app::Backend,
    console: Arc<ops_console::ConsoleBackend>,
    pub payments: Payments,
    pub worker_health: WorkerHealth,
    pub salesforce_health: SalesforceHealth,
    pub csrf_key: csrf::CsrfKey,
    /// Renders what the process's metrics recorder holds.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    success_pages: success_page::SuccessPages,
    /// Every secret a Stripe webhook may be signed with.
    pub webhook_secrets: Arc<Vec<SecretString>>,
}

/// What [`AppState`] is made of, as start-up has it.
pub struct StateParts {
    pub db: Db,
    pub config: Arc<Config>,
    pub payments: Payments,
    pub worker_health: WorkerHealth,
    pub salesforce_health: SalesforceHealth,
    /// Signs CSRF tokens; every instance on one database has the same.
    pub csrf_key: [u8; 32],
    pub webhook_secrets: Vec<SecretString>,
    /// The Salesforce stand-in, in sandbox mode.
    pub sandbox_org: Option<sandbox::Salesforce>,
    pub accounts: crate::accounts::Accounts,
}

impl AppState {
    pub fn new(parts: StateParts) -> Self {
        let StateParts {
            db,
            config,
            payments,
            worker_health,
            salesforce_health,
            csrf_key,
            webhook_secrets,
            sandbox_org,
            accounts,
        } = parts;
        let csrf_key = csrf::CsrfKey::new(csrf_key, config.public_url.is_https());
        let site = SiteContext {
            mode: if config.is_sandbox() { RunMode::Sandbox } else { RunMode::Live },
            default_brand: brand_view(config.brands.default_brand()),
        };
        let leptos_options = LeptosOptions::builder().output_name("remit").build();
        let console = Arc::new(ops_console::ConsoleBackend {
            db: db.clone(),
            payments: payments.clone(),
            accounts: accounts.clone(),
            configured_operators: config.operators.clone(),
            salesforce_health: salesforce_health.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
        });
        let pages: app::Backend = Arc::new(pages::PageBackend {
            payments: payments.clone(),
            accounts,
            sandbox_org,
            trusted_proxies: config.trusted_proxies.clone(),
            session_lifetime: config.session_lifetime,
            stripe_lookups: crate::accounts::RateLimiter::new(
                pages::STRIPE_LOOKUPS_PER_CLIENT,
                pages::STRIPE_LOOKUP_WINDOW,
            ),
        });
        Self {
            db,
            config,
            leptos_options,
            site,
            pages,
            console,
            payments,
            worker_health,
            salesforce_health,
            csrf_key,
            metrics: crate::ops::metrics::install(),
            success_pages: Default::default(),
            webhook_secrets: Arc::new(webhook_secrets),
        }
    }

    fn provide_page_context(&self) -> impl Fn() + Clone + Send + Sync + 'static {
        let site = self.site.clone();
        let pages = self.pages.clone();
        let console: app::ops::Console = self.console.clone();
        move || {
            provide_context(site.clone());
            provide_context(pages.clone());
            provide_context(console.clone());
        }
    }
}

pub use serve::{ConnectionLimits, serve};

pub fn brand_view(brand: &Brand) -> BrandView {
    BrandView {
        key: brand.key.clone(),
        name: brand.name.clone(),
        logo_url: brand.logo_url.clone(),
        support_email: brand.support_email.clone(),
        support_phone: brand.support_phone.clone(),
        legal_footer: brand.legal_footer.clone(),
    }
}

/// The pages' routes, listed once per process. Listing them runs the app with resource loading
/// suppressed process-wide (a global flag in leptos_server), so a page rendering in another
/// instance at that moment would wait forever on its data; several instances share a process in
/// tests.
static PAGE_ROUTES: std::sync::LazyLock<Vec<leptos_axum::AxumRouteListing>> =
    std::sync::LazyLock::new(|| generate_route_list(app::App));

pub fn router(state: AppState, sessions: sessions::Store) -> Router {
    // `/success` has a handler of its own in front of its page.
    let routes: Vec<_> = PAGE_ROUTES.iter().filter(|route| route.path() != "/success").cloned().collect();
    let options = state.leptos_options.clone();
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/style/main.css", get(style::main_css))
        .route("/style/logo.svg", get(style::logo))
        .route("/style/brand/{file}", get(style::brand_css))
        .route("/style/brand/{key}/logo", get(style::brand_logo))
        .route("/success", get(success_page::success))
        .route("/reminders/stop/{token}", axum::routing::post(reminder_stop::stop))
        .route("/receipts/{file}", get(receipt_downloads::download))
        .route("/account/receipts/{file}", get(receipt_downloads::download_own))
        .route("/credit-notes/{file}", get(receipt_downloads::download_credit_note))
        .route("/account/credit-notes/{file}", get(receipt_downloads::download_own_credit_note))
        .merge(api::routes())
        .route(
            "/webhooks/stripe",
            axum::routing::post(webhook_endpoint::stripe)
                .layer(axum::extract::DefaultBodyLimit::max(webhook_endpoint::MAX_BODY_BYTES)),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/ops/payments.csv", get(ops_console::payments_csv))
        .leptos_routes_with_context(&state, routes, state.provide_page_context(), move || app::shell(options.clone()))
        .route_layer(axum::middleware::from_fn(metrics::time_requests))
        .fallback(not_found_page)
        .layer(sessions::layer(sessions, &state.config))
        .layer(axum::middleware::from_fn_with_state(state.csrf_key.clone(), csrf::layer))
        .layer(axum::middleware::map_response(html_without_hydration_data));
    let router = with_security_headers(router, &state.config);
    let timeout = state.config.request_timeout;
    with_observability(router, timeout)
        .layer(axum::middleware::from_fn(error::api_rejections_as_json))
        .with_state(state)
}

/// Any address no route claims: the branded 404 page, with status 404.
async fn not_found_page(State(state): State<AppState>, request: Request<Body>) -> Response {
    let mut response = render_page(&state, request).await;
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

/// The Leptos page for the request's address.
async fn render_page(state: &AppState, request: Request<Body>) -> Response {
    let options = state.leptos_options.clone();
    let render =
        leptos_axum::render_app_async_with_context(state.provide_page_context(), move || app::shell(options.clone()));
    render(request).await
}

/// Marks a page response whose HTML is final already (see [`html_without_hydration_data`]).
#[derive(Clone, Copy)]
struct Finished;

/// Leptos appends hydration data as inline scripts after `</html>` and marks hydration points in
/// the markup. Remit's pages never hydrate, so all of it is dead weight (and invalid HTML).
async fn html_without_hydration_data(response: Response) -> Response {
    let is_html = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !is_html || response.extensions().get::<Finished>().is_some() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Some(html) = page_html(Response::new(body)).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "page too large").into_response();
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    // Pages show a payer's payments, links and addresses: no cache, shared or private, keeps them.
    parts.headers.entry(axum::http::header::CACHE_CONTROL).or_insert(axum::http::HeaderValue::from_static("no-store"));
    Response::from_parts(parts, Body::from(html))
}

/// A rendered page's HTML without what Leptos adds for hydration; `None` when it is too large.
async fn page_html(response: Response) -> Option<String> {
    let bytes = axum::body::to_bytes(response.into_body(), 8 * 1024 * 1024).await.ok()?;
    const END: &[u8] = b"</html>";
    let end = bytes.windows(END.len()).rposition(|w| w == END).map_or(bytes.len(), |i| i + END.len());
    // Hydration markers (`<!>`, `<!--HEAD-->`) mean nothing without hydration; `<!>` is not even
    // a valid comment.
    Some(String::from_utf8_lossy(&bytes[..end]).replace("<!>", "").replace("<!--HEAD-->", ""))
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Pages load nothing from other hosts, run no script, cannot be framed, and send no Referer (pay
/// links carry their token in the path). Forms may lead only here and to Stripe Checkout.
fn with_security_headers(router: Router<AppState>, config: &Config) -> Router<AppState> {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;

    let checkout = match &config.stripe {
        Some(stripe) if stripe.api_base.host_str() != Some("api.stripe.com") => {
            stripe.api_base.origin().ascii_serialization()
        }
        Some(_) => "https://checkout.stripe.com".to_owned(),
        // The sandbox's Stripe listens on a loopback port chosen at start-up.
        None => "http://127.0.0.1:*".to_owned(),
    };
    let policy = format!(
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'none'; \
         form-action 'self' {checkout}; frame-ancestors 'none'; base-uri 'none'"
    );
    let fixed = |name, value: &str| {
        SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_str(value).expect("static header values are valid"),
        )
    };
    let router = router
        .layer(fixed(header::CONTENT_SECURITY_POLICY, &policy))
        .layer(fixed(header::REFERRER_POLICY, "no-referrer"))
        .layer(fixed(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(fixed(header::X_FRAME_OPTIONS, "DENY"));
    if config.public_url.is_https() {
        router.layer(fixed(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"))
    } else {
        router
    }
}

/// A request id on every request and log line, a span per request, and a time limit.
fn with_observability(router: Router<AppState>, timeout: std::time::Duration) -> Router<AppState> {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout)),
    )
}

fn request_span(request: &Request<Body>) -> tracing::Span {
    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %redact_tokens(request.uri().path()),
    )
}

/// Pay links, receipts and sign-in links carry bearer tokens in their path: keep them out of logs.
pub fn redact_tokens(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let (stem, extension) = segment.rsplit_once('.').unwrap_or((segment, ""));
            match (stem.len() >= 20, extension) {
                (false, _) => segment.to_owned(),
                (true, "") => "[token]".to_owned(),
                (true, extension) => format!("[token].{extension}"),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_path_segments_are_redacted_from_logs() {
        assert_eq!(super::redact_tokens("/pay/Zm9vYmFyYmF6cXV4cXV1eA"), "/pay/[token]");
        assert_eq!(super::redact_tokens("/style/main.css"), "/style/main.css");
        let receipt = format!("/receipts/{}.pdf", "ab12".repeat(8));
        assert_eq!(super::redact_tokens(&receipt), "/receipts/[token].pdf");
        let sign_in = format!("/account/sign-in/{}", "0f".repeat(32));
        assert_eq!(super::redact_tokens(&sign_in), "/account/sign-in/[token]");
    }
}
