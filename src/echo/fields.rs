//! What is compared: the entities the edge writes, the fields both a write
//! and Commerce's event carry, and their values normalised so that the two
//! sides' spellings of one value agree.
//!
//! Commerce's payloads (AdobeDocs/commerce-extensibility
//! `src/pages/events/events-reference.md`, the events ACCS supports):
//! `observer.catalog_product_save_commit_after` (and `_save_after`) carry
//! the product's model data at the top level of `data.value` (`sku`,
//! `name`, `price`, `status`, `visibility`, ..., custom attributes
//! flattened); `observer.cataloginventory_stock_item_save_commit_after` the
//! legacy stock item (`qty`, `is_in_stock`, `product_id`: no `sku`, no
//! `source_code`). Which fields arrive is the subscription's choice, so only
//! fields both sides have are compared. Values: Magento answers decimals as
//! strings (`"500.000000"`), flags as `"1"` or `true`
//! (`src/pages/events/events-original-data.md`), so a numeric field is
//! compared as a number, a text field as its exact text, and a SKU (and a
//! source code) case-folded as Magento's case-insensitive collation folds
//! it (as `routes/inventory` folds them).

use serde_json::{Map, Value};

/// What a write and an event are about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A source item: `(sku, source_code)`.
    Stock = 1,
    /// A product: its `sku`.
    Product = 2,
}

impl Kind {
    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Stock),
            2 => Some(Kind::Product),
            _ => None,
        }
    }

    /// The fields compared, bit `i` of a note's mask for `fields()[i]`.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Kind::Stock => STOCK,
            Kind::Product => PRODUCT,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// Compared as a number: `5`, `5.0000` and `"5"` agree; `true` is 1.
    Num,
    /// Compared as written.
    Text,
}

/// One compared field: the name a write gives it, the names an event may
/// give it (first present wins), its type.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub event: &'static [&'static str],
    pub ty: Type,
}

const fn f(name: &'static str, event: &'static [&'static str], ty: Type) -> Field {
    Field { name, event, ty }
}

/// A source item's written fields; the MSI names, then the legacy stock
/// item's (`qty`, `is_in_stock`).
const STOCK: &[Field] = &[
    f("quantity", &["quantity", "qty"], Type::Num),
    f("status", &["status", "is_in_stock"], Type::Num),
];

/// A product's fields the edge compares (at most 16: a note's mask is two
/// bytes). Any other field a write sets is not compared: with `_origData`,
/// an event changing it is a real change (forwarded).
const PRODUCT: &[Field] = &[
    f("name", &["name"], Type::Text),
    f("price", &["price"], Type::Num),
    f("status", &["status"], Type::Num),
    f("visibility", &["visibility"], Type::Num),
    f("weight", &["weight"], Type::Num),
    f("type_id", &["type_id"], Type::Text),
    f("attribute_set_id", &["attribute_set_id"], Type::Num),
    f("special_price", &["special_price"], Type::Num),
    f("cost", &["cost"], Type::Num),
    f("description", &["description"], Type::Text),
    f("short_description", &["short_description"], Type::Text),
    f("url_key", &["url_key"], Type::Text),
    f("meta_title", &["meta_title"], Type::Text),
    f("meta_keyword", &["meta_keyword"], Type::Text),
    f("meta_description", &["meta_description"], Type::Text),
    f("tax_class_id", &["tax_class_id"], Type::Num),
];

/// Fields Magento itself changes on a save, whatever was written: never a
/// sign of someone else's change in an `_origData` comparison.
const MANAGED: &[&str] = &[
    "updated_at",
    "created_at",
    "_edit_mode",
    "_isNew",
    "_origData",
    "has_options",
    "required_options",
    "quantity_and_stock_status",
    "stock_data",
    "low_stock_date",
    "stock_status_changed_auto",
    "row_id",
    "entity_id",
    "id",
    "item_id",
    "store_id",
];

/// Case folded as Magento's collation compares SKUs and source codes.
pub fn folded(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// The event's kind by its type (`com.adobe.commerce.observer.<name>`).
pub fn kind_of(event_type: &str) -> Option<Kind> {
    match event_type.rsplit('.').next()? {
        "catalog_product_save_commit_after" | "catalog_product_save_after" => Some(Kind::Product),
        "cataloginventory_stock_item_save_commit_after"
        | "cataloginventory_stock_item_save_after" => Some(Kind::Stock),
        _ => None,
    }
}

/// The entity an event's `data.value` is about, as the note names it:
/// `None` without a SKU (the legacy stock item carries only `product_id`).
/// A stock item event without `source_code` is the legacy stock item,
/// which mirrors the `default` source.
pub fn event_entity(kind: Kind, value: &Map<String, Value>) -> Option<Vec<String>> {
    let sku = value.get("sku")?.as_str().filter(|s| !s.is_empty())?;
    Some(match kind {
        Kind::Product => vec![folded(sku)],
        Kind::Stock => {
            let source = value
                .get("source_code")
                .and_then(Value::as_str)
                .unwrap_or("default");
            vec![folded(sku), folded(source)]
        }
    })
}

/// The canonical text of `v` as field type `ty`; `None` when it cannot be
/// one (an object for a number): such a field is not compared.
pub fn canon(ty: Type, v: &Value) -> Option<String> {
    match (ty, v) {
        (_, Value::Null) => Some("null".into()),
        (Type::Num, Value::Bool(b)) => Some(format!("n:{}", u8::from(*b))),
        (Type::Num, Value::Number(n)) => number(n.as_f64()?),
        (Type::Num, Value::String(s)) => number(numeric(s)?),
        (Type::Text, Value::String(s)) => Some(format!("s:{s}")),
        (Type::Text, Value::Number(n)) => Some(format!("s:{n}")),
        _ => None,
    }
}

fn number(f: f64) -> Option<String> {
    // `{}` of an f64 writes 5.0 as `5`: `5`, `5.0000` and `"5"` agree.
    f.is_finite().then(|| format!("n:{}", f + 0.0))
}

/// A decimal as Magento writes one (`"12.5000"`, `"-3"`, `"1e3"`); not
/// `inf` or `NaN`, which Rust's parser would take.
fn numeric(s: &str) -> Option<f64> {
    let t = s.trim();
    let ok = !t.is_empty()
        && t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    ok.then(|| t.parse().ok()).flatten()
}

/// The event's value of `field`: the first of its event names present.
pub fn event_value<'v>(field: &Field, value: &'v Map<String, Value>) -> Option<&'v Value> {
    field.event.iter().find_map(|n| value.get(*n))
}

/// A product's written value of `name`: a top-level member, or a
/// `custom_attributes` entry (the event flattens those to the top level).
pub fn product_value<'p>(product: &'p Map<String, Value>, name: &str) -> Option<&'p Value> {
    product.get(name).or_else(|| {
        product
            .get("custom_attributes")?
            .as_array()?
            .iter()
            .find(|a| a.get("attribute_code").and_then(Value::as_str) == Some(name))?
            .get("value")
    })
}

/// Loose canonical text for comparing one field's old and new value in one
/// payload (`"1"` and `true`, `"3126"` and `3126` agree), objects by
/// member name.
fn loose(v: &Value) -> String {
    match v {
        Value::Bool(b) => format!("n:{}", u8::from(*b)),
        Value::Number(n) => n.as_f64().and_then(number).unwrap_or_else(|| n.to_string()),
        Value::String(s) => numeric(s)
            .and_then(number)
            .unwrap_or_else(|| format!("s:{s}")),
        Value::Null => "null".into(),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(loose).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(o) => {
            let mut parts: Vec<(&String, String)> = o.iter().map(|(k, v)| (k, loose(v))).collect();
            parts.sort();
            let parts: Vec<String> = parts.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
            format!("{{{}}}", parts.join(","))
        }
    }
}

/// With `_origData` (an object: the entity before the save; `[]` for a new
/// one, or absent when the subscription did not ask for it): whether the
/// save changed only fields of `written` (indexes into `kind.fields()`).
/// `None` when there is nothing to compare against.
pub fn changed_only(kind: Kind, value: &Map<String, Value>, written: u16) -> Option<bool> {
    let orig = value.get("_origData")?.as_object()?;
    let fields = kind.fields();
    for (name, new) in value {
        if MANAGED.contains(&name.as_str()) {
            continue;
        }
        let Some(old) = orig.get(name) else { continue };
        if loose(old) == loose(new) {
            continue;
        }
        let ours = fields
            .iter()
            .enumerate()
            .any(|(i, f)| written & (1 << i) != 0 && f.event.contains(&name.as_str()));
        if !ours {
            return Some(false);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_agree_however_spelled_and_text_stays_exact() {
        let n = |v: Value| canon(Type::Num, &v);
        assert_eq!(n(json!(5)), n(json!("5.0000")));
        assert_eq!(n(json!(12.5)), n(json!("12.5")));
        assert_eq!(n(json!(true)), n(json!(1)));
        assert_ne!(n(json!(5)), n(json!(7)));
        assert_eq!(n(json!("inf")), None);
        let t = |v: Value| canon(Type::Text, &v);
        assert_ne!(t(json!("05")), t(json!("5")));
        assert_eq!(t(json!("Tee")), t(json!("Tee")));
    }

    #[test]
    fn kinds_by_event_name() {
        assert_eq!(
            kind_of("com.adobe.commerce.observer.catalog_product_save_commit_after"),
            Some(Kind::Product)
        );
        assert_eq!(
            kind_of("com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after"),
            Some(Kind::Stock)
        );
        assert_eq!(
            kind_of("com.adobe.commerce.observer.sales_order_save_commit_after"),
            None
        );
    }
}
