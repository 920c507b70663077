//! `wasi:http` 0.2 through spin-sdk 5.2: outbound calls with a deadline and a
//! body cap, and the inbound request read with a cap.

use super::time::sleep;
use crate::host::{BodyPlan, Inbound, body_plan};
use crate::host::{InboundBodyError, append_capped};
use crate::ports::{OutRequest, OutResponse, SendError};
use crate::wire::InRequest;
use crate::wire::MAX_UPSTREAM_BODY;
use futures::{Stream, StreamExt};
use spin_sdk::http::conversions::TryIntoOutgoingRequest;
use spin_sdk::http::{
    ErrorCode, Headers, IncomingRequest, IncomingResponse, Method, OutgoingRequest, Scheme,
};
use std::time::Duration;

pub async fn send(req: OutRequest, timeout: Duration) -> Result<OutResponse, SendError> {
    let request = outgoing(req)?;
    // spin-sdk 5.2's `send` sets no request options and Spin then waits up to
    // 600 s: the deadline is enforced here.
    let exchange = async {
        let resp: IncomingResponse = spin_sdk::http::send(request).await.map_err(send_error)?;
        let status = resp.status();
        let headers = resp
            .headers()
            .entries()
            .into_iter()
            .filter_map(|(n, v)| Some((n, String::from_utf8(v).ok()?)))
            .collect();
        let body = read_capped(resp.take_body_stream(), MAX_UPSTREAM_BODY).await?;
        Ok(OutResponse {
            status,
            headers,
            body,
        })
    };
    crate::host::race_deadline(exchange, sleep(timeout)).await
}

/// A `wasi:http` request and the body `spin_sdk::http::send` writes to it.
struct Outgoing(OutgoingRequest, Option<Vec<u8>>);

impl TryIntoOutgoingRequest for Outgoing {
    type Error = std::convert::Infallible;

    fn try_into_outgoing_request(self) -> Result<(OutgoingRequest, Option<Vec<u8>>), Self::Error> {
        Ok((self.0, self.1))
    }
}

/// The request built straight as a `wasi:http` request, as spin-sdk's
/// `Request` conversion did, without its copies (a header map, a second
/// parse of the URL) and without `anyhow`, whose error formatting (with
/// backtraces and symbol demangling) was 40 KB of the `.wasm`.
fn outgoing(req: OutRequest) -> Result<Outgoing, SendError> {
    let invalid = || SendError::Connect(format!("{:?}", ErrorCode::HttpRequestUriInvalid));
    let (scheme, authority, path_with_query) =
        crate::host::split_url(&req.url).ok_or_else(invalid)?;
    let mut entries: Vec<(String, Vec<u8>)> = Vec::with_capacity(req.headers.len() + 1);
    if let Some(len) = req.content_length() {
        entries.push(("content-length".to_owned(), len.into_bytes()));
    }
    entries.extend(
        req.headers
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.into_bytes())),
    );
    let fields = Headers::from_list(&entries).map_err(|e| SendError::Other(format!("{e:?}")))?;
    let request = OutgoingRequest::new(fields);
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
    // No body to write (a GET): the body is never taken, which the host
    // sends as an empty one (`wasi:http` 0.2 `outgoing-request.body`), and
    // spin-sdk then opens no body stream (several host calls for nothing).
    let body = (!req.body.is_empty()).then_some(req.body);
    Ok(Outgoing(request, body))
}

fn send_error(e: spin_sdk::http::SendError) -> SendError {
    let spin_sdk::http::SendError::Http(code) = e else {
        return SendError::Other(e.to_string());
    };
    crate::host::send_error_from_code!(code, ErrorCode)
}

/// The whole body, or `TooLarge` as soon as it passes `cap`.
async fn read_capped<S, E>(body: S, cap: usize) -> Result<Vec<u8>, InboundBodyError>
where
    S: Stream<Item = Result<Vec<u8>, E>>,
    E: std::fmt::Debug,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| InboundBodyError::Broken(format!("{e:?}")))?;
        append_capped(&mut out, &chunk, cap)?;
    }
    Ok(out)
}

/// The request's head: method, path, query and headers, the body not yet
/// read (the entry reads the route's variables from it, then asks
/// `before_body`, then [`read_body`]).
pub fn read_head(req: &IncomingRequest) -> InRequest {
    let (path, query) = split_path(req.path_with_query().unwrap_or_default());
    let method = crate::host::method_name!(req.method(), Method);
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .into_iter()
        .filter_map(|(n, v)| Some((n.to_ascii_lowercase(), String::from_utf8(v).ok()?)))
        .collect();
    InRequest {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
        ..Default::default()
    }
}

/// The body read into `inbound`, or why not (`TooLarge` past `body_limit`
/// of its route, checked against `content-length` first, so an honest
/// oversized upload is refused unread) with the headers it came with.
pub async fn read_body(req: IncomingRequest, mut inbound: InRequest) -> Inbound {
    let cap = match body_plan(&inbound) {
        BodyPlan::TooLarge => return Inbound::Unread(InboundBodyError::TooLarge, inbound),
        BodyPlan::Skip => return Inbound::Read(inbound),
        BodyPlan::Read(cap) => cap,
    };
    match read_capped(req.into_body_stream(), cap).await {
        Ok(body) => {
            inbound.body = body;
            Inbound::Read(inbound)
        }
        Err(e) => Inbound::Unread(e, inbound),
    }
}

/// `/a/b?x=1` into the path and the query, as the WASI 0.3 builds get them.
fn split_path(path_with_query: String) -> (String, Option<String>) {
    match path_with_query.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (path_with_query, None),
    }
}
