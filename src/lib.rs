//! accs-edge: a WebAssembly HTTP component that holds the Adobe IMS
//! server-to-server credentials and calls the Adobe Commerce as a Cloud Service
//! REST API through a small, safe set of routes.
//!
//! Everything that decides something is plain Rust over plain data (`config`,
//! `ims`, `accs`, `routes`, `auth`, `problem`); only `host` touches the host,
//! through the [`host::Ports`] trait, so the logic is unit-tested natively.

pub mod accs;
pub mod auth;
pub mod config;
pub mod host;
pub mod ims;
pub mod problem;
pub mod routes;
pub mod trace;
pub mod webhook;

#[cfg(test)]
mod testing;

#[cfg(all(
    target_arch = "wasm32",
    not(any(feature = "spin", feature = "wasmtime"))
))]
compile_error!("enable one flavour: the `spin` (default) or the `wasmtime` feature");

#[cfg(target_arch = "wasm32")]
mod entry {
    use crate::config::{Settings, VARIABLES};
    use crate::host::{self, HostPorts, InboundBodyError, MAX_INBOUND_BODY};
    use crate::problem::{Code, Problem};
    use crate::routes::{App, InResponse};
    use bytes::Bytes;
    use spin_sdk::http::{FullBody, Request, Response};
    use std::cell::RefCell;
    use std::rc::Rc;

    thread_local! {
        /// Built on the first request and kept for the life of the instance,
        /// which p3 hosts reuse for many requests: a warm request reads no
        /// variable and no key-value entry.
        static APP: RefCell<Option<Rc<App<HostPorts>>>> = const { RefCell::new(None) };
    }

    async fn app() -> Rc<App<HostPorts>> {
        if let Some(app) = APP.with(|a| a.borrow().clone()) {
            return app;
        }
        let vars = host::read_variables(VARIABLES).await;
        let settings = Settings::from_lookup(|name| vars.get(name).cloned());
        let app = Rc::new(App::new(HostPorts::default(), settings));
        // Concurrent first requests may each build one; the first stored wins.
        APP.with(|a| a.borrow_mut().get_or_insert(app).clone())
    }

    #[spin_sdk::http_service]
    async fn handle(req: Request) -> Response<FullBody<Bytes>> {
        let app = app().await;
        let resp = match host::read_inbound(req, MAX_INBOUND_BODY).await {
            Ok(inbound) => app.handle(inbound).await,
            Err(e) => {
                let p = match e {
                    InboundBodyError::TooLarge => Problem::new(
                        Code::PayloadTooLarge,
                        format!("request bodies are limited to {MAX_INBOUND_BODY} bytes"),
                    ),
                    InboundBodyError::Broken(_) => {
                        Problem::bad_request("the request body could not be read")
                    }
                };
                app.reject(&p)
            }
        };
        into_response(resp)
    }

    fn into_response(resp: InResponse) -> Response<FullBody<Bytes>> {
        // The whole body is in hand: say its length, so the host need not chunk it.
        let mut builder = http::Response::builder()
            .status(resp.status)
            .header("content-length", resp.body.len());
        for (name, value) in &resp.headers {
            builder = builder.header(*name, value);
        }
        builder
            .body(FullBody::new(Bytes::from(resp.body)))
            .unwrap_or_else(|_| {
                let mut r = http::Response::new(FullBody::new(Bytes::new()));
                *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                r
            })
    }
}
