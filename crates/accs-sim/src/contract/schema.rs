//! The vendored schema, parsed once, and its operations.

use std::sync::OnceLock;

use serde_json::Value;

const JSON: &str = include_str!("../../../../tests/reference/accs-schema.json");

pub(super) fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(JSON).expect("tests/reference/accs-schema.json is JSON")
    })
}

/// The operation object of `method` (any case) on the schema's `path`.
pub(super) fn operation(method: &str, path: &str) -> Option<&'static Value> {
    doc()["paths"]
        .get(path)?
        .get(method.to_ascii_lowercase())
        .filter(|op| op.is_object())
}

/// `#/definitions/NAME` resolved, or `schema` itself.
pub(super) fn resolve(schema: &'static Value) -> &'static Value {
    match schema["$ref"].as_str() {
        Some(r) => r
            .strip_prefix("#/definitions/")
            .and_then(|name| doc()["definitions"].get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

/// The schema of the operation's `in: body` parameter.
pub(super) fn body_schema(op: &'static Value) -> Option<&'static Value> {
    op["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["in"] == "body")
        .map(|p| &p["schema"])
}
