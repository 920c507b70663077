//! A product as ACCS's input processor reads it, checked before it is sent:
//! `PUT /V1/products/{sku}` takes `product` as `catalog-data-product-interface`
//! (Adobe's ACCS schema, `tests/reference/accs-schema.yaml`), and one field
//! ACCS cannot read fails the whole call. `product_schema.json` is that
//! definition and the ones it reaches, one type code per property, written
//! by `scripts/accs_schema.py` (whose `--check` CI runs).
//!
//! Keys are read as Magento reads them: a key names a property when both
//! turn into the same UpperCamelCase (`SimpleDataObjectConverter::
//! snakeCaseToUpperCamelCase`: `attribute_set_id` and `attributeSetId`
//! alike), and any other key fails the call (2.4.7 and later: `"%fieldName"
//! is not supported. Correct the field name and try again.`; the simulator
//! models it in `crates/accs-sim/src/contract/input.rs`, citing each rule).
//!
//! Values are held to the JSON types the definition writes, which is what
//! `docs/openapi.yaml` states for these bodies (its `accs-*` schemas): an
//! integer, a number, a boolean, a string, an object of the named
//! definition, a list. That is stricter than Magento, whose
//! `TypeProcessor` also reads a numeric string as a number, a number as a
//! string and `null` as "not given": such a value is a caller's slip the
//! edge names rather than forwards. `custom_attributes` values are PHP
//! `mixed` and take anything.
//!
//! Unlike Magento, which stops at the first, every bad field is reported.

use serde_json::{Map, Value};
use std::sync::OnceLock;

/// At most this many refusals are listed; the answer stays small.
pub const MAX_REFUSALS: usize = 50;

const SCHEMA: &str = include_str!("product_schema.json");

/// One field ACCS would refuse: its path in the product and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `colour`, `extension_attributes.category_links[0].rank`.
    pub field: String,
    pub reason: &'static str,
}

fn types() -> &'static Map<String, Value> {
    static TYPES: OnceLock<Map<String, Value>> = OnceLock::new();
    TYPES.get_or_init(|| {
        // `from_slice` into a `Map`, as the routes parse bodies: one copy of
        // the parser in the `.wasm`.
        let doc: Map<String, Value> = serde_json::from_slice(SCHEMA.as_bytes()).unwrap_or_default();
        match doc.get("types") {
            Some(Value::Object(types)) => types.clone(),
            _ => Map::new(),
        }
    })
}

/// Every field of `product` that ACCS would refuse, by field, at most
/// [`MAX_REFUSALS`].
pub fn refusals(product: &Map<String, Value>) -> Vec<Refusal> {
    let mut out = Vec::new();
    object(product, "catalog-data-product-interface", "", &mut out);
    out.truncate(MAX_REFUSALS);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn object(value: &Map<String, Value>, type_name: &str, at: &str, out: &mut Vec<Refusal>) {
    let props = types().get(type_name).and_then(Value::as_object);
    for (key, v) in value {
        if out.len() >= MAX_REFUSALS {
            return;
        }
        let field = join(at, key);
        let wanted = upper_camel(key);
        match props.and_then(|p| p.iter().find(|(name, _)| upper_camel(name) == wanted)) {
            None => out.push(Refusal {
                field,
                reason: "not a field of an ACCS product (catalog-data-product-interface)",
            }),
            Some((_, code)) => check(v, code.as_str().unwrap_or("m"), &field, out),
        }
    }
}

fn check(value: &Value, code: &str, field: &str, out: &mut Vec<Refusal>) {
    let refuse = |reason| Refusal {
        field: field.to_owned(),
        reason,
    };
    if let Some(name) = code.strip_prefix('@') {
        match value {
            Value::Object(map) => object(map, name, field, out),
            _ => out.push(refuse("ACCS takes an object here")),
        }
        return;
    }
    if let Some(item) = code.strip_prefix('[') {
        match value {
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    check(v, item, &format!("{field}[{i}]"), out);
                }
            }
            _ => out.push(refuse("ACCS takes a list here")),
        }
        return;
    }
    let reason = match (code, value) {
        ("m", _) | ("s", Value::String(_)) | ("b", Value::Bool(_)) | ("o", Value::Object(_)) => {
            None
        }
        ("n", Value::Number(_)) => None,
        ("i", Value::Number(n)) if is_integer(n) => None,
        ("i", _) => Some("ACCS takes an integer here"),
        ("n", _) => Some("ACCS takes a number here"),
        ("b", _) => Some("ACCS takes true or false here"),
        ("o", _) => Some("ACCS takes an object here"),
        _ => Some("ACCS takes a string here"),
    };
    if let Some(reason) = reason {
        out.push(refuse(reason));
    }
}

/// A JSON Schema integer: a number with no fractional part (`4` and `4.0`).
fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn join(at: &str, key: &str) -> String {
    let key: String = key.chars().filter(|c| !c.is_control()).take(64).collect();
    if at.is_empty() {
        key
    } else {
        format!("{at}.{key}")
    }
}

/// `str_replace('_', '', ucwords($key, '_'))`; `ucwords` changes ASCII
/// letters only (locale-insensitive since PHP 8.2).
fn upper_camel(key: &str) -> String {
    key.split('_')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| {
                    std::iter::once(f.to_ascii_uppercase())
                        .chain(c)
                        .collect::<String>()
                })
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bad(product: Value) -> Vec<(String, &'static str)> {
        refusals(product.as_object().unwrap())
            .into_iter()
            .map(|r| (r.field, r.reason))
            .collect()
    }

    #[test]
    fn the_embedded_schema_is_the_product_and_what_it_reaches() {
        let product = types()["catalog-data-product-interface"]
            .as_object()
            .unwrap();
        assert_eq!(product["price"], "n");
        assert_eq!(
            product["extension_attributes"],
            "@catalog-data-product-extension-interface"
        );
        assert_eq!(
            types()["catalog-data-product-extension-interface"]["website_ids"],
            "[i"
        );
    }

    #[test]
    fn the_definitions_types_pass() {
        let ok = json!({
            "sku": "A", "name": "x", "price": 12.5, "attributeSetId": 4, "status": 1.0,
            "custom_attributes": [{ "attribute_code": "colour", "value": ["any", 1] }],
            "extension_attributes": {
                "website_ids": [1, 2],
                "category_links": [{ "category_id": "3", "position": 1 }],
                "stock_item": { "qty": 5, "is_in_stock": true },
            },
        });
        assert_eq!(bad(ok), []);
    }

    #[test]
    fn each_field_of_another_name_or_type_is_named() {
        let got = bad(json!({
            "sku": "A",
            "colour": "red",
            "price": "12.5",
            "status": 1.5,
            "weight": null,
            "name": ["x"],
            "visibility": true,
            "custom_attributes": [{ "attribute_code": "c", "value": 1, "label": "x" }],
            "extension_attributes": {
                "stock": 1,
                "website_ids": 1,
                "category_links": [{ "category_id": 3 }, { "rank": 2 }],
                "stock_item": { "is_in_stock": "yes" },
            },
            "media_gallery_entries": "none",
        }));
        let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "colour",
                "custom_attributes[0].label",
                "extension_attributes.category_links[0].category_id",
                "extension_attributes.category_links[1].rank",
                "extension_attributes.stock",
                "extension_attributes.stock_item.is_in_stock",
                "extension_attributes.website_ids",
                "media_gallery_entries",
                "name",
                "price",
                "status",
                "visibility",
                "weight",
            ]
        );
        let reason = |f: &str| got.iter().find(|(g, _)| g == f).unwrap().1;
        assert!(reason("price").contains("number"));
        assert!(reason("status").contains("integer"));
        assert!(reason("colour").contains("not a field"));
        assert!(reason("media_gallery_entries").contains("list"));
    }

    #[test]
    fn the_list_is_bounded() {
        let mut p = Map::new();
        for i in 0..200 {
            p.insert(format!("f{i}"), json!(1));
        }
        assert_eq!(refusals(&p).len(), MAX_REFUSALS);
    }
}
