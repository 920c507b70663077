//! ACCS's asynchronous bulk API for products, as wire shapes only: the
//! request body of `POST /V1/async/bulk/products`, its answer, and the
//! operations of `GET /V1/bulk/{uuid}/detailed-status` read as our results.
//!
//! Sources (AdobeDocs/commerce-webapi):
//! - `src/pages/rest/use-rest/bulk-endpoints.md`: the route, a JSON array of
//!   the bodies `POST /V1/products` takes (`[{"product": {...}}, ...]`), and
//!   the answer `{"bulk_uuid", "request_items": [{"id", "data_hash",
//!   "status": "accepted"}], "errors": false}`;
//! - `src/pages/rest/use-rest/asynchronous-web-endpoints.md`: every item is
//!   `accepted`; a refusal is a standard webapi exception (a 4xx with
//!   Magento's `{"message", "parameters"}`); Magento's own code also answers
//!   202 with some items `rejected` and `errors: true` when it could queue
//!   only some (`MassSchedule::publishMass`, [`accepted`]);
//! - `src/pages/rest/use-rest/operation-status-endpoints.md`: the operation
//!   statuses (1 complete, 2 failed and retriable, 3 failed, change
//!   something, 4 open, 5 rejected), `serialized_data` as a JSON string whose
//!   `meta_information` is the item's request body as a JSON string.

use super::path;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The asynchronous bulk route for product upserts
/// (`Magento\WebapiAsync`'s `async/bulk` prefix over `POST /V1/products`).
pub const PRODUCTS: &str = "/V1/async/bulk/products";

/// Magento's operation statuses (`Magento\Framework\Bulk\OperationInterface`:
/// `STATUS_TYPE_COMPLETE` .. `STATUS_TYPE_REJECTED`).
pub const COMPLETE: i64 = 1;
pub const RETRIABLY_FAILED: i64 = 2;
pub const NOT_RETRIABLY_FAILED: i64 = 3;
pub const OPEN: i64 = 4;
pub const REJECTED: i64 = 5;

/// A reason is at most this many characters (as a sync's reasons).
const MAX_REASON_CHARS: usize = 500;
/// A SKU read back is at most this many characters (Magento's column is 64).
const MAX_SKU_CHARS: usize = 64;

/// 8-4-4-4-12 hexadecimal digits, the form Magento's `IdentityService`
/// gives a bulk uuid; either case.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `GET /V1/bulk/{uuid}/detailed-status`, the uuid as one encoded segment
/// (a checked uuid needs no escape; the encoding is the rule all caller
/// input follows).
pub fn detailed_status_path(uuid: &str) -> String {
    format!("/V1/bulk/{}/detailed-status", path::encode_segment(uuid))
}

/// `[{"product":{...}},...]`, one element per product, in order.
pub fn request_body<'p>(products: impl Iterator<Item = &'p Map<String, Value>>) -> Vec<u8> {
    let mut body = Vec::with_capacity(4096);
    body.push(b'[');
    for (n, product) in products.enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(br#"{"product":"#);
        let _ = serde_json::to_writer(&mut body, product);
        body.push(b'}');
    }
    body.push(b']');
    body
}

/// What ACCS made of a bulk request it answered with a `bulk_uuid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub uuid: String,
    /// The elements `MassSchedule::publishMass` rejected (their position in
    /// the request, ascending) and its `error_message` for each: they have no
    /// operation in the bulk, the others are queued.
    pub rejected: Vec<(usize, String)>,
}

/// The answer to a bulk request of `n` elements, when its `bulk_uuid` is a
/// uuid. Magento queues the elements it can and marks the rest `rejected`
/// in `request_items` with `errors: true`, still 202
/// (`MassSchedule::publishMass` throws a `BulkException` holding the answer;
/// `AsynchronousRequestProcessor::process` catches it and answers its data),
/// so a 202 is not "every element queued" until `request_items` says so.
pub fn accepted(body: &[u8], n: usize) -> Option<Accepted> {
    #[derive(Deserialize)]
    struct Raw {
        bulk_uuid: String,
        #[serde(default)]
        request_items: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        id: Option<Value>,
        #[serde(default)]
        status: Option<String>,
        #[serde(default)]
        error_message: Option<Value>,
    }
    let raw: Raw = serde_json::from_slice(body).ok()?;
    if !is_uuid(&raw.bulk_uuid) {
        return None;
    }
    let mut rejected: Vec<(usize, String)> = raw
        .request_items
        .iter()
        .filter(|i| i.status.as_deref() == Some("rejected"))
        .filter_map(|i| {
            // An id is the element's key: a number, or a numeric string.
            let id = match i.id.as_ref()? {
                Value::Number(n) => usize::try_from(n.as_u64()?).ok()?,
                Value::String(s) => s.parse().ok()?,
                _ => return None,
            };
            let reason = match &i.error_message {
                Some(Value::String(m)) if !m.is_empty() => {
                    m.chars().take(MAX_REASON_CHARS).collect()
                }
                _ => "ACCS rejected this product when it scheduled the bulk".to_owned(),
            };
            (id < n).then_some((id, reason))
        })
        .collect();
    rejected.sort_by_key(|(id, _)| *id);
    rejected.dedup_by_key(|(id, _)| *id);
    Some(Accepted {
        uuid: raw.bulk_uuid,
        rejected,
    })
}

/// One operation of a bulk, as our results read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub id: i64,
    pub status: i64,
    /// ACCS's `result_message`, for a failed or rejected operation.
    pub reason: Option<String>,
    /// `product.sku` of the item's request body, when readable.
    pub sku: Option<String>,
}

impl Operation {
    /// `ok`, `failed` or `pending`. A status the docs do not list reads as
    /// pending: nothing says it ended.
    pub fn result(&self) -> &'static str {
        match self.status {
            COMPLETE => "ok",
            RETRIABLY_FAILED | NOT_RETRIABLY_FAILED | REJECTED => "failed",
            _ => "pending",
        }
    }
}

#[derive(Deserialize)]
struct Detailed {
    operations_list: Vec<RawOperation>,
}

#[derive(Deserialize)]
struct RawOperation {
    id: i64,
    status: i64,
    #[serde(default)]
    result_message: Option<String>,
    #[serde(default)]
    serialized_data: Option<String>,
    #[serde(default)]
    result_serialized_data: Option<String>,
}

/// The operations of a detailed status, ascending by `id` (Magento numbers
/// them in request order, so the n-th is the request's n-th item); `None`
/// when the body is not that shape.
pub fn operations(body: &[u8]) -> Option<Vec<Operation>> {
    let detailed: Detailed = serde_json::from_slice(body).ok()?;
    let mut ops: Vec<Operation> = detailed
        .operations_list
        .into_iter()
        .map(|raw| {
            let failed = matches!(
                raw.status,
                RETRIABLY_FAILED | NOT_RETRIABLY_FAILED | REJECTED
            );
            Operation {
                id: raw.id,
                status: raw.status,
                reason: raw
                    .result_message
                    .filter(|_| failed)
                    .map(|m| m.chars().take(MAX_REASON_CHARS).collect()),
                sku: raw
                    .serialized_data
                    .as_deref()
                    .and_then(sku_of)
                    .or_else(|| raw.result_serialized_data.as_deref().and_then(saved_sku)),
            }
        })
        .collect();
    ops.sort_by_key(|op| op.id);
    Some(ops)
}

/// `product.sku` of `{"meta_information": "<the request body as JSON text>"}`
/// (itself JSON text), as Magento's `OperationRepository` serializes an
/// operation of an asynchronous request (an open or failed one).
fn sku_of(serialized: &str) -> Option<String> {
    let outer: Value = serde_json::from_str(serialized).ok()?;
    let meta: Value = serde_json::from_str(outer.get("meta_information")?.as_str()?).ok()?;
    let sku = meta.pointer("/product/sku")?.as_str()?;
    Some(sku.chars().take(MAX_SKU_CHARS).collect())
}

/// `sku` of the saved product: a complete operation holds it as JSON text in
/// `result_serialized_data`, its `serialized_data` cleared
/// (`Magento\AsynchronousOperations\Model\OperationProcessor::process`
/// sets the result and drops the request data once the save succeeded).
fn saved_sku(result: &str) -> Option<String> {
    let saved: Value = serde_json::from_str(result).ok()?;
    let sku = saved.get("sku")?.as_str()?;
    Some(sku.chars().take(MAX_SKU_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uuids_are_8_4_4_4_12_hex() {
        for ok in [
            "e3b2c8a4-1f0d-4c55-9a3e-0123456789ab",
            "E3B2C8A4-1F0D-4C55-9A3E-0123456789AB",
        ] {
            assert!(is_uuid(ok), "{ok}");
        }
        for bad in [
            "",
            "e3b2c8a41f0d4c559a3e0123456789ab",
            "e3b2c8a4-1f0d-4c55-9a3e-0123456789a",
            "e3b2c8a4-1f0d-4c55-9a3e-0123456789abc",
            "g3b2c8a4-1f0d-4c55-9a3e-0123456789ab",
            "e3b2c8a4_1f0d-4c55-9a3e-0123456789ab",
            "e3b2c8a4-1f0d-4c55-9a3e-0123456789a/",
            "../../../V1/orders/1-0000-0000-000000",
            "é3b2c8a4-1f0d-4c55-9a3e-0123456789a",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
        assert_eq!(
            detailed_status_path("e3b2c8a4-1f0d-4c55-9a3e-0123456789ab"),
            "/V1/bulk/e3b2c8a4-1f0d-4c55-9a3e-0123456789ab/detailed-status"
        );
    }

    /// The final URL check lets both bulk paths through, under the tenant.
    #[test]
    fn the_guard_takes_both_bulk_paths() {
        let base = url::Url::parse("https://na1.api.commerce.adobe.com/T1").unwrap();
        let status = detailed_status_path("e3b2c8a4-1f0d-4c55-9a3e-0123456789ab");
        for path in [PRODUCTS, status.as_str()] {
            assert_eq!(
                super::super::guard::upstream_url(&base, path).unwrap(),
                format!("https://na1.api.commerce.adobe.com/T1{path}")
            );
        }
    }

    #[test]
    fn the_request_body_is_an_array_of_post_product_bodies() {
        let a: Map<String, Value> =
            serde_json::from_value(json!({"sku": "A", "price": 1})).unwrap();
        let b: Map<String, Value> = serde_json::from_value(json!({"sku": "b\"q"})).unwrap();
        let body = request_body([&a, &b].into_iter());
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!([{"product": {"sku": "A", "price": 1}}, {"product": {"sku": "b\"q"}}])
        );
        assert_eq!(request_body(std::iter::empty()), b"[]");
    }

    #[test]
    fn an_accepted_answer_gives_its_uuid() {
        let body = json!({
            "bulk_uuid": "799a59c0-09ca-4d60-b432-2953986c1c38",
            "request_items": [{"id": 0, "data_hash": "x", "status": "accepted"}],
            "errors": false
        });
        assert_eq!(
            accepted(body.to_string().as_bytes(), 1),
            Some(Accepted {
                uuid: "799a59c0-09ca-4d60-b432-2953986c1c38".into(),
                rejected: vec![]
            })
        );
        for bad in [
            &b"{}"[..],
            br#"{"bulk_uuid":"x"}"#,
            br#"{"bulk_uuid":7}"#,
            b"[]",
        ] {
            assert_eq!(accepted(bad, 1), None);
        }
    }

    /// `MassSchedule::publishMass`'s answer when it rejected elements: 202,
    /// `errors: true`, each rejected element with its message; ids outside
    /// the request are not ours to fail.
    #[test]
    fn an_answer_with_rejected_elements_names_them() {
        let body = json!({
            "bulk_uuid": "799a59c0-09ca-4d60-b432-2953986c1c38",
            "request_items": [
                {"id": 0, "data_hash": "x", "status": "accepted"},
                {"id": 1, "status": "rejected", "error_message": "Message is not valid", "error_code": 0},
                {"id": "2", "status": "rejected"},
                {"id": 9, "status": "rejected", "error_message": "not ours"},
            ],
            "errors": true
        });
        let a = accepted(body.to_string().as_bytes(), 3).unwrap();
        assert_eq!(
            a.rejected,
            vec![
                (1, "Message is not valid".to_owned()),
                (
                    2,
                    "ACCS rejected this product when it scheduled the bulk".to_owned()
                )
            ]
        );
    }

    /// The shape of operation-status-endpoints.md's detailed status, with
    /// Magento's `serialized_data` and the statuses each result reads from.
    #[test]
    fn operations_read_in_id_order_with_sku_and_reason() {
        let serialized = |sku: &str| {
            let meta = json!({"product": {"sku": sku, "name": "n"}}).to_string();
            json!({"entity_id": null, "entity_link": "", "meta_information": meta}).to_string()
        };
        let body = json!({
            "operations_list": [
                {"id": 12, "bulk_uuid": "u", "topic_name": "t", "status": 3,
                 "serialized_data": serialized("C"), "result_serialized_data": null,
                 "result_message": "The \"price\" is bad.", "error_code": 0},
                {"id": 10, "bulk_uuid": "u", "topic_name": "t", "status": 1,
                 "serialized_data": null,
                 "result_serialized_data": json!({"sku": "A", "id": 7}).to_string(),
                 "result_message": "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save",
                 "error_code": null},
                {"id": 11, "bulk_uuid": "u", "topic_name": "t", "status": 4,
                 "serialized_data": "not json", "result_serialized_data": null,
                 "result_message": null, "error_code": null},
                {"id": 13, "status": 2, "serialized_data": serialized("D"),
                 "result_message": "Lock wait timeout"},
                {"id": 14, "status": 5, "result_message": "rejected"},
                {"id": 15, "status": 9}
            ],
            "bulk_id": "u", "description": "d", "start_time": "s", "user_id": 1,
            "user_type": 1, "operation_count": 6
        });
        let ops = operations(body.to_string().as_bytes()).unwrap();
        let got: Vec<(i64, &str, Option<&str>, Option<&str>)> = ops
            .iter()
            .map(|o| (o.id, o.result(), o.sku.as_deref(), o.reason.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (10, "ok", Some("A"), None),
                (11, "pending", None, None),
                (12, "failed", Some("C"), Some("The \"price\" is bad.")),
                (13, "failed", Some("D"), Some("Lock wait timeout")),
                (14, "failed", None, Some("rejected")),
                (15, "pending", None, None),
            ]
        );
        for bad in [
            &b"{}"[..],
            br#"{"operations_list":[{"id":"x","status":1}]}"#,
            b"nope",
        ] {
            assert_eq!(operations(bad), None);
        }
    }
}
