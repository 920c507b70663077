//! Echo notes written by the component, in edge-host against the
//! simulator: an inventory sync, a product upsert and a bulk through the
//! edge as the `api_keys` entry `erp` leave one note each and one index in
//! the store, a handful of values whatever the number of items; a request
//! whose notes cannot be written still answers as ACCS did. Whether
//! Commerce's events are then echoes is `echo::is_echo`'s (its unit tests);
//! the lead's end-to-end test forwards the simulator's events.

mod common;

use bytes::Bytes;
use common::rig::*;
use common::*;
use edge_host::Flavour;
use serde_json::{Value, json};

fn source_items(n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"sku": format!("ECHO-{i:05}"), "source_code": "default", "quantity": i % 50, "status": 1}))
        .collect();
    json!({ "sourceItems": items })
}

fn put(path: &str, body: &Value) -> http::Request<Bytes> {
    http::Request::builder()
        .method("PUT")
        .uri(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", "application/json")
        .body(Bytes::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// The store's echo values: (notes, indexes, largest value).
fn echo_values(rig: &Rig) -> (usize, usize, usize) {
    let kv = rig.host.kv().snapshot();
    let echo: Vec<(&String, &Vec<u8>)> = kv
        .iter()
        .filter(|(k, _)| k.starts_with("accs-edge/echo/v1/"))
        .collect();
    let notes = echo.iter().filter(|(k, _)| k.contains("/n/")).count();
    let indexes = echo.iter().filter(|(k, _)| k.ends_with("/i")).count();
    let largest = echo.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    (notes, indexes, largest)
}

#[tokio::test(flavor = "multi_thread")]
async fn each_write_request_leaves_one_note_and_the_index() {
    let rig = p2_rig(|_| {}).await;
    let a = rig
        .send(post_json(
            "/v1/inventory/source-items",
            &source_items(10_000),
        ))
        .await;
    assert_eq!(a.status, 200, "{}", a.body["summary"]);
    let (notes, indexes, largest) = echo_values(&rig);
    assert_eq!((notes, indexes), (1, 1), "a 10,000-item sync: one note");
    assert!(largest < 1_000_000, "{largest} bytes");
    assert!(largest > 10_000 * 18, "every item noted: {largest} bytes");

    let product = json!({"product": {"name": "Echo tee", "price": 12.5, "attribute_set_id": 4, "type_id": "simple"}});
    let a = rig.send(put("/v1/products/ECHO-TEE", &product)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(echo_values(&rig).0, 2, "the upsert's note");

    let bulk = json!({"products": [
        {"sku": "ECHO-B1", "name": "B1", "price": 1, "attribute_set_id": 4, "type_id": "simple"},
        {"sku": "ECHO-B2", "name": "B2", "price": 2, "attribute_set_id": 4, "type_id": "simple"}]});
    let a = rig.send(post_json("/v1/products/bulk", &bulk)).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(echo_values(&rig).0, 3, "the bulk's note");
    assert_eq!(echo_values(&rig).1, 1, "one index for all");
    rig.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_fails_leaves_the_sync_answered_and_a_warn_line() {
    let rig = rig(Flavour::Spin, |_| {}).await;
    // A first request stores the token; then every store write fails.
    let a = rig
        .send(post_json("/v1/inventory/source-items", &source_items(1)))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    rig.host.kv().set_failing(true);
    let a = rig
        .send(post_json("/v1/inventory/source-items", &source_items(3)))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["summary"]["ok"], 3);
    let logs = rig.host.logs();
    assert!(logs.contains("echo note not written"), "{logs}");
    rig.finish();
}
