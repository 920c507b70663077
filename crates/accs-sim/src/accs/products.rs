//! `/V1/products`: search, get and upsert by SKU.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Call;
use super::search::Criteria;
use crate::magento;
use crate::save::save;
use crate::state::Shared;

pub(super) fn search(shared: &Shared, call: &Call<'_>) -> magento::Result {
    let criteria = Criteria::from_query(call.query)?;
    super::limits::page_size(shared, criteria.page_size())?;
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
/// [`crate::save::save`], which the bulk consumer runs too.
pub(super) fn put(shared: &Shared, sku: &str, call: &Call<'_>) -> magento::Result {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return Err(magento::decoding_error());
    };
    let Some(Value::Object(fields)) = body.get("product") else {
        return Err(magento::required_field("product"));
    };
    let mut inner = shared.lock();
    let inner = &mut *inner;
    let saved = save(&mut inner.catalog, &inner.faults.save_failures, sku, fields);
    inner.publish_saves();
    match saved {
        Ok(saved) => Ok(magento::ok(&saved)),
        Err(failed) => {
            let status = if failed.retriable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            Err(magento::error(
                status,
                &failed.message,
                json!(failed.parameters),
            ))
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
