//! The `wasi:http` 0.3 handler. p3 hosts reuse an instance for many
//! requests, so the settings and the token live in the instance.

use super::flavour::read_variables;
use super::http::read_inbound;
use super::ports::HostPorts;
use crate::config::{Settings, VARIABLES};
use crate::host::Inbound;
use crate::routes::App;
use crate::wire::{InResponse, body_limit};
use spin_sdk::wasip3::http::types::{ErrorCode, Fields, Request, Response};
use spin_sdk::wasip3::{wit_future, wit_stream};
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

/// The `wasi:http/handler` export, written out: spin-sdk's
/// `#[http_service]` converts every request into `http` types first, which
/// is the cost [`super::http`] avoids.
struct Handler;
spin_sdk::wasip3::http::service::export!(Handler);

impl spin_sdk::wasip3::exports::http::handler::Guest for Handler {
    async fn handle(req: Request) -> Result<Response, ErrorCode> {
        Ok(handle(req).await)
    }
}

async fn handle(req: Request) -> Response {
    let app = app().await;
    // A caller that cannot be let in (bad API key, webhook headers out of
    // order) is answered from the head: its body is never read.
    let resp = match read_inbound(req, |head| app.before_body(head)).await {
        Inbound::Read(inbound) => app.handle(inbound).await,
        Inbound::Answered(resp) => resp,
        Inbound::Unread(e, head) => app.reject(
            &e.problem(body_limit(&head.method, &head.path)),
            &head.headers,
        ),
    };
    let response = into_response(resp);
    // Spin only: one turn of the executor before the response goes to the
    // host, in which the task `into_response` spawned begins its body write.
    // Returned straight away, under load (Spin 4.1, c=16, requests sharing
    // an instance) Spin sometimes wrote the head alone, and with Nagle on
    // the body then waited 40 ms for the client's delayed ACK: 1.3 % of reads
    // (`strace -e writev` on `spin up` shows the split; accs-bench figure 7's
    // p99), 0.1 % with this turn, as for the floor. Measured, not derived:
    // polling the write once by hand before returning, without the turn, did
    // not help. The turn costs about 7k instructions per read (figure 8), so
    // the `wasmtime` build does without: `wasmtime serve` sets `TCP_NODELAY`
    // on every connection it accepts (wasmtime-cli 48.0.8,
    // `src/commands/serve.rs`, `stream.set_nodelay(true)`), and its p99 never
    // showed the stall.
    #[cfg(feature = "spin-p3")]
    spin_sdk::wasip3::wit_bindgen::yield_async().await;
    response
}

/// The answer as a `wasi:http` response. The whole body is in hand, so it
/// says its length (the host need not chunk it) and a task writes it once the
/// host takes the response. Header fields the host refuses (none of ours
/// should be) make it a bare 500, as the `http` builder did before.
fn into_response(resp: InResponse) -> Response {
    let InResponse {
        status,
        headers,
        body,
    } = resp;
    let mut entries: Vec<(String, Vec<u8>)> = Vec::with_capacity(headers.len() + 1);
    entries.push(("content-length".into(), body.len().to_string().into_bytes()));
    entries.extend(
        headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.into_bytes())),
    );
    let (fields, status, body) = match Fields::from_list(&entries) {
        Ok(fields) => (fields, status, body),
        Err(_) => (Fields::new(), 500, Vec::new()),
    };
    // Dropped once the body is written: its default says "no trailers".
    let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
    let contents = if body.is_empty() {
        drop(trailers);
        None
    } else {
        let (mut writer, reader) = wit_stream::new::<u8>();
        spin_sdk::wasip3::spawn(async move {
            let _unwritten = writer.write_all(body).await;
            drop(writer);
            drop(trailers);
        });
        Some(reader)
    };
    let (response, _sent) = Response::new(fields, contents, trailers_rx);
    // A new response says 200 (`wasi:http/types` 0.3, `response.new`): one
    // host call fewer for most answers.
    if status != 200 {
        let _ = response.set_status_code(status);
    }
    response
}
