//! The ACCS client every route uses: URL building, headers, the token, and
//! the mapping of ACCS answers to our problem codes.

pub mod path;
pub mod retry;
pub mod retry_after;

use crate::config::Settings;
use crate::host::{OutRequest, OutResponse, Ports, SendError};
use crate::ims::Tokens;
use crate::problem::{Code, Problem};
use crate::trace::Trace;
use std::time::Duration;

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a route needs to call upstream, borrowed for one request.
pub struct Ctx<'a, P> {
    pub settings: &'a Settings,
    pub ports: &'a P,
    pub tokens: &'a Tokens,
    pub trace: &'a Trace,
}

/// One ACCS call: `path_and_query` starts with `/V1/` and is already encoded.
pub struct Call {
    pub method: &'static str,
    pub path_and_query: String,
    pub body: Option<Vec<u8>>,
}

impl Call {
    pub fn get(path_and_query: String) -> Self {
        Call {
            method: "GET",
            path_and_query,
            body: None,
        }
    }
}

impl<P: Ports> Ctx<'_, P> {
    /// Sends `call` with a token. A 401 drops the token only if it is the one
    /// that was sent, fetches a new one and tries once more: never a loop.
    pub async fn call(&self, call: &Call) -> Result<OutResponse, Problem> {
        debug_assert!(call.path_and_query.starts_with("/V1/"));
        let url = format!(
            "{}{}",
            self.settings.accs_base_url.as_str().trim_end_matches('/'),
            call.path_and_query
        );
        let mut resp = None;
        for _ in 0..2 {
            let token = self
                .tokens
                .get(self.settings, self.ports, self.trace)
                .await?;
            let r = self.send(call, &url, &token).await?;
            if r.status != 401 {
                resp = Some(r);
                break;
            }
            self.tokens.invalidate(&token);
        }
        match resp {
            Some(r) if (200..300).contains(&r.status) => Ok(r),
            Some(r) => Err(map_status(&r)),
            None => Err(Problem::new(
                Code::AccsAuthFailed,
                "ACCS refused a freshly issued token: check that the credential has the commerce.accs scope and the product profile of this ACCS instance",
            )),
        }
    }

    async fn send(&self, call: &Call, url: &str, token: &str) -> Result<OutResponse, Problem> {
        let s = self.settings;
        let mut headers = vec![
            ("authorization", format!("Bearer {token}")),
            ("x-api-key", s.ims_client_id.clone()),
            ("store", s.accs_store_code.clone()),
            ("accept", "application/json".to_owned()),
            ("x-request-id", self.trace.request_id.clone()),
        ];
        if let Some(org) = &s.ims_org_id {
            headers.push(("x-gw-ims-org-id", org.clone()));
        }
        if call.body.is_some() {
            headers.push(("content-type", "application/json".to_owned()));
        }
        let req = OutRequest {
            method: call.method,
            url: url.to_owned(),
            headers,
            body: call.body.clone().unwrap_or_default(),
        };
        let started = self.ports.now_ms();
        let res = self.ports.send(req, ATTEMPT_TIMEOUT).await;
        let took = self.ports.now_ms().saturating_sub(started);
        self.trace
            .upstream("accs", res.as_ref().map_or(0, |r| r.status), took);
        res.map_err(|e| map_send_error(&e))
    }
}

fn map_send_error(e: &SendError) -> Problem {
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

/// Maps a non-2xx ACCS answer, keeping Magento's `message` and `parameters`.
pub fn map_status(r: &OutResponse) -> Problem {
    let upstream = magento_error(&r.body);
    match r.status {
        401 => Problem::new(Code::AccsAuthFailed, "ACCS refused the access token"),
        403 => {
            let p = Problem::new(
                Code::AccsError,
                "ACCS answered 403: the credential needs the commerce.accs scope and a product profile of this ACCS instance with access to this resource",
            )
            .with_status(403);
            with_upstream(p, upstream)
        }
        429 => {
            let mut p = Problem::new(Code::AccsRateLimited, "ACCS is rate limiting requests");
            if let Some(s) = r
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                p = p.with_retry_after(s);
            }
            p
        }
        400..=499 => with_upstream(
            Problem::new(Code::AccsError, format!("ACCS answered {}", r.status))
                .with_status(r.status),
            upstream,
        ),
        _ => Problem::new(Code::AccsUnavailable, format!("ACCS answered {}", r.status)),
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
        let p = map_status(&resp(
            404,
            r#"{"message":"The product that was requested doesn't exist.","parameters":[],"trace":"x"}"#,
        ));
        assert_eq!((p.code, p.status), (Code::AccsError, 404));
        assert_eq!(
            p.upstream.unwrap(),
            serde_json::json!({"message":"The product that was requested doesn't exist.","parameters":[]})
        );
    }

    #[test]
    fn statuses_map_to_the_documented_codes() {
        assert_eq!(map_status(&resp(401, "")).code, Code::AccsAuthFailed);
        let p = map_status(&resp(403, "{}"));
        assert_eq!((p.code, p.status), (Code::AccsError, 403));
        assert!(p.detail.contains("commerce.accs"));
        let p = map_status(&resp(429, ""));
        assert_eq!(
            (p.code, p.status, p.retry_after),
            (Code::AccsRateLimited, 429, Some(7))
        );
        let p = map_status(&resp(503, "<html>"));
        assert_eq!((p.code, p.status), (Code::AccsUnavailable, 502));
        assert_eq!(map_send_error(&SendError::Timeout).status, 504);
        assert_eq!(map_send_error(&SendError::Connect("x".into())).status, 502);
    }
}
