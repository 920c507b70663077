//! `/V1/products`: search, get and upsert by SKU.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Call;
use super::search::Criteria;
use crate::state::Shared;
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

/// Upsert: given fields replace stored ones (Magento merges too); the path SKU wins over the
/// body's, and `id`/`created_at` are the simulator's.
pub(super) fn put(shared: &Shared, sku: &str, call: &Call<'_>) -> magento::Result {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return Err(magento::decoding_error());
    };
    let Some(Value::Object(fields)) = body.get("product") else {
        return Err(magento::required_field("product"));
    };
    let now = time::now();
    let mut inner = shared.lock();
    let catalog = &mut inner.catalog;
    if catalog.product(sku).is_none() {
        let id = catalog.next_product_id();
        catalog.products.push(json!({
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
        if !matches!(key.as_str(), "id" | "sku" | "created_at") {
            stored.insert(key.clone(), value.clone());
        }
    }
    stored.insert("updated_at".into(), now.into());
    Ok(magento::ok(&Value::Object(stored.clone())))
}

fn not_found() -> magento::Error {
    magento::error(
        StatusCode::NOT_FOUND,
        "The product that was requested doesn't exist. Verify the product and try again.",
        json!([]),
    )
}
