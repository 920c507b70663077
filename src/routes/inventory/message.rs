//! The reason a failed item gives: ACCS's message with its parameters filled
//! in, as Magento renders a phrase.

use crate::problem::Problem;
use serde_json::Value;
use std::borrow::Cow;

/// ACCS's `message`, with Magento's `%1`/`%name` placeholders filled from
/// its `parameters` the way Magento renders a phrase: one pass over the
/// original text, at each `%` the longest placeholder that matches, and a
/// substituted value is never looked at again (`Magento\Framework\Phrase\Renderer\Placeholder::render`
/// builds `%1`.. and `%name` keys and calls PHP's `strtr`). Bounded on every
/// side: replacing one placeholder after another, each in the output of the
/// last, let `{"message":"%3","parameters":["x"*2000,"%1"*2000,"%2"*2000]}`
/// grow to 8 GB.
pub(super) fn upstream_message(p: &Problem) -> Option<String> {
    let up = p.upstream.as_deref()?;
    let message = up.get("message")?.as_str()?;
    let text = |v: &Value| -> String {
        let t = match v {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(other.to_string()),
        };
        t.chars().take(MAX_REASON_CHARS).collect()
    };
    let pairs: Vec<(String, String)> = match up.get("parameters") {
        Some(Value::Array(list)) => list
            .iter()
            .take(MAX_PARAMETERS)
            .enumerate()
            .map(|(i, v)| (format!("%{}", i + 1), text(v)))
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .filter(|(k, _)| !k.is_empty() && k.len() <= MAX_NAME_BYTES)
            .take(MAX_PARAMETERS)
            .map(|(k, v)| (format!("%{k}"), text(v)))
            .collect(),
        _ => Vec::new(),
    };
    Some(render(message, &pairs, MAX_REASON_CHARS))
}

/// A reason is at most this many characters, and so is each parameter.
const MAX_REASON_CHARS: usize = 500;
/// Parameters looked at, and the longest `%name` taken.
const MAX_PARAMETERS: usize = 64;
const MAX_NAME_BYTES: usize = 64;

/// `template` with each placeholder of `pairs` (`%1`, `%name`) replaced in
/// one pass, longest match first, as PHP's `strtr`; at most `max_chars`
/// characters come out, so the work is bounded by the output too.
fn render(template: &str, pairs: &[(String, String)], max_chars: usize) -> String {
    let mut out = String::new();
    let mut written = 0;
    let mut rest = template;
    while written < max_chars {
        let Some(c) = rest.chars().next() else { break };
        let matched = (c == '%')
            .then(|| {
                pairs
                    .iter()
                    .filter(|(k, _)| rest.starts_with(k.as_str()))
                    .max_by_key(|(k, _)| k.len())
            })
            .flatten();
        match matched {
            Some((key, value)) => {
                for ch in value.chars().take(max_chars - written) {
                    out.push(ch);
                    written += 1;
                }
                rest = &rest[key.len()..];
            }
            None => {
                out.push(c);
                written += 1;
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accs_messages_get_their_parameters() {
        let p = |up: Value| Problem::new(crate::problem::Code::AccsError, "x").with_upstream(up);
        let m = upstream_message(&p(
            serde_json::json!({"message": "Source %1 of %2.", "parameters": ["s", 7]}),
        ));
        assert_eq!(m.as_deref(), Some("Source s of 7."));
        let m = upstream_message(&p(
            serde_json::json!({"message": "\"%field\" is bad.", "parameters": {"field": "sku"}}),
        ));
        assert_eq!(m.as_deref(), Some("\"sku\" is bad."));
        let m = upstream_message(&p(
            serde_json::json!({"message": "Could not save Source Item"}),
        ));
        assert_eq!(m.as_deref(), Some("Could not save Source Item"));
    }

    /// Issue 22 (review): one pass over the original text, as Magento's
    /// `strtr`: a value is never substituted again, the longest placeholder
    /// wins, and input and output are capped. Replacing placeholder after
    /// placeholder made this message 8 GB (a 500 after 12 to 17 s).
    #[test]
    fn placeholders_are_filled_in_one_bounded_pass() {
        let p = |up: Value| Problem::new(crate::problem::Code::AccsError, "x").with_upstream(up);
        let started = std::time::Instant::now();
        let bomb = serde_json::json!({
            "message": "%3",
            "parameters": ["x".repeat(2000), "%1".repeat(2000), "%2".repeat(2000)],
        });
        let m = upstream_message(&p(bomb)).unwrap();
        assert_eq!(m, "%2".repeat(250), "the value as written, capped");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let params: Vec<String> = (1..=10).map(|i| format!("p{i}")).collect();
        let m = upstream_message(&p(serde_json::json!({
            "message": "%10 %1 %% %11 100%", "parameters": params,
        })));
        // `%11` with ten parameters is `%1` then `1`, as strtr reads it.
        assert_eq!(m.as_deref(), Some("p10 p1 %% p11 100%"));
        let m = upstream_message(&p(serde_json::json!({
            "message": "%field and %fieldName", "parameters": {"field": "%fieldName", "fieldName": "sku"},
        })));
        assert_eq!(m.as_deref(), Some("%fieldName and sku"));
        let m = upstream_message(&p(serde_json::json!({
            "message": "ü%1ü", "parameters": [{"a": [1, 2]}],
        })));
        assert_eq!(m.as_deref(), Some(r#"ü{"a":[1,2]}ü"#));
        let long =
            upstream_message(&p(serde_json::json!({"message": "é".repeat(10_000)}))).unwrap();
        assert_eq!(long.chars().count(), 500);
    }
}
