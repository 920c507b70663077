//! `POST /V1/inventory/source-items`: validated all-or-nothing, then counted per
//! `(sku, source_code)` so tests can see exactly what the component delivered.
//!
//! All or nothing, as Magento: `Magento\Inventory\Model\SourceItem\Command\SourceItemsSave`
//! runs the validator chain over every item (a failure is `ValidationException('Validation
//! Failed')` with the errors, 400) and then saves the whole list in one multi-row insert; an
//! unknown `source_code` breaks the insert's foreign key and the call fails with
//! `CouldNotSaveException('Could not save Source Item')`, 400, nothing saved. Magento's own
//! web-API functional test expects exactly that answer for a source that does not exist
//! (`Magento\InventoryApi\Test\Api\SourceItemsSave\ValidationTest::failedValidationDataProvider`:
//! REST `{"message":"Could not save Source Item"}`).

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Call;
use crate::magento;
use crate::state::Shared;

pub(super) fn save(shared: &Shared, call: &Call<'_>) -> magento::Result {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return Err(magento::decoding_error());
    };
    let Some(items) = body.get("sourceItems").and_then(Value::as_array) else {
        return Err(magento::required_field("sourceItems"));
    };
    super::limits::list(shared, super::limits::SOURCE_ITEM, items.len())?;
    if items.is_empty() {
        return Err(magento::error(
            StatusCode::BAD_REQUEST,
            "Input data is empty",
            json!([]),
        ));
    }
    let mut keys = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for item in items {
        match validate(item) {
            Ok(key) => keys.push(key),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(magento::Error::with_body(
            StatusCode::BAD_REQUEST,
            json!({ "message": "Validation Failed", "errors": errors }),
        ));
    }
    if keys
        .iter()
        .any(|(_, source)| !shared.cfg.source_codes.iter().any(|s| s == source))
    {
        return Err(magento::Error::with_body(
            StatusCode::BAD_REQUEST,
            json!({ "message": "Could not save Source Item" }),
        ));
    }
    let mut inner = shared.lock();
    for (item, key) in items.iter().zip(keys) {
        // Validated above: a number >= 0 and 0 or 1.
        let qty = item["quantity"].as_f64().unwrap_or(0.0);
        let status = item["status"].as_u64().unwrap_or(0);
        inner.publish_source_item(&key.0, &key.1, qty, status);
        *inner.receipts.entry(key).or_default() += 1;
    }
    Ok(magento::ok(&json!([])))
}

/// The item's `(sku, source_code)`, or Magento-shaped errors for each bad field.
fn validate(item: &Value) -> Result<(String, String), Vec<Value>> {
    let mut errors = Vec::new();
    let sku = item["sku"].as_str().filter(|s| !s.is_empty());
    if sku.is_none() {
        errors.push(empty("sku"));
    }
    let source = item["source_code"].as_str().filter(|s| !s.is_empty());
    if source.is_none() {
        errors.push(empty("source_code"));
    }
    if !item["quantity"].as_f64().is_some_and(|q| q >= 0.0) {
        errors.push(invalid("quantity", &item["quantity"]));
    }
    if !matches!(item["status"].as_u64(), Some(0 | 1)) {
        errors.push(invalid("status", &item["status"]));
    }
    match (sku, source) {
        (Some(sku), Some(source)) if errors.is_empty() => Ok((sku.to_owned(), source.to_owned())),
        _ => Err(errors),
    }
}

fn empty(field: &str) -> Value {
    json!({ "message": "\"%field\" can not be empty.", "parameters": { "field": field } })
}

fn invalid(field: &str, value: &Value) -> Value {
    json!({
        "message": "\"%field\" should be numeric and valid; got \"%value\".",
        "parameters": { "field": field, "value": value.to_string() },
    })
}
