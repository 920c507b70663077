//! The ACCS REST API under `/{tenant}/V1/`.
//!
//! One fallback handler sees every non-IMS, non-admin request and routes on the raw path
//! itself: a router would decode `%2F` before matching and split a SKU like `a/b c` in two.
//! Order of concerns, as in Magento behind the ACCS gateway: tenant, scripted faults,
//! route match, auth, handler.

mod bulk;
mod categories;
mod inventory;
mod limits;
mod orders;
mod products;
mod search;
mod values;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::magento;
use crate::state::{Shared, TokenStatus};
use crate::types::{Framing, RecordedRequest, ScriptedResponse};

const MAX_BODY: usize = 16 * 1024 * 1024;
const UNMATCHED: &str = "unmatched";

/// What a route handler gets to see of the request.
pub(super) struct Call<'a> {
    pub query: Option<&'a str>,
    pub body: &'a Bytes,
}

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, MAX_BODY).await;
    let _in_flight = InFlight::start(&shared);
    let latency = shared.lock().faults.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    // Whatever the bulk consumers have finished by now is in place before
    // this request looks at the catalog or the bulks.
    shared.lock().advance_bulks();

    let raw_path = parts.uri.path();
    let raw_query = parts.uri.query();
    let framing = Framing::of(&parts.headers);
    let refuse_chunked = framing == Framing::Chunked && shared.lock().faults.require_content_length;
    let (route, response) = match &body {
        Ok(_) if refuse_chunked => (
            UNMATCHED.to_owned(),
            magento::length_required().into_response(),
        ),
        Ok(bytes) => {
            let call = Call {
                query: raw_query,
                body: bytes,
            };
            respond(&shared, &parts.method, &parts.headers, raw_path, &call).await
        }
        Err(_) => (
            UNMATCHED.to_owned(),
            magento::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body is too large.",
                serde_json::json!([]),
            )
            .into_response(),
        ),
    };

    shared.lock().record_request(RecordedRequest {
        method: parts.method.to_string(),
        raw_path: raw_path.to_owned(),
        raw_query: raw_query.map(str::to_owned),
        route,
        headers: record_headers(&parts.headers),
        body: body
            .as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        status: response.status().as_u16(),
        framing,
    });
    response
}

/// Counts a call in flight until dropped: also when the client goes away
/// and the handler is dropped mid-answer.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn start(shared: &'a Shared) -> Self {
        shared.lock().call_started();
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.lock().call_ended();
    }
}

/// Returns the route label for the counters along with the answer.
async fn respond(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    raw_path: &str,
    call: &Call<'_>,
) -> (String, Response) {
    let Some(rest) = strip_tenant(raw_path, &shared.cfg.tenant) else {
        return (UNMATCHED.to_owned(), magento::no_route().into_response());
    };
    let route = Route::parse(method, rest);
    let label = route.as_ref().map_or(UNMATCHED, Route::template).to_owned();
    let scripted = shared.lock().take_scripted(method.as_str(), rest);
    if let Some(scripted) = scripted {
        return (label, scripted_response(&scripted));
    }
    let Some(route) = route else {
        return (label, magento::no_route().into_response());
    };
    if let Err(denied) = authorize(shared, headers, route.acl_resource()) {
        return (label, denied.into_response());
    }
    // Then the input processor, as Magento runs it after the ACL check.
    if let Some((method, path)) = crate::contract::operation_of(&label) {
        let body: &[u8] = call.body;
        if let Err(refused) = crate::contract::input::check(method, path, rest, call.query, body) {
            return (label, refused.into_response());
        }
    }
    if matches!(route, Route::PutProduct(_)) {
        // The save itself takes this long (`Faults::product_save_latency_ms`),
        // as each bulk operation does in the consumer.
        let save = shared.lock().faults.product_save_latency_ms;
        if save > 0 {
            tokio::time::sleep(Duration::from_millis(save)).await;
        }
    }
    (label, route.dispatch(shared, call))
}

fn strip_tenant<'a>(raw_path: &'a str, tenant: &str) -> Option<&'a str> {
    let rest = raw_path.strip_prefix('/')?.strip_prefix(tenant)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

enum Route {
    SearchProducts,
    GetProduct(String),
    PutProduct(String),
    SaveSourceItems,
    SearchOrders,
    GetOrder(String),
    CategoryTree,
    GetCategory(String),
    BulkProducts,
    BulkDetailedStatus(String),
    BulkStatus(String),
    BulkOperationCount(String, String),
}

impl Route {
    /// `rest` is the raw path after the tenant; each segment is percent-decoded on its own.
    fn parse(method: &Method, rest: &str) -> Option<Route> {
        let segments: Vec<&str> = rest.strip_prefix("/V1/")?.split('/').collect();
        let one = |s: &str| (!s.is_empty()).then(|| decode(s));
        let route = match (method.as_str(), segments.as_slice()) {
            ("GET", ["products"]) => Route::SearchProducts,
            ("GET", ["products", sku]) => Route::GetProduct(one(sku)?),
            ("PUT", ["products", sku]) => Route::PutProduct(one(sku)?),
            ("POST", ["inventory", "source-items"]) => Route::SaveSourceItems,
            ("GET", ["orders"]) => Route::SearchOrders,
            ("GET", ["orders", id]) => Route::GetOrder(one(id)?),
            ("GET", ["categories"]) => Route::CategoryTree,
            ("GET", ["categories", id]) => Route::GetCategory(one(id)?),
            ("POST", ["async", "bulk", "products"]) => Route::BulkProducts,
            ("GET", ["bulk", uuid, "detailed-status"]) => Route::BulkDetailedStatus(one(uuid)?),
            ("GET", ["bulk", uuid, "status"]) => Route::BulkStatus(one(uuid)?),
            ("GET", ["bulk", uuid, "operation-status", status]) => {
                Route::BulkOperationCount(one(uuid)?, one(status)?)
            }
            _ => return None,
        };
        Some(route)
    }

    fn template(&self) -> &'static str {
        match self {
            Route::SearchProducts => "GET /V1/products",
            Route::GetProduct(_) => "GET /V1/products/{sku}",
            Route::PutProduct(_) => "PUT /V1/products/{sku}",
            Route::SaveSourceItems => "POST /V1/inventory/source-items",
            Route::SearchOrders => "GET /V1/orders",
            Route::GetOrder(_) => "GET /V1/orders/{id}",
            Route::CategoryTree => "GET /V1/categories",
            Route::GetCategory(_) => "GET /V1/categories/{id}",
            Route::BulkProducts => "POST /V1/async/bulk/products",
            Route::BulkDetailedStatus(_) => "GET /V1/bulk/{uuid}/detailed-status",
            Route::BulkStatus(_) => "GET /V1/bulk/{uuid}/status",
            Route::BulkOperationCount(..) => "GET /V1/bulk/{uuid}/operation-status/{status}",
        }
    }

    /// The ACL resource each route needs, as the modules' `etc/webapi.xml` declare it.
    fn acl_resource(&self) -> &'static str {
        match self {
            // The bulk route is the synchronous one's: `AsynchronousRequestProcessor::
            // changePathInfo` rewrites the path to `/V1/products` and the resolver's
            // `RequestValidator::validate` checks that route's resources.
            Route::SearchProducts
            | Route::GetProduct(_)
            | Route::PutProduct(_)
            | Route::BulkProducts => "Magento_Catalog::products",
            // `Magento/AsynchronousOperations/etc/webapi.xml`.
            Route::BulkDetailedStatus(_) | Route::BulkStatus(_) | Route::BulkOperationCount(..) => {
                "Magento_AsynchronousOperations::system_magento_logging_bulk_operations"
            }
            Route::SaveSourceItems => "Magento_InventoryApi::source_item_create",
            Route::SearchOrders | Route::GetOrder(_) => "Magento_Sales::actions_view",
            Route::CategoryTree | Route::GetCategory(_) => "Magento_Catalog::categories",
        }
    }

    fn dispatch(self, shared: &Shared, call: &Call<'_>) -> Response {
        let answer = match self {
            Route::SearchProducts => products::search(shared, call),
            Route::GetProduct(sku) => products::get(shared, &sku),
            Route::PutProduct(sku) => products::put(shared, &sku, call),
            Route::SaveSourceItems => inventory::save(shared, call),
            Route::SearchOrders => orders::search(shared, call),
            Route::GetOrder(id) => orders::get(shared, &id),
            Route::CategoryTree => categories::tree(shared, call),
            Route::GetCategory(id) => categories::get(shared, &id),
            Route::BulkProducts => bulk::accept(shared, call),
            Route::BulkDetailedStatus(uuid) => bulk::detailed_status(shared, &uuid),
            Route::BulkStatus(uuid) => bulk::short_status(shared, &uuid),
            Route::BulkOperationCount(uuid, status) => bulk::count(shared, &uuid, &status),
        };
        answer.unwrap_or_else(IntoResponse::into_response)
    }
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// 401 for a missing, unknown, revoked or expired token or a wrong `x-api-key`; 403 for a
/// valid token without the required scope; and, like Magento, the same 401 for a valid
/// token whose role lacks the route's `resource` (`Faults::denied_resources`).
fn authorize(shared: &Shared, headers: &HeaderMap, resource: &str) -> magento::Result<()> {
    let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let api_key_ok = text(&HeaderName::from_static("x-api-key")) == Some(&shared.cfg.client_id);
    let token = text(&header::AUTHORIZATION).and_then(bearer);
    match token {
        Some(token) if api_key_ok => match shared.token_status(token) {
            TokenStatus::Valid => {
                let denied = shared
                    .lock()
                    .faults
                    .denied_resources
                    .iter()
                    .any(|r| r == resource);
                if denied {
                    Err(magento::unauthorized(resource))
                } else {
                    Ok(())
                }
            }
            TokenStatus::Rejected => Err(magento::unauthorized(resource)),
            TokenStatus::MissingScope => Err(magento::missing_scope(&shared.cfg.require_scope)),
        },
        _ => Err(magento::unauthorized(resource)),
    }
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn scripted_response(s: &ScriptedResponse) -> Response {
    let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match s.body.clone().or_else(|| magento::default_body(status)) {
        Some(body) => magento::json(status, &body),
        None => status.into_response(),
    };
    for (name, value) in &s.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn record_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    out
}
