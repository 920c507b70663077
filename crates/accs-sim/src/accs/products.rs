//! `/V1/products`: search, get and upsert by SKU.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::Call;
use super::search::Criteria;
use crate::state::{Inner, Shared};
use crate::types::SaveFailure;
use crate::{magento, time};

pub(super) fn search(shared: &Shared, call: &Call<'_>) -> magento::Result {
    let criteria = Criteria::from_query(call.query)?;
    Ok(magento::ok(
        &criteria.run(shared.lock().catalog.products.iter()),
    ))
}

pub(super) fn get(shared: &Shared, sku: &str) -> magento::Result {
    let inner = shared.lock();
    let product = inner.catalog.product(sku).ok_or_else(not_found)?;
    Ok(magento::ok(product))
}

/// Upsert: given fields replace stored ones, `custom_attributes` merged by
/// `attribute_code` ([`merge_custom_attributes`]); the path SKU wins over the
/// body's, and `id`/`created_at` are the simulator's. The save itself is
/// [`save`], which the bulk consumer runs too.
pub(super) fn put(shared: &Shared, sku: &str, call: &Call<'_>) -> magento::Result {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return Err(magento::decoding_error());
    };
    let Some(Value::Object(fields)) = body.get("product") else {
        return Err(magento::required_field("product"));
    };
    match save(&mut shared.lock(), sku, fields) {
        Ok(saved) => Ok(magento::ok(&saved)),
        Err(failed) => {
            let status = if failed.retriable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            Err(magento::error(status, &failed.message, json!([])))
        }
    }
}

/// `ProductRepository::save` of `fields` under `sku`, or the configured
/// failure for that SKU (`Faults::save_failures`), nothing saved. Returns the
/// product as stored.
pub(crate) fn save(
    inner: &mut Inner,
    sku: &str,
    fields: &Map<String, Value>,
) -> Result<Value, SaveFailure> {
    if let Some(failed) = inner.faults.save_failures.iter().find(|f| f.sku == sku) {
        return Err(failed.clone());
    }
    let now = time::now();
    let catalog = &mut inner.catalog;
    if catalog.product(sku).is_none() {
        let id = catalog.next_product_id();
        catalog.insert_product(json!({
            "id": id,
            "sku": sku,
            "attribute_set_id": 4,
            "status": 1,
            "visibility": 4,
            "type_id": "simple",
            "created_at": now,
            "extension_attributes": { "website_ids": [1] },
            "custom_attributes": [],
        }));
    }
    let Some(Value::Object(stored)) = catalog.product_mut(sku) else {
        unreachable!("product {sku} was just ensured");
    };
    for (key, value) in fields {
        match key.as_str() {
            "id" | "sku" | "created_at" => {}
            "custom_attributes" => merge_custom_attributes(stored, value),
            _ => {
                stored.insert(key.clone(), value.clone());
            }
        }
    }
    stored.insert("updated_at".into(), now.into());
    Ok(Value::Object(stored.clone()))
}

/// Magento saves the attributes a PUT names and keeps the others:
/// `ProductRepository::save` flattens the body's `custom_attributes` to
/// `attribute_code => value` (`ExtensibleDataObjectConverter::toNestedArray`)
/// and sets each on the product it loaded (`initializeProductData`), so an
/// attribute left out keeps its stored value, and a named one replaces it.
fn merge_custom_attributes(stored: &mut serde_json::Map<String, Value>, given: &Value) {
    let Some(given) = given.as_array() else {
        stored.insert("custom_attributes".into(), given.clone());
        return;
    };
    let list = stored
        .entry("custom_attributes")
        .or_insert_with(|| Value::Array(vec![]));
    if !list.is_array() {
        *list = Value::Array(vec![]);
    }
    let Value::Array(list) = list else {
        unreachable!("just made an array");
    };
    for attribute in given {
        let code = &attribute["attribute_code"];
        match list.iter_mut().find(|a| a["attribute_code"] == *code) {
            Some(old) => *old = attribute.clone(),
            None => list.push(attribute.clone()),
        }
    }
}

fn not_found() -> magento::Error {
    magento::error(
        StatusCode::NOT_FOUND,
        "The product that was requested doesn't exist. Verify the product and try again.",
        json!([]),
    )
}
