//! A product as ACCS's input processor reads it, checked before it is sent:
//! `PUT /V1/products/{sku}` takes `product` as `catalog-data-product-interface`
//! (Adobe's ACCS schema, `tests/reference/accs-schema.yaml`), and one field
//! ACCS cannot read fails the whole call. `product_schema.json` is that
//! definition and the ones it reaches, one type code per property, written
//! by `scripts/accs_schema.py` (whose `--check` CI runs).
//!
//! The rules are Magento's (`Magento\Framework\Webapi\ServiceInputProcessor`
//! and `Magento\Framework\Reflection\TypeProcessor`; the simulator models the
//! same in `crates/accs-sim/src/contract/input.rs`, citing each):
//! - a key names a property when both turn into the same UpperCamelCase
//!   (`SimpleDataObjectConverter::snakeCaseToUpperCamelCase`: `attribute_set_id`
//!   and `attributeSetId` alike); any other key is refused (2.4.7 and later:
//!   `"%fieldName" is not supported. Correct the field name and try again.`);
//! - an integer or number property takes a JSON number or a numeric string
//!   (PHP's `is_numeric`), a string property any scalar, a boolean anything;
//!   a list or an object where a single value belongs is refused, and so is
//!   `true` where a number belongs;
//! - `custom_attributes` values are `mixed` and pass; `null` passes; a
//!   scalar where an object or a list of objects belongs passes, as Magento
//!   reads it as empty.
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
        let prop = props.and_then(|p| p.iter().find(|(name, _)| upper_camel(name) == wanted));
        match prop {
            None => out.push(Refusal {
                field,
                reason: "not a field of an ACCS product (catalog-data-product-interface)",
            }),
            Some((name, _)) if name == "custom_attributes" => {}
            Some((_, code)) => check(v, code.as_str().unwrap_or("s"), &field, out),
        }
    }
}

fn check(value: &Value, code: &str, field: &str, out: &mut Vec<Refusal>) {
    if value.is_null() {
        return;
    }
    if let Some(name) = code.strip_prefix('@') {
        if let Value::Object(map) = value {
            object(map, name, field, out);
        }
        return;
    }
    if let Some(item) = code.strip_prefix('[') {
        match value {
            Value::Array(items) if item.starts_with(['@', '[']) => {
                for (i, v) in items.iter().enumerate() {
                    check(v, item, &format!("{field}[{i}]"), out);
                }
            }
            Value::Array(_) => {}
            _ if item.starts_with('@') => {}
            _ => out.push(Refusal {
                field: field.to_owned(),
                reason: "ACCS takes a list here",
            }),
        }
        return;
    }
    let reason = match (code, value) {
        ("o" | "b", _) => None,
        (_, Value::Array(_) | Value::Object(_)) => {
            Some("ACCS takes a single value here, not a list or object")
        }
        ("i" | "n", Value::Number(_)) => None,
        ("i" | "n", Value::String(s)) if is_numeric(s) => None,
        ("i", _) => Some("ACCS takes an integer here"),
        ("n", _) => Some("ACCS takes a number here"),
        _ => None,
    };
    if let Some(reason) = reason {
        out.push(Refusal {
            field: field.to_owned(),
            reason,
        });
    }
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

/// PHP 8's `is_numeric` on a string.
fn is_numeric(s: &str) -> bool {
    let t = s.trim_matches(|c: char| " \t\n\r\x0b\x0c".contains(c));
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty()) && exponent_ok
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
    fn what_accs_reads_passes() {
        let ok = json!({
            "sku": "A", "name": "x", "price": "12.5", "attributeSetId": 4, "status": 1,
            "weight": null, "visibility": "4", "type_id": 7,
            "custom_attributes": [{ "attribute_code": "colour", "value": ["any", 1] }],
            "extension_attributes": {
                "website_ids": [1, "2"],
                "category_links": [{ "category_id": "3", "position": 1 }],
                "stock_item": { "qty": 5, "is_in_stock": "yes" },
            },
            "media_gallery_entries": "ignored as empty",
        });
        assert_eq!(bad(ok), []);
    }

    #[test]
    fn each_field_accs_would_refuse_is_named() {
        let got = bad(json!({
            "sku": "A",
            "colour": "red",
            "price": "cheap",
            "status": true,
            "name": ["x"],
            "extension_attributes": {
                "stock": 1,
                "website_ids": 1,
                "category_links": [{ "category_id": "3" }, { "rank": 2 }],
            },
        }));
        let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "colour",
                "extension_attributes.category_links[1].rank",
                "extension_attributes.stock",
                "extension_attributes.website_ids",
                "name",
                "price",
                "status",
            ]
        );
        assert!(
            got.iter()
                .any(|(f, r)| f == "price" && r.contains("number"))
        );
        assert!(
            got.iter()
                .any(|(f, r)| f == "status" && r.contains("integer"))
        );
    }

    #[test]
    fn the_list_is_bounded() {
        let mut p = Map::new();
        for i in 0..200 {
            p.insert(format!("f{i}"), json!(1));
        }
        assert_eq!(refusals(&p).len(), MAX_REFUSALS);
    }

    #[test]
    fn is_numeric_is_phps() {
        for yes in ["1", "1.5", " 2", "-3", ".5", "1e3"] {
            assert!(is_numeric(yes), "{yes:?}");
        }
        for no in ["", "test", "1.2.3", "e3", "0x1A", "."] {
            assert!(!is_numeric(no), "{no:?}");
        }
    }
}
