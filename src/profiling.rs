//! Requests replayed natively over fake ports, as the WASI 0.2 entry serves
//! them (`host/p2/entry.rs`: a fresh instance per request, only the
//! variables its route needs, the shared store the only memory), for
//! callgrind to attribute by function (`accs-bench --profile`). The logic
//! behind `Ports` is the same code the `.wasm` runs; what the host does (the
//! component model, HTTP, the store) is not here, so the figures are the
//! guest's share.
//!
//! Only [`measured`] is counted: the harness runs it under
//! `valgrind --tool=callgrind --toggle-collect=accs_profile_measured`.

use crate::routes::{App, variables_for};
use crate::testing::{FakePorts, respond};
use crate::wire::{InRequest, InResponse};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// What accs-bench reads (`crates/accs-bench/src/procs.rs`).
const API_KEY: &str = "bench-key-0123456789abcdef0123456789abcdef";
/// A Standard Webhooks secret: `whsec_` and 32 bytes of base64.
const WEBHOOK_KEY: &[u8] = b"profile-key-0123456789abcdef0123";

/// The scenarios, by the name `accs-profile` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `GET /v1/products/SKU-0001`, the token in the store (warm).
    ProductRead,
    /// `POST /v1/inventory/source-items` with 100 items, one batch.
    InventorySync,
    /// `POST /v1/webhooks/inventory`, signed, 10 items, a new delivery id each.
    SignedWebhook,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario::ProductRead,
        Scenario::InventorySync,
        Scenario::SignedWebhook,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::ProductRead => "product-read",
            Scenario::InventorySync => "inventory-sync-100",
            Scenario::SignedWebhook => "signed-webhook",
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A product as the simulator answers `GET /V1/products/SKU-0001`.
const PRODUCT: &str = r#"{"id":1,"sku":"SKU-0001","name":"Product 0001","attribute_set_id":4,"price":23.72,"status":1,"visibility":4,"type_id":"simple","created_at":"2026-01-01 00:00:00","updated_at":"2026-01-01 00:00:00","weight":1,"extension_attributes":{"website_ids":[1],"category_links":[{"position":0,"category_id":"2"}],"stock_item":{"item_id":1,"product_id":1,"stock_id":1,"qty":100,"is_in_stock":true}},"product_links":[],"options":[],"media_gallery_entries":[],"tier_prices":[],"custom_attributes":[{"attribute_code":"description","value":"<p>A product of the simulator.</p>"},{"attribute_code":"url_key","value":"product-0001"},{"attribute_code":"tax_class_id","value":"2"}]}"#;

/// The variables of accs-bench's Spin runs, and a webhook secret.
fn variables() -> HashMap<&'static str, String> {
    use base64::Engine;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(WEBHOOK_KEY)
    );
    HashMap::from([
        ("ims_client_id", "bench-client".to_owned()),
        (
            "ims_client_secret",
            "bench-secret-0123456789abcdef0123".to_owned(),
        ),
        (
            "ims_token_url",
            "http://127.0.0.1:9000/ims/token/v3".to_owned(),
        ),
        (
            "accs_base_url",
            "http://127.0.0.1:9000/tenant-bench".to_owned(),
        ),
        (
            "api_keys",
            format!("bench:{API_KEY}:products.read+products.write+inventory.write"),
        ),
        ("allow_http", "true".to_owned()),
        ("webhook_secrets", secret),
    ])
}

/// The requests of one scenario: `n` of them, each its own.
pub fn requests(scenario: Scenario, n: usize, now_s: u64) -> Vec<InRequest> {
    let head = |method: &str, path: &str| InRequest {
        method: method.into(),
        path: path.into(),
        query: None,
        headers: vec![
            ("host".into(), "127.0.0.1:3000".into()),
            ("user-agent".into(), "accs-bench".into()),
            ("accept".into(), "*/*".into()),
        ],
        body: Vec::new(),
        ..Default::default()
    };
    let items = |count: usize| {
        let items: Vec<String> = (0..count)
            .map(|i| {
                format!(
                    r#"{{"sku":"SKU-{i:04}","source_code":"default","quantity":{},"status":1}}"#,
                    i % 50
                )
            })
            .collect();
        format!(r#"{{"sourceItems":[{}]}}"#, items.join(","))
    };
    (0..n)
        .map(|i| match scenario {
            Scenario::ProductRead => {
                let mut r = head("GET", "/v1/products/SKU-0001");
                r.headers
                    .push(("authorization".into(), format!("Bearer {API_KEY}")));
                r
            }
            Scenario::InventorySync => {
                let mut r = head("POST", "/v1/inventory/source-items");
                r.headers
                    .push(("authorization".into(), format!("Bearer {API_KEY}")));
                r.headers
                    .push(("content-type".into(), "application/json".into()));
                r.body = items(100).into_bytes();
                r
            }
            Scenario::SignedWebhook => {
                let mut r = head("POST", "/v1/webhooks/inventory");
                let body = items(10).into_bytes();
                let id = format!("msg_profile_{i:06}");
                let ts = now_s.to_string();
                let sig = crate::webhook::signature::sign(&id, &ts, &body, &[WEBHOOK_KEY.to_vec()]);
                r.headers
                    .push(("content-type".into(), "application/json".into()));
                r.headers.push(("webhook-id".into(), id));
                r.headers.push(("webhook-timestamp".into(), ts));
                r.headers.push(("webhook-signature".into(), sig));
                r.body = body;
                r
            }
        })
        .collect()
}

/// A fresh instance's ports on the shared store: IMS hands out one token,
/// ACCS answers the product and accepts source items.
fn ports(store: &Rc<RefCell<HashMap<String, Vec<u8>>>>, seed: u64) -> FakePorts {
    let mut ports = FakePorts::new(|req, _| {
        if req.url.contains("/ims/token") {
            respond(
                200,
                r#"{"access_token":"eyJhbGciOiJSUzI1NiJ9.profile.token","token_type":"bearer","expires_in":86399}"#,
            )
        } else if req.url.contains("/V1/inventory/source-items") {
            respond(200, "[]")
        } else {
            respond(200, PRODUCT)
        }
    });
    ports.kv = store.clone();
    ports.seed.set(seed);
    ports
}

/// Polls `f` to its end: the fake ports never wait on anything outside.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// One request as the WASI 0.2 entry serves it: the route's variables, the
/// settings, the app, the head check, the request.
fn serve(vars: &HashMap<&'static str, String>, ports: FakePorts, req: InRequest) -> InResponse {
    // As the entry keeps them (`host/p2/entry.rs`).
    let read: std::collections::BTreeMap<&str, String> = variables_for(&req.method, &req.path)
        .filter_map(|name| Some((name, vars.get(name)?.clone())))
        .collect();
    let settings = crate::config::Settings::from_lookup(|name| read.get(name).cloned());
    let app = App::new(ports, settings);
    match app.before_body(&req) {
        Some(resp) => resp,
        None => block_on(app.handle(req)),
    }
}

/// The counted part: each request on its own instance, one after another.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "Rust" fn accs_profile_measured(
    vars: &HashMap<&'static str, String>,
    store: &Rc<RefCell<HashMap<String, Vec<u8>>>>,
    reqs: Vec<InRequest>,
    seed: u64,
    now_ms: u64,
) -> usize {
    let mut ok = 0;
    for (i, req) in reqs.into_iter().enumerate() {
        let ports = ports(store, seed + i as u64);
        ports.now.set(now_ms);
        ok += usize::from(serve(vars, ports, req).status == 200);
    }
    ok
}

/// Runs `warmup` uncounted requests (the first asks IMS and leaves the
/// sealed token in the store), then `n` counted ones; every one must answer
/// 200. Returns how many answered 200 of the counted ones.
pub fn run(scenario: Scenario, warmup: usize, n: usize) -> Result<usize, String> {
    let vars = variables();
    let store = Rc::default();
    let now_ms = 1_800_000_000_000;
    let now_s = now_ms / 1000;
    let warm = requests(scenario, warmup + n, now_s);
    let (first, counted) = warm.split_at(warmup);
    let ok = accs_profile_warmup(&vars, &store, first.to_vec(), now_ms);
    if ok != warmup {
        return Err(format!("{ok} of {warmup} warm-up requests answered 200"));
    }
    let ok = accs_profile_measured(&vars, &store, counted.to_vec(), 1_000, now_ms);
    if ok != n {
        return Err(format!("{ok} of {n} counted requests answered 200"));
    }
    Ok(ok)
}

#[inline(never)]
fn accs_profile_warmup(
    vars: &HashMap<&'static str, String>,
    store: &Rc<RefCell<HashMap<String, Vec<u8>>>>,
    reqs: Vec<InRequest>,
    now_ms: u64,
) -> usize {
    let mut ok = 0;
    for (i, req) in reqs.into_iter().enumerate() {
        let ports = ports(store, 1 + i as u64);
        ports.now.set(now_ms);
        let resp = serve(vars, ports, req);
        ok += usize::from(resp.status == 200);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_answers_200() {
        for s in Scenario::ALL {
            assert_eq!(run(s, 2, 3), Ok(3), "{}", s.name());
            assert_eq!(Scenario::parse(s.name()), Some(s));
        }
    }
}
