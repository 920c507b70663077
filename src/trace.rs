//! What one request did, for its single log line.

use serde::Serialize;
use std::cell::RefCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    Memory,
    Kv,
    /// The sealed token file in `token_cache_dir`.
    File,
    Ims,
}

#[derive(Clone, Debug, Serialize)]
pub struct UpstreamCall {
    pub service: &'static str,
    /// The HTTP status, or 0 when no response came back.
    pub status: u16,
    pub ms: u64,
}

#[derive(Debug, Default)]
pub struct Trace {
    pub request_id: String,
    pub upstream: RefCell<Vec<UpstreamCall>>,
    pub token_source: RefCell<Option<TokenSource>>,
}

impl Trace {
    pub fn new(request_id: String) -> Self {
        Trace {
            request_id,
            ..Trace::default()
        }
    }

    pub fn upstream(&self, service: &'static str, status: u16, ms: u64) {
        self.upstream.borrow_mut().push(UpstreamCall {
            service,
            status,
            ms,
        });
    }

    pub fn token(&self, source: TokenSource) {
        *self.token_source.borrow_mut() = Some(source);
    }

    /// The JSON log line. Carries ids, routes, statuses and timings only:
    /// never a header value, body, token or secret.
    pub fn log_line(&self, method: &str, route: &str, status: u16, duration_ms: u64) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            request_id: &'a str,
            method: &'a str,
            route: &'a str,
            status: u16,
            duration_ms: u64,
            upstream: &'a [UpstreamCall],
            #[serde(skip_serializing_if = "Option::is_none")]
            token_source: Option<TokenSource>,
        }
        serde_json::to_string(&Line {
            request_id: &self.request_id,
            method,
            route,
            status,
            duration_ms,
            upstream: &self.upstream.borrow(),
            token_source: *self.token_source.borrow(),
        })
        .unwrap_or_default()
    }
}
