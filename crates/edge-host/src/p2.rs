//! Serving a WASI 0.2 `wasi:http/incoming-handler` component (the default `spin`
//! build) with wasmtime-wasi-http 48's p2 bindings.
//!
//! Each request gets a fresh store and instance, dropped when the guest's handler
//! returns: what Spin, Akamai Functions and `wasmtime serve` do with a WASI 0.2
//! component, so nothing in guest memory survives from one request to the next. The
//! call runs in its own task (as in `wasmtime serve`) because the guest sets the
//! response first and writes its body afterwards; the response is complete once the
//! body ends, and the request once the handler returns.

use crate::{Ctx, wt};
use anyhow::{anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// One request on a fresh instance of `pre` in `store`; the response and the guest's
/// memory peak (bytes).
pub(crate) async fn handle(
    pre: &ProxyPre<Ctx>,
    mut store: Store<Ctx>,
    req: http::Request<Bytes>,
) -> anyhow::Result<(http::Response<Bytes>, usize)> {
    let req = crate::absolute(req)?
        .map(|b| Full::new(b).map_err(|e: Infallible| -> wasmtime_wasi_http::Error { match e {} }));
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .map_err(wt)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let out = store
        .data_mut()
        .http()
        .new_response_outparam(tx)
        .map_err(wt)?;
    let pre = pre.clone();
    let call = tokio::spawn(async move {
        let proxy = pre
            .instantiate_async(&mut store)
            .await
            .map_err(wt)
            .map_err(|e| e.context("instantiating the component"))?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, out)
            .await
            .map_err(wt)?;
        anyhow::Ok(store.data().memory.bytes)
    });
    let response = match rx.await {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => bail!("the component answered with error code {code:?}"),
        // The sender went with the store: the call ended without a response.
        Err(_) => {
            let e = match call.await {
                Ok(Ok(_)) => anyhow!("the component returned without setting a response"),
                Ok(Err(e)) => e,
                Err(e) => anyhow!(e),
            };
            return Err(e.context("no response"));
        }
    };
    let response = crate::collected(response).await?;
    let peak = call.await.map_err(|e| anyhow!(e))??;
    Ok((response, peak))
}
