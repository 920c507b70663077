//! `wasi:http` 0.3 through spin-sdk 7: outbound calls with a deadline and a
//! body cap, and reading the inbound request and its body with a cap. Shared
//! by both WASI 0.3 flavours.
//!
//! Requests and responses are read and built as `wasi:http` resources, not
//! through the `http` crate and spin-sdk's conversions: those parse every
//! header name and value again into a `HeaderMap`, ask the host for fields
//! nobody reads (scheme, authority, options, `content-length` twice), and
//! send each body from a task of its own. On `wasmtime serve` that was about
//! 100k of a warm read's instructions (accs-bench figure 8). Requests with a
//! body are built the same way, which keeps the `http` crate's header and
//! URI parsers (about 40 KB) out of the `.wasm`.
//!
//! The deadline of an outbound call is the host's: the request options carry
//! it (connect, first byte, between bytes), and `wasmtime serve` 48 and Spin
//! 4.1 both cancel the attempt on them (a 1 s budget against a 3 s upstream
//! answers 504 after 1.00 s on both). The guest adds a check of the monotonic
//! clock once the head is in and after every body frame, so a body fed slowly
//! cannot stretch the call either. It used to race each call against its own
//! `monotonic-clock.wait-for`: that timer is a host subtask, and cancelling it
//! when the call won (every time) was a blocking `subtask.cancel`: 7 to 9 %
//! of the host's CPU per warm read (accs-bench figure 7, both hosts).

use crate::host::{BodyPlan, Inbound, body_plan};
use crate::host::{InboundBodyError, append_capped};
use crate::ports::{OutRequest, OutResponse, SendError};
use crate::wire::InRequest;
use crate::wire::MAX_UPSTREAM_BODY;
use spin_sdk::wasip3::http::types::{
    ErrorCode, Fields, Method, Request as WasiRequest, RequestOptions, Scheme,
};
use spin_sdk::wasip3::http_compat::IncomingMessage;
use spin_sdk::wasip3::wit_bindgen::StreamResult;
use spin_sdk::wasip3::{wit_future, wit_stream};
use std::time::Duration;

pub async fn send(req: OutRequest, timeout: Duration) -> Result<OutResponse, SendError> {
    let deadline = monotonic_now().saturating_add(nanos(timeout));
    let request = wasi_request(req, options(timeout))?;
    let resp = spin_sdk::wasip3::http::client::send(request)
        .await
        .map_err(send_error)?;
    let status = resp.get_status_code();
    let headers = text_headers(resp.get_headers().copy_all());
    let body = read_body(resp, MAX_UPSTREAM_BODY, Some(deadline))
        .await
        .map_err(|e| match e {
            InboundBodyError::TooLarge => SendError::TooLarge(MAX_UPSTREAM_BODY),
            InboundBodyError::Broken(m) if m == PAST_DEADLINE => SendError::Timeout,
            InboundBodyError::Broken(m) => SendError::Other(m),
        })?;
    Ok(OutResponse {
        status,
        headers,
        body,
    })
}

/// Header fields whose value is visible ASCII (what `http`'s
/// `HeaderValue::to_str` accepts; others are dropped as before), names in
/// lower case.
fn text_headers(fields: Vec<(String, Vec<u8>)>) -> Vec<(String, String)> {
    fields
        .into_iter()
        .filter(|(_, v)| v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)))
        .filter_map(|(mut n, v)| {
            n.make_ascii_lowercase();
            Some((n, String::from_utf8(v).ok()?))
        })
        .collect()
}

/// The request built straight as a `wasi:http` request: no second parse of
/// the URL and header names by the `http` types. The names are ours, lower
/// case already; the host checks names and values as for any request. A
/// request that sends a body (`content-length` set) gets a body stream,
/// written by a task once the host reads it; a bodiless GET or DELETE has
/// none.
fn wasi_request(req: OutRequest, options: RequestOptions) -> Result<WasiRequest, SendError> {
    let invalid = || SendError::Connect(format!("{:?}", ErrorCode::HttpRequestUriInvalid));
    let (scheme, authority, path_with_query) =
        crate::host::split_url(&req.url).ok_or_else(invalid)?;
    let content_length = req.content_length();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::with_capacity(req.headers.len() + 1);
    if let Some(len) = &content_length {
        entries.push(("content-length".to_owned(), len.clone().into_bytes()));
    }
    entries.extend(
        req.headers
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.into_bytes())),
    );
    let fields = Fields::from_list(&entries).map_err(|e| SendError::Other(format!("{e:?}")))?;
    // Dropping the writer sends its default: no trailers.
    let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
    let contents = match content_length {
        None => {
            drop(trailers);
            None
        }
        Some(_) => {
            let (mut writer, reader) = wit_stream::new::<u8>();
            let body = req.body;
            spin_sdk::wasip3::spawn(async move {
                let _unwritten = writer.write_all(body).await;
                drop(writer);
                drop(trailers);
            });
            Some(reader)
        }
    };
    let (request, _sent) = WasiRequest::new(fields, contents, trailers_rx, Some(options));
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    crate::host::method_to_set!(req.method, Method)
        .map_or(Ok(()), |m| request.set_method(&m))
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(path_with_query)))
        .map_err(|()| invalid())?;
    Ok(request)
}

const PAST_DEADLINE: &str = "past the deadline";

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn monotonic_now() -> u64 {
    spin_sdk::wasip3::clocks::monotonic_clock::now()
}

/// WASI 0.3 request options: the host cancels the attempt on them. Worst
/// case, a connect that takes nearly its limit followed by a head that takes
/// nearly its own, the call ends after `timeout` plus the connect time
/// (at most 10 s) rather than exactly at `timeout`.
fn options(timeout: Duration) -> RequestOptions {
    const CONNECT: Duration = Duration::from_secs(10);
    let opts = RequestOptions::new();
    let _ = opts.set_connect_timeout(Some(nanos(timeout.min(CONNECT))));
    let _ = opts.set_first_byte_timeout(Some(nanos(timeout)));
    let _ = opts.set_between_bytes_timeout(Some(nanos(timeout)));
    opts
}

fn send_error(code: ErrorCode) -> SendError {
    crate::host::send_error_from_code!(code, ErrorCode)
}

/// How much one read of a body stream asks for (spin-sdk's frame size).
const READ_CHUNK: usize = 16 * 1024;

/// The whole body of `msg`, or `TooLarge` as soon as it passes `cap`, or
/// `Broken(PAST_DEADLINE)` once a chunk (or the end, for an empty body)
/// arrives after `deadline` (monotonic nanoseconds). Trailers are awaited,
/// for the error a broken body reports there, and not kept.
async fn read_body<M: IncomingMessage>(
    msg: M,
    cap: usize,
    deadline: Option<u64>,
) -> Result<Vec<u8>, InboundBodyError> {
    let late = || deadline.is_some_and(|d| monotonic_now() >= d);
    // Dropped when reading ends, which tells the host we are done: its
    // default is the success value.
    let (_done, done_rx) = wit_future::new(|| Ok(()));
    let (mut stream, trailers) = msg.consume_body(done_rx);
    let mut out = Vec::new();
    let mut chunks = 0;
    loop {
        let (result, chunk) = stream.read(Vec::with_capacity(READ_CHUNK)).await;
        match result {
            StreamResult::Complete(_) => {
                if out.is_empty() && chunk.len() <= cap {
                    // Most bodies are one chunk: keep it rather than copy it.
                    out = chunk;
                } else {
                    append_capped(&mut out, &chunk, cap)?;
                }
                chunks += 1;
                if late() {
                    return Err(InboundBodyError::Broken(PAST_DEADLINE.into()));
                }
            }
            StreamResult::Dropped => break,
            StreamResult::Cancelled => {
                return Err(InboundBodyError::Broken("body stream cancelled".into()));
            }
        }
    }
    if chunks == 0 && late() {
        return Err(InboundBodyError::Broken(PAST_DEADLINE.into()));
    }
    match trailers.await {
        Ok(_) => Ok(out),
        Err(e) => Err(InboundBodyError::Broken(format!("{e:?}"))),
    }
}

/// The request with its body read, or why not (`TooLarge` past `body_limit`
/// of its route, checked against `content-length` first, so an honest
/// oversized upload is refused unread) with the headers it came with.
/// The head, then, unless `before_body` answers from it, the body.
pub async fn read_inbound(
    req: WasiRequest,
    before_body: impl FnOnce(&InRequest) -> Option<crate::wire::InResponse>,
) -> Inbound {
    let method = crate::host::method_name!(req.get_method(), Method);
    let target = req.get_path_with_query().unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target, None),
    };
    let mut inbound = InRequest {
        method,
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path
        },
        query,
        headers: text_headers(req.get_headers().copy_all()),
        body: Vec::new(),
        ..Default::default()
    };
    if let Some(answer) = before_body(&inbound) {
        return Inbound::Answered(answer);
    }
    let cap = match body_plan(&inbound) {
        BodyPlan::TooLarge => return Inbound::Unread(InboundBodyError::TooLarge, inbound),
        BodyPlan::Skip => return Inbound::Read(inbound),
        BodyPlan::Read(cap) => cap,
    };
    match read_body(req, cap, None).await {
        Ok(body) => {
            inbound.body = body;
            Inbound::Read(inbound)
        }
        Err(e) => Inbound::Unread(e, inbound),
    }
}
