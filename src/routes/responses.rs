//! The two kinds of answer every route gives: a JSON body, and a problem
//! (RFC 9457) with its headers. A leaf of `routes`: the handler in mod.rs
//! and each route file build their answers here.

use crate::problem::{Code, Problem};
use crate::wire::InResponse;

/// A JSON answer with `status`.
pub fn json(status: u16, body: Vec<u8>) -> InResponse {
    InResponse {
        status,
        headers: vec![("content-type", "application/json".to_owned())],
        body,
    }
}

/// `p` as `application/problem+json`, with the headers its fields call for
/// (`Retry-After`, `Allow`, `WWW-Authenticate`).
pub fn problem_response(p: &Problem, request_id: &str) -> InResponse {
    let mut headers = vec![("content-type", "application/problem+json".to_owned())];
    if let Some(s) = p.retry_after {
        headers.push(("retry-after", s.to_string()));
    }
    if let Some(allow) = p.allow {
        headers.push(("allow", allow.to_owned()));
    }
    if p.code == Code::Unauthorized {
        headers.push(("www-authenticate", "Bearer".to_owned()));
    }
    if let Some(scope) = p.scope {
        // RFC 6750 section 3.1.
        headers.push((
            "www-authenticate",
            format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
        ));
    }
    InResponse {
        status: p.status,
        headers,
        body: p.to_json(request_id),
    }
}
