//! Both sides of every documented limit (issue 32, item 2), both flavours:
//! the count or size the docs promise is taken, one more is refused with
//! nothing sent. Every number is the document's, written as a literal:
//! docs/ROUTES.md (body sizes), docs/WEBHOOKS.md (1,000 products),
//! docs/IO-EVENTS.md (1 to 20 events a batch). The variables' ranges are
//! held in `src/config/tests.rs` (`every_range_holds_at_both_edges`).

mod common;

use accs_sim::Faults;
use bytes::Bytes;
use common::rig::standard_webhooks::signed;
use common::rig::*;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const MIB: usize = 1024 * 1024;
const KEY: &[u8] = b"webhook-key-limits-0123456789abc";
const STOCK: &str = "com.acme.stock.updated";

/// `v` serialized and padded with spaces after its opening `{` to exactly
/// `len` bytes: still the same JSON document.
fn padded(v: &Value, len: usize) -> Vec<u8> {
    let json = serde_json::to_vec(v).unwrap();
    assert!(json.len() <= len, "{} > {len}", json.len());
    let mut out = Vec::with_capacity(len);
    out.push(json[0]);
    out.resize(1 + len - json.len(), b' ');
    out.extend_from_slice(&json[1..]);
    assert_eq!(out.len(), len);
    out
}

/// At most 300 characters of `v`, for messages.
fn short(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

fn with_key(method: &str, path: &str, body: Vec<u8>) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", "application/json")
        .body(Bytes::from(body))
        .unwrap()
}

fn product(sku: &str) -> Value {
    json!({"sku": sku, "name": format!("Limit {sku}"), "price": 3.5, "attribute_set_id": 4, "type_id": "simple"})
}

fn products(prefix: &str, n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| product(&format!("{prefix}-{i:05}")))
        .collect();
    json!({ "products": list })
}

fn source_items(prefix: &str, n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"sku": format!("{prefix}-{i:03}"), "source_code": "default", "quantity": 5, "status": 1}))
        .collect();
    json!({ "sourceItems": list })
}

async fn webhook_rig(
    flavour: Flavour,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> LedgerRig {
    common::rig::webhook_rig(flavour, KEY, "limits-ledger", tweak).await
}

/// `a` is 413 `payload_too_large` and the simulator saw nothing more.
fn assert_refused_unread(rig: &Rig, a: &Answer, calls: u64, what: &str) {
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (413, Some("payload_too_large")),
        "{:?}: {what}: {}",
        rig.flavour,
        short(&a.body)
    );
    assert_eq!(
        rig.upstream_calls(),
        calls,
        "{:?}: {what}: nothing sent",
        rig.flavour
    );
}

/// ROUTES.md: `POST /v1/products/bulk` takes a body "up to 16 MiB"; one
/// byte more is 413 and nothing is sent.
#[tokio::test(flavor = "multi_thread")]
async fn the_bulk_route_takes_exactly_16_mib_and_refuses_one_byte_more() {
    for flavour in FLAVOURS {
        // The test build's simulator is slow with megabytes; the budget is
        // not what this test is about.
        let rig = rig(flavour, |v| {
            v.insert("accs_timeout_ms".into(), "120000".into());
        })
        .await;
        rig.sim.set_faults(Faults {
            bulk_hold: true,
            ..Faults::default()
        });
        let body = products("SIXTEEN", 3);
        let a = rig
            .send(with_key(
                "POST",
                "/v1/products/bulk",
                padded(&body, 16 * MIB),
            ))
            .await;
        assert_eq!(
            a.status,
            202,
            "{flavour:?}: exactly 16 MiB: {}",
            short(&a.body)
        );
        assert_eq!(a.body["summary"]["accepted"], 3);
        let calls = rig.upstream_calls();
        let a = rig
            .send(with_key(
                "POST",
                "/v1/products/bulk",
                padded(&body, 16 * MIB + 1),
            ))
            .await;
        assert_refused_unread(&rig, &a, calls, "16 MiB + 1");
        rig.finish();
    }
}

/// ROUTES.md: the inventory route takes 4 MiB; one byte more is 413.
#[tokio::test(flavor = "multi_thread")]
async fn the_inventory_route_takes_exactly_4_mib_and_refuses_one_byte_more() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let body = source_items("FOUR", 3);
        let path = "/v1/inventory/source-items";
        let a = rig
            .send(with_key("POST", path, padded(&body, 4 * MIB)))
            .await;
        assert_eq!(
            a.status,
            200,
            "{flavour:?}: exactly 4 MiB: {}",
            short(&a.body)
        );
        assert_eq!(a.body["summary"]["ok"], 3);
        let calls = rig.upstream_calls();
        let a = rig
            .send(with_key("POST", path, padded(&body, 4 * MIB + 1)))
            .await;
        assert_refused_unread(&rig, &a, calls, "4 MiB + 1");
        rig.finish();
    }
}

/// ROUTES.md: webhooks take 4 MiB (both topics); one byte more is 413,
/// signature or not, and nothing is sent.
#[tokio::test(flavor = "multi_thread")]
async fn webhooks_take_exactly_4_mib_and_refuse_one_byte_more() {
    for flavour in FLAVOURS {
        let rig = webhook_rig(flavour, |_| {}).await;
        for (topic, body, field) in [
            ("inventory", source_items("WH4", 2), "ok"),
            ("products", products("WH4P", 2), "ok"),
        ] {
            let exact = padded(&body, 4 * MIB);
            let a = rig
                .send(signed(KEY, topic, &format!("{topic}-4mib"), &exact))
                .await;
            assert_eq!(
                a.status,
                200,
                "{flavour:?}: {topic}: exactly 4 MiB: {}",
                short(&a.body)
            );
            assert_eq!(a.body["summary"][field], 2, "{flavour:?}: {topic}");
            let calls = rig.upstream_calls();
            let over = padded(&body, 4 * MIB + 1);
            let a = rig
                .send(signed(KEY, topic, &format!("{topic}-4mib+1"), &over))
                .await;
            assert_refused_unread(&rig, &a, calls, &format!("{topic}: 4 MiB + 1"));
        }
        rig.rig.finish();
    }
}

/// ROUTES.md: every other route takes 1 MiB; `PUT /v1/products/{sku}` at
/// exactly 1 MiB lands, one byte more is 413.
#[tokio::test(flavor = "multi_thread")]
async fn a_product_upsert_takes_exactly_1_mib_and_refuses_one_byte_more() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let body = json!({"product": product("ONE-MIB")});
        let path = "/v1/products/ONE-MIB";
        let a = rig.send(with_key("PUT", path, padded(&body, MIB))).await;
        assert_eq!(
            a.status,
            200,
            "{flavour:?}: exactly 1 MiB: {}",
            short(&a.body)
        );
        let calls = rig.upstream_calls();
        let a = rig
            .send(with_key("PUT", path, padded(&body, MIB + 1)))
            .await;
        assert_refused_unread(&rig, &a, calls, "1 MiB + 1");
        rig.finish();
    }
}

/// WEBHOOKS.md: a products delivery holds "up to 1,000" products. 1,000
/// are taken (here through the bulk path, two chunks of 500), 1,001 are a
/// 400 on either path with nothing sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_products_delivery_takes_1000_products_and_refuses_1001() {
    for flavour in FLAVOURS {
        let rig = webhook_rig(flavour, |v| {
            v.insert("products_bulk_above".into(), "0".into());
        })
        .await;
        rig.sim.set_faults(Faults {
            bulk_hold: true,
            ..Faults::default()
        });
        let body = serde_json::to_vec(&products("THOUSAND", 1_000)).unwrap();
        let a = rig.send(signed(KEY, "products", "p-1000", &body)).await;
        assert_eq!(
            a.status, 202,
            "{flavour:?}: 1,000 products: {}",
            a.body["summary"]
        );
        assert_eq!(a.body["summary"]["accepted"], 1_000, "{flavour:?}");
        let calls = rig.upstream_calls();
        let body = serde_json::to_vec(&products("THOUSAND1", 1_001)).unwrap();
        let a = rig.send(signed(KEY, "products", "p-1001", &body)).await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (400, Some("invalid_request")),
            "{flavour:?}: 1,001 products, bulk path: {}",
            short(&a.body)
        );
        assert_eq!(rig.upstream_calls(), calls, "{flavour:?}: nothing sent");
        rig.rig.finish();
    }
    // One `PUT` per product (no `products_bulk_above`): 1,001 is refused
    // the same way.
    for flavour in FLAVOURS {
        let rig = webhook_rig(flavour, |_| {}).await;
        let body = serde_json::to_vec(&products("ONEBYONE", 1_001)).unwrap();
        let a = rig.send(signed(KEY, "products", "p-1001-put", &body)).await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (400, Some("invalid_request")),
            "{flavour:?}: 1,001 products, one by one: {}",
            short(&a.body)
        );
        assert_eq!(rig.upstream_calls(), 0, "{flavour:?}: nothing sent");
        rig.rig.finish();
    }
}

async fn events_rig(flavour: Flavour) -> LedgerRig {
    let actions = format!("{STOCK}=inventory");
    common::rig::events_rig(flavour, &actions, "limits-events", |_| {}).await
}

fn events_post(headers: Vec<(String, String)>, body: &[u8]) -> http::Request<Bytes> {
    post_events(headers, body)
}

/// IO-EVENTS.md: "One CloudEvent, or an array of 1 to 20"; otherwise 400.
/// 20 events each land; 21 are a 400 with nothing sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_20_events_lands_and_21_are_refused() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour).await;
        let io = rig.sim.io_events();
        let batch = |n: usize, tag: &str| -> Vec<u8> {
            let list: Vec<Value> = (0..n)
                .map(|i| {
                    io.event(
                        &format!("{tag}-{i}"),
                        STOCK,
                        CLIENT_ID,
                        source_items(&format!("EV{tag}{i}"), 1),
                    )
                })
                .collect();
            serde_json::to_vec(&list).unwrap()
        };
        let body = batch(20, "twenty");
        let a = rig
            .send(events_post(io.headers(&body, None, 0), &body))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: 20 events: {}", short(&a.body));
        let results: Vec<&str> = a.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["result"].as_str().unwrap())
            .collect();
        assert_eq!(results, ["landed"; 20], "{flavour:?}");
        assert_eq!(rig.accs_calls("/V1/inventory/source-items"), 20);
        let calls = rig.sim.counters().accs_requests;
        let body = batch(21, "twentyone");
        let a = rig
            .send(events_post(io.headers(&body, None, 0), &body))
            .await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (400, Some("invalid_request")),
            "{flavour:?}: 21 events: {}",
            short(&a.body)
        );
        assert_eq!(
            rig.sim.counters().accs_requests,
            calls,
            "{flavour:?}: nothing sent"
        );
        rig.rig.finish();
    }
}
