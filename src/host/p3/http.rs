//! `wasi:http` 0.3 through spin-sdk 7: outbound calls with a deadline and a
//! body cap, and reading the inbound body with a cap. Shared by both WASI 0.3
//! flavours.

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
    // Spin waits up to 600 s on its own, and a host may ignore the options:
    // the deadline is also enforced here.
    let exchange = async {
        let resp = spin_sdk::http::send(request).await.map_err(send_error)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = read_capped(resp.into_body(), MAX_UPSTREAM_BODY).await?;
        Ok(OutResponse {
            status,
            headers,
            body,
        })
    };
    crate::host::race_deadline(exchange, spin_sdk::time::sleep(timeout)).await
}

/// WASI 0.3 request options, so a host that honours them cancels the
/// attempt itself. A host that refuses one keeps its own default.
fn options(timeout: Duration) -> RequestOptions {
    const CONNECT: Duration = Duration::from_secs(10);
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let opts = RequestOptions::new();
    let _ = opts.set_connect_timeout(Some(ns(timeout.min(CONNECT))));
    let _ = opts.set_first_byte_timeout(Some(ns(timeout)));
    let _ = opts.set_between_bytes_timeout(Some(ns(timeout)));
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
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| InboundBodyError::Broken(format!("{e:?}")))?;
        if let Ok(data) = frame.into_data() {
            append_capped(&mut out, &data, cap)?;
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
