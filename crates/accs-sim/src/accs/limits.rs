//! Magento's Web API input limits, on when [`Faults::input_limits`] is set
//! (Magento: Stores > Configuration > Services > Web API Input Limits,
//! `webapi/validation/input_limit_enabled`; off by default, as in Magento).
//!
//! - A list longer than `complex_array_limit` (`webapi/validation/complex_array_limit`,
//!   default 20): 400 `Maximum items of type "%type" is %max` with
//!   `parameters: {"type", "max"}`, thrown by
//!   `Magento\Framework\Webapi\Validator\EntityArrayValidator::validateComplexArrayType`
//!   while `ServiceInputProcessor` converts the input, before the service runs.
//! - A `searchCriteria[pageSize]` over `maximum_page_size`
//!   (`webapi/validation/maximum_page_size`, default 300): 400 `Maximum
//!   SearchCriteria pageSize is %max` with `parameters: {"max"}`
//!   (`Magento\Framework\Webapi\Validator\SearchCriteriaValidator::validateEntityValue`).
//!
//! The `max` is the integer Magento holds, so JSON carries a number. Magento
//! bounds asynchronous routes by their own `input-array-size-limit` (default
//! 5,000, magento/devdocs `get-started/api-security.md`); the simulator
//! applies the one configured limit to the bulk route's entities too.
//!
//! [`Faults::input_limits`]: crate::types::Faults::input_limits

use axum::http::StatusCode;
use serde_json::json;

use crate::magento;
use crate::state::Shared;

/// `Magento\InventoryApi\Api\Data\SourceItemInterface`, the type of `sourceItems`.
pub(super) const SOURCE_ITEM: &str = "Magento\\InventoryApi\\Api\\Data\\SourceItemInterface";
/// `Magento\Catalog\Api\Data\ProductInterface`, each bulk entity's `product`.
pub(super) const PRODUCT: &str = "Magento\\Catalog\\Api\\Data\\ProductInterface";

/// Refuses a list of `len` items of `type_name` over the configured limit.
pub(super) fn list(shared: &Shared, type_name: &str, len: usize) -> magento::Result<()> {
    let limits = shared.lock().faults.input_limits.clone();
    match limits {
        Some(l) if len > l.complex_array_limit => Err(magento::error(
            StatusCode::BAD_REQUEST,
            "Maximum items of type \"%type\" is %max",
            json!({ "type": type_name, "max": l.complex_array_limit }),
        )),
        _ => Ok(()),
    }
}

/// Refuses a `pageSize` over the configured maximum.
pub(super) fn page_size(shared: &Shared, page_size: Option<usize>) -> magento::Result<()> {
    let limits = shared.lock().faults.input_limits.clone();
    match (limits, page_size) {
        (Some(l), Some(size)) if size > l.maximum_page_size => Err(magento::error(
            StatusCode::BAD_REQUEST,
            "Maximum SearchCriteria pageSize is %max",
            json!({ "max": l.maximum_page_size }),
        )),
        _ => Ok(()),
    }
}
