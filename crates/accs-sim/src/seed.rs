//! The deterministic seeded catalog: products, orders and a small category tree.
//!
//! Values are derived from the index with fixed arithmetic so every run (and every reset)
//! serves identical data, which keeps benchmark responses comparable.

use std::collections::HashMap;

use serde_json::{Value, json};

/// Odd SKUs that exercise the component's path encoding.
pub const ODD_SKUS: [&str; 6] = ["a/b c", "100%", "x+y", "café-ü", "tab?&#", "dot.sku"];

const SIMPLE_PRODUCTS: u32 = 50;
const ORDERS: u32 = 30;

pub(crate) struct Catalog {
    /// In id order, which is also Magento's default listing order. Grown
    /// only through [`Catalog::insert_product`], which keeps the index.
    pub products: Vec<Value>,
    /// SKU (its [`sku_key`]) to position in `products`: a bulk of 10,000
    /// saves would otherwise scan the whole catalogue for each one.
    index: HashMap<String, usize>,
    /// The highest product id so far.
    max_id: u64,
    pub orders: Vec<Value>,
    pub categories: Vec<Category>,
    /// Every product save since it was last drained, `(before, after)`
    /// (`before` `None`: a new product), for the product-saved events
    /// (`Inner::publish_saves`).
    pub saved: Vec<(Option<Value>, Value)>,
}

pub(crate) struct Category {
    pub id: u64,
    pub parent_id: u64,
    pub name: &'static str,
    pub is_active: bool,
    pub position: u64,
    pub level: u64,
}

impl Default for Catalog {
    fn default() -> Self {
        let simple = (1..=SIMPLE_PRODUCTS).map(|i| product(i, &format!("SKU-{i:04}")));
        let odd = (SIMPLE_PRODUCTS + 1..)
            .zip(ODD_SKUS)
            .map(|(i, s)| product(i, s));
        let mut catalog = Catalog {
            products: Vec::new(),
            index: HashMap::new(),
            max_id: 0,
            orders: (1..=ORDERS).map(order).collect(),
            categories: categories(),
            saved: Vec::new(),
        };
        for p in simple.chain(odd) {
            catalog.insert_product(p);
        }
        catalog
    }
}

impl Catalog {
    pub fn product(&self, sku: &str) -> Option<&Value> {
        self.index.get(&sku_key(sku)).map(|&i| &self.products[i])
    }

    pub fn product_mut(&mut self, sku: &str) -> Option<&mut Value> {
        self.index
            .get(&sku_key(sku))
            .map(|&i| &mut self.products[i])
    }

    pub fn next_product_id(&self) -> u64 {
        self.max_id + 1
    }

    /// Appends a product (its `sku` and `id` set); a SKU already held is
    /// replaced in place, as a save would.
    pub fn insert_product(&mut self, product: Value) {
        let sku = sku_key(product["sku"].as_str().unwrap_or_default());
        self.max_id = self.max_id.max(product["id"].as_u64().unwrap_or(0));
        match self.index.get(&sku) {
            Some(&i) => self.products[i] = product,
            None => {
                self.index.insert(sku, self.products.len());
                self.products.push(product);
            }
        }
    }
}

/// What Magento compares SKUs by. `catalog_product_entity.sku` is a MySQL
/// `varchar(64)` under the table's `utf8_general_ci` collation (the
/// `charset`/`collation` of Magento's `db_schema.xml` tables), and
/// `ProductRepository::get` finds a product by `ResourceModel\Product::getIdBySku`,
/// a `WHERE sku = ?`: `sku-0001` finds `SKU-0001`. The collation also folds
/// accents (`café` = `cafe`); only case is modelled here.
pub(crate) fn sku_key(sku: &str) -> String {
    sku.chars().flat_map(char::to_lowercase).collect()
}

fn price_cents(i: u32) -> u32 {
    999 + (i * 1373) % 20_000
}

fn money(cents: u32) -> f64 {
    f64::from(cents) / 100.0
}

/// A seeded timestamp in `year`, spread over months, days and hours by `n`.
fn stamp(year: u32, n: u32) -> String {
    format!(
        "{year}-{:02}-{:02} {:02}:{:02}:00",
        1 + (n / 28) % 12,
        1 + n % 28,
        n % 24,
        (n * 7) % 60
    )
}

/// Leaf categories products are spread over.
const LEAVES: [u64; 3] = [4, 5, 7];

fn product(i: u32, sku: &str) -> Value {
    let category = LEAVES[(i % 3) as usize].to_string();
    json!({
        "id": i,
        "sku": sku,
        "name": format!("Sim Product {i:04}"),
        "attribute_set_id": 4,
        "price": money(price_cents(i)),
        "status": if i.is_multiple_of(10) { 2 } else { 1 },
        "visibility": if i.is_multiple_of(7) { 1 } else { 4 },
        "type_id": "simple",
        "created_at": stamp(2024, i),
        "updated_at": stamp(2025, i * 3),
        "weight": 1 + i % 5,
        "extension_attributes": {
            "website_ids": [1],
            "category_links": [{ "position": i, "category_id": category }],
            "stock_item": stock_item(i),
        },
        "product_links": [],
        "options": [],
        "media_gallery_entries": [],
        "tier_prices": [],
        "custom_attributes": [
            { "attribute_code": "description", "value": format!("<p>Simulated product {i}.</p>") },
            { "attribute_code": "url_key", "value": format!("sim-product-{i:04}") },
            { "attribute_code": "category_ids", "value": [category] },
            { "attribute_code": "color", "value": (49 + i % 5).to_string() },
            { "attribute_code": "tax_class_id", "value": "2" },
        ],
    })
}

/// Every property Adobe's schema calls required on
/// `catalog-inventory-data-stock-item-interface` (Magento writes each of
/// them, `null` included), with Magento's default stock configuration
/// (`cataloginventory/item_options`: minimum quantity 0, sale quantities 1 to
/// 10000, no backorders, notify below 1, increments of 1 off, stock managed).
fn stock_item(i: u32) -> Value {
    let qty = (i * 13) % 100;
    json!({
        "item_id": i,
        "product_id": i,
        "stock_id": 1,
        "qty": qty,
        "is_in_stock": qty != 0,
        "is_qty_decimal": false,
        "show_default_notification_message": false,
        "use_config_min_qty": true,
        "min_qty": 0,
        "use_config_min_sale_qty": 1,
        "min_sale_qty": 1,
        "use_config_max_sale_qty": true,
        "max_sale_qty": 10000,
        "use_config_backorders": true,
        "backorders": 0,
        "use_config_notify_stock_qty": true,
        "notify_stock_qty": 1,
        "use_config_qty_increments": true,
        "qty_increments": 1,
        "use_config_enable_qty_inc": true,
        "enable_qty_increments": false,
        "use_config_manage_stock": true,
        "manage_stock": true,
        "low_stock_date": null,
        "is_decimal_divided": false,
        "stock_status_changed_auto": 0,
    })
}

fn order(n: u32) -> Value {
    let status = ["pending", "processing", "complete"][(n % 3) as usize];
    let state = if status == "pending" { "new" } else { status };
    let mut subtotal = 0;
    let mut qty_total = 0;
    let items: Vec<Value> = (0..1 + n % 3)
        .map(|k| {
            let p = (n * 7 + k * 11) % SIMPLE_PRODUCTS + 1;
            let qty = 1 + (n + k) % 4;
            subtotal += price_cents(p) * qty;
            qty_total += qty;
            json!({
                "item_id": n * 10 + k,
                "order_id": n,
                "product_id": p,
                "sku": format!("SKU-{p:04}"),
                "name": format!("Sim Product {p:04}"),
                "product_type": "simple",
                "qty_ordered": qty,
                "price": money(price_cents(p)),
                "row_total": money(price_cents(p) * qty),
            })
        })
        .collect();
    let shipping = 500;
    json!({
        "entity_id": n,
        "increment_id": format!("{:09}", n),
        "status": status,
        "state": state,
        "store_id": 1,
        "created_at": stamp(2025, n * 5),
        "updated_at": stamp(2025, n * 5 + 1),
        "customer_email": format!("customer{n:02}@example.com"),
        "customer_firstname": "Sim",
        "customer_lastname": format!("Customer{n:02}"),
        "customer_is_guest": u32::from(n.is_multiple_of(5)),
        "base_currency_code": "USD",
        "order_currency_code": "USD",
        "subtotal": money(subtotal),
        "shipping_amount": money(shipping),
        "grand_total": money(subtotal + shipping),
        "base_grand_total": money(subtotal + shipping),
        "total_qty_ordered": qty_total,
        "total_item_count": items.len(),
        // The schema's required payment properties; Magento writes the
        // null ones as null (DataObjectProcessor), and the method's title in
        // `additional_information`.
        "payment": {
            "method": "checkmo",
            "account_status": null,
            "cc_last4": null,
            "additional_information": ["Check / Money order"],
        },
        "items": items,
    })
}

fn categories() -> Vec<Category> {
    let c = |id, parent_id, name, is_active, position, level| Category {
        id,
        parent_id,
        name,
        is_active,
        position,
        level,
    };
    vec![
        c(1, 0, "Root Catalog", true, 0, 0),
        c(2, 1, "Default Category", true, 1, 1),
        c(3, 2, "Gear", true, 1, 2),
        c(4, 3, "Bags", true, 1, 3),
        c(5, 3, "Watches", true, 2, 3),
        c(6, 2, "Apparel", true, 2, 2),
        c(7, 6, "Tops", true, 1, 3),
        c(8, 2, "Sale", false, 3, 2),
    ]
}
