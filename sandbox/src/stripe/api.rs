//! The `/v1` endpoints Remit calls.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    Stripe,
    error::ApiError,
    params::{self, Params},
    state::{StripeState, now, object, random_id},
};

pub(super) type ApiResult = Result<Response, ApiError>;

/// Stripe takes a secret key as a bearer token (or basic-auth user) and an optional pinned version.
fn authorize(headers: &HeaderMap) -> Result<(), ApiError> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(key) = auth.strip_prefix("Bearer ") else {
        return Err(ApiError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ));
    };
    if !key.starts_with("sk_test_") {
        let shown: String = key.chars().take(8).collect();
        return Err(ApiError::unauthorized(&format!("Invalid API Key provided: {shown}***")));
    }
    if let Some(version) = headers.get("stripe-version") {
        let version = version.to_str().unwrap_or("");
        let date = version.split('.').next().unwrap_or("");
        let well_formed = date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-';
        if !well_formed {
            return Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                kind: "invalid_request_error",
                code: None,
                message: format!("Invalid Stripe API version: {version}"),
                param: None,
            });
        }
    }
    Ok(())
}

/// Runs a POST once per Idempotency-Key: a repeat with the same parameters gets the first answer
/// back; a repeat with other parameters is refused, as Stripe does.
pub(super) fn idempotent(
    stripe: &Stripe,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
    run: impl FnOnce(&mut StripeState) -> Result<Value, ApiError>,
) -> ApiResult {
    authorize(headers)?;
    let mut state = stripe.lock();
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let fingerprint = format!("{path}\n{}", String::from_utf8_lossy(body));
    if let Some(key) = &key
        && let Some((seen, status, body)) = state.idempotent.get(key)
    {
        if *seen != fingerprint {
            return Err(ApiError::idempotency(&format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            )));
        }
        let mut response =
            (StatusCode::from_u16(*status).unwrap_or(StatusCode::OK), Json(body.clone())).into_response();
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }
    let (status, body) = match run(&mut state) {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => (error.status, error.body()),
    };
    if let Some(key) = key {
        state.idempotent.insert(key, (fingerprint, status.as_u16(), body.clone()));
    }
    drop(state);
    stripe.webhooks.flush(stripe);
    Ok((status, Json(body)).into_response())
}

pub(super) fn read(
    stripe: &Stripe,
    headers: &HeaderMap,
    run: impl FnOnce(&StripeState) -> Result<Value, ApiError>,
) -> ApiResult {
    authorize(headers)?;
    let state = stripe.lock();
    Ok(Json(run(&state)?).into_response())
}

const CUSTOMER_PARAMS: &[&str] = &["email", "name", "description", "phone", "metadata[*]"];

pub async fn create_customer(State(stripe): State<Stripe>, headers: HeaderMap, body: Bytes) -> ApiResult {
    idempotent(&stripe, &headers, "/v1/customers", &body, |state| {
        let params = params::parse(&body, CUSTOMER_PARAMS)?;
        let id = random_id("cus_", 14);
        let customer = object(
            "customer",
            json!({
                "id": id, "created": now(), "email": params.str("email"), "name": params.str("name"),
                "description": params.str("description"), "phone": params.str("phone"),
                "metadata": params.map("metadata"),
            }),
        );
        state.customers.insert(id, customer.clone());
        let event = state.event("customer.created", &customer);
        stripe_queue(state, event);
        Ok(customer)
    })
}

pub async fn update_customer(
    State(stripe): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let path = format!("/v1/customers/{id}");
    idempotent(&stripe, &headers, &path, &body, |state| {
        let params = params::parse(&body, CUSTOMER_PARAMS)?;
        let customer = state.customers.get_mut(&id).ok_or_else(|| ApiError::no_such("customer", &id, "id"))?;
        for field in ["email", "name", "description", "phone"] {
            if let Some(value) = params.str(field) {
                customer[field] = if value.is_empty() { Value::Null } else { json!(value) };
            }
        }
        // Metadata merges key by key; an empty value removes the key.
        if let (Some(existing), Value::Object(updates)) = (customer["metadata"].as_object_mut(), params.map("metadata"))
        {
            for (key, value) in updates {
                if value.as_str() == Some("") {
                    existing.remove(&key);
                } else {
                    existing.insert(key, value);
                }
            }
        }
        let customer = customer.clone();
        let event = state.event("customer.updated", &customer);
        stripe_queue(state, event);
        Ok(customer)
    })
}

pub async fn retrieve_customer(State(stripe): State<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    read(&stripe, &headers, |state| {
        state.customers.get(&id).cloned().ok_or_else(|| ApiError::no_such("customer", &id, "id"))
    })
}

/// Stripe's search query language, in the forms Remit uses: `metadata['key']:'value'` and
/// `email:'value'`, joined by `AND`.
pub async fn search_customers(
    State(stripe): State<Stripe>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> ApiResult {
    read(&stripe, &headers, |state| {
        let text = query.get("query").ok_or_else(|| ApiError::missing("query"))?;
        let clauses = text.split(" AND ").map(parse_clause).collect::<Option<Vec<_>>>().ok_or_else(|| {
            ApiError::invalid(
                format!("Invalid search query: {text}. See the search query language documentation."),
                "query",
            )
        })?;
        let data: Vec<Value> = state
            .customers
            .values()
            .filter(|customer| {
                clauses.iter().all(|(field, key, value)| match field.as_str() {
                    "metadata" => customer["metadata"][key.as_str()].as_str() == Some(value.as_str()),
                    _ => customer[field.as_str()].as_str() == Some(value.as_str()),
                })
            })
            .cloned()
            .collect();
        Ok(
            json!({ "object": "search_result", "data": data, "has_more": false, "next_page": null, "url": "/v1/customers/search" }),
        )
    })
}

/// `metadata['k']:'v'` → ("metadata", "k", "v"); `email:'v'` → ("email", "", "v").
fn parse_clause(clause: &str) -> Option<(String, String, String)> {
    let (field, value) = clause.trim().split_once(':')?;
    let value = unquote(value)?;
    if let Some(rest) = field.strip_prefix("metadata[") {
        let key = unquote(rest.strip_suffix(']')?)?;
        return Some(("metadata".into(), key, value));
    }
    matches!(field, "email" | "name" | "phone").then(|| (field.to_owned(), String::new(), value))
}

fn unquote(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('\'').and_then(|q| q.strip_suffix('\''))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '\'' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

const SESSION_PARAMS: &[&str] = &[
    "mode",
    "customer",
    "customer_email",
    "customer_creation",
    "success_url",
    "cancel_url",
    "client_reference_id",
    "locale",
    "expires_at",
    "submit_type",
    "payment_method_types[]",
    "line_items[][quantity]",
    "line_items[][price_data][currency]",
    "line_items[][price_data][unit_amount]",
    "line_items[][price_data][product_data][name]",
    "line_items[][price_data][product_data][description]",
    "line_items[][price_data][recurring][interval]",
    "line_items[][price_data][recurring][interval_count]",
    "subscription_data[metadata][*]",
    "subscription_data[trial_period_days]",
    "subscription_data[description]",
    "metadata[*]",
    "payment_intent_data[metadata][*]",
    "payment_intent_data[description]",
    "payment_intent_data[receipt_email]",
    "allow_promotion_codes",
    "billing_address_collection",
    "phone_number_collection[enabled]",
    "consent_collection[terms_of_service]",
    "custom_text[submit][message]",
    "custom_text[terms_of_service_acceptance][message]",
];

/// What Stripe takes for `payment_method_types[]` in payment mode. The stand-in keeps its own copy
/// of Stripe's list, apart from Remit's check (`payments/checkout_options.rs`): it plays Stripe.
const PAYMENT_METHOD_TYPES: &[&str] = &[
    "acss_debit",
    "affirm",
    "afterpay_clearpay",
    "alipay",
    "alma",
    "amazon_pay",
    "au_becs_debit",
    "bacs_debit",
    "bancontact",
    "billie",
    "blik",
    "boleto",
    "card",
    "cashapp",
    "customer_balance",
    "eps",
    "fpx",
    "giropay",
    "grabpay",
    "ideal",
    "kakao_pay",
    "klarna",
    "konbini",
    "kr_card",
    "link",
    "mobilepay",
    "multibanco",
    "naver_pay",
    "oxxo",
    "p24",
    "pay_by_bank",
    "payco",
    "paynow",
    "paypal",
    "pix",
    "promptpay",
    "revolut_pay",
    "samsung_pay",
    "satispay",
    "sepa_debit",
    "sofort",
    "swish",
    "twint",
    "us_bank_account",
    "wechat_pay",
    "zip",
];

const LOCALES: &[&str] = &[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu",
    "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv",
    "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
];

fn enum_value<'a>(params: &'a Params, key: &str, allowed: &[&str]) -> Result<Option<&'a str>, ApiError> {
    match params.str(key) {
        Some(value) if !allowed.contains(&value) => {
            Err(ApiError::invalid(format!("Invalid {key}: must be one of {}", allowed.join(", ")), key))
        }
        other => Ok(other),
    }
}

fn boolean(node: &Value, key: &str, param: &str) -> Result<Option<bool>, ApiError> {
    match node.get(key).and_then(Value::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid(format!("Invalid boolean: {other}"), param)),
    }
}

/// The session's Checkout options, checked as Stripe checks them, as the session object shows them.
/// A line item's `recurring` as Stripe shows it on the price: required in subscription mode,
/// refused in payment mode.
fn recurring_price(price: &Value, subscription: bool, i: usize) -> Result<Value, ApiError> {
    let param = format!("line_items[{i}][price_data][recurring]");
    let recurring = &price["recurring"];
    match (subscription, recurring.is_null()) {
        (false, true) => Ok(Value::Null),
        (false, false) => Err(ApiError::invalid(
            "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
            &param,
        )),
        (true, true) => Err(ApiError::invalid(
            "You must provide at least one recurring price in `subscription` mode when using prices.",
            &param,
        )),
        (true, false) => {
            let interval = recurring["interval"].as_str().unwrap_or_default();
            if !["day", "week", "month", "year"].contains(&interval) {
                return Err(ApiError::invalid(
                    "Invalid interval: must be one of day, week, month, or year",
                    &format!("{param}[interval]"),
                ));
            }
            let count = params::integer_at(recurring, "interval_count")?.unwrap_or(1);
            let max = match interval {
                "day" => 1095,
                "week" => 156,
                "month" => 36,
                _ => 3,
            };
            if !(1..=max).contains(&count) {
                return Err(ApiError::invalid(
                    "Invalid interval_count: the maximum interval is three years.",
                    &format!("{param}[interval_count]"),
                ));
            }
            Ok(
                json!({ "interval": interval, "interval_count": count, "meter": null, "trial_period_days": null, "usage_type": "licensed" }),
            )
        }
    }
}

fn checkout_options(params: &Params, subscription: bool) -> Result<Value, ApiError> {
    let methods: Vec<Value> = params.list("payment_method_types");
    for (i, method) in methods.iter().enumerate() {
        if !method.as_str().is_some_and(|m| PAYMENT_METHOD_TYPES.contains(&m)) {
            return Err(ApiError::invalid(
                format!("Invalid payment_method_types[{i}]: must be one of {}", PAYMENT_METHOD_TYPES.join(", ")),
                &format!("payment_method_types[{i}]"),
            ));
        }
    }
    let submit_type = enum_value(params, "submit_type", &["auto", "book", "donate", "pay", "subscribe"])?;
    if submit_type == Some("subscribe") && !subscription {
        return Err(ApiError::invalid("submit_type=subscribe can only be used in subscription mode.", "submit_type"));
    }
    let locale = enum_value(params, "locale", LOCALES)?;
    let billing = enum_value(params, "billing_address_collection", &["auto", "required"])?;
    let consent = params.tree["consent_collection"]["terms_of_service"].as_str();
    if consent.is_some_and(|c| !["none", "required"].contains(&c)) {
        return Err(ApiError::invalid(
            "Invalid consent_collection[terms_of_service]: must be one of none, required",
            "consent_collection[terms_of_service]",
        ));
    }
    let mut custom_text =
        json!({ "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null });
    for part in ["submit", "terms_of_service_acceptance"] {
        if let Some(message) = params.tree["custom_text"][part]["message"].as_str() {
            if message.chars().count() > 1200 {
                return Err(ApiError::invalid(
                    "Custom text must be at most 1200 characters.",
                    &format!("custom_text[{part}][message]"),
                ));
            }
            custom_text[part] = json!({ "message": message });
        }
    }
    if custom_text["terms_of_service_acceptance"].is_object() && consent != Some("required") {
        return Err(ApiError::invalid(
            "custom_text[terms_of_service_acceptance] requires consent_collection[terms_of_service]=required.",
            "custom_text[terms_of_service_acceptance][message]",
        ));
    }
    let phone = boolean(&params.tree["phone_number_collection"], "enabled", "phone_number_collection[enabled]")?;
    Ok(json!({
        "payment_method_types": if methods.is_empty() { json!(["card"]) } else { json!(methods) },
        "allow_promotion_codes": boolean(&params.tree, "allow_promotion_codes", "allow_promotion_codes")?,
        "submit_type": submit_type.unwrap_or("auto"),
        "locale": locale,
        "billing_address_collection": billing,
        "phone_number_collection": { "enabled": phone.unwrap_or(false) },
        "consent_collection": consent.map(|c| json!({ "promotions": null, "terms_of_service": c })),
        "custom_text": custom_text,
    }))
}

pub async fn create_session(State(stripe): State<Stripe>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let base_url = stripe.base_url.clone();
    idempotent(&stripe, &headers, "/v1/checkout/sessions", &body, |state| {
        let params = params::parse(&body, SESSION_PARAMS)?;
        let session = new_session(state, &params, &base_url)?;
        Ok(session)
    })
}

fn new_session(state: &mut StripeState, params: &Params, base_url: &str) -> Result<Value, ApiError> {
    let mode = params.required("mode")?;
    let subscription = match mode {
        "payment" => false,
        "subscription" => true,
        other => {
            return Err(ApiError::invalid(
                format!("The sandbox supports mode=payment and mode=subscription, not {other}."),
                "mode",
            ));
        }
    };
    if subscription && params.tree.get("payment_intent_data").is_some() {
        return Err(ApiError::invalid(
            "You can not pass `payment_intent_data` in `subscription` mode.",
            "payment_intent_data",
        ));
    }
    if !subscription && params.tree.get("subscription_data").is_some() {
        return Err(ApiError::invalid("You can not pass `subscription_data` in `payment` mode.", "subscription_data"));
    }
    if let Some(days) = params::integer_at(&params.tree["subscription_data"], "trial_period_days")?
        && !(1..=730).contains(&days)
    {
        return Err(ApiError::invalid(
            format!("Invalid trial_period_days {days}: must be between 1 and 730"),
            "subscription_data[trial_period_days]",
        ));
    }
    let success_url = params.required("success_url")?;
    for (name, url) in [("success_url", Some(success_url)), ("cancel_url", params.str("cancel_url"))] {
        if let Some(url) = url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ApiError::invalid("Not a valid URL", name));
        }
    }
    if params.str("customer").is_some() && params.str("customer_email").is_some() {
        return Err(ApiError::invalid(
            "You may only specify one of these parameters: customer, customer_email.",
            "customer_email",
        ));
    }
    if let Some(customer) = params.str("customer")
        && !state.customers.contains_key(customer)
    {
        return Err(ApiError::invalid(format!("No such customer: '{customer}'"), "customer"));
    }
    let items = params.list("line_items");
    if items.is_empty() {
        return Err(ApiError::missing("line_items"));
    }
    let options = checkout_options(params, subscription)?;
    let id = random_id("cs_test_a1", 56);
    let mut currency = None::<String>;
    let mut total = 0_i64;
    let mut line_items = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let param = |name: &str| format!("line_items[{i}][{name}]");
        let price = &item["price_data"];
        let item_currency =
            price["currency"].as_str().ok_or_else(|| ApiError::missing(&param("price_data][currency")))?;
        let unit_amount = params::integer_at(price, "unit_amount")?
            .ok_or_else(|| ApiError::missing(&param("price_data][unit_amount")))?;
        let name = price["product_data"]["name"]
            .as_str()
            .ok_or_else(|| ApiError::missing(&param("price_data][product_data][name")))?;
        let quantity = params::integer_at(item, "quantity")?.ok_or_else(|| ApiError::missing(&param("quantity")))?;
        if quantity < 1 || unit_amount < 0 {
            return Err(ApiError::invalid("This value must be greater than or equal to 1.", &param("quantity")));
        }
        if *currency.get_or_insert_with(|| item_currency.to_owned()) != item_currency {
            return Err(ApiError::invalid(
                "All line items must use the same currency.",
                &param("price_data][currency"),
            ));
        }
        let recurring = recurring_price(price, subscription, i)?;
        let amount = unit_amount * quantity;
        total += amount;
        line_items.push(object(
            "line_item",
            json!({
                "id": random_id("li_", 24), "amount_subtotal": amount, "amount_total": amount, "amount_discount": 0,
                "amount_tax": 0, "currency": item_currency, "description": name, "quantity": quantity, "metadata": {},
                "price": {
                    "id": random_id("price_", 24), "object": "price", "active": false, "billing_scheme": "per_unit",
                    "created": now(), "currency": item_currency, "custom_unit_amount": null, "livemode": false,
                    "lookup_key": null, "metadata": {}, "nickname": null, "product": random_id("prod_", 14),
                    "type": if recurring.is_null() { "one_time" } else { "recurring" }, "recurring": recurring,
                    "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null, "unit_amount": unit_amount, "unit_amount_decimal": unit_amount.to_string(),
                },
            }),
        ));
    }
    let currency = currency.unwrap_or_default();
    if let Some(minimum) = super::checkout::minimum_charge(&currency)
        && total < minimum
    {
        return Err(ApiError::invalid(
            format!(
                "The Checkout Session's total amount due must add up to at least {} {currency}",
                super::checkout::format_amount(minimum, &currency)
            ),
            "line_items",
        ));
    }
    let created = now();
    let expires_at = params.integer("expires_at")?.unwrap_or(created + 24 * 3600);
    if expires_at < created + 30 * 60 || expires_at > created + 24 * 3600 {
        return Err(ApiError::invalid(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            "expires_at",
        ));
    }
    let session = object(
        "checkout_session",
        json!({
            "id": id, "created": created, "expires_at": expires_at, "mode": mode, "status": "open",
            "subscription": null, "invoice": null,
            "payment_status": "unpaid", "url": format!("{base_url}/c/pay/{id}"),
            "amount_subtotal": total, "amount_total": total, "currency": currency,
            "customer": params.str("customer"), "customer_email": params.str("customer_email"),
            "customer_creation": params.str("customer_creation").or(params.str("customer").is_none().then_some("if_required")),
            "client_reference_id": params.str("client_reference_id"),
            "success_url": success_url, "cancel_url": params.str("cancel_url"),
            "metadata": params.map("metadata"),
        }),
    );
    let mut session = session;
    if let (Some(session), Value::Object(options)) = (session.as_object_mut(), options) {
        session.extend(options);
    }
    state.sessions.insert(id.clone(), session.clone());
    state.line_items.insert(id.clone(), line_items);
    if let Some(data) = params.tree.get("subscription_data") {
        state.session_subscription_data.insert(id.clone(), data.clone());
    }
    state.session_intent_data.insert(id, params.tree.get("payment_intent_data").cloned().unwrap_or(json!({})));
    Ok(session)
}

pub async fn retrieve_session(State(stripe): State<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    read(&stripe, &headers, |state| {
        state.sessions.get(&id).cloned().ok_or_else(|| ApiError::no_such("checkout.session", &id, "session"))
    })
}

pub async fn expire_session(
    State(stripe): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let path = format!("/v1/checkout/sessions/{id}/expire");
    idempotent(&stripe, &headers, &path, &body, |state| {
        params::parse(&body, &[])?;
        let session =
            state.sessions.get_mut(&id).ok_or_else(|| ApiError::no_such("checkout.session", &id, "session"))?;
        let status = session["status"].as_str().unwrap_or_default().to_owned();
        if status != "open" {
            return Err(ApiError::invalid(
                format!(
                    "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{status}\"."
                ),
                "session",
            ));
        }
        session["status"] = json!("expired");
        session["url"] = Value::Null;
        let session = session.clone();
        let event = state.event("checkout.session.expired", &session);
        stripe_queue(state, event);
        Ok(session)
    })
}

pub async fn list_line_items(State(stripe): State<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    read(&stripe, &headers, |state| {
        let items = state.line_items.get(&id).ok_or_else(|| ApiError::no_such("checkout.session", &id, "session"))?;
        Ok(
            json!({ "object": "list", "data": items, "has_more": false, "url": format!("/v1/checkout/sessions/{id}/line_items") }),
        )
    })
}

pub async fn retrieve_payment_intent(
    State(stripe): State<Stripe>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    read(&stripe, &headers, |state| {
        state.payment_intents.get(&id).cloned().ok_or_else(|| ApiError::no_such("payment_intent", &id, "intent"))
    })
}

const REFUND_PARAMS: &[&str] = &["payment_intent", "charge", "amount", "reason", "metadata[*]"];

/// `POST /v1/refunds`: a refund of a succeeded charge (by its payment intent or itself), at most
/// what is left unrefunded; it succeeds at once, and `refund.created` and `charge.refunded` follow.
pub async fn create_refund(State(stripe): State<Stripe>, headers: HeaderMap, body: Bytes) -> ApiResult {
    idempotent(&stripe, &headers, "/v1/refunds", &body, |state| {
        let params = params::parse(&body, REFUND_PARAMS)?;
        let charge_id = match (params.str("payment_intent"), params.str("charge")) {
            (Some(intent), None) => {
                let intent = state
                    .payment_intents
                    .get(intent)
                    .ok_or_else(|| ApiError::no_such("payment_intent", intent, "payment_intent"))?;
                intent["latest_charge"].as_str().unwrap_or_default().to_owned()
            }
            (None, Some(charge)) => charge.to_owned(),
            _ => return Err(ApiError::invalid("You must pass either payment_intent or charge, not both.", "charge")),
        };
        let reason = params.str("reason");
        if reason.is_some_and(|r| !["duplicate", "fraudulent", "requested_by_customer"].contains(&r)) {
            return Err(ApiError::invalid(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                "reason",
            ));
        }
        let charge =
            state.charges.get(&charge_id).cloned().ok_or_else(|| ApiError::no_such("charge", &charge_id, "charge"))?;
        if charge["status"] != "succeeded" {
            return Err(ApiError::invalid("This charge has not succeeded and cannot be refunded.", "charge"));
        }
        let captured = charge["amount_captured"].as_i64().unwrap_or(0);
        let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
        let left = captured - refunded;
        if left <= 0 {
            return Err(ApiError::coded(
                format!("Charge {charge_id} has already been refunded."),
                "charge",
                "charge_already_refunded",
            ));
        }
        let amount = params.integer("amount")?.unwrap_or(left);
        if amount <= 0 {
            return Err(ApiError::invalid("This value must be greater than or equal to 1.", "amount"));
        }
        if amount > left {
            return Err(ApiError::coded(
                format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"),
                "amount",
                "amount_too_large",
            ));
        }
        // As Stripe does: a card refund succeeds at once, a bank account's stays pending until the
        // bank completes it (or returns it).
        let by_bank = charge["payment_method_details"]["type"] == "us_bank_account";
        let refund = object(
            "refund",
            json!({
                "id": random_id("re_", 24), "amount": amount, "charge": charge_id, "created": now(),
                "currency": charge["currency"], "metadata": params.map("metadata"),
                "payment_intent": charge["payment_intent"], "reason": reason,
                "status": if by_bank { "pending" } else { "succeeded" },
            }),
        );
        let mut charge = charge;
        charge["amount_refunded"] = json!(refunded + amount);
        charge["refunded"] = json!(refunded + amount == captured);
        state.charges.insert(charge_id, charge.clone());
        state.refunds.insert(refund["id"].as_str().unwrap_or_default().to_owned(), refund.clone());
        let created = state.event("refund.created", &refund);
        stripe_queue(state, created);
        let refunded = state.event("charge.refunded", &charge);
        stripe_queue(state, refunded);
        Ok(refund)
    })
}

pub async fn retrieve_refund(State(stripe): State<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    read(&stripe, &headers, |state| {
        state.refunds.get(&id).cloned().ok_or_else(|| ApiError::no_such("refund", &id, "id"))
    })
}

pub async fn retrieve_charge(State(stripe): State<Stripe>, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    read(&stripe, &headers, |state| {
        state.charges.get(&id).cloned().ok_or_else(|| ApiError::no_such("charge", &id, "charge"))
    })
}

/// Newest first, as Stripe lists; `created[gte]`, `limit` and `starting_after` as Stripe takes them.
pub async fn list_events(
    State(stripe): State<Stripe>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> ApiResult {
    read(&stripe, &headers, |state| {
        for key in query.keys() {
            if !matches!(key.as_str(), "created[gte]" | "limit" | "starting_after" | "type") {
                return Err(ApiError::unknown_parameter(key));
            }
        }
        let number = |key: &str| -> Result<Option<i64>, ApiError> {
            query
                .get(key)
                .map(|v| v.parse().map_err(|_| ApiError::invalid(format!("Invalid integer: {v}"), key)))
                .transpose()
        };
        let since = number("created[gte]")?.unwrap_or(0);
        let limit = number("limit")?.unwrap_or(10).clamp(1, 100) as usize;
        let kind = query.get("type");
        let mut events = state
            .events
            .iter()
            .rev()
            .filter(|e| e["created"].as_i64().unwrap_or(0) >= since)
            .filter(|e| kind.is_none_or(|k| e["type"].as_str() == Some(k.as_str())));
        if let Some(after) = query.get("starting_after") {
            for event in events.by_ref() {
                if event["id"].as_str() == Some(after.as_str()) {
                    break;
                }
            }
        }
        let page: Vec<Value> = events.by_ref().take(limit + 1).cloned().collect();
        let has_more = page.len() > limit;
        let data: Vec<Value> = page.into_iter().take(limit).collect();
        Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/events" }))
    })
}

/// Queues an event for webhook delivery once the state lock is released.
pub(super) fn stripe_queue(state: &mut StripeState, event: Value) {
    state.undelivered.push(event);
}
