//! JSON Schema checks against the vendored ACCS schema: of what the simulator
//! answers, and of request bodies (what the component sent). Swagger 2.0
//! schemas are JSON Schema draft 4 with `#/definitions/` references.
//!
//! Every object is closed (`additionalProperties: false`): Magento reads a
//! request object through the interface's setters and refuses any other key
//! ([`super::input`]), and writes a response object through the interface's
//! getters only (`Magento\Framework\Reflection\DataObjectProcessor::
//! buildOutputDataArray`), so a key the schema does not list is a drift.
//!
//! Three places where the schema does not say what Magento does, each widened
//! only as far as Magento's source shows:
//! - in a response, a `required` property may be `null`: the generator marks
//!   a property required when its getter is not declared nullable, and
//!   `DataObjectProcessor::buildOutputDataArray` skips a null value only
//!   when the getter is not required (`if ($value === null &&
//!   !$methodReflectionData['isRequired']) continue;`), so a required one
//!   that is null is written as `null`. For the bulk operations this is what
//!   AdobeDocs' `operation-status-endpoints.md` shows: `"error_code": null`
//!   for a complete operation and `"result_serialized_data": null` for a
//!   failed one, both required in `asynchronous-operations-data-operation-interface`
//!   (`error_code` also in `...-summary-operation-status-interface`);
//! - `error-parameters`: the schema's "array of {resources, fieldName,
//!   fieldValue}" is the fixed text of `Magento\Webapi\Model\Rest\Swagger\
//!   Generator::getDefinitions` ("Todo: create interface for error response"),
//!   while `Magento\Framework\Webapi\ErrorProcessor::maskException` passes the
//!   exception's own parameters through: an object for `%name` placeholders
//!   (`{"resources": "Magento_Catalog::products"}`), a list of strings for `%1`;
//! - `framework-attribute-interface.value` (`custom_attributes`): PHP `mixed`
//!   (`Magento\Framework\Api\AttributeInterface::getValue`), which the
//!   generator writes as `string` (`$simpleTypeList`: `TypeProcessor::ANY_TYPE
//!   => 'string'`); Magento's own `category_ids` value is a list.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};

use super::schema::{body_schema, doc, operation};

/// Why the simulator's answer `body` with `status` to `method path` (the
/// schema's path, e.g. `/V1/categories/{categoryId}`) is not what the schema
/// says, if it is not. A success of an operation that documents none (a
/// `void` service method) must be `[]`: `Magento\Framework\Webapi\
/// ServiceOutputProcessor::convertValue` answers `[]` for `null`.
pub fn check_response(method: &str, path: &str, status: u16, body: &[u8]) -> Result<(), String> {
    let op =
        operation(method, path).ok_or_else(|| format!("{method} {path} is not in the schema"))?;
    let responses = &op["responses"];
    let instance: Value = serde_json::from_slice(body)
        .map_err(|_| format!("{method} {path} {status}: the body is not JSON"))?;
    let key = status.to_string();
    let schema = match responses.get(&key) {
        Some(r) => &r["schema"],
        None if (200..300).contains(&status) => {
            let documented = responses
                .as_object()
                .is_some_and(|r| r.keys().any(|k| k.starts_with('2')));
            if documented {
                return Err(format!(
                    "{method} {path}: status {status} is not documented"
                ));
            }
            return if instance == json!([]) {
                Ok(())
            } else {
                Err(format!(
                    "{method} {path} {status}: a void operation answers [], not {instance}"
                ))
            };
        }
        None => &responses["default"]["schema"],
    };
    validate(&format!("{method} {path} {key}"), schema, &instance)
}

/// Why `body` is not what the schema says `method path` takes, if it is not.
pub fn check_request_body(method: &str, path: &str, body: &[u8]) -> Result<(), String> {
    let op =
        operation(method, path).ok_or_else(|| format!("{method} {path} is not in the schema"))?;
    let schema =
        body_schema(op).ok_or_else(|| format!("{method} {path} takes no body in the schema"))?;
    let instance: Value = serde_json::from_slice(body)
        .map_err(|_| format!("{method} {path}: the request body is not JSON"))?;
    validate(&format!("{method} {path} request"), schema, &instance)
}

fn validate(key: &str, schema: &Value, instance: &Value) -> Result<(), String> {
    let validator = validator(key, schema);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at `{}`", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{key}: not what Adobe's ACCS schema says: {errors:?}"
        ))
    }
}

fn validator(key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(key.to_owned())
        .or_insert_with(|| {
            let response = !key.ends_with(" request");
            let mut root = json!({
                "allOf": [closed(schema, response)],
                "definitions": definitions(response),
            });
            root["definitions"]["error-parameters"] = json!({
                "anyOf": [
                    { "type": "array", "items": { "anyOf": [
                        { "type": "string" },
                        { "$ref": "#/definitions/error-parameters-item" },
                    ] } },
                    { "type": "object", "additionalProperties": { "type": "string" } },
                ],
            });
            root["definitions"]["framework-attribute-interface"]["properties"]["value"] = json!({});
            let v = jsonschema::draft4::new(&root)
                .unwrap_or_else(|e| panic!("{key}: the schema does not compile: {e}"));
            Arc::new(v)
        })
        .clone()
}

fn definitions(response: bool) -> &'static Value {
    static REQUEST: OnceLock<Value> = OnceLock::new();
    static RESPONSE: OnceLock<Value> = OnceLock::new();
    let cell = if response { &RESPONSE } else { &REQUEST };
    cell.get_or_init(|| {
        let defs = doc()["definitions"].as_object().expect("definitions");
        Value::Object(
            defs.iter()
                .map(|(name, d)| (name.clone(), closed(d, response)))
                .collect(),
        )
    })
}

/// `schema` with `additionalProperties: false` on every object schema and,
/// for a response, `null` allowed for each required property.
fn closed(schema: &Value, response: bool) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), closed(v, response)))
                .collect();
            if map.get("type").and_then(Value::as_str) == Some("object") {
                out.entry("additionalProperties").or_insert(false.into());
                let required = map.get("required").and_then(Value::as_array);
                if let (true, Some(required), Some(Value::Object(props))) =
                    (response, required, out.get_mut("properties"))
                {
                    for name in required.iter().filter_map(Value::as_str) {
                        match props.get_mut(name) {
                            // As a type list, so errors inside stay precise.
                            Some(Value::Object(p))
                                if p.get("type").is_some_and(Value::is_string) =>
                            {
                                let t = p["type"].take();
                                p.insert("type".into(), json!([t, "null"]));
                            }
                            Some(p) => *p = json!({ "anyOf": [{ "type": "null" }, p.take()] }),
                            None => {}
                        }
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| closed(v, response)).collect()),
        other => other.clone(),
    }
}
