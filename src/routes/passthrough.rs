//! `ANY /v1/accs/{path}`: forwarded to `/{path}` only where `passthrough_allow`
//! has a matching `METHOD /V1/pattern`; everything else is 403.

use crate::accs::{Call, Ctx};
use crate::config::AllowRule;
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::wire::{InRequest, InResponse};
use percent_encoding::percent_decode_str;

const MAX_QUERY: usize = 8 * 1024;

pub async fn forward<P: Ports>(
    ctx: &Ctx<'_, P>,
    req: &InRequest,
    rest: &str,
) -> Result<InResponse, Problem> {
    let method = method(&req.method)?;
    let segments = safe_segments(rest)?;
    let Some(rule) = allowed(&ctx.settings.passthrough_allow, method, &segments) else {
        return Err(Problem::new(
            Code::Forbidden,
            format!(
                "`{method} /{}` is not in passthrough_allow",
                segments.join("/")
            ),
        ));
    };
    let mut path_and_query = format!("/{}", segments.join("/"));
    if let Some(q) = req.query.as_deref().filter(|q| !q.is_empty()) {
        if q.len() > MAX_QUERY || !q.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
            return Err(Problem::bad_request("the query string is malformed"));
        }
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let body = match method {
        "GET" | "DELETE" if !req.body.is_empty() => {
            return Err(Problem::bad_request(format!("{method} takes no body")));
        }
        "GET" | "DELETE" => None,
        _ if req.body.is_empty() => None,
        _ => {
            // Checked, not re-encoded: the bytes go upstream as they came.
            serde_json::from_slice::<serde::de::IgnoredAny>(&req.body)
                .map_err(|_| Problem::bad_request("the body must be JSON"))?;
            Some(req.body.clone())
        }
    };
    // A denial is remembered per rule: one `*` rule is one scope, however
    // many paths it lets through.
    let call = Call {
        method,
        path_and_query,
        body,
    };
    let resp = ctx.call_as(&call, &rule.label()).await?;
    Ok(super::responses::json(resp.status, resp.body))
}

fn method(m: &str) -> Result<&'static str, Problem> {
    Ok(match m {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => return Err(Problem::method_not_allowed("GET, POST, PUT, PATCH, DELETE")),
    })
}

/// The raw segments after `/v1/accs`, each checked to stay one segment under
/// the tenant: no dot segments, no encoded `\`, `@` or `%` (so no layer that
/// decodes twice sees anything we did not check), no controls. An encoded
/// `/` (`%2F`) separates segments like a literal one: OpenAPI clients encode
/// the `{path}` parameter whole, and what is matched is exactly what is sent.
pub fn safe_segments(rest: &str) -> Result<Vec<&str>, Problem> {
    let bad = |why: &str| Problem::bad_request(format!("the passthrough path {why}"));
    let rest = rest.strip_prefix('/').ok_or_else(|| bad("is empty"))?;
    let segments = split_segments(rest);
    for s in &segments {
        if s.is_empty() {
            return Err(bad("has an empty segment"));
        }
        let raw_ok = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%:,=".contains(&b));
        let decoded = percent_decode_str(s)
            .decode_utf8()
            .map_err(|_| bad("is not valid UTF-8"))?;
        if !raw_ok
            || decoded == "."
            || decoded == ".."
            || decoded
                .chars()
                .any(|c| c.is_control() || "\\@%".contains(c))
            || s.contains('%') && !valid_escapes(s)
        {
            return Err(bad("has a segment that is not allowed"));
        }
    }
    Ok(segments)
}

/// Splits on `/` and on `%2F` (either case).
fn split_segments(rest: &str) -> Vec<&str> {
    let b = rest.as_bytes();
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        if b[i] == b'/' {
            out.push(&rest[start..i]);
            i += 1;
            start = i;
        } else if b[i] == b'%'
            && b.get(i + 1) == Some(&b'2')
            && matches!(b.get(i + 2), Some(b'F' | b'f'))
        {
            out.push(&rest[start..i]);
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&rest[start..]);
    out
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// The first rule that lets `method` reach `segments`: `*` is one segment,
/// `**` (last) one or more; literals match exactly.
pub fn allowed<'r>(
    rules: &'r [AllowRule],
    method: &str,
    segments: &[&str],
) -> Option<&'r AllowRule> {
    rules.iter().find(|rule| {
        rule.method == method && {
            let pat = &rule.segments;
            match pat.last().map(String::as_str) {
                Some("**") => {
                    segments.len() >= pat.len()
                        && matches(&pat[..pat.len() - 1], &segments[..pat.len() - 1])
                }
                _ => segments.len() == pat.len() && matches(pat, segments),
            }
        }
    })
}

fn matches(pattern: &[String], segments: &[&str]) -> bool {
    pattern
        .iter()
        .zip(segments)
        .all(|(p, s)| p == "*" || p == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(spec: &[(&str, &str)]) -> Vec<AllowRule> {
        spec.iter()
            .map(|(m, p)| AllowRule {
                method: m.to_string(),
                segments: p[1..].split('/').map(str::to_owned).collect(),
            })
            .collect()
    }

    #[test]
    fn patterns_match_by_segment() {
        let r = rules(&[
            ("GET", "/V1/categories/*"),
            ("POST", "/V1/carts/**"),
            ("GET", "/V1/customers/search"),
        ]);
        let yes = [
            ("GET", "/V1/categories/2"),
            ("POST", "/V1/carts/mine/items"),
            ("POST", "/V1/carts/1"),
            ("GET", "/V1/customers/search"),
        ];
        for (m, p) in yes {
            assert!(
                allowed(&r, m, &safe_segments(p).unwrap()).is_some(),
                "{m} {p}"
            );
        }
        let no = [
            ("GET", "/V1/categories"),
            ("GET", "/V1/categories/2/products"),
            ("PUT", "/V1/categories/2"),
            ("POST", "/V1/carts"),
            ("GET", "/V1/customers/search/x"),
            ("GET", "/V1/customers/1"),
            ("GET", "/rest/V1/categories/2"),
        ];
        for (m, p) in no {
            assert!(
                allowed(&r, m, &safe_segments(p).unwrap()).is_none(),
                "{m} {p}"
            );
        }
    }

    #[test]
    fn escape_attempts_are_refused_before_matching() {
        for p in [
            "/V1/categories/..",
            "/V1/categories/%2e%2E",
            "/V1/categories/.",
            "/V1/categories/%252F",
            "/V1/categories/a%25b",
            "/V1/categories%2F..",
            "/V1/categories%2f%2E",
            "/V1/categories/a%2F",
            "/V1/categories/a%5Cb",
            "/V1/categories/user@evil.example",
            "/V1/categories/a%40b",
            "/V1//x",
            "/V1/x/",
            "/V1/a%00",
            "/V1/a%zz",
            "/V1/a%2",
            "/V1/%FF",
            "",
            "/http:%2F%2Fevil.example",
        ] {
            assert!(safe_segments(p).is_err(), "{p}");
        }
        assert!(safe_segments("/V1/products/a%20b").is_ok());
    }

    #[test]
    fn an_encoded_slash_separates_segments_and_is_matched_as_one() {
        let segments = safe_segments("/V1/categories/a%2Fb").unwrap();
        assert_eq!(segments, ["V1", "categories", "a", "b"]);
        let r = rules(&[("GET", "/V1/categories/*")]);
        assert!(allowed(&r, "GET", &segments).is_none());
        assert_eq!(
            safe_segments("/V1%2fcategories%2F2").unwrap(),
            ["V1", "categories", "2"]
        );
        assert!(allowed(&r, "GET", &safe_segments("/V1%2Fcategories%2F2").unwrap()).is_some());
    }
}
