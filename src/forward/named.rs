//! The SKU of a stock event that names its product by id only. ACCS sends
//! `observer.cataloginventory_stock_item_save_commit_after` with the legacy
//! stock item (`product_id`, `qty`, `is_in_stock`; no `sku`:
//! AdobeDocs/commerce-extensibility `src/pages/events/events-reference.md`),
//! while the edge notes its writes by SKU (`crate::echo`). One ACCS read per
//! such event, before its targets' echo checks, names the product; without
//! it the echo of an inventory sync could not be told from a real change.

use crate::accs::{Call, Ctx};
use crate::ports::Ports;
use serde_json::{Value, json};

/// `event`'s `data` with `value.sku` set from ACCS, when the event names its
/// product by id only (`None`: nothing to resolve, or ACCS did not name it;
/// then the echo check sees the event as it came and cannot match it, so
/// the event is forwarded: an extra message, never a lost one).
pub async fn with_sku<P: Ports>(
    ctx: &Ctx<'_, P>,
    event_type: &str,
    data: Option<&Value>,
) -> Option<Value> {
    let id = crate::echo::unnamed_product_id(event_type, data)?;
    let f = "searchCriteria[filter_groups][0][filters][0]";
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(&format!("{f}[field]"), "entity_id")
        .append_pair(&format!("{f}[value]"), &id.to_string())
        .append_pair(&format!("{f}[condition_type]"), "eq")
        .append_pair("searchCriteria[pageSize]", "1")
        .append_pair("fields", "items[sku]")
        .finish();
    let path = format!("/V1/products?{query}");
    let sku = match ctx.call(&Call::get(path)).await {
        Ok(resp) => serde_json::from_slice::<Value>(&resp.body)
            .ok()
            .and_then(|v| v["items"][0]["sku"].as_str().map(str::to_owned)),
        Err(_) => None,
    };
    let Some(sku) = sku else {
        let line = json!({
            "level": "warn",
            "message": "the stock event's product id could not be resolved to a SKU: its echo cannot be told, so it is forwarded to every target",
            "request_id": ctx.trace.request_id,
            "product_id": id,
        });
        ctx.ports.log(&line.to_string());
        return None;
    };
    let mut data = data?.clone();
    data["value"]["sku"] = Value::String(sku);
    Some(data)
}
