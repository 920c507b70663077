//! Observable records and fault settings; all serde types so the admin API can carry them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Request counts since start or the last reset.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Counters {
    pub token_requests: u64,
    /// Token requests answered with anything but 200.
    pub token_failures: u64,
    pub accs_requests: u64,
    /// The most ACCS calls the simulator was answering at once.
    #[serde(default)]
    pub accs_peak_in_flight: u64,
    /// `POST /ims/validate_token/v1` calls, answered or not.
    #[serde(default)]
    pub token_validations: u64,
    /// Keyed by route template, e.g. `GET /V1/products/{sku}`, or `unmatched`.
    pub by_route: BTreeMap<String, u64>,
}

/// One ACCS request as it arrived, plus the status the simulator answered.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// Exactly as on the wire: still percent-encoded, without the query.
    pub raw_path: String,
    pub raw_query: Option<String>,
    /// Route template, or `unmatched`.
    pub route: String,
    /// Lower-case names; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// Lossy UTF-8.
    pub body: String,
    pub status: u16,
    /// How the body was framed on the wire.
    #[serde(default)]
    pub framing: Framing,
}

/// How a request body was framed: by `Content-Length`, chunked, or neither
/// (no body). Some gateways answer 411 to chunked uploads, so a client that
/// knows its body in full should send its length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    #[default]
    None,
    ContentLength,
    Chunked,
}

impl Framing {
    pub fn of(headers: &axum::http::HeaderMap) -> Framing {
        let chunked = headers
            .get_all(axum::http::header::TRANSFER_ENCODING)
            .iter()
            .any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
            });
        if chunked {
            Framing::Chunked
        } else if headers.contains_key(axum::http::header::CONTENT_LENGTH) {
            Framing::ContentLength
        } else {
            Framing::None
        }
    }
}

/// One IMS token request. The secret is never recorded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedTokenRequest {
    pub content_type: Option<String>,
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub status: u16,
    /// How the form body was framed on the wire.
    #[serde(default)]
    pub framing: Framing,
    /// The W3C trace context the caller sent, if any.
    #[serde(default)]
    pub traceparent: Option<String>,
}

/// One `POST /ims/validate_token/v1` call: what the caller sent (never the
/// token) and what the simulator said.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedValidation {
    pub content_type: Option<String>,
    /// The form's `type` (aio-lib-ims sends the token's type, `access_token`).
    pub token_type: Option<String>,
    pub client_id: Option<String>,
    /// Whether the token came as `Authorization: Bearer`.
    pub bearer: bool,
    pub status: u16,
    /// The answer's `valid`, when the simulator answered one.
    pub valid: Option<bool>,
}

/// Misbehaviour to inject; every field defaults to "behave", so JSON may name only a few.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added to every ACCS call (not IMS) before answering.
    pub latency_ms: u64,
    pub ims_latency_ms: u64,
    /// IMS answers 503 `{"error":"server_error"}` to every token request.
    pub ims_outage: bool,
    /// IMS answers 429 to every token request, with `Retry-After` of this many
    /// seconds. Adobe's APIs answer a rate limit with 429 and `Retry-After`
    /// (developer.adobe.com, e.g. the Admin APIs' "Rate limits": "This response
    /// includes a Retry-After header"); IMS's own body for it is not published,
    /// so the body here is OAuth's shape and nothing should read it.
    pub ims_rate_limited: Option<u64>,
    /// Canned ACCS answers, checked in order before auth; the first matching entry wins.
    pub script: Vec<ScriptedResponse>,
    /// ACL resources the integration's role lacks (e.g. `Magento_Sales::actions_view`): a
    /// valid token calling a route that needs one gets Magento's 401 "The consumer isn't
    /// authorized to access %resources." while every other route works.
    pub denied_resources: Vec<String>,
    /// Answer 411 Length Required to a chunked request body (ACCS and IMS), as some
    /// gateways do. Every request records its framing either way.
    pub require_content_length: bool,
    /// How long each product save takes: a `PUT /V1/products/{sku}` waits this long before
    /// it saves, and the bulk consumer spends this long on each operation, so a benchmark
    /// can compare the two paths.
    pub product_save_latency_ms: u64,
    /// How many bulk consumers apply operations in parallel, each taking the next open
    /// operation in queue order; 0 (also when omitted) counts as 1.
    pub bulk_consumers: usize,
    /// The bulk consumers are stopped: every operation not yet applied stays open
    /// (status 4) until this is false again; the consumers start over from then.
    pub bulk_hold: bool,
    /// ACCS's "Maximum Entities per Bulk Request" store setting: a
    /// `POST /V1/async/bulk/products` with more elements is refused with 400, nothing
    /// scheduled. `None` (the default): no limit.
    pub bulk_max_entities: Option<usize>,
    /// Saves of these SKUs fail, through `PUT` and through the bulk consumer alike.
    pub save_failures: Vec<SaveFailure>,
    /// Bulk operations of these SKUs end status 5, rejected, with this
    /// `result_message` (AdobeDocs commerce-webapi `operation-status-endpoints.md`
    /// lists 5 = Rejected; which Magento path sets it on an operation is not
    /// documented, so this is how a test makes one). `PUT` is unaffected.
    pub rejected_operations: Vec<SaveFailure>,
    /// `MassSchedule::publishMass` rejects the elements of these SKUs while it
    /// queues the others: its `try` around `OperationRepository::createByTopic`
    /// marks an element that throws `rejected` in `request_items` (its
    /// `error_message` the exception's message), schedules the rest, and throws a
    /// `BulkException` carrying the answer with `errors: true`, which
    /// `AsynchronousRequestProcessor` catches and answers 202 with: the
    /// `bulk_uuid`, and no operation for a rejected element.
    pub publish_rejects: Vec<SaveFailure>,
    /// Magento's Web API input limits switched on (`accs/limits.rs`): `sourceItems` and
    /// the bulk route's entities over `complex_array_limit`, and a `pageSize` over
    /// `maximum_page_size` on the product and order searches, are refused with 400.
    /// `None` (the default, as Magento's): no limits.
    pub input_limits: Option<InputLimits>,
}

/// Web API Input Limits as Magento's configuration holds them
/// (`webapi/validation/complex_array_limit`, `webapi/validation/maximum_page_size`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InputLimits {
    /// Magento's default: 20.
    #[serde(default = "default_complex_array_limit")]
    pub complex_array_limit: usize,
    /// Magento's default: 300.
    #[serde(default = "default_maximum_page_size")]
    pub maximum_page_size: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits {
            complex_array_limit: default_complex_array_limit(),
            maximum_page_size: default_maximum_page_size(),
        }
    }
}

fn default_complex_array_limit() -> usize {
    20
}

fn default_maximum_page_size() -> usize {
    300
}

/// A product save that fails (see [`Faults::save_failures`]): `PUT /V1/products/{sku}`
/// answers 400 `{"message", "parameters": []}` (503 when `retriable`); a bulk operation
/// ends status 3 (2 when `retriable`) with `result_message = message`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SaveFailure {
    pub sku: String,
    pub message: String,
    #[serde(default)]
    pub retriable: bool,
}

/// One accepted `POST /V1/async/bulk/products`, as [`crate::Sim::bulks`] and
/// `GET /_admin/bulks` show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bulk {
    pub bulk_uuid: String,
    /// Magento's `YYYY-MM-DD HH:MM:SS` (UTC) of the accept.
    pub start_time: String,
    /// In request order; their `id`s ascend in that order.
    pub operations: Vec<Operation>,
}

/// One element of an accepted bulk request and what became of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Operation {
    /// Unique across bulks, ascending in queue order.
    pub id: u64,
    /// 1 complete, 2 failed (retriable), 3 failed, 4 open.
    pub status: u8,
    /// The element as it was sent (`{"product": {...}}`).
    pub request: serde_json::Value,
    pub result_message: Option<String>,
    pub error_code: Option<i64>,
    /// The saved product, once complete.
    pub saved: Option<serde_json::Value>,
}

/// A canned ACCS answer. Requests it answers are still recorded and counted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScriptedResponse {
    /// Case-insensitive; `None` matches any method.
    #[serde(default)]
    pub method: Option<String>,
    /// Prefix of the raw path after the tenant, e.g. `/V1/products`; `None` matches any.
    #[serde(default)]
    pub path_prefix: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Sent as JSON. Without it, 401 gets Magento's 401 body, other statuses >= 400 a
    /// Magento-shaped body with the reason phrase, and the rest an empty body.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// How many matching requests it answers; 0 (also when omitted) means forever.
    #[serde(default)]
    pub times: u32,
}

impl ScriptedResponse {
    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
}
