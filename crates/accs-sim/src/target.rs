//! A back-office HTTP receiver (an ERP, a PIM, a warehouse) that accs-edge
//! forwards Commerce's events to, and that fails on command.
//!
//! Each [`Target`] is its own axum server on `127.0.0.1:0` with its own
//! state, so a test may run several side by side; nothing is global. Every
//! request is recorded when it arrives, before the target decides how to
//! answer, so a failing or hanging target still shows what it was sent.
//!
//! How it answers, checked in this order for each request:
//! 1. [`Target::hang`]: hold the request that long before answering at all
//!    (longer than the caller's timeout: the caller sees no answer);
//! 2. [`Target::fail_next`]: the next `n` requests get that status;
//! 3. [`Target::fail`]: every request gets that status until [`Target::recover`];
//! 4. otherwise the success answer, 204 by default ([`Target::answer_with`]).
//!
//! ```no_run
//! # async fn demo() {
//! let erp = accs_sim::target::Target::start().await;
//! erp.fail_next(3, 503);
//! let url = erp.url("/hook");
//! // ... the edge forwards to `url` ...
//! assert_eq!(erp.received_ok().len(), 1);
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The largest body a target reads; a bigger one is answered 413 (and still
/// recorded, with an empty body).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// One request as the target saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// The path as sent, not decoded.
    pub path: String,
    /// The raw query, without `?`.
    pub query: Option<String>,
    /// Names lower-cased; a repeated header's values joined with `, `.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// When it arrived (before any hang).
    pub at: SystemTime,
    /// The status it was answered; `None` while held, or when the caller
    /// gave up before the answer (a hang longer than its timeout).
    pub status: Option<u16>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; `Value::Null` when it is not JSON.
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Answered with a 2xx status.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

#[derive(Debug)]
struct Behaviour {
    ok_status: u16,
    ok_body: Option<(String, String)>,
    fail: Option<u16>,
    fail_next: Vec<u16>,
    hang: Option<Duration>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            ok_status: 204,
            ok_body: None,
            fail: None,
            fail_next: Vec::new(),
            hang: None,
        }
    }
}

#[derive(Default)]
struct Inner {
    behaviour: Behaviour,
    received: Vec<Received>,
    /// How many records [`Target::clear`] dropped: a held request's record
    /// is found again at its arrival number minus this.
    cleared: usize,
}

#[derive(Default)]
struct Shared(Mutex<Inner>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running target. Dropping it stops the server.
pub struct Target {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Target {
    /// Starts on a free loopback port. Panics only if the OS refuses a
    /// loopback listener (a broken test machine).
    pub async fn start() -> Target {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("binding a loopback port for a target");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Target { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` + `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order, failed and held ones included.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// The requests answered 2xx, in arrival order.
    pub fn received_ok(&self) -> Vec<Received> {
        self.received().into_iter().filter(Received::ok).collect()
    }

    /// Forgets what was received (the behaviour stays).
    pub fn clear(&self) {
        let mut inner = self.shared.lock();
        inner.cleared += inner.received.len();
        inner.received.clear();
    }

    /// The success answer: `status` (a 2xx) with no body. The default is 204.
    pub fn answer(&self, status: u16) {
        let mut inner = self.shared.lock();
        inner.behaviour.ok_status = status;
        inner.behaviour.ok_body = None;
    }

    /// The success answer: `status` with `body` of `content_type`.
    pub fn answer_with(&self, status: u16, content_type: &str, body: &str) {
        let mut inner = self.shared.lock();
        inner.behaviour.ok_status = status;
        inner.behaviour.ok_body = Some((content_type.to_owned(), body.to_owned()));
    }

    /// Every request from now on is answered `status` until [`Target::recover`].
    pub fn fail(&self, status: u16) {
        self.shared.lock().behaviour.fail = Some(status);
    }

    /// The next `n` requests are answered `status` (after any earlier
    /// `fail_next` ones), then the target behaves as before.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut inner = self.shared.lock();
        inner
            .behaviour
            .fail_next
            .extend(std::iter::repeat_n(status, n));
    }

    /// Every request from now on is held `d` before it is answered, until
    /// [`Target::recover`]: a caller with a shorter timeout gets no answer.
    pub fn hang(&self, d: Duration) {
        self.shared.lock().behaviour.hang = Some(d);
    }

    /// Back to answering with success: clears `fail`, `fail_next` and `hang`
    /// (the success answer set by [`Target::answer`] stays).
    pub fn recover(&self) {
        let mut inner = self.shared.lock();
        inner.behaviour.fail = None;
        inner.behaviour.fail_next.clear();
        inner.behaviour.hang = None;
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, MAX_BODY).await;
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let index;
    let hang = {
        let mut inner = shared.lock();
        index = inner.cleared + inner.received.len();
        inner.received.push(Received {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body: body.as_deref().map(<[u8]>::to_vec).unwrap_or_default(),
            at: SystemTime::now(),
            status: None,
        });
        inner.behaviour.hang
    };
    if let Some(d) = hang {
        tokio::time::sleep(d).await;
    }
    let mut inner = shared.lock();
    let b = &mut inner.behaviour;
    let (status, ok_body) = if body.is_err() {
        (413, None)
    } else if !b.fail_next.is_empty() {
        (b.fail_next.remove(0), None)
    } else if let Some(s) = b.fail {
        (s, None)
    } else {
        (b.ok_status, b.ok_body.clone())
    };
    let at = index.checked_sub(inner.cleared);
    if let Some(r) = at.and_then(|i| inner.received.get_mut(i)) {
        r.status = Some(status);
    }
    drop(inner);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match ok_body {
        Some((content_type, text)) => {
            let mut resp = (code, Bytes::from(text)).into_response();
            if let Ok(v) = HeaderValue::try_from(content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            resp
        }
        None => code.into_response(),
    }
}
