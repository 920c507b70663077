//! Adobe's published ACCS contract (`tests/reference/accs-schema.yaml`, cut
//! down to the modelled paths in `accs-schema.json` by `scripts/accs_schema.py`)
//! as the judge of the simulator and of what the component sends it.
//!
//! - [`input`]: every request on a modelled endpoint goes through Magento's
//!   web-API input processor rules before its handler runs, so the simulator
//!   refuses what ACCS refuses (an unknown field, a value of the wrong type);
//! - [`judge`]: JSON Schema checks of a response (the sweep test) and of a
//!   request body (the component tests' outbound check), objects closed.

pub(crate) mod input;
pub mod judge;
mod schema;

pub use judge::{check_request_body, check_response};

/// Each modelled route, as the simulator labels it (the counters' key,
/// `RecordedRequest::route`), with the schema's path for it. The bulk route
/// is not in Adobe's schema; its operation is the simulator's stand-in
/// (`schema::ASYNC_BULK_PRODUCTS`).
pub const OPERATIONS: [(&str, &str); 12] = [
    ("GET /V1/products", "/V1/products"),
    ("GET /V1/products/{sku}", "/V1/products/{sku}"),
    ("PUT /V1/products/{sku}", "/V1/products/{sku}"),
    (
        "POST /V1/inventory/source-items",
        "/V1/inventory/source-items",
    ),
    ("GET /V1/orders", "/V1/orders"),
    ("GET /V1/orders/{id}", "/V1/orders/{id}"),
    ("GET /V1/categories", "/V1/categories"),
    ("GET /V1/categories/{id}", "/V1/categories/{categoryId}"),
    ("POST /V1/async/bulk/products", schema::ASYNC_BULK_PRODUCTS),
    (
        "GET /V1/bulk/{uuid}/detailed-status",
        "/V1/bulk/{bulkUuid}/detailed-status",
    ),
    ("GET /V1/bulk/{uuid}/status", "/V1/bulk/{bulkUuid}/status"),
    (
        "GET /V1/bulk/{uuid}/operation-status/{status}",
        "/V1/bulk/{bulkUuid}/operation-status/{status}",
    ),
];

/// `("PUT", "/V1/products/{sku}")` for the label `PUT /V1/products/{sku}`.
pub fn operation_of(label: &str) -> Option<(&'static str, &'static str)> {
    let (label, path) = OPERATIONS.iter().find(|(l, _)| *l == label)?;
    Some((label.split(' ').next()?, path))
}
