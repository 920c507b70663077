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
//! Values are read as Magento's `ServiceInputProcessor::convertValue` and
//! `Magento\Framework\Reflection\TypeProcessor::processSimpleAndAnyType` /
//! `setType` read them, so the edge never refuses what ACCS takes, and
//! forwards the value as sent (Magento converts it):
//! - `null` is "not given" everywhere;
//! - `int` and `float`: a number (any: `setType` casts `1.5` to `1`) or a
//!   string PHP's `is_numeric` takes (`"12.5"`, `" 4"`, `"1e3"`); `true`,
//!   `"12,5"`, `"cheap"`, a list or an object fail;
//! - `bool`: any scalar (`filter_var($v, FILTER_VALIDATE_BOOLEAN)` never
//!   fails: `"yes"` is true, `"cheap"` false); a list or an object fails;
//! - `string`: any scalar; a list or an object fails;
//! - a data object: an object; a scalar, or `[]`, is read as an empty one
//!   (`_createFromArray`: `is_array($data) ? $data : []`); a non-empty list
//!   is read as the fields `0`, `1`, ..., which it lacks;
//! - a list of data objects: a list, or an object whose values are the items
//!   (a PHP array either way); a scalar is read as `null`;
//! - a list of simple values: a list or an object; `settype` on each item
//!   never fails for `int[]`/`float[]` (`"cheap"` becomes 0), while a list
//!   or object inside a `string[]` raises PHP's "Array to string conversion"
//!   warning, which Magento's error handler turns into a failure; a scalar
//!   for the list fails (`processSimpleAndAnyType`'s last branch);
//! - `custom_attributes` goes through `convertCustomAttributeValue`, which
//!   `foreach`es it: a list or an object; each item an object (stricter than
//!   Magento, which also reads a scalar item under a non-zero key) whose
//!   `value` is PHP `mixed` and takes anything.
//!
//! Unlike Magento, which stops at the first, every bad field is reported, up
//! to [`MAX_REFUSALS`]; the walk stops there, inside lists too.
//!
//! [`shape`] bounds a body before it is parsed: a tree of `serde_json::Value`
//! costs tens of bytes a value and hundreds a non-empty object (a
//! B-tree leaf of 11 slots), so a 16 MiB body of 8 million zeros would cost
//! hundreds of MiB of guest memory before any check ran.

use serde_json::{Map, Value};
use std::sync::OnceLock;

/// At most this many refusals are listed; the answer stays small.
pub const MAX_REFUSALS: usize = 50;

/// The most items a list in a product may hold. Adobe's schema sets no
/// `maxItems`; Magento's web-API input limits (`Magento\Framework\Webapi\
/// Validator\EntityArrayValidator`, on with `webapi/validation/
/// input_limit_enabled`) allow 20 data objects per list by default, a
/// merchant may raise that (`webapi/validation/complex_array_limit`), and
/// lists of simple values (`website_ids`, `configurable_product_links`) have
/// no limit: so a generous bound, as many as a bulk request has products.
pub const MAX_LIST: usize = 10_000;

/// The deepest nesting a body may have. The schema's deepest path, a bulk
/// body's `products[].extension_attributes.bundle_product_options[]
/// .product_links[].extension_attributes`, is 9 levels; the rest is for
/// `custom_attributes` values. (serde_json stops at 128 anyway.)
pub const MAX_DEPTH: usize = 64;

/// The most JSON values (scalars, lists, objects) and non-empty objects a
/// body may hold: 200 values and 25 objects for each of 10,000 products,
/// several times what a real catalogue row needs (the component tests'
/// 16 MiB body has 6 values and 2 objects a product), and a bound on the
/// tree the body becomes: at most about 2 M x 24 B + 250 k x 400 B.
pub const MAX_VALUES: usize = 2_000_000;
pub const MAX_OBJECTS: usize = 250_000;

const SCHEMA: &str = include_str!("product_schema.json");

/// `custom_attributes`, which Magento reads apart (see the module doc).
const CUSTOM_ATTRIBUTES: &str = "[@framework-attribute-interface";

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

/// Why [`shape`] refused a body.
#[derive(Debug, PartialEq, Eq)]
pub enum TooLarge {
    /// The outer list holds more than the caller's cap.
    Outer,
    /// Anything else, said in words.
    Tree(String),
}

/// Why `body` is too large a tree to parse, if it is: a list at depth
/// `outer_at` (1 the body itself, 2 a member of it: a bulk body's
/// `products`) holding more than `outer` items, any other list more than
/// [`MAX_LIST`], nesting over [`MAX_DEPTH`], or over [`MAX_VALUES`] values
/// or [`MAX_OBJECTS`] non-empty objects. One pass over the bytes, memory
/// of [`MAX_DEPTH`] counters; not a JSON check (the parser after it is):
/// it counts what a parser would build.
pub fn shape(body: &[u8], outer_at: usize, outer: usize) -> Result<(), TooLarge> {
    // Per open container: items so far (commas + 1 once a value began) and
    // whether it is a list; `started`: a value began in it.
    let mut stack: [(u32, bool, bool); MAX_DEPTH] = [(0, false, false); MAX_DEPTH];
    let mut depth = 0usize;
    let (mut values, mut objects) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    let mut in_scalar = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        let is_space = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        let delimiter = is_space || matches!(b, b',' | b':' | b']' | b'}' | b'[' | b'{');
        if in_scalar && !delimiter && b != b'"' {
            continue;
        }
        in_scalar = false;
        if is_space {
            continue;
        }
        match b {
            b',' | b':' => {
                if b == b',' && depth > 0 {
                    stack[depth - 1].2 = false;
                }
                continue;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                continue;
            }
            _ => {}
        }
        // A value begins (or an object's key: keys are not counted).
        if depth > 0 {
            let (items, is_list, started) = &mut stack[depth - 1];
            if !*is_list {
                // In an object: a key's string, or the value after `:`.
                // Its first member makes the object non-empty.
                if *items == 0 {
                    *items = 1;
                    objects += 1;
                    if objects > MAX_OBJECTS {
                        return Err(TooLarge::Tree(format!(
                            "the body holds over {MAX_OBJECTS} non-empty objects"
                        )));
                    }
                }
            } else if !*started {
                *started = true;
                *items += 1;
                let cap = if depth == outer_at { outer } else { MAX_LIST };
                if *items as usize > cap {
                    return Err(if depth == outer_at {
                        TooLarge::Outer
                    } else {
                        TooLarge::Tree(format!(
                            "a list holds over {cap} items (the most a list in a product may hold)"
                        ))
                    });
                }
            }
        }
        values += 1;
        if values > MAX_VALUES {
            return Err(TooLarge::Tree(format!(
                "the body holds over {MAX_VALUES} JSON values"
            )));
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                if depth == MAX_DEPTH {
                    return Err(TooLarge::Tree(format!(
                        "the body nests deeper than {MAX_DEPTH} levels"
                    )));
                }
                stack[depth] = (0, b == b'[', false);
                depth += 1;
            }
            _ => in_scalar = true,
        }
    }
    Ok(())
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
            Value::Array(items) if !items.is_empty() => out.push(refuse(
                "ACCS takes an object here (a list is read as the fields `0`, `1`, ...)",
            )),
            // `_createFromArray` reads anything else as an empty object.
            _ => {}
        }
        return;
    }
    if let Some(item) = code.strip_prefix('[') {
        let items: Box<dyn Iterator<Item = (String, &Value)>> = match value {
            Value::Null => return,
            Value::Array(list) if list.len() > MAX_LIST => {
                out.push(refuse("ACCS takes at most 10,000 items in a list here"));
                return;
            }
            Value::Array(list) => Box::new(
                list.iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{field}[{i}]"), v)),
            ),
            Value::Object(map) if map.len() > MAX_LIST => {
                out.push(refuse("ACCS takes at most 10,000 items in a list here"));
                return;
            }
            Value::Object(map) => Box::new(map.iter().map(|(k, v)| (join(field, k), v))),
            // A list of data objects given a scalar: `convertValue` reads `null`.
            _ if item.starts_with('@') && code != CUSTOM_ATTRIBUTES => return,
            _ => {
                out.push(refuse("ACCS takes a list here"));
                return;
            }
        };
        for (at, v) in items {
            if out.len() >= MAX_REFUSALS {
                return;
            }
            if code == CUSTOM_ATTRIBUTES {
                match v {
                    Value::Object(map) => {
                        custom_attribute(map, &at, out);
                        object(map, &item[1..], &at, out);
                    }
                    _ => out.push(Refusal {
                        field: at,
                        reason: "ACCS takes an object `{\"attribute_code\", \"value\"}` here",
                    }),
                }
            } else if item.starts_with('@') {
                check(v, item, &at, out);
            } else if item == "s" && matches!(v, Value::Array(_) | Value::Object(_)) {
                // `settype` casts any scalar; only a PHP array fails.
                out.push(Refusal {
                    field: at,
                    reason: "ACCS takes a string here",
                });
            }
        }
        return;
    }
    let reason = match (code, value) {
        ("m", _) | (_, Value::Null) => None,
        (_, Value::Array(_) | Value::Object(_)) if code != "o" => Some(match code {
            "i" | "n" => "ACCS takes a number (or a numeric string) here",
            "b" => "ACCS takes true or false here",
            _ => "ACCS takes a string here",
        }),
        ("o", Value::Object(_)) => None,
        ("o", _) => Some("ACCS takes an object here"),
        ("i" | "n", Value::Number(_)) => None,
        ("i" | "n", Value::String(s)) if is_numeric(s) => None,
        ("i" | "n", _) => Some("ACCS takes a number (or a numeric string) here"),
        _ => None,
    };
    if let Some(reason) = reason {
        out.push(refuse(reason));
    }
}

/// `ServiceInputProcessor::processCustomAttribute`: an item needs a truthy
/// `attribute_code` (or `attributeCode`) and a `value` key (which may be
/// `null`: `array_key_exists`).
fn custom_attribute(item: &Map<String, Value>, at: &str, out: &mut Vec<Refusal>) {
    let code = item
        .get("attribute_code")
        .or_else(|| item.get("attributeCode"));
    let truthy = match code {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty() && s != "0",
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    };
    if !truthy {
        out.push(Refusal {
            field: join(at, "attribute_code"),
            reason: "ACCS takes a custom attribute only with its `attribute_code`",
        });
    } else if !item.contains_key("value") {
        out.push(Refusal {
            field: join(at, "value"),
            reason: "ACCS takes a custom attribute only with a `value` (null is one)",
        });
    }
}

/// PHP 8's `is_numeric` for a string: optional leading and trailing
/// whitespace (` \t\n\r\v\f`), a sign, digits with at most one `.` (at least
/// one digit), an optional exponent. No hex, no `_`, no `INF`/`NAN`.
pub fn is_numeric(s: &str) -> bool {
    let t = s.trim_matches(|c: char| " \t\n\r\x0b\x0c".contains(c));
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
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

    /// What `TypeProcessor::setType` and `_createFromArray` read, forwarded
    /// as sent (see the module doc).
    #[test]
    fn what_magento_converts_passes() {
        let ok = json!({
            "sku": "A", "price": "12.5", "weight": " 2 ", "status": 1.5, "visibility": "4",
            "attribute_set_id": "1e1", "name": 12, "type_id": true, "created_at": null,
            "media_gallery_entries": "none", "tier_prices": {"a": {"qty": "2", "value": 3}},
            "product_links": [null, 7],
            "extension_attributes": {
                "website_ids": ["1", "cheap", 2.5, [1]],
                "configurable_product_links": {"x": 1},
                "category_links": [{ "category_id": 3, "position": "1" }],
                "stock_item": { "is_in_stock": "yes", "manage_stock": 0, "qty": "-1.5e2" },
                "giftcard_amounts": [],
            },
            "options": [{ "title": "t", "values": [{ "price": ".5" }] }],
        });
        assert_eq!(bad(ok), []);
        assert_eq!(bad(json!({"extension_attributes": 5})), []);
        assert_eq!(bad(json!({"extension_attributes": []})), []);
    }

    #[test]
    fn each_field_of_another_name_or_type_is_named() {
        let got = bad(json!({
            "sku": "A",
            "colour": "red",
            "price": "12,5",
            "weight": "cheap",
            "status": {},
            "visibility": true,
            "attribute_set_id": [],
            "name": ["x"],
            "type_id": {},
            "custom_attributes": [
                { "attribute_code": "c", "value": 1, "label": "x" },
                "red",
                { "value": 1 },
                { "attribute_code": "d" },
            ],
            "extension_attributes": {
                "stock": 1,
                "website_ids": 1,
                "category_links": [{ "category_id": [3] }, { "rank": 2 }],
                "stock_item": { "is_in_stock": [], "qty": "0x1A" },
            },
            "media_gallery_entries": [{ "types": ["image", {}], "content": [1] }],
            "options": [[1]],
        }));
        let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "attribute_set_id",
                "colour",
                "custom_attributes[0].label",
                "custom_attributes[1]",
                "custom_attributes[2].attribute_code",
                "custom_attributes[3].value",
                "extension_attributes.category_links[0].category_id",
                "extension_attributes.category_links[1].rank",
                "extension_attributes.stock",
                "extension_attributes.stock_item.is_in_stock",
                "extension_attributes.stock_item.qty",
                "extension_attributes.website_ids",
                "media_gallery_entries[0].content",
                "media_gallery_entries[0].types[1]",
                "name",
                "options[0]",
                "price",
                "status",
                "type_id",
                "visibility",
                "weight",
            ]
        );
        let reason = |f: &str| got.iter().find(|(g, _)| g == f).unwrap().1;
        assert!(reason("price").contains("number"));
        assert!(reason("status").contains("number"));
        assert!(reason("colour").contains("not a field"));
        assert!(reason("name").contains("string"));
        assert!(reason("extension_attributes.website_ids").contains("list"));
        assert!(reason("extension_attributes.stock_item.is_in_stock").contains("true or false"));
    }

    #[test]
    fn is_numeric_is_phps() {
        for yes in [
            "1", "1.5", " 2", "2 ", "-3", "+4", ".5", "5.", "1e3", "1E-3", "\t7\n",
        ] {
            assert!(is_numeric(yes), "{yes:?}");
        }
        for no in [
            "", " ", "12,5", "cheap", "1.2.3", "e3", "1e", "0x1A", ".", "1_000", "INF",
        ] {
            assert!(!is_numeric(no), "{no:?}");
        }
    }

    #[test]
    fn the_list_is_bounded() {
        let mut p = Map::new();
        for i in 0..200 {
            p.insert(format!("f{i}"), json!(1));
        }
        assert_eq!(refusals(&p).len(), MAX_REFUSALS);
        // Inside a list too: the walk stops at the cap, not at the end.
        let many: Vec<Value> = (0..MAX_LIST).map(|_| json!({"x": 1})).collect();
        let got = refusals(json!({ "tier_prices": many }).as_object().unwrap());
        assert_eq!(got.len(), MAX_REFUSALS);
        assert_eq!(got[0].field, "tier_prices[0].x");
    }

    #[test]
    fn a_list_over_its_cap_is_one_refusal() {
        let ids = vec![json!(1); MAX_LIST + 1];
        let got = bad(json!({ "extension_attributes": { "website_ids": ids } }));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "extension_attributes.website_ids");
        assert!(got[0].1.contains("at most 10,000"));
    }

    fn why(r: Result<(), TooLarge>) -> String {
        match r {
            Err(TooLarge::Tree(why)) => why,
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn shape_bounds_lists_depth_and_counts_before_parsing() {
        let zeros = |n: usize| vec!["0"; n].join(",");
        let body = format!(
            r#"{{"products":[{{"sku":"a","media_gallery_entries":[{}]}}]}}"#,
            zeros(MAX_LIST)
        );
        assert_eq!(shape(body.as_bytes(), 2, 10), Ok(()));
        let body = format!(
            r#"{{"products":[{{"sku":"a","media_gallery_entries":[{}]}}]}}"#,
            zeros(MAX_LIST + 1)
        );
        assert!(why(shape(body.as_bytes(), 2, 10)).contains("10000 items"));
        // The outer list has its own cap; strings hide their brackets.
        let body = r#"{"products":[{"sku":"[,[,"},{"sku":"b\"]"},{}]}"#;
        assert_eq!(shape(body.as_bytes(), 2, 3), Ok(()));
        assert_eq!(shape(body.as_bytes(), 2, 2), Err(TooLarge::Outer));
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert!(why(shape(deep.as_bytes(), 2, 10)).contains("deeper"));
        assert_eq!(shape("[".repeat(MAX_DEPTH).as_bytes(), 2, 10), Ok(()));
        // Totals, over lists each within its cap.
        let ten_k = |item: &str| vec![item; MAX_LIST].join(",");
        let product = format!(r#"{{"custom_attributes":[{}]}}"#, ten_k(r#"{"a":0}"#));
        let n = MAX_OBJECTS / MAX_LIST + 1;
        let body = format!(
            r#"{{"products":[{}]}}"#,
            vec![product.as_str(); n].join(",")
        );
        assert!(why(shape(body.as_bytes(), 2, n)).contains("non-empty objects"));
        // Empty objects allocate nothing: not counted as objects.
        let product = format!(r#"{{"custom_attributes":[{}]}}"#, ten_k("{}"));
        let body = format!(
            r#"{{"products":[{}]}}"#,
            vec![product.as_str(); n].join(",")
        );
        assert_eq!(shape(body.as_bytes(), 2, n), Ok(()));
        let list = format!("[{}]", ten_k("0"));
        let n = MAX_VALUES / MAX_LIST + 1;
        let body = format!("[{}]", vec![list.as_str(); n].join(","));
        assert!(why(shape(body.as_bytes(), 1, n)).contains("JSON values"));
    }
}
