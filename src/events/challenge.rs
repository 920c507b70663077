//! The registration challenge: `GET <url>?challenge=<value>`, answered 200
//! with the value as `text/plain`, or `{"challenge":"<value>"}` as
//! `application/json` (AdobeDocs/adobe-io-events `src/pages/guides/index.md`,
//! "The challenge request", "Synchronous validation").
//!
//! The value is echoed, so it is held to a strict set (Adobe sends a UUID):
//! letters, digits and `-._~`, 1 to 128 of them. Anything else is refused
//! and never reflected.

pub const MAX_LEN: usize = 128;

/// The challenge in `query`, if there is exactly one and it is well formed;
/// `None` for a missing, repeated, encoded or hostile value.
pub fn value(query: Option<&str>) -> Option<&str> {
    let mut found = None;
    for pair in query.unwrap_or("").split('&') {
        let (name, v) = pair.split_once('=').unwrap_or((pair, ""));
        if name == "challenge" {
            if found.is_some() {
                return None;
            }
            found = Some(v);
        }
    }
    // Unreserved characters only: nothing to decode, nothing to escape.
    found.filter(|v| {
        (1..=MAX_LEN).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    })
}

/// Whether the answer should be the JSON form: when the caller's `Accept`
/// names `application/json` and not `text/plain`. The plain form is the
/// documented default.
pub fn wants_json(accept: Option<&str>) -> bool {
    let accept = accept.unwrap_or("").to_ascii_lowercase();
    accept.contains("application/json") && !accept.contains("text/plain")
}

/// The JSON answer; the value needs no escaping (see [`value`]).
pub fn json_body(value: &str) -> Vec<u8> {
    format!(r#"{{"challenge":"{value}"}}"#).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_value_is_echoed() {
        let uuid = "8ec8d794-e0ab-42df-9017-e3dada8e84f7";
        assert_eq!(value(Some(&format!("challenge={uuid}"))), Some(uuid));
        assert_eq!(value(Some(&format!("a=1&challenge={uuid}"))), Some(uuid));
        for bad in [
            None,
            Some(""),
            Some("challenge="),
            Some("challenge=%3Cscript%3E"),
            Some("challenge=<script>"),
            Some("challenge=a b"),
            Some("challenge=a\"b"),
            Some("challenge=a&challenge=b"),
            Some("other=1"),
        ] {
            assert_eq!(value(bad), None, "{bad:?}");
        }
        let long = format!("challenge={}", "a".repeat(MAX_LEN + 1));
        assert_eq!(value(Some(&long)), None);
        assert_eq!(
            json_body(uuid),
            format!(r#"{{"challenge":"{uuid}"}}"#).as_bytes()
        );
        assert!(wants_json(Some("application/json")));
        assert!(!wants_json(Some("text/plain, application/json")));
        assert!(!wants_json(None));
    }
}
