//! The host adapters: each build's entry and its implementation of
//! [`crate::ports::Ports`] (p2: WASI 0.2 Spin; p3: WASI 0.3 Spin and
//! `wasmtime serve`), and what they share (the log line, randomness drawn in
//! blocks, body caps as the entries apply them). The only layer that touches
//! host interfaces; nothing below it names a type of it.

use crate::ports::SendError;
use crate::wire::MAX_UPSTREAM_BODY;

#[cfg(any(test, all(target_arch = "wasm32", feature = "wasmtime")))]
pub(crate) mod fs;
/// The WASI 0.2 Spin build (spin-sdk 5.2): released Spin, SpinKube, Akamai.
#[cfg(all(target_arch = "wasm32", feature = "spin"))]
mod p2;
/// The WASI 0.3 builds (spin-sdk 7): Spin 4.1+ and `wasmtime serve`.
#[cfg(all(target_arch = "wasm32", feature = "p3"))]
mod p3;

/// `scheme://authority/path?query` into its three parts (`/` for an empty
/// path). The URLs here come out of `url::Url` (the ACCS guard, the IMS
/// token URL), so they are absolute and normalized; anything else is `None`.
#[cfg(any(test, target_arch = "wasm32"))]
pub(crate) fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') || path.contains('#') {
        return None;
    }
    Some((scheme, authority, if path.is_empty() { "/" } else { path }))
}

/// Maps a `wasi:http` `error-code` (0.2 and 0.3 name the cases alike, in two
/// types) to a [`SendError`]: what reached nobody can be retried for any method.
#[cfg(target_arch = "wasm32")]
macro_rules! send_error_from_code {
    ($code:expr, $E:ident) => {
        match $code {
            $E::DnsTimeout
            | $E::DnsError(_)
            | $E::DestinationNotFound
            | $E::DestinationUnavailable
            | $E::DestinationIpProhibited
            | $E::DestinationIpUnroutable
            | $E::ConnectionRefused
            | $E::ConnectionTimeout
            | $E::TlsCertificateError
            | $E::TlsProtocolError
            | $E::HttpRequestUriInvalid
            | $E::HttpRequestDenied => $crate::ports::SendError::Connect(format!("{:?}", $code)),
            // The request options' first-byte and between-bytes timeouts.
            $E::HttpResponseTimeout | $E::ConnectionReadTimeout | $E::ConnectionWriteTimeout => {
                $crate::ports::SendError::Timeout
            }
            other => $crate::ports::SendError::Other(format!("{other:?}")),
        }
    };
}
#[cfg(target_arch = "wasm32")]
use send_error_from_code;

/// A `wasi:http` method as its name. A macro because WASI 0.2 and 0.3 each
/// generate their own `Method` enum, with the same cases.
#[cfg(target_arch = "wasm32")]
macro_rules! method_name {
    ($method:expr, $Method:ident) => {
        match $method {
            $Method::Get => "GET".to_owned(),
            $Method::Head => "HEAD".to_owned(),
            $Method::Post => "POST".to_owned(),
            $Method::Put => "PUT".to_owned(),
            $Method::Delete => "DELETE".to_owned(),
            $Method::Connect => "CONNECT".to_owned(),
            $Method::Options => "OPTIONS".to_owned(),
            $Method::Trace => "TRACE".to_owned(),
            $Method::Patch => "PATCH".to_owned(),
            $Method::Other(other) => other,
        }
    };
}
#[cfg(target_arch = "wasm32")]
use method_name;

/// The method to set on a new outbound `wasi:http` request, `None` for GET:
/// WASI 0.2's `outgoing-request` and 0.3's `request.new` both start as GET
/// ("a default `method` of `GET`"), so saying it again is a host call for
/// nothing. A macro for the same reason as [`method_name`].
#[cfg(target_arch = "wasm32")]
macro_rules! method_to_set {
    ($name:expr, $Method:ident) => {
        match $name {
            "GET" => None,
            "HEAD" => Some($Method::Head),
            "POST" => Some($Method::Post),
            "PUT" => Some($Method::Put),
            "DELETE" => Some($Method::Delete),
            "PATCH" => Some($Method::Patch),
            "OPTIONS" => Some($Method::Options),
            other => Some($Method::Other(other.to_owned())),
        }
    };
}
#[cfg(target_arch = "wasm32")]
use method_to_set;

/// Host randomness drawn a block at a time. A request takes random bytes
/// three or four times (its request id, trace id, span ids, backoff jitter)
/// and each draw was a host call; a reused WASI 0.3 instance now makes one
/// call per block, a WASI 0.2 instance (one per request) one in all. Each
/// byte is handed out once and never again, so the ids and nonces built on it
/// are exactly as unpredictable as the host's own draws.
#[derive(Default)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub struct RandomPool {
    /// The block and how much of it is used.
    block: std::cell::RefCell<(Vec<u8>, usize)>,
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl RandomPool {
    const BLOCK: usize = 256;

    /// Fills `out` from the block, drawing a new one with `draw(len)` when
    /// this one has too little left; a request larger than a block is drawn
    /// whole.
    pub fn fill(&self, out: &mut [u8], draw: impl Fn(u64) -> Vec<u8>) {
        if out.len() > Self::BLOCK {
            copy_from(out, &draw(out.len() as u64));
            return;
        }
        let mut b = self.block.borrow_mut();
        let (block, used) = &mut *b;
        if block.len().saturating_sub(*used) < out.len() {
            *block = draw(Self::BLOCK as u64);
            *used = 0;
        }
        let end = (*used + out.len()).min(block.len());
        copy_from(out, &block[*used..end]);
        // Spent bytes are wiped: nothing handed out stays in memory twice.
        block[*used..end].fill(0);
        *used = end;
    }
}

/// Copies `src` into `out`; a short draw from the host leaves the rest as it
/// was (the host's `get-random-bytes` returns exactly the length asked).
fn copy_from(out: &mut [u8], src: &[u8]) {
    for (dst, s) in out.iter_mut().zip(src) {
        *dst = *s;
    }
}

/// One log line in one write: `eprintln!` writes the text and the newline
/// separately, and `wasmtime serve` prefixes every write, so under
/// concurrency lines came out torn and interleaved.
#[cfg(target_arch = "wasm32")]
pub(crate) fn log_line(line: &str) {
    use std::io::Write;
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let _ = std::io::stderr().write_all(buf.as_bytes());
}

/// What an adapter made of an inbound request.
#[derive(Debug)]
pub enum Inbound {
    /// Head and body, for `App::handle`.
    Read(crate::wire::InRequest),
    /// Refused from the head alone (`App::before_body`): the body was never read.
    Answered(crate::wire::InResponse),
    /// The body could not be read; the head, for `App::reject`.
    Unread(InboundBodyError, crate::wire::InRequest),
}

/// Why an inbound body was not read.
#[derive(Debug)]
pub enum InboundBodyError {
    TooLarge,
    Broken(String),
}

impl InboundBodyError {
    /// The answer to a body that was not read: 413 naming the route's `cap`,
    /// or 400.
    pub fn problem(&self, cap: usize) -> crate::problem::Problem {
        use crate::problem::{Code, Problem};
        match self {
            InboundBodyError::TooLarge => Problem::new(
                Code::PayloadTooLarge,
                format!("request bodies are limited to {cap} bytes on this route"),
            ),
            InboundBodyError::Broken(_) => {
                Problem::bad_request("the request body could not be read")
            }
        }
    }
}

/// An upstream body that could not be read in full.
impl From<InboundBodyError> for SendError {
    fn from(e: InboundBodyError) -> Self {
        match e {
            InboundBodyError::TooLarge => SendError::TooLarge(MAX_UPSTREAM_BODY),
            InboundBodyError::Broken(m) => SendError::Other(m),
        }
    }
}

/// `exchange`, unless `deadline` (a host sleep) ends first: spin-sdk 5.2 sets
/// no request options and Spin then waits up to 600 s, so the WASI 0.2
/// adapter enforces the attempt's timeout itself. (The WASI 0.3 adapter puts
/// the deadline in the request options, which both its hosts enforce.)
#[cfg(all(target_arch = "wasm32", feature = "spin"))]
async fn race_deadline<T>(
    exchange: impl std::future::Future<Output = Result<T, SendError>>,
    deadline: impl std::future::Future<Output = ()>,
) -> Result<T, SendError> {
    use futures::FutureExt;
    futures::select_biased! {
        r = std::pin::pin!(exchange.fuse()) => r,
        _ = std::pin::pin!(deadline.fuse()) => Err(SendError::Timeout),
    }
}

/// What an adapter does with an inbound body, decided before reading it.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyPlan {
    /// `content-length` declares more than the route's cap: 413 unread.
    TooLarge,
    /// A GET or HEAD that declares no body (no `content-length`, no
    /// `transfer-encoding`) has none in HTTP/1.1: left unread, since reading
    /// an empty stream costs host calls on every request and those routes
    /// never look at a body.
    Skip,
    /// Read up to this many bytes.
    Read(usize),
}

pub fn body_plan(req: &crate::wire::InRequest) -> BodyPlan {
    let cap = crate::wire::body_limit(&req.method, &req.path);
    let declared = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > cap) {
        BodyPlan::TooLarge
    } else if matches!(req.method.as_str(), "GET" | "HEAD")
        && declared.is_none()
        && req.header("transfer-encoding").is_none()
    {
        BodyPlan::Skip
    } else {
        BodyPlan::Read(cap)
    }
}

/// Appends `chunk` to `out` unless that passes `cap`.
pub fn append_capped(out: &mut Vec<u8>, chunk: &[u8], cap: usize) -> Result<(), InboundBodyError> {
    if out.len() + chunk.len() > cap {
        return Err(InboundBodyError::TooLarge);
    }
    out.extend_from_slice(chunk);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{BodyPlan, RandomPool, body_plan, split_url};
    use crate::ports::OutRequest;
    use crate::wire::InRequest;
    use std::cell::Cell;

    #[test]
    fn split_url_gives_scheme_authority_and_path_with_query() {
        let cases = [
            (
                "https://h.example/t/V1/x?a=1",
                Some(("https", "h.example", "/t/V1/x?a=1")),
            ),
            (
                "http://127.0.0.1:8080",
                Some(("http", "127.0.0.1:8080", "/")),
            ),
            ("https://h.example?q", Some(("https", "h.example", "?q"))),
            ("https://[::1]:9/p", Some(("https", "[::1]:9", "/p"))),
            ("https://u:p@h.example/", None),
            ("https://h.example/#f", None),
            ("https:///p", None),
            ("h.example/p", None),
        ];
        for (url, want) in cases {
            assert_eq!(split_url(url), want, "{url}");
        }
    }

    /// A host whose every draw is a run of counting bytes, so each byte
    /// handed out says which draw and which position it came from.
    #[test]
    fn the_random_pool_hands_each_drawn_byte_out_once_and_draws_per_block() {
        let next = Cell::new(0u32);
        let draws = Cell::new(0);
        let draw = |len: u64| {
            draws.set(draws.get() + 1);
            (0..len)
                .map(|_| {
                    next.set(next.get() + 1);
                    next.get() as u8
                })
                .collect::<Vec<u8>>()
        };
        let pool = RandomPool::default();
        let mut seen = Vec::new();
        // A request takes 16 + 16 + 8 + 8 bytes: five whole requests per block.
        for _ in 0..5 {
            for len in [16, 16, 8, 8] {
                let mut b = vec![0u8; len];
                pool.fill(&mut b, draw);
                seen.extend(b);
            }
        }
        assert_eq!(draws.get(), 1, "240 bytes from one 256-byte block");
        let expected: Vec<u8> = (1..=240u32).map(|i| i as u8).collect();
        assert_eq!(seen, expected, "in order, none twice");
        // 16 bytes left, 32 asked: a new block, the 16 left are not reused.
        let mut b = [0u8; 32];
        pool.fill(&mut b, draw);
        assert_eq!(draws.get(), 2);
        assert_eq!(b[0], 1, "the first byte of draw 2 (257 as u8)");
        // Larger than a block: drawn whole, the block untouched.
        let mut big = vec![0u8; 300];
        pool.fill(&mut big, draw);
        assert_eq!(draws.get(), 3);
        let mut after = [0u8; 8];
        pool.fill(&mut after, draw);
        assert_eq!(draws.get(), 3, "the second block still has room");
        assert_eq!(after[0], 33, "it continues where draw 2 left off");
    }

    #[test]
    fn the_body_plan_follows_the_route_cap_and_the_framing() {
        let req = |method: &str, path: &str, headers: &[(&str, &str)]| InRequest {
            method: method.into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..InRequest::default()
        };
        assert_eq!(
            body_plan(&req("GET", "/v1/products/A", &[])),
            BodyPlan::Skip
        );
        assert_eq!(
            body_plan(&req(
                "GET",
                "/v1/products/A",
                &[("transfer-encoding", "chunked")]
            )),
            BodyPlan::Read(1024 * 1024)
        );
        assert_eq!(
            body_plan(&req(
                "GET",
                "/v1/products/A",
                &[("content-length", "2000000")]
            )),
            BodyPlan::TooLarge
        );
        assert_eq!(
            body_plan(&req(
                "POST",
                "/v1/inventory/source-items",
                &[("content-length", "2000000")]
            )),
            BodyPlan::Read(4 * 1024 * 1024)
        );
        assert_eq!(
            body_plan(&req("PUT", "/v1/products/A", &[])),
            BodyPlan::Read(1024 * 1024)
        );
    }

    #[test]
    fn bodies_go_out_with_their_length() {
        let req = |method, body: &[u8]| OutRequest {
            method,
            url: "https://x/V1/y".into(),
            headers: vec![],
            body: body.to_vec(),
        };
        assert_eq!(
            req("POST", b"{\"a\":1}").content_length().as_deref(),
            Some("7")
        );
        assert_eq!(req("PUT", b"").content_length().as_deref(), Some("0"));
        assert_eq!(req("GET", b"").content_length(), None);
        assert_eq!(req("DELETE", b"").content_length(), None);
    }
}
