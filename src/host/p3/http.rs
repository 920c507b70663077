//! `wasi:http` 0.3 through spin-sdk 7: outbound calls with a deadline and a
//! body cap, and reading the inbound body with a cap. Shared by both WASI 0.3
//! flavours.
//!
//! The deadline of an outbound call is the host's: the request options carry
//! it (connect, first byte, between bytes), and `wasmtime serve` 48 and Spin
//! 4.1 both cancel the attempt on them (a 1 s budget against a 3 s upstream
//! answers 504 after 1.00 s on both). The guest adds a check of the monotonic
//! clock once the head is in and after every body frame, so a body fed slowly
//! cannot stretch the call either. It used to race each call against its own
//! `monotonic-clock.wait-for`: that timer is a host subtask, and cancelling it
//! when the call won (every time) was a blocking `subtask.cancel`, about 9 %
//! of the host's CPU per warm read on both hosts (accs-bench figure 7).

use crate::host::{
    InboundBodyError, MAX_UPSTREAM_BODY, OutRequest, OutResponse, SendError, append_capped,
};
use crate::routes::{InRequest, body_limit};
use bytes::Bytes;
use http_body_util::BodyExt;
use spin_sdk::http::{FullBody, Request};
use spin_sdk::wasip3::http::types::{ErrorCode, RequestOptions};
use spin_sdk::wasip3::http_compat::RequestOptionsExtension;
use std::time::Duration;

pub async fn send(req: OutRequest, timeout: Duration) -> Result<OutResponse, SendError> {
    let mut builder = http::Request::builder().method(req.method).uri(&req.url);
    if let Some(len) = req.content_length() {
        builder = builder.header("content-length", len);
    }
    for (name, value) in &req.headers {
        builder = builder.header(*name, value);
    }
    let mut request = builder
        .body(FullBody::new(Bytes::from(req.body)))
        .map_err(|e| SendError::Other(e.to_string()))?;
    request
        .extensions_mut()
        .insert(RequestOptionsExtension(options(timeout)));
    let deadline = monotonic_now().saturating_add(nanos(timeout));
    let resp = spin_sdk::http::send(request).await.map_err(send_error)?;
    if monotonic_now() >= deadline {
        return Err(SendError::Timeout);
    }
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = read_capped_until(resp.into_body(), MAX_UPSTREAM_BODY, Some(deadline))
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

/// The whole body, or `TooLarge` as soon as it passes `cap`.
pub async fn read_capped<B>(body: B, cap: usize) -> Result<Vec<u8>, InboundBodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    read_capped_until(body, cap, None).await
}

/// [`read_capped`], and `Broken(PAST_DEADLINE)` once a frame arrives after
/// `deadline` (monotonic nanoseconds).
async fn read_capped_until<B>(
    body: B,
    cap: usize,
    deadline: Option<u64>,
) -> Result<Vec<u8>, InboundBodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| InboundBodyError::Broken(format!("{e:?}")))?;
        if let Ok(data) = frame.into_data() {
            append_capped(&mut out, &data, cap)?;
        }
        if deadline.is_some_and(|d| monotonic_now() >= d) {
            return Err(InboundBodyError::Broken(PAST_DEADLINE.into()));
        }
    }
    Ok(out)
}

/// The request with its body read, or why not (`TooLarge` past `body_limit`
/// of its route, checked against `content-length` first, so an honest
/// oversized upload is refused unread) with the headers it came with.
pub async fn read_inbound(req: Request) -> Result<InRequest, (InboundBodyError, InRequest)> {
    let (parts, body) = req.into_parts();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut inbound = InRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body: Vec::new(),
    };
    let cap = body_limit(&inbound.method, &inbound.path);
    let declared = inbound
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Err((InboundBodyError::TooLarge, inbound));
    }
    match read_capped(body, cap).await {
        Ok(body) => {
            inbound.body = body;
            Ok(inbound)
        }
        Err(e) => Err((e, inbound)),
    }
}
