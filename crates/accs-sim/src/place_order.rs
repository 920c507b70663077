//! Placing an order in the simulated Commerce, as a storefront checkout
//! would: the order joins `/V1/orders` and, when subscribed, the order-saved
//! event is published (`crate::commerce_events::ORDER_SAVED`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::commerce_events as ce;
use crate::state::Inner;

/// What a checkout sends: who buys, and which SKUs how many times.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewOrder {
    pub customer_email: String,
    /// `(sku, quantity)`, each SKU a stored product, each quantity >= 1.
    pub items: Vec<OrderLine>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: String,
    pub qty: u32,
}

/// Why an order could not be placed (nothing was stored or published).
#[derive(Clone, Debug, PartialEq)]
pub enum Refused {
    NoItems,
    UnknownSku(String),
    ZeroQuantity(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NoItems => write!(f, "an order needs at least one item"),
            Refused::UnknownSku(s) => write!(f, "no product with SKU {s:?}"),
            Refused::ZeroQuantity(s) => write!(f, "the quantity of {s:?} must be at least 1"),
        }
    }
}

fn cents(price: &Value) -> u64 {
    (price.as_f64().unwrap_or(0.0) * 100.0).round() as u64
}

/// Stores the order (`pending`, state `new`, next entity id, its
/// increment id nine digits) and publishes its event. Returns the order as
/// `GET /V1/orders/{id}` answers it.
pub(crate) fn place(inner: &mut Inner, new: &NewOrder) -> Result<Value, Refused> {
    if new.items.is_empty() {
        return Err(Refused::NoItems);
    }
    let id = inner
        .catalog
        .orders
        .iter()
        .filter_map(|o| o["entity_id"].as_u64())
        .max()
        .unwrap_or(0)
        + 1;
    let mut items = Vec::new();
    let (mut subtotal, mut qty_total) = (0u64, 0u64);
    for (k, line) in new.items.iter().enumerate() {
        if line.qty == 0 {
            return Err(Refused::ZeroQuantity(line.sku.clone()));
        }
        let product = inner
            .catalog
            .product(&line.sku)
            .ok_or_else(|| Refused::UnknownSku(line.sku.clone()))?;
        let price = cents(&product["price"]);
        let qty = u64::from(line.qty);
        subtotal += price * qty;
        qty_total += qty;
        items.push(json!({
            "item_id": id * 10 + k as u64,
            "order_id": id,
            "product_id": product["id"],
            "sku": product["sku"],
            "name": product["name"],
            "product_type": product["type_id"],
            "qty_ordered": qty,
            "price": price as f64 / 100.0,
            "row_total": (price * qty) as f64 / 100.0,
        }));
    }
    let shipping = 500;
    let now = crate::time::now();
    let money = |c: u64| c as f64 / 100.0;
    let order = json!({
        "entity_id": id,
        "increment_id": format!("{id:09}"),
        "status": "pending",
        "state": "new",
        "store_id": 1,
        "created_at": now,
        "updated_at": now,
        "customer_email": new.customer_email,
        "customer_is_guest": 1,
        "base_currency_code": "USD",
        "order_currency_code": "USD",
        "subtotal": money(subtotal),
        "shipping_amount": money(shipping),
        "grand_total": money(subtotal + shipping),
        "base_grand_total": money(subtotal + shipping),
        "total_qty_ordered": qty_total,
        "total_item_count": items.len(),
        "payment": {
            "method": "checkmo",
            "account_status": null,
            "cc_last4": null,
            "additional_information": ["Check / Money order"],
        },
        "items": items,
    });
    inner.catalog.orders.push(order.clone());
    inner
        .publisher
        .publish(ce::ORDER_SAVED, ce::order_saved_value(&order));
    Ok(order)
}
