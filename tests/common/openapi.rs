//! Every response the component tests see is checked against
//! `docs/openapi.yaml`, so the document cannot drift from the code.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// `docs/openapi.yaml`, parsed.
pub fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(include_str!("../../docs/openapi.yaml"))
            .expect("docs/openapi.yaml is written in YAML's JSON form")
    })
}

/// The documented path templates that `path` (no query) falls under. More
/// than one when a literal path overlaps a templated one
/// (`/v1/products/bulk` and `/v1/products/{sku}`).
fn templates(path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let Some(paths) = doc()["paths"].as_object() else {
        return Vec::new();
    };
    paths
        .keys()
        .filter(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            if t.ends_with("{path}") {
                segments.len() >= ts.len() && ts[..ts.len() - 1] == segments[..ts.len() - 1]
            } else {
                ts.len() == segments.len()
                    && ts
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t.starts_with('{') || t == s)
            }
        })
        .map(String::as_str)
        .collect()
}

/// The template that documents `method` on `path`, else the first that
/// `path` falls under (a 405 then lists the methods of them all).
fn template(method: &str, path: &str) -> Option<&'static str> {
    let fits = templates(path);
    let m = method.to_ascii_lowercase();
    fits.iter()
        .copied()
        .find(|t| doc()["paths"][*t].get(&m).is_some())
        .or_else(|| fits.first().copied())
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

/// Panics with what is wrong when the response is not what the document says:
/// its status, content type and body, the headers every answer carries
/// (`x-request-id`, `traceparent`), a 405's `Allow`, and every header the
/// document names for the response.
pub fn check(method: &str, path: &str, status: u16, headers: &http::HeaderMap, body: &[u8]) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header("content-type").unwrap_or("");
    let path = path.split('?').next().unwrap_or(path);
    // The document's description: "Every answer carries `x-request-id`" (1
    // to 128 of `A-Z a-z 0-9 - _ . :`, docs/ROUTES.md) and a W3C `traceparent`.
    let request_id = header("x-request-id")
        .unwrap_or_else(|| panic!("{method} {path} {status}: no x-request-id"));
    assert!(
        (1..=128).contains(&request_id.len())
            && request_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)),
        "{method} {path} {status}: x-request-id {request_id:?}"
    );
    let traceparent =
        header("traceparent").unwrap_or_else(|| panic!("{method} {path} {status}: no traceparent"));
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert!(
        parts.len() == 4
            && [2, 32, 16, 2]
                == [
                    parts[0].len(),
                    parts[1].len(),
                    parts[2].len(),
                    parts[3].len()
                ]
            && parts.iter().all(|p| p
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))),
        "{method} {path} {status}: traceparent {traceparent:?}"
    );
    if let Some(replayed) = header("webhook-replayed") {
        assert!(
            replayed == "true" && path.starts_with("/v1/webhooks/"),
            "{method} {path} {status}: webhook-replayed {replayed:?}"
        );
    }
    let Some(t) = template(method, path) else {
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
    // A wrong method is answered before any operation exists for it: a
    // problem with `method_not_allowed` and an `Allow` naming exactly the
    // documented methods.
    let responses = if op.is_null() && status == 413 {
        // ROUTES.md: a body over the route's limit is 413 before anything
        // else, the method included; the document cannot list a method
        // that does not exist, so the answer is held to the problem.
        let ctype = content_type.split(';').next().unwrap_or("").trim();
        assert_eq!(ctype, "application/problem+json", "{method} {t} 413");
        let schema = json!({"$ref": "#/components/schemas/Problem"});
        validate(format!("{method} {t} 413"), &schema, body);
        let problem: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(problem["code"], "payload_too_large", "{method} {t} 413");
        return;
    } else if op.is_null() {
        assert_eq!(
            status, 405,
            "{method} {t} is not documented and did not answer 405"
        );
        let mut documented: Vec<String> = templates(path)
            .into_iter()
            .flat_map(|t| doc()["paths"][t].as_object().unwrap().iter())
            .filter(|(_, v)| v.get("responses").is_some())
            .map(|(m, _)| m.to_ascii_uppercase())
            .collect();
        documented.sort();
        documented.dedup();
        let allow = header("allow").unwrap_or_else(|| panic!("{method} {t} 405: no Allow"));
        let mut allowed: Vec<String> = allow.split(',').map(|m| m.trim().to_owned()).collect();
        allowed.sort();
        assert_eq!(allowed, documented, "{method} {t} 405: Allow {allow:?}");
        let ctype = content_type.split(';').next().unwrap_or("").trim();
        assert_eq!(ctype, "application/problem+json", "{method} {t} 405");
        let schema = json!({"$ref": "#/components/schemas/Problem"});
        validate(format!("{method} {t} 405"), &schema, body);
        let problem: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(problem["code"], "method_not_allowed", "{method} {t} 405");
        return;
    } else {
        responses
    };
    // The exact status, never a `4XX` range or `default`: a range would
    // accept a status the document never promised (issue 32).
    let response = responses.get(status.to_string()).unwrap_or_else(|| {
        panic!("{method} {t}: status {status} is not documented (as itself, not a range)")
    });
    let response = resolve(response);
    // Each header the document names for this response, when sent, is of
    // the documented type.
    if let Some(named) = response["headers"].as_object() {
        for (name, h) in named {
            let Some(value) = header(&name.to_ascii_lowercase()) else {
                continue;
            };
            let instance = match resolve(&h["schema"])["type"].as_str() {
                Some("integer") => json!(value.parse::<u64>().unwrap_or_else(|_| panic!(
                    "{method} {t} {status}: {name} {value:?} is not an integer"
                ))),
                _ => json!(value),
            };
            validate(
                format!("{method} {t} {status} header {name}"),
                &h["schema"],
                instance.to_string().as_bytes(),
            );
        }
    }
    let ctype = content_type.split(';').next().unwrap_or("").trim();
    let Some(media) = response["content"].get(ctype) else {
        panic!("{method} {t} {status}: content type `{ctype}` is not documented");
    };
    let key = format!("{method} {t} {status} {ctype}");
    if ctype.starts_with("text/") {
        // A text answer (the events challenge) is its schema's string.
        let text =
            std::str::from_utf8(body).unwrap_or_else(|_| panic!("{key}: the body is not UTF-8"));
        return validate_value(key, &media["schema"], &json!(text));
    }
    validate(key, &media["schema"], body);
}

/// Validates `body` against `schema` (with the document's components),
/// caching the compiled validator under `key`.
fn validate(key: String, schema: &Value, body: &[u8]) {
    let instance: Value =
        serde_json::from_slice(body).unwrap_or_else(|_| panic!("{key}: the body is not JSON"));
    validate_value(key, schema, &instance)
}

/// Validates `instance` against `schema` (with the document's components).
fn validate_value(key: String, schema: &Value, instance: &Value) {
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
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{key}: the response does not match docs/openapi.yaml: {errors:?}\n{instance}"
    );
}
