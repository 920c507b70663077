//! The `wasi:http` 0.3 handler. p3 hosts reuse an instance for many
//! requests, so the settings and the token live in the instance.

use super::flavour::read_variables;
use super::http::read_inbound;
use super::ports::HostPorts;
use crate::config::{Settings, VARIABLES};
use crate::routes::{App, InResponse, body_limit};
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
    let vars = read_variables(VARIABLES).await;
    let settings = Settings::from_lookup(|name| vars.get(name).cloned());
    let app = Rc::new(App::new(HostPorts::default(), settings));
    // Concurrent first requests may each build one; the first stored wins.
    APP.with(|a| a.borrow_mut().get_or_insert(app).clone())
}

#[spin_sdk::http_service]
async fn handle(req: Request) -> Response<FullBody<Bytes>> {
    let app = app().await;
    let resp = match read_inbound(req).await {
        Ok(inbound) => app.handle(inbound).await,
        Err((e, head)) => app.reject(
            &e.problem(body_limit(&head.method, &head.path)),
            &head.headers,
        ),
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
