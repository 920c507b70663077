//! The default build (`scripts/build spin`: WASI 0.2, `wasi:http/incoming-handler@0.2`,
//! `fermyon:spin/variables@2.0.0`, `fermyon:spin/key-value@2.0.0`), the one users
//! deploy, in edge-host's Spin flavour against accs-sim: tested without Spin. Every
//! request gets a fresh instance, as on Spin and Akamai Functions, so what one
//! request leaves for the next is only in the key-value store.

mod common;

use bytes::Bytes;
use common::rig::*;
use common::*;
use serde_json::{Value, json};

fn with_body(method: &str, path: &str, body: &[u8]) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", "application/json")
        .body(Bytes::copy_from_slice(body))
        .unwrap()
}

fn source_items(n: usize) -> Vec<u8> {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"sku": format!("P2-{i:03}"), "source_code": "default", "quantity": i, "status": 1}))
        .collect();
    serde_json::to_vec(&json!({ "sourceItems": items })).unwrap()
}

/// A Standard Webhooks delivery signed with the dev secret, stamped now.
fn signed(topic: &str, id: &str, body: &[u8]) -> http::Request<Bytes> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost/v1/webhooks/{topic}"))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            common::spin::webhook_signature(&dev_webhook_key(), id, ts, body),
        )
        .body(Bytes::copy_from_slice(body))
        .unwrap()
}

async fn webhook_rig() -> Rig {
    p2_rig(|v| {
        v.insert("webhook_secrets".into(), DEV_WEBHOOK_SECRET.into());
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn health_on_the_default_build_needs_no_auth_and_calls_nothing() {
    let rig = p2_rig(|_| {}).await;
    let a = rig.get("/healthz", None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, json!({"status": "ok"}));
    assert!(a.headers.contains_key("x-request-id"));
    assert_eq!(rig.upstream_calls(), 0);
    assert_eq!(rig.host.kv().gets(), 0, "health reads no store");
    rig.finish();
}

/// Two reads on two fresh instances: the first asks IMS and seals the token
/// into the key-value store, the second takes it from there. Exactly one
/// token request for the two, and the store holds it sealed.
#[tokio::test(flavor = "multi_thread")]
async fn two_reads_on_fresh_instances_share_one_token_through_key_value() {
    let rig = p2_rig(|_| {}).await;
    for sku in ["SKU-0001", "SKU-0002"] {
        let a = rig.get(&format!("/v1/products/{sku}"), Some(API_KEY)).await;
        assert_eq!(a.status, 200, "{sku}: {}", a.body);
        assert_eq!(a.body["sku"], sku);
    }
    assert_eq!(
        rig.sim.counters().token_requests,
        1,
        "one IMS call for two reads"
    );
    assert_eq!(rig.accs_calls("/V1/products/"), 2);
    assert_eq!(rig.host.kv().sets(), 1, "only the new token is written");
    let kv = rig.host.kv().snapshot();
    assert_eq!(kv.len(), 1, "{:?}", kv.keys());
    let (key, value) = kv.iter().next().unwrap();
    assert_eq!(key, &token_kv_key(&vars(&rig.sim)));
    for secret in secrets(&rig.sim) {
        assert!(
            !value.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the store holds a secret in clear"
        );
    }
    rig.finish();
}

/// On WASI 0.2 every request starts from the store (docs/ARCHITECTURE.md,
/// the token table): three reads on one `EdgeHost::instance` (per-request
/// for this build) are three store reads and no IMS call after the first,
/// where a reused WASI 0.3 instance reads the store once
/// (tests/component.rs `hundred_sequential_reads_cost_one_ims_call`).
#[tokio::test(flavor = "multi_thread")]
async fn every_request_on_the_default_build_takes_the_token_from_the_store() {
    let rig = p2_rig(|_| {}).await;
    let inst = rig.host.instance().await.unwrap();
    for i in 1..=3 {
        let a = rig
            .on(
                &inst,
                "GET",
                &format!("/v1/products/SKU-000{i}"),
                Some(API_KEY),
            )
            .await;
        assert_eq!(a.status, 200, "read {i}: {}", a.body);
        assert_eq!(rig.host.kv().gets(), i, "read {i} looks in the store");
    }
    assert_eq!(rig.sim.counters().token_requests, 1);
    assert_eq!(rig.host.kv().sets(), 1);
    assert!(inst.memory_peak().await > 0);
    rig.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inventory_sync_on_the_default_build_lands_every_item_once() {
    let rig = p2_rig(|_| {}).await;
    let a = rig
        .send(with_body(
            "POST",
            "/v1/inventory/source-items",
            &source_items(3),
        ))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["summary"],
        json!({"items": 3, "ok": 3, "failed": 0, "failed_batches": 0})
    );
    let receipts = rig.sim.inventory_receipts();
    assert_eq!(receipts.len(), 3);
    assert!(receipts.values().all(|&n| n == 1), "{receipts:?}");
    assert_eq!(rig.accs_calls("/V1/inventory/source-items"), 1);
    assert!(common::accs_contract::assert_outbound_bodies_match(&rig.sim) > 0);
    rig.finish();
}

/// A webhook delivery lands; its repeat, on another fresh instance, is
/// answered from the ledger in the key-value store with nothing sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_delivery_on_the_default_build_lands_and_its_repeat_is_replayed() {
    let rig = webhook_rig().await;
    let body = source_items(4);
    let first = rig.send(signed("inventory", "msg-p2-1", &body)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["summary"]["ok"], 4);
    assert_eq!(rig.sim.inventory_receipts().len(), 4);
    let calls = rig.sim.counters().accs_requests;

    let again = rig.send(signed("inventory", "msg-p2-1", &body)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["webhook-replayed"], "true");
    assert_eq!(
        rig.sim.counters().accs_requests,
        calls,
        "a repeat touches nothing upstream"
    );
    assert!(rig.sim.inventory_receipts().values().all(|&n| n == 1));
    common::accs_contract::assert_outbound_bodies_match(&rig.sim);
    rig.finish();
}

/// The ledger fails closed on the default build too: with the key-value
/// store failing, a delivery is 503 `ledger_unavailable` with `Retry-After`
/// and nothing reaches ACCS.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_store_on_the_default_build_fails_a_delivery_closed() {
    let rig = webhook_rig().await;
    rig.host.kv().set_failing(true);
    let a = rig
        .send(signed("inventory", "msg-p2-down", &source_items(3)))
        .await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (503, Some("ledger_unavailable")),
        "{}",
        a.body
    );
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(rig.sim.counters().accs_requests, 0, "nothing sent");
    assert_eq!(rig.sim.inventory_receipts().len(), 0);
    rig.finish();
}
