//! A component under test: one flavour in edge-host, pointed at its own
//! simulator, capturing every response for the secrets check.

use super::*;
use accs_sim::Sim;
use bytes::Bytes;
use edge_host::{EdgeHost, EdgeInstance, HostOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

pub struct Rig {
    pub flavour: Flavour,
    pub sim: Sim,
    pub host: EdgeHost,
    pub captured: Mutex<Vec<String>>,
}

pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Value,
}

pub async fn rig(flavour: Flavour, tweak: impl FnOnce(&mut BTreeMap<String, String>)) -> Rig {
    let sim = start_sim().await;
    let mut opts = HostOptions::new(flavour, wasm(flavour));
    opts.vars = vars(&sim);
    tweak(&mut opts.vars);
    let host = EdgeHost::new(opts).expect("hosting the component");
    Rig {
        flavour,
        sim,
        host,
        captured: Mutex::default(),
    }
}

pub fn request(method: &str, path: &str, key: Option<&str>) -> http::Request<Bytes> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"));
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    b.body(Bytes::new()).unwrap()
}

/// A JSON `POST` to `path` with the ERP's API key.
pub fn post_json(path: &str, body: &Value) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", "application/json")
        .body(Bytes::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// A `POST /v1/events` with `headers` (the I/O Events ones) and `body`.
pub fn post_events(headers: Vec<(String, String)>, body: &[u8]) -> http::Request<Bytes> {
    let mut b = http::Request::builder()
        .method("POST")
        .uri("http://localhost/v1/events");
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(Bytes::copy_from_slice(body)).unwrap()
}

/// A component taking I/O Events deliveries signed by its simulator's keys,
/// with `actions` as `io_events_actions` and its ledger in a store named
/// after `name`.
pub async fn events_rig(
    flavour: Flavour,
    actions: &str,
    name: &str,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> LedgerRig {
    let sim = start_sim().await;
    let mut opts = HostOptions::new(flavour, wasm(flavour));
    opts.vars = vars(&sim);
    opts.vars.insert(
        "io_events_key_origin".into(),
        sim.io_events().key_origin().into(),
    );
    opts.vars.insert("io_events_actions".into(), actions.into());
    ledger_rig(sim, opts, name, tweak)
}

/// A component taking Standard Webhooks signed with `key` (its
/// `webhook_secrets` the `whsec_` form), its ledger in a store named after
/// `name`.
pub async fn webhook_rig(
    flavour: Flavour,
    key: &[u8],
    name: &str,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> LedgerRig {
    let sim = start_sim().await;
    let mut opts = HostOptions::new(flavour, wasm(flavour));
    opts.vars = vars(&sim);
    opts.vars.insert(
        "webhook_secrets".into(),
        super::secret(standard_webhooks::whsec(key)),
    );
    ledger_rig(sim, opts, name, tweak)
}

impl Rig {
    pub fn answer(&self, resp: http::Response<Bytes>) -> Answer {
        let (parts, body) = resp.into_parts();
        self.captured.lock().unwrap().push(format!(
            "{:?} {}",
            parts.headers,
            String::from_utf8_lossy(&body)
        ));
        let body = serde_json::from_slice(&body).unwrap_or_else(|_| {
            panic!(
                "{:?}: body is not JSON: {}",
                self.flavour,
                String::from_utf8_lossy(&body)
            )
        });
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// `GET /v1/products/SKU-000{i}` on `inst` for each `i`, each 200 (say
    /// while IMS is down and a valid token is held).
    pub async fn reads_stay_ok(
        &self,
        inst: &EdgeInstance,
        skus: std::ops::RangeInclusive<u32>,
        what: &str,
    ) {
        for i in skus {
            let path = format!("/v1/products/SKU-000{i}");
            let a = self.on(inst, "GET", &path, Some(super::API_KEY)).await;
            assert_eq!(a.status, 200, "{what}: {path}: {}", a.body);
        }
    }

    pub async fn on(
        &self,
        inst: &EdgeInstance,
        method: &str,
        path: &str,
        key: Option<&str>,
    ) -> Answer {
        self.send_on(inst, request(method, path, key)).await
    }

    /// Sends any request on `inst`; the answer is checked against the OpenAPI document.
    pub async fn send_on(&self, inst: &EdgeInstance, req: http::Request<Bytes>) -> Answer {
        let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
        let resp = inst.handle(req).await.expect("the component trapped");
        self.checked(&method, &path, resp)
    }

    /// Checks a response to `method path` against docs/openapi.yaml, then reads it.
    pub fn checked(&self, method: &str, path: &str, resp: http::Response<Bytes>) -> Answer {
        super::openapi::check(
            method,
            path,
            resp.status().as_u16(),
            resp.headers(),
            resp.body(),
        );
        self.answer(resp)
    }

    /// Sends any request on a fresh instance, checks the answer against the
    /// OpenAPI document and hands it back unread: for answers that are not
    /// JSON (the events challenge's `text/plain`).
    pub async fn send_raw(&self, req: http::Request<Bytes>) -> http::Response<Bytes> {
        oneshot_checked(&self.host, req).await
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Answer {
        self.send(request("GET", path, key)).await
    }

    /// Sends any request on a fresh instance; checked against the OpenAPI document.
    pub async fn send(&self, req: http::Request<Bytes>) -> Answer {
        let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
        let resp = self.host.oneshot(req).await.expect("the component trapped");
        self.checked(&method, &path, resp)
    }

    /// Every call the simulator saw, IMS and ACCS.
    pub fn upstream_calls(&self) -> u64 {
        let c = self.sim.counters();
        c.token_requests + c.accs_requests
    }

    pub fn accs_calls(&self, prefix: &str) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.raw_path.starts_with(&format!("/{TENANT}{prefix}")))
            .count()
    }

    /// The suite-wide promise: no secret in any response or log line.
    pub fn finish(self) {
        let mut captured = self.captured.into_inner().unwrap();
        let logs = self.host.logs();
        assert!(
            logs.contains(r#""request_id":"#),
            "{:?}: no log lines captured",
            self.flavour
        );
        captured.push(logs);
        assert_no_secrets(&self.sim, &captured);
    }
}

/// A [`Rig`] for the routes with a delivery ledger (webhooks, I/O Events).
/// The wasmtime flavour keeps that ledger in `token_cache_dir` (its
/// `wasi:keyvalue` lasts one instance), so it gets a fresh directory,
/// preopened and configured, removed with the rig; Spin's ledger is the
/// shared store.
pub struct LedgerRig {
    pub rig: Rig,
    /// The wasmtime flavour's ledger directory.
    pub dir: Option<super::serve::TempDir>,
}

impl std::ops::Deref for LedgerRig {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.rig
    }
}

/// Hosts `opts` (after `tweak`) against `sim`, with the ledger directory
/// the flavour needs, named after `tag`.
pub fn ledger_rig(
    sim: Sim,
    mut opts: HostOptions,
    tag: &str,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> LedgerRig {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = (opts.flavour == Flavour::Wasmtime).then(|| {
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = super::serve::TempDir::new(&format!("{tag}-{n}"));
        opts.preopen_dir = Some(dir.0.clone());
        opts.vars.insert(
            "token_cache_dir".into(),
            edge_host::PREOPEN_GUEST_PATH.into(),
        );
        dir
    });
    tweak(&mut opts.vars);
    let flavour = opts.flavour;
    let host = EdgeHost::new(opts).expect("hosting the component");
    LedgerRig {
        rig: Rig {
            flavour,
            sim,
            host,
            captured: Default::default(),
        },
        dir,
    }
}

/// `host.oneshot(req)` with the answer checked against docs/openapi.yaml:
/// for tests that host the component without a [`Rig`]. Use it (or
/// [`Rig::send`]) instead of `oneshot`, so no answer escapes the check.
pub async fn oneshot_checked(host: &EdgeHost, req: http::Request<Bytes>) -> http::Response<Bytes> {
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let resp = host.oneshot(req).await.expect("the component trapped");
    checked_response(&method, &path, resp)
}

/// `inst.handle(req)` with the answer checked against docs/openapi.yaml.
pub async fn handle_checked(
    inst: &EdgeInstance,
    req: http::Request<Bytes>,
) -> http::Response<Bytes> {
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let resp = inst.handle(req).await.expect("the component trapped");
    checked_response(&method, &path, resp)
}

/// Checks `resp` to `method path` against docs/openapi.yaml and hands it back.
pub fn checked_response(
    method: &str,
    path: &str,
    resp: http::Response<Bytes>,
) -> http::Response<Bytes> {
    super::openapi::check(
        method,
        path,
        resp.status().as_u16(),
        resp.headers(),
        resp.body(),
    );
    resp
}

/// Standard Webhooks signing, computed here, independently of the component.
pub mod standard_webhooks {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use bytes::Bytes;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    /// `whsec_<base64 of key>`.
    pub fn whsec(key: &[u8]) -> String {
        format!("whsec_{}", STANDARD.encode(key))
    }

    pub fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`.
    pub fn sign(key: &[u8], id: &str, ts: u64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// A delivery to `/v1/webhooks/{topic}` signed now with `key`.
    pub fn signed(key: &[u8], topic: &str, id: &str, body: &[u8]) -> http::Request<Bytes> {
        let ts = now();
        http::Request::builder()
            .method("POST")
            .uri(format!("http://localhost/v1/webhooks/{topic}"))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sign(key, id, ts, body))
            .body(Bytes::copy_from_slice(body))
            .unwrap()
    }
}
