//! The vendored schema, parsed once, and its operations.

use std::sync::OnceLock;

use serde_json::Value;

const JSON: &str = include_str!("../../../../tests/reference/accs-schema.json");

pub(super) fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(JSON).expect("tests/reference/accs-schema.json is JSON")
    })
}

/// The operation object of `method` (any case) on the schema's `path`, or
/// the simulator's stand-in for the bulk route ([`async_bulk_products`]).
pub(super) fn operation(method: &str, path: &str) -> Option<&'static Value> {
    if method.eq_ignore_ascii_case("POST") && path == ASYNC_BULK_PRODUCTS {
        return Some(async_bulk_products());
    }
    doc()["paths"]
        .get(path)?
        .get(method.to_ascii_lowercase())
        .filter(|op| op.is_object())
}

/// ACCS's bulk route for `POST /V1/products` (AdobeDocs `bulk-endpoints.md`).
pub const ASYNC_BULK_PRODUCTS: &str = "/V1/async/bulk/products";

/// Adobe's schema has no asynchronous routes (WebapiAsync generates them at
/// runtime from the synchronous ones), so this operation is written here
/// from what defines them: the body is a list of `POST /V1/products` bodies
/// (`bulk-endpoints.md`: "an array of request bodies"), the success is 202
/// (`AsynchronousRequestProcessor::process`: `STATUS_CODE_202`) with the
/// `AsyncResponseInterface` of `asynchronous-web-endpoints.md` (`bulk_uuid`,
/// `request_items[]` of `ItemStatusInterface`: `id`, `data_hash`, `status`,
/// and `error_message`/`error_code` for a rejected item, `errors`), and an
/// error is the standard web-API exception (`error-response`).
fn async_bulk_products() -> &'static Value {
    static OP: OnceLock<Value> = OnceLock::new();
    OP.get_or_init(|| {
        let item = operation("POST", "/V1/products")
            .and_then(body_schema)
            .cloned()
            .expect("the schema has POST /V1/products with a body");
        serde_json::json!({
            "parameters": [{
                "in": "body",
                "name": "PostV1AsyncBulkProductsBody",
                "schema": { "type": "array", "items": item },
            }],
            "responses": {
                "202": { "schema": {
                    "type": "object",
                    "properties": {
                        "bulk_uuid": { "type": "string" },
                        "request_items": { "type": "array", "items": {
                            "type": "object",
                            "properties": {
                                "id": { "type": "integer" },
                                "data_hash": { "type": "string" },
                                "status": { "type": "string" },
                                "error_message": { "type": "string" },
                                "error_code": { "type": "integer" },
                            },
                            "required": ["id", "data_hash", "status"],
                        } },
                        "errors": { "type": "boolean" },
                    },
                    "required": ["bulk_uuid", "request_items", "errors"],
                } },
                "default": { "schema": { "$ref": "#/definitions/error-response" } },
            },
        })
    })
}

/// `#/definitions/NAME` resolved, or `schema` itself.
pub(super) fn resolve(schema: &'static Value) -> &'static Value {
    match schema["$ref"].as_str() {
        Some(r) => r
            .strip_prefix("#/definitions/")
            .and_then(|name| doc()["definitions"].get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

/// The schema of the operation's `in: body` parameter.
pub(super) fn body_schema(op: &'static Value) -> Option<&'static Value> {
    op["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["in"] == "body")
        .map(|p| &p["schema"])
}
