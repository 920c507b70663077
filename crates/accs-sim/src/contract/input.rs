//! Magento's web-API input processing, as ACCS applies it to a request on a
//! modelled endpoint before the service runs (after the ACL check:
//! `Magento\Webapi\Controller\Rest\InputParamsResolver::resolve` validates
//! the request, then hands the body and the path's and query's simple
//! parameters to `Magento\Framework\Webapi\ServiceInputProcessor::process`).
//!
//! What is modelled, each from Magento's source or its own tests:
//! - a data object's key is turned into a property name
//!   (`SimpleDataObjectConverter::snakeCaseToUpperCamelCase`: `city.` ->
//!   `City.`, `attribute_set_id` and `attributeSetId` -> `AttributeSetId`);
//!   one the interface has no getter for is refused, since 2.4.7, with the
//!   `InputException` `"%fieldName" is not supported. Correct the field name
//!   and try again.` and `parameters: {"fieldName": <property>}`
//!   (`ServiceInputProcessorTest::testValidateApiPayload` expects `"City." is
//!   not supported...` for the key `city.`; AdobeDocs commerce-webapi, the
//!   web API extension guide, quotes the message per version);
//! - a simple value is converted as `TypeProcessor::processSimpleAndAnyType`
//!   and `setType` do: `null` passes; a list or an object (a PHP array) for
//!   a simple type fails with the value shown as `array`; `int` and `float`
//!   need PHP's `is_numeric` (so `""`, `"test"` and `true` fail); `bool`
//!   takes anything (`filter_var`); `string` takes any scalar; a list
//!   (`convertValue`'s `is_array`) may be a JSON object, its values the
//!   items. A failure
//!   inside a data object is wrapped once per object around it, `Error
//!   occurred during "%field_name" processing. %details`, and answered as one
//!   plain message (`process` turns the `SerializationException` into a
//!   `WebapiException` of its text). InventoryApi's web-API
//!   `SourceItemsSave\ValidationTest::failedValidationRelatedOnlyForRestDataProvider`
//!   expects exactly `Error occurred during "quantity" processing. The ""
//!   value's type is invalid. The "float" type was expected. Verify and try
//!   again.` (and `"test"`; `[]` for `source_code`: `The "array" value's type
//!   is invalid. The "string" type was expected.`);
//! - a method parameter that is missing is `"%fieldName" is required. Enter
//!   and try again.` (`processInputError`, `InputException::REQUIRED_FIELD`);
//! - the schema's Swagger types are the PHP ones of `Magento\Webapi\Model\
//!   Rest\Swagger\Generator::$simpleTypeList` read backwards (`integer` int,
//!   `number` float, `boolean` bool).
//!
//! Not modelled (Magento's behaviour there is not established here, so
//! nothing is built on it): keys of the body beside the method's parameters
//! (`process` reads only the parameters; ignored here too), the checks inside
//! `custom_attributes` items (their values are `mixed`, passed as they are),
//! a scalar where a data object is expected (`_createFromArray` reads it as
//! an empty object; passed), and the `searchCriteria[...]` query keys, which
//! the search handlers parse themselves.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use url::form_urlencoded;

use super::schema::{body_schema, operation, resolve};
use crate::magento;

/// Refuses the request as Magento's input processor would, or lets it by.
/// `rest` is the raw path after the tenant (`/V1/...`), `schema_path` the
/// schema's template for it.
pub(crate) fn check(
    method: &str,
    schema_path: &str,
    rest: &str,
    query: Option<&str>,
    body: &[u8],
) -> magento::Result<()> {
    let Some(op) = operation(method, schema_path) else {
        return Ok(());
    };
    let params = op["parameters"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let path_values = path_values(schema_path, rest);
    let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    for p in params {
        let name = p["name"].as_str().unwrap_or("");
        let given = match p["in"].as_str() {
            Some("path") => path_values.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            Some("query") if !name.contains('[') => {
                query.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }
            _ => None,
        };
        if let Some(value) = given {
            simple(&Value::String(value.clone()), type_of(p)).map_err(plain)?;
        }
    }
    match body_schema(op) {
        Some(schema) if !body.is_empty() => {
            let Ok(doc) = serde_json::from_slice::<Value>(body) else {
                return Err(magento::decoding_error());
            };
            method_params(schema, &doc)
        }
        _ => Ok(()),
    }
}

/// The body's top level: one key per method parameter, camelCase or
/// snake_case (`process`), each converted; missing required ones listed.
fn method_params(schema: &'static Value, doc: &Value) -> magento::Result<()> {
    let Some(props) = schema["properties"].as_object() else {
        return Ok(());
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut missing = Vec::new();
    for (name, prop) in props {
        let snake = snake_case(name);
        let value = doc
            .get(name)
            .or_else(|| doc.get(&snake))
            .filter(|v| !v.is_null());
        match value {
            Some(v) => convert(v, prop)?,
            None if required.contains(&name.as_str()) => missing.push(name.as_str()),
            None => {}
        }
    }
    match missing.first() {
        Some(name) => Err(magento::required_field(name)),
        None => Ok(()),
    }
}

/// Why a value failed, before it is answered.
enum Failure {
    /// A `SerializationException`'s text, wrapped by each object around it.
    Serialization(String),
    /// An `InputException`, answered as it is.
    Input(magento::Error),
}

impl From<Failure> for magento::Error {
    fn from(f: Failure) -> magento::Error {
        match f {
            Failure::Serialization(text) => plain(text),
            Failure::Input(e) => e,
        }
    }
}

fn plain(text: String) -> magento::Error {
    magento::Error::with_body(StatusCode::BAD_REQUEST, json!({ "message": text }))
}

fn convert(value: &Value, schema: &'static Value) -> Result<(), Failure> {
    let schema = resolve(schema);
    match schema["type"].as_str() {
        Some("object") => object(value, schema),
        Some("array") => array(value, schema),
        _ => simple(value, type_of(schema)).map_err(Failure::Serialization),
    }
}

fn object(value: &Value, schema: &'static Value) -> Result<(), Failure> {
    let entries: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        // `_createFromArray`: not an array, read as an empty object.
        _ => return Ok(()),
    };
    let props = schema["properties"].as_object();
    for (key, v) in entries {
        let property = upper_camel(&key);
        let prop = props.and_then(|p| p.iter().find(|(name, _)| upper_camel(name) == property));
        let Some((name, prop)) = prop else {
            return Err(Failure::Input(magento::error(
                StatusCode::BAD_REQUEST,
                "\"%fieldName\" is not supported. Correct the field name and try again.",
                json!({ "fieldName": property }),
            )));
        };
        if name == "custom_attributes" {
            continue;
        }
        convert(v, prop).map_err(|f| match f {
            Failure::Serialization(details) => Failure::Serialization(format!(
                "Error occurred during \"{key}\" processing. {details}"
            )),
            input => input,
        })?;
    }
    Ok(())
}

fn array(value: &Value, schema: &'static Value) -> Result<(), Failure> {
    let items = resolve(&schema["items"]);
    let simple_items = !matches!(items["type"].as_str(), Some("object" | "array"));
    match value {
        Value::Null => Ok(()),
        // `settype` on each element of a list of simple values does not fail;
        // a JSON object is a PHP array too (`is_array`), its values the items.
        Value::Array(_) | Value::Object(_) if simple_items => Ok(()),
        Value::Array(list) => list.iter().try_for_each(|v| convert(v, items)),
        Value::Object(map) => map.values().try_for_each(|v| convert(v, items)),
        // A complex list given something else: `convertValue` makes it null.
        _ if !simple_items => Ok(()),
        other => Err(Failure::Serialization(invalid(
            php_type_name(other),
            &format!("{}[]", type_of(items)),
        ))),
    }
}

/// The PHP type Magento converts to, from the Swagger type.
fn type_of(schema: &Value) -> &'static str {
    match schema["type"].as_str() {
        Some("integer") => "int",
        Some("number") => "float",
        Some("boolean") => "bool",
        _ => "string",
    }
}

fn simple(value: &Value, php: &str) -> Result<(), String> {
    let ok = match value {
        Value::Null => true,
        Value::Array(_) | Value::Object(_) => {
            return Err(invalid("array", php));
        }
        _ if php == "bool" => true,
        Value::Number(_) => true,
        Value::String(s) => php == "string" || is_numeric(s),
        Value::Bool(_) => php == "string",
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(&php_string(value), php))
    }
}

fn invalid(shown: &str, php: &str) -> String {
    format!(
        "The \"{shown}\" value's type is invalid. The \"{php}\" type was expected. Verify and try again."
    )
}

/// `(string)$value` of a scalar.
fn php_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) | Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `gettype($value)` of a scalar.
fn php_type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "double",
        Value::Number(_) => "integer",
        Value::Null => "NULL",
        Value::Array(_) | Value::Object(_) => "array",
    }
}

/// PHP 8's `is_numeric` for a string: optional surrounding whitespace, a
/// sign, digits with at most one `.` (at least one digit), an exponent.
fn is_numeric(s: &str) -> bool {
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

/// The product `fields` of a `PUT /V1/products/{sku}` (or a bulk element)
/// as Magento holds them once its input processor converted them, which is
/// what a save stores and a read answers: each simple value `settype`d
/// (`TypeProcessor::setType`: `"12.5"` for a `float` is 12.5, for an `int`
/// 12; `bool` by `filter_var`; `string` from any scalar), `null` left out
/// (not given), a scalar for a data object an empty one, a JSON object for a
/// list its values. Call it on a body [`check`] passed.
pub(crate) fn converted_product(fields: &Map<String, Value>) -> Map<String, Value> {
    let product = operation("put", "/V1/products/{sku}")
        .and_then(body_schema)
        .map(|schema| &schema["properties"]["product"]);
    match product {
        Some(p) => converted_fields(&Value::Object(fields.clone()), resolve(p)),
        None => fields.clone(),
    }
}

/// The given fields of a data object, each converted; a scalar is read as
/// an empty object (`_createFromArray`).
fn converted_fields(value: &Value, schema: &'static Value) -> Map<String, Value> {
    let Value::Object(map) = value else {
        return Map::new();
    };
    let props = schema["properties"].as_object();
    let mut out = Map::new();
    for (key, v) in map {
        // A `null` is not given: a read does not write it back
        // (`DataObjectProcessor` skips a null optional getter).
        if v.is_null() {
            continue;
        }
        let property = upper_camel(key);
        let prop = props.and_then(|p| p.iter().find(|(name, _)| upper_camel(name) == property));
        let v = match prop {
            Some((name, _)) if name == "custom_attributes" => custom_attributes(v),
            Some((_, prop)) => converted(v, prop),
            None => v.clone(),
        };
        // A list of data objects given a scalar is read as `null`.
        if !v.is_null() {
            out.insert(key.clone(), v);
        }
    }
    out
}

fn converted(value: &Value, schema: &'static Value) -> Value {
    let schema = resolve(schema);
    match schema["type"].as_str() {
        Some("object") => {
            let mut out = converted_fields(value, schema);
            // A read writes a required getter's `null` as `null`
            // (`DataObjectProcessor::buildOutputDataArray`, see judge.rs):
            // an empty data object comes back with those keys.
            let required = schema["required"].as_array().into_iter().flatten();
            for name in required.filter_map(Value::as_str) {
                if !out.keys().any(|k| upper_camel(k) == upper_camel(name)) {
                    out.insert(name.to_owned(), Value::Null);
                }
            }
            Value::Object(out)
        }
        Some("array") => {
            let items = &schema["items"];
            match value {
                Value::Array(list) => list.iter().map(|v| converted(v, items)).collect(),
                Value::Object(map) => map.values().map(|v| converted(v, items)).collect(),
                _ => Value::Null,
            }
        }
        _ => settype(value, type_of(schema)),
    }
}

/// `convertCustomAttributeValue`: an object's entries are items too, a
/// scalar one `{"attribute_code": <key>, "value": <it>}`.
/// The attribute code is an array key: a string (`true` is `"1"`).
fn custom_attributes(value: &Value) -> Value {
    let item = |k: &str, v: &Value| match v {
        Value::Object(item) => {
            let mut item = item.clone();
            for key in ["attribute_code", "attributeCode"] {
                if let Some(code) = item.get_mut(key)
                    && !matches!(code, Value::Array(_) | Value::Object(_))
                {
                    *code = Value::String(php_string(code));
                }
            }
            Value::Object(item)
        }
        _ => json!({ "attribute_code": k, "value": v }),
    };
    match value {
        Value::Object(map) => map.iter().map(|(k, v)| item(k, v)).collect(),
        Value::Array(list) => list.iter().map(|v| item("", v)).collect(),
        other => other.clone(),
    }
}

/// `settype` of a simple value (a scalar that passed [`simple`], or any
/// item of a list of simple values): PHP's casts, a non-numeric string to 0.
fn settype(value: &Value, php: &str) -> Value {
    let number = |v: &Value| -> f64 {
        let f = match v {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(s) if is_numeric(s) => s
                .trim_matches(|c: char| " \t\n\r\x0b\x0c".contains(c))
                .parse::<f64>()
                .unwrap_or(0.0),
            Value::Bool(true) => 1.0,
            Value::Array(a) => f64::from(u8::from(!a.is_empty())),
            Value::Object(o) => f64::from(u8::from(!o.is_empty())),
            _ => 0.0,
        };
        if f.is_finite() { f } else { 0.0 }
    };
    match (php, value) {
        ("int", Value::Number(n)) if n.is_i64() || n.is_u64() => value.clone(),
        ("int", v) => json!(number(v).trunc() as i64),
        ("float", Value::Number(_)) => value.clone(),
        ("float", v) => json!(number(v)),
        ("bool", Value::Bool(_)) => value.clone(),
        ("bool", v) => {
            let text = match v {
                Value::Array(a) => if a.is_empty() { "" } else { "1" }.to_owned(),
                Value::Object(o) => if o.is_empty() { "" } else { "1" }.to_owned(),
                v => php_string(v).trim().to_ascii_lowercase(),
            };
            Value::Bool(matches!(text.as_str(), "1" | "true" | "on" | "yes"))
        }
        (_, Value::String(_)) => value.clone(),
        (_, Value::Array(_) | Value::Object(_)) => Value::String("Array".into()),
        (_, v) => Value::String(php_string(v)),
    }
}

/// `SimpleDataObjectConverter::snakeCaseToUpperCamelCase`:
/// `str_replace('_', '', ucwords($input, '_'))`; `ucwords` changes ASCII
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

/// The snake_case form `process` also accepts for a parameter name.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The decoded segments of `rest` under the template's `{name}` segments.
fn path_values(template: &str, rest: &str) -> Vec<(String, String)> {
    let segments: Vec<&str> = rest.split('/').collect();
    template
        .split('/')
        .zip(segments)
        .filter_map(|(t, s)| {
            let name = t.strip_prefix('{')?.strip_suffix('}')?;
            let value = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
            Some((name.to_owned(), value.into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_numeric_is_phps() {
        for yes in [
            "1", "1.5", " 2", "2 ", "-3", "+4", ".5", "5.", "1e3", "1E-3",
        ] {
            assert!(is_numeric(yes), "{yes:?}");
        }
        for no in ["", " ", "test", "1.2.3", "e3", "1e", "0x1A", "."] {
            assert!(!is_numeric(no), "{no:?}");
        }
    }

    #[test]
    fn a_product_is_held_as_magento_converted_it() {
        let given = json!({
            "sku": "A", "price": "12.5", "status": "1", "visibility": 2.7, "weight": null,
            "name": 12, "tier_prices": {"x": {"qty": "2", "value": "3.5"}}, "options": "x",
            "extension_attributes": {"stock_item": {"is_in_stock": "yes", "manage_stock": "0"}, "website_ids": ["cheap", null, "2", [1]]},
            "custom_attributes": {"c": "1"},
        });
        let got = Value::Object(converted_product(given.as_object().unwrap()));
        for (path, want) in [
            ("/price", json!(12.5)),
            ("/status", json!(1)),
            ("/visibility", json!(2)),
            ("/name", json!("12")),
            ("/tier_prices/0/qty", json!(2.0)),
            ("/tier_prices/0/value", json!(3.5)),
            // Required, not given: a read writes it as null.
            ("/tier_prices/0/customer_group_id", Value::Null),
            ("/extension_attributes/stock_item/is_in_stock", json!(true)),
            (
                "/extension_attributes/stock_item/manage_stock",
                json!(false),
            ),
            ("/extension_attributes/website_ids", json!([0, 0, 2, 1])),
            (
                "/custom_attributes",
                json!([{"attribute_code": "c", "value": "1"}]),
            ),
        ] {
            assert_eq!(got.pointer(path), Some(&want), "{path}: {got}");
        }
        for absent in ["weight", "options"] {
            assert!(got.get(absent).is_none(), "{absent}: {got}");
        }
    }

    #[test]
    fn property_names_are_magentos() {
        assert_eq!(upper_camel("city."), "City.");
        assert_eq!(upper_camel("attribute_set_id"), "AttributeSetId");
        assert_eq!(upper_camel("attributeSetId"), "AttributeSetId");
        assert_eq!(snake_case("sourceItems"), "source_items");
    }
}
