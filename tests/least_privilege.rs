//! Scoped API keys and W3C trace context, in each WASI 0.3 build (edge-host)
//! against the simulator: a key lacking a route's scope is 403 with nothing
//! sent upstream, a key with it works, an unscoped key works everywhere, and
//! trace ids reach IMS and ACCS unchanged with a span id per call. The WASI
//! 0.2 build is checked the same way under real Spin in `e2e_spin.rs`.

mod common;

use bytes::Bytes;
use common::rig::*;
use common::*;

/// Only inventory and orders: what an ERP needs.
const ERP_SCOPES: &str = "inventory.write+orders.read";
/// Only products and the token status: what a PIM needs.
const PIM_SCOPES: &str = "products.read+products.write+token.read+passthrough";
const ALL_KEY: &str = "all-key-0123456789abcdef0123456789abcdef";
const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// Each API-key route (method, path, body) and the scope it needs.
fn routes() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    vec![
        ("GET", "/v1/token", "", "token.read"),
        ("GET", "/v1/products?page_size=2", "", "products.read"),
        ("GET", "/v1/products/SKU-0001", "", "products.read"),
        (
            "PUT",
            "/v1/products/SKU-0001",
            r#"{"product":{"name":"Renamed"}}"#,
            "products.write",
        ),
        (
            "POST",
            "/v1/inventory/source-items",
            r#"{"sourceItems":[{"sku":"SKU-0001","source_code":"default","quantity":3,"status":1}]}"#,
            "inventory.write",
        ),
        (
            "POST",
            "/v1/products/bulk",
            r#"{"products":[{"sku":"SKU-0001","name":"Bulk renamed"}]}"#,
            "products.write",
        ),
        (
            "GET",
            "/v1/bulk/0f0f0f0f-0000-4000-8000-000000000001",
            "",
            "products.write",
        ),
        ("GET", "/v1/orders?page_size=1", "", "orders.read"),
        ("GET", "/v1/orders/1", "", "orders.read"),
        ("GET", "/v1/accs/V1/categories/2", "", "passthrough"),
    ]
}

/// A granted route's own answer from the simulator: 200 and its key fields.
fn assert_granted(what: &str, path: &str, a: &Answer) {
    let b = &a.body;
    // Past the scope check, the bulk routes answer ACCS's acceptance and, for
    // a uuid it does not know, its 404.
    match path {
        "/v1/products/bulk" => {
            assert_eq!(a.status, 202, "{what}: {b}");
            assert_eq!(b["summary"]["accepted"], 1, "{what}: {b}");
            return;
        }
        "/v1/bulk/0f0f0f0f-0000-4000-8000-000000000001" => {
            assert_eq!(a.status, 404, "{what}: {b}");
            assert_eq!(b["code"], "bulk_not_found", "{what}: {b}");
            return;
        }
        _ => {}
    }
    assert_eq!(a.status, 200, "{what}: {}", a.body);
    match path {
        // The first request of the sequence: no token asked for yet.
        "/v1/token" => assert!(
            b["cached"].is_boolean() && b["seconds_left"].is_u64(),
            "{what}: {b}"
        ),
        "/v1/products?page_size=2" | "/v1/orders?page_size=1" => {
            let want = if path.contains("products") { 2 } else { 1 };
            assert_eq!(
                b["items"].as_array().map(Vec::len),
                Some(want),
                "{what}: {b}"
            );
            assert!(b["total_count"].as_u64() > Some(0), "{what}: {b}");
        }
        "/v1/products/SKU-0001" => assert_eq!(b["sku"], "SKU-0001", "{what}: {b}"),
        "/v1/inventory/source-items" => {
            assert_eq!(b["summary"]["ok"], 1, "{what}: {b}");
            assert_eq!(b["results"][0]["sku"], "SKU-0001", "{what}: {b}");
        }
        "/v1/orders/1" => assert_eq!(b["entity_id"], 1, "{what}: {b}"),
        "/v1/accs/V1/categories/2" => assert_eq!(b["id"], 2, "{what}: {b}"),
        other => panic!("{what}: no expectation for {other}"),
    }
}

fn req(method: &str, path: &str, body: &str, key: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("traceparent", PARENT)
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_route_needs_its_scope_and_an_unscoped_key_opens_all() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert(
                "api_keys".into(),
                format!(
                    "erp:{API_KEY}:{ERP_SCOPES};pim:{OTHER_API_KEY}:{PIM_SCOPES};all:{ALL_KEY}"
                ),
            );
            v.insert("passthrough_allow".into(), "GET /V1/categories/*".into());
        })
        .await;
        for (method, path, body, scope) in routes() {
            for (key, granted) in [(API_KEY, ERP_SCOPES), (OTHER_API_KEY, PIM_SCOPES)] {
                let before = rig.upstream_calls();
                let a = rig.send(req(method, path, body, key)).await;
                if granted.split('+').any(|g| g == scope) {
                    assert_granted(
                        &format!("{flavour:?} {method} {path} with {granted}"),
                        path,
                        &a,
                    );
                    continue;
                }
                assert_eq!(
                    a.status, 403,
                    "{flavour:?} {method} {path} without {scope}: {}",
                    a.body
                );
                assert_eq!(a.body["code"], "insufficient_scope");
                assert_eq!(
                    a.headers["www-authenticate"],
                    format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"").as_str()
                );
                assert_eq!(
                    rig.upstream_calls(),
                    before,
                    "{flavour:?} {method} {path}: nothing sent"
                );
            }
            let a = rig.send(req(method, path, body, ALL_KEY)).await;
            assert_granted(&format!("{flavour:?} {method} {path} unscoped"), path, &a);
        }
        // The log names entries, never keys. Each request here runs on a
        // fresh instance, and each instance warns once, on the first request
        // an unscoped key makes: one warning per `all` request, none for the
        // scoped keys.
        let logs = rig.host.logs();
        for name in ["erp", "pim", "all"] {
            assert!(
                logs.contains(&format!(r#""key":"{name}""#)),
                "{flavour:?} {name}"
            );
        }
        let warnings = logs.matches(r#""level":"warn""#).count();
        assert_eq!(warnings, routes().len(), "{flavour:?}: {logs}");
        assert_eq!(logs.matches(r#""entries":["all"]"#).count(), warnings);
        assert!(
            logs.contains(r#""items":{"sent":1,"landed":1}"#),
            "{flavour:?}"
        );
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_ids_reach_ims_and_accs_with_a_span_per_call() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let a = rig
            .send(req("GET", "/v1/products/SKU-0001", "", API_KEY))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}");
        let answered = a.headers["traceparent"].to_str().unwrap().to_owned();
        assert!(
            answered.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
            "{answered}"
        );
        let mut spans = vec![answered[36..52].to_owned()];
        let ims = rig.sim.token_requests();
        let accs = rig.sim.requests();
        assert_eq!((ims.len(), accs.len()), (1, 1));
        for tp in [
            ims[0].traceparent.clone().unwrap(),
            accs[0].headers["traceparent"].clone(),
        ] {
            assert!(
                tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
                "{flavour:?} {tp}"
            );
            assert!(tp.ends_with("-01"));
            spans.push(tp[36..52].to_owned());
        }
        spans.push("b7ad6b7169203331".to_owned());
        spans.sort();
        spans.dedup();
        assert_eq!(
            spans.len(),
            4,
            "{flavour:?}: new spans, none reused: {spans:?}"
        );
        assert!(
            rig.host
                .logs()
                .contains(r#""trace_id":"0af7651916cd43dd8448eb211c80319c""#)
        );

        // Malformed traceparents are ignored: a new trace, never an echo.
        for bad in [
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
        ] {
            let mut r = req("GET", "/v1/products/SKU-0002", "", API_KEY);
            r.headers_mut().insert("traceparent", bad.parse().unwrap());
            let a = rig.send(r).await;
            assert_eq!(a.status, 200);
            let tp = a.headers["traceparent"].to_str().unwrap();
            assert!(
                !tp.contains("0af7651916cd43dd8448eb211c80319c")
                    && !tp.to_lowercase().contains("0af76519"),
                "{bad} -> {tp}"
            );
            let sent = rig.sim.requests().last().unwrap().headers["traceparent"].clone();
            assert_eq!(sent[3..35], tp[3..35], "ACCS gets the new trace");
        }
        rig.finish();
    }
}
