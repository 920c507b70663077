//! Commerce's events as Adobe I/O Events delivers them: builders of the
//! CloudEvents that ACCS publishes when an order, a product or a stock item
//! is saved.
//!
//! What Adobe documents (AdobeDocs/commerce-extensibility):
//! - `src/pages/events/events-reference.md` ("Events reference", ACCS):
//!   the payload of each supported event. The three used here are
//!   `observer.sales_order_save_commit_after` (an order saved, placing one
//!   included; the reference lists no `sales_order_place_after` for ACCS),
//!   `observer.catalog_product_save_commit_after`, and
//!   `observer.cataloginventory_stock_item_save_commit_after`, the only stock
//!   event the reference lists (no MSI source-item event): its payload is the
//!   legacy stock item (`item_id`, `product_id`, `stock_id`, `qty`,
//!   `is_in_stock`, ...) and carries no `sku` and no `source_code`.
//! - `src/pages/events/tutorial/debugging.md`: the delivered envelope, type
//!   `com.adobe.commerce.<event_name>`, `eventid`/`event_id`,
//!   `recipient_client_id`/`recipientclientid`, and `data` holding `key`,
//!   `value` (the payload, the fields the subscription chose), `source`
//!   (`<provider>.<instance>`) and `_metadata`.
//! - `src/pages/events/events-original-data.md`: `_origData` (the object as
//!   loaded before the save; empty for a new object) and `_isNew`, present
//!   only when the subscription names `_origData` explicitly.

use serde_json::{Map, Value, json};

/// Every Commerce event type starts with this.
pub const TYPE_PREFIX: &str = "com.adobe.commerce.";

/// An order saved; the simulator publishes it when an order is placed.
pub const ORDER_SAVED: &str = "com.adobe.commerce.observer.sales_order_save_commit_after";

/// A product saved (`PUT /V1/products/{sku}` or a bulk operation's consumer).
pub const PRODUCT_SAVED: &str = "com.adobe.commerce.observer.catalog_product_save_commit_after";

/// A legacy stock item saved. The simulator publishes it for each
/// source item saved at the `default` source, the one source whose quantity
/// the legacy stock item mirrors in MSI.
///
/// Caution, for whoever relies on it: in Magento Open Source a REST
/// source-items save updates the legacy stock item "via plain MySql query"
/// (magento/inventory `InventoryCatalog/Model/ResourceModel/SetDataToLegacyStockItem.php`,
/// called from `SetDataToLegacyCatalogInventoryAtSourceItemsSavePlugin`), not
/// through the model's save, so this observer event may not fire for such a
/// save on a real ACCS; Adobe does not document either way. The simulator
/// emits it so the echo path can be exercised; turn it off with
/// [`crate::io_events::IoEvents::set_source_item_stock_events`] to model the
/// other reading.
pub const STOCK_ITEM_SAVED: &str =
    "com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after";

/// The source the legacy stock item mirrors.
pub const DEFAULT_SOURCE: &str = "default";

/// The I/O Events provider id in `source` (`urn:uuid:<provider id>`).
pub const PROVIDER_ID: &str = "fb58963f-d2e7-4ab4-83da-b6ff15b8ebc0";

/// The Commerce event provider's instance label in `data.source`.
pub const DATA_SOURCE: &str = "accs-sim.Stage";

/// The CloudEvent I/O Events delivers for a Commerce event: `value` under
/// `data.value`, `time` at `time_ms` (ms since the epoch).
pub fn cloud_event(
    event_id: &str,
    event_type: &str,
    recipient_client_id: &str,
    value: Value,
    time_ms: u64,
) -> Value {
    json!({
        "specversion": "1.0",
        "id": format!("ce-{event_id}"),
        "source": format!("urn:uuid:{PROVIDER_ID}"),
        "type": event_type,
        "datacontenttype": "application/json",
        "time": crate::time::rfc3339(time_ms),
        "eventid": event_id,
        "event_id": event_id,
        "recipient_client_id": recipient_client_id,
        "recipientclientid": recipient_client_id,
        "data": {
            "key": format!("key-{event_id}"),
            "value": value,
            "source": DATA_SOURCE,
            "_metadata": {
                "commerceEdition": "Adobe Commerce as a Cloud Service",
                "commerceVersion": "1.0.0",
                "eventsClientVersion": "1.12.1",
                "storeId": "0",
                "websiteId": "0",
                "storeGroupId": "0",
            },
        },
    })
}

/// Adds `_origData` (`before`, or `[]` for a new object, as PHP's empty
/// array serializes) and `_isNew` to `value`.
fn with_orig(mut value: Value, before: Option<Value>) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert("_isNew".into(), Value::Bool(before.is_none()));
        map.insert("_origData".into(), before.unwrap_or_else(|| json!([])));
    }
    value
}

/// The fields of a product the payload carries, flattened as the event's
/// model data is: `custom_attributes` become top-level attributes and the
/// stock item's `qty`/`is_in_stock` appear as `quantity_and_stock_status`.
fn product_fields(product: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(p) = product {
        for (k, v) in p {
            match k.as_str() {
                "custom_attributes" => {
                    for a in v.as_array().into_iter().flatten() {
                        if let Some(code) = a["attribute_code"].as_str() {
                            out.insert(code.to_owned(), a["value"].clone());
                        }
                    }
                }
                "extension_attributes" => {
                    let stock = &v["stock_item"];
                    if stock.is_object() {
                        out.insert(
                            "quantity_and_stock_status".into(),
                            json!({ "qty": stock["qty"], "is_in_stock": stock["is_in_stock"] }),
                        );
                    }
                    if let Some(w) = v.get("website_ids") {
                        out.insert("website_ids".into(), w.clone());
                    }
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Value::Object(out)
}

/// `data.value` of [`PRODUCT_SAVED`]: the product as saved, with
/// `_origData` the product before the save (`None`: it is new).
pub fn product_saved_value(after: &Value, before: Option<&Value>) -> Value {
    with_orig(product_fields(after), before.map(product_fields))
}

/// A legacy stock item's state: what [`stock_item_saved_value`] reports.
#[derive(Clone, Debug, PartialEq)]
pub struct StockItem {
    pub item_id: u64,
    pub product_id: u64,
    pub qty: f64,
    pub is_in_stock: bool,
}

fn stock_fields(s: &StockItem) -> Value {
    json!({
        "item_id": s.item_id,
        "product_id": s.product_id,
        "stock_id": 1,
        "website_id": 0,
        "qty": s.qty,
        "is_in_stock": s.is_in_stock,
        "manage_stock": 1,
    })
}

/// `data.value` of [`STOCK_ITEM_SAVED`]: the item as saved, `_origData` as
/// it was loaded (`None`: it is new).
pub fn stock_item_saved_value(after: &StockItem, before: Option<&StockItem>) -> Value {
    with_orig(stock_fields(after), before.map(stock_fields))
}

/// `data.value` of [`ORDER_SAVED`]: the order as `GET /V1/orders/{id}`
/// answers it, plus `real_order_id` (the increment id), as the payload
/// lists it. A placed order is new: `_isNew` true, `_origData` empty.
pub fn order_saved_value(order: &Value) -> Value {
    let mut value = order.clone();
    if let Value::Object(map) = &mut value {
        map.insert("real_order_id".into(), order["increment_id"].clone());
    }
    with_orig(value, None)
}
