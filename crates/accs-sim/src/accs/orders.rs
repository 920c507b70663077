//! `/V1/orders`: read-only search and lookup by entity id.

use axum::http::StatusCode;
use serde_json::json;

use super::Call;
use super::search::Criteria;
use crate::magento;
use crate::state::Shared;

pub(super) fn search(shared: &Shared, call: &Call<'_>) -> magento::Result {
    let criteria = Criteria::from_query(call.query)?;
    super::limits::page_size(shared, criteria.page_size())?;
    Ok(magento::ok(
        &criteria.run(shared.lock().catalog.orders.iter()),
    ))
}

pub(super) fn get(shared: &Shared, id: &str) -> magento::Result {
    let inner = shared.lock();
    let order = id
        .parse::<u64>()
        .ok()
        .and_then(|id| inner.catalog.orders.iter().find(|o| o["entity_id"] == id));
    let order = order.ok_or_else(|| {
        magento::error(
            StatusCode::NOT_FOUND,
            "The entity that was requested doesn't exist. Verify the entity and try again.",
            json!([]),
        )
    })?;
    Ok(magento::ok(order))
}
