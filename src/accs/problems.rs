//! How ACCS answers and failed exchanges become our problems (DESIGN.md:
//! `accs_error` keeps ACCS's 4xx status and Magento's `message`/`parameters`;
//! exhausted 5xx and timeouts are `accs_unavailable`). Never a header value,
//! a token or a raw upstream body beyond Magento's two fields.

use super::retry_after;
use crate::ports::{OutResponse, SendError};
use crate::problem::{Code, Problem};

pub const AUTH_HINT: &str = "check that the credential has the commerce.accs scope and the product profile of this ACCS instance";

/// ACCS refused the token it was just given (the second 401 of a call).
pub fn auth_failed() -> Problem {
    Problem::new(
        Code::AccsAuthFailed,
        format!("ACCS refused a freshly issued token: {AUTH_HINT}"),
    )
}

/// Magento's ACL answer: the integration's role lacks `resource`. The token
/// is fine for everything else and is kept.
pub fn forbidden(resource: &str) -> Problem {
    Problem::new(
        Code::AccsForbidden,
        format!(
            "ACCS refused access to {resource}: grant this resource to the integration's role (Adobe Admin Console product profile / Commerce role)"
        ),
    )
}

/// Ends the detail of a denial answered from memory. `resource` keeps only
/// `[A-Za-z0-9_:, -]`, so ACCS cannot put this text into a detail itself.
const REMEMBERED: &str = " (remembered: not asked again)";

/// [`forbidden`] answered from a remembered denial: ACCS never saw this
/// request.
pub fn remembered(resource: &str) -> Problem {
    let mut p = forbidden(resource);
    p.detail.push_str(REMEMBERED);
    p
}

/// Whether `p` is a denial answered from memory, which ACCS never saw (an
/// I/O Events event refused so is not final), rather than a 403 ACCS itself
/// just produced. The route counts such answers in `Ctx`; this reads the
/// same fact off the problem, for tests.
#[cfg(test)]
pub fn answered_from_memory(p: &Problem) -> bool {
    p.code == Code::AccsForbidden && p.detail.ends_with(REMEMBERED)
}

/// The resource of Magento's ACL 401 ("The consumer isn't authorized to
/// access %resources.", `parameters.resources`), printable and bounded; `None`
/// when the body is not that message. The message and its parameter are set
/// by `Magento\Webapi\Controller\Rest\RequestValidator::checkPermissions`.
pub fn denied_resource(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = v.get("message")?.as_str()?;
    if !message.contains("authorized to access") {
        return None;
    }
    let named = v
        .pointer("/parameters/resources")
        .or_else(|| v.pointer("/parameters/0"))
        .and_then(serde_json::Value::as_str)
        .map(|r| {
            r.chars()
                .filter(|c| c.is_ascii_alphanumeric() || "_:, -".contains(*c))
                .take(200)
                .collect::<String>()
        })
        .filter(|r| !r.trim().is_empty());
    Some(named.unwrap_or_else(|| "a resource ACCS did not name".to_owned()))
}

/// 429 `accs_rate_limited`, telling the caller when to come back.
pub fn rate_limited(retry_after_secs: u64) -> Problem {
    Problem::new(Code::AccsRateLimited, "ACCS is rate limiting requests")
        .with_retry_after(retry_after_secs)
}

pub fn send_error(e: &SendError) -> Problem {
    match e {
        SendError::Timeout => {
            Problem::new(Code::AccsUnavailable, "ACCS did not answer in time").with_status(504)
        }
        SendError::TooLarge(n) => Problem::new(
            Code::AccsUnavailable,
            format!("ACCS answered with a body over {n} bytes"),
        ),
        SendError::Connect(_) | SendError::Other(_) => {
            Problem::new(Code::AccsUnavailable, "ACCS could not be reached")
        }
    }
}

/// Maps a non-2xx ACCS answer received at `now_ms`, keeping Magento's
/// `message` and `parameters`.
pub fn map_status(r: &OutResponse, now_ms: u64) -> Problem {
    let upstream = magento_error(&r.body);
    let asked = r
        .header("retry-after")
        .and_then(|v| retry_after::parse(v, now_ms))
        .map(retry_after::caller_seconds);
    match r.status {
        401 => Problem::new(Code::AccsAuthFailed, "ACCS refused the access token"),
        403 => with_upstream(
            Problem::new(
                Code::AccsError,
                format!("ACCS answered 403: {AUTH_HINT}, with access to this resource"),
            )
            .with_status(403),
            upstream,
        ),
        429 => rate_limited(asked.unwrap_or(1)),
        400..=499 => with_upstream(
            Problem::new(Code::AccsError, format!("ACCS answered {}", r.status))
                .with_status(r.status),
            upstream,
        ),
        // wasi:http follows no redirect, and neither do we: the token must
        // never travel to an address that configuration did not name.
        300..=399 => Problem::new(
            Code::AccsUnavailable,
            format!(
                "ACCS answered a redirect ({}), which is not followed: check accs_base_url",
                r.status
            ),
        ),
        _ => {
            let p = Problem::new(Code::AccsUnavailable, format!("ACCS answered {}", r.status));
            match asked {
                Some(s) if r.status == 503 => p.with_retry_after(s),
                _ => p,
            }
        }
    }
}

fn with_upstream(p: Problem, upstream: Option<serde_json::Value>) -> Problem {
    match upstream {
        Some(u) => p.with_upstream(u),
        None => p,
    }
}

/// `{"message","parameters"}` out of a Magento error body, and nothing else.
fn magento_error(body: &[u8]) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = v.get("message")?.as_str()?;
    let mut out = serde_json::Map::new();
    out.insert("message".into(), message.into());
    if let Some(p) = v.get("parameters") {
        out.insert("parameters".into(), p.clone());
    }
    Some(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> OutResponse {
        OutResponse {
            status,
            headers: vec![("retry-after".into(), "7".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn magento_4xx_keeps_status_message_and_parameters() {
        let p = map_status(
            &resp(
                404,
                r#"{"message":"The product that was requested doesn't exist.","parameters":[],"trace":"x"}"#,
            ),
            0,
        );
        assert_eq!((p.code, p.status), (Code::AccsError, 404));
        assert_eq!(
            *p.upstream.unwrap(),
            serde_json::json!({"message":"The product that was requested doesn't exist.","parameters":[]})
        );
    }

    #[test]
    fn statuses_map_to_the_documented_codes() {
        assert_eq!(map_status(&resp(401, ""), 0).code, Code::AccsAuthFailed);
        let p = map_status(&resp(403, "{}"), 0);
        assert_eq!((p.code, p.status), (Code::AccsError, 403));
        assert!(p.detail.contains("commerce.accs"));
        assert!(p.detail.contains("product profile"));
        let p = map_status(&resp(429, ""), 0);
        assert_eq!(
            (p.code, p.status, p.retry_after),
            (Code::AccsRateLimited, 429, Some(7))
        );
        let p = map_status(&resp(503, "<html>"), 0);
        assert_eq!(
            (p.code, p.status, p.retry_after),
            (Code::AccsUnavailable, 502, Some(7))
        );
        let p = map_status(&resp(500, "<html>"), 0);
        assert_eq!(
            (p.code, p.status, p.retry_after),
            (Code::AccsUnavailable, 502, None)
        );
        assert_eq!(send_error(&SendError::Timeout).status, 504);
        assert_eq!(send_error(&SendError::Connect("x".into())).status, 502);
        assert_eq!(send_error(&SendError::TooLarge(10)).status, 502);
    }

    #[test]
    fn the_acl_401_names_its_resource_and_nothing_else_is_one() {
        let acl = br#"{"message":"The consumer isn't authorized to access %resources.","parameters":{"resources":"Magento_Sales::actions_view"}}"#;
        assert_eq!(
            denied_resource(acl).as_deref(),
            Some("Magento_Sales::actions_view")
        );
        let odd = br#"{"message":"The consumer isn't authorized to access %resources.","parameters":{"resources":"A::b<script>"}}"#;
        assert_eq!(denied_resource(odd).as_deref(), Some("A::bscript"));
        let unnamed = br#"{"message":"The consumer isn't authorized to access %resources."}"#;
        assert!(denied_resource(unnamed).unwrap().contains("did not name"));
        for other in [&br#"{"message":"Invalid token"}"#[..], b"", b"<html>"] {
            assert_eq!(denied_resource(other), None);
        }
        let p = forbidden("Magento_Sales::actions_view");
        assert_eq!((p.code, p.status), (Code::AccsForbidden, 403));
        assert!(p.detail.contains("Magento_Sales::actions_view"));
        let p = crate::problem::budget_spent();
        assert_eq!((p.code.as_str(), p.status), ("accs_timeout", 504));
    }

    #[test]
    fn redirects_are_a_clear_502() {
        for status in [301, 302, 307, 308] {
            let mut r = resp(status, "");
            r.headers
                .push(("location".into(), "https://elsewhere.example/".into()));
            let p = map_status(&r, 0);
            assert_eq!((p.code, p.status), (Code::AccsUnavailable, 502));
            assert!(p.detail.contains("redirect"), "{}", p.detail);
            assert!(!p.detail.contains("elsewhere"), "the target is not echoed");
        }
    }

    #[test]
    fn rate_limit_retry_after_is_read_in_both_forms_rounded_up() {
        let at = |v: &str, now_ms| {
            let r = OutResponse {
                status: 429,
                headers: vec![("Retry-After".into(), v.into())],
                body: vec![],
            };
            map_status(&r, now_ms).retry_after
        };
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 s after the epoch.
        assert_eq!(
            at("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777_000 - 2_500),
            Some(3)
        );
        assert_eq!(at("120", 0), Some(120));
        assert_eq!(
            at("soon", 0),
            Some(1),
            "an unreadable value still says back off"
        );
    }
}
