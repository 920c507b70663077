//! Every response the component tests see is checked against
//! `docs/openapi.yaml`, so the document cannot drift from the code.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(include_str!("../../docs/openapi.yaml"))
            .expect("docs/openapi.yaml is written in YAML's JSON form")
    })
}

/// The documented path template that `path` (no query) falls under.
fn template(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    doc()["paths"].as_object()?.keys().find_map(|t| {
        let ts: Vec<&str> = t.split('/').collect();
        let fits = if t.ends_with("{path}") {
            segments.len() >= ts.len() && ts[..ts.len() - 1] == segments[..ts.len() - 1]
        } else {
            ts.len() == segments.len()
                && ts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
        };
        fits.then_some(t.as_str())
    })
}

fn resolve(v: &'static Value) -> &'static Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let ptr = r.trim_start_matches('#');
            resolve(
                doc()
                    .pointer(ptr)
                    .unwrap_or_else(|| panic!("dangling $ref {r}")),
            )
        }
        None => v,
    }
}

/// Panics with what is wrong when the response is not what the document says.
pub fn check(method: &str, path: &str, status: u16, content_type: &str, body: &[u8]) {
    let path = path.split('?').next().unwrap_or(path);
    let Some(t) = template(path) else {
        // A path the document does not have (a webhook topic that does not
        // exist, say): only a 404 problem may answer it.
        assert_eq!(
            status, 404,
            "{path} is not in docs/openapi.yaml and did not answer 404"
        );
        let ctype = content_type.split(';').next().unwrap_or("").trim();
        assert_eq!(ctype, "application/problem+json", "{path} 404");
        let schema = json!({"$ref": "#/components/schemas/Problem"});
        return validate(format!("{method} unmatched 404"), &schema, body);
    };
    let op = &doc()["paths"][t][method.to_ascii_lowercase()];
    let responses = &op["responses"];
    // A wrong method is answered before any operation exists for it.
    let responses = if op.is_null() {
        assert_eq!(
            status, 405,
            "{method} {t} is not documented and did not answer 405"
        );
        return;
    } else {
        responses
    };
    let class = format!("{}XX", status / 100);
    let response = [status.to_string(), class, "default".into()]
        .iter()
        .find_map(|k| responses.get(k))
        .unwrap_or_else(|| panic!("{method} {t}: status {status} is not documented"));
    let response = resolve(response);
    let ctype = content_type.split(';').next().unwrap_or("").trim();
    let Some(media) = response["content"].get(ctype) else {
        panic!("{method} {t} {status}: content type `{ctype}` is not documented");
    };
    validate(
        format!("{method} {t} {status} {ctype}"),
        &media["schema"],
        body,
    );
}

/// Validates `body` against `schema` (with the document's components),
/// caching the compiled validator under `key`.
fn validate(key: String, schema: &Value, body: &[u8]) {
    let instance: Value =
        serde_json::from_slice(body).unwrap_or_else(|_| panic!("{key}: the body is not JSON"));
    static VALIDATORS: OnceLock<Mutex<HashMap<String, jsonschema::Validator>>> = OnceLock::new();
    // A failed check (a panic) poisons the lock; the cache inside stays sound.
    let mut cache = VALIDATORS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let validator = cache.entry(key.clone()).or_insert_with(|| {
        let mut schema = schema.clone();
        if let Some(obj) = schema.as_object_mut() {
            obj.insert("components".into(), doc()["components"].clone());
        } else {
            schema = json!({"allOf": [schema], "components": doc()["components"]});
        }
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{key}: bad schema: {e}"))
    });
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{key}: the response does not match docs/openapi.yaml: {errors:?}\n{instance}"
    );
}
