//! Forwarding Commerce's events (docs/FORWARDING.md), three builds in
//! edge-host, deliveries signed by the simulator's I/O Events keys, to a
//! back-office target of the simulator's (`accs_sim::target`): an order event
//! reaches the target signed as Standard Webhooks (checked here with hmac,
//! not the component's signer); a target down for three deliveries gets
//! the event exactly once when it is back; a target down past
//! `forward_max_attempts` leaves a dead letter, listed, that a replay
//! delivers.

mod common;

use accs_sim::target::{Received, Target};
use base64::Engine;
use common::rig::*;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;

const ORDER: &str = "com.adobe.commerce.observer.sales_order_save_commit_after";
/// 32 bytes, base64: the target's secret (registered for the secrets grep).
const KEY: &[u8] = b"forward-target-key-0123456789abc";

fn whsec() -> String {
    secret(standard_webhooks::whsec(KEY))
}

/// The builds these tests run: the default one (WASI 0.2, an instance per
/// request, reading only its route's variables), the WASI 0.3 Spin build
/// and the wasmtime one.
const BUILDS: [Build; 3] = [Build::SpinP2, Build::SpinP3, Build::Wasmtime];

async fn forward_rig(
    build: Build,
    target: &Target,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> LedgerRig {
    let url = target.url("/hooks/commerce?tenant=eu,1");
    let sim = start_sim().await;
    let flavour = match build {
        Build::Wasmtime => Flavour::Wasmtime,
        _ => Flavour::Spin,
    };
    let mut opts = edge_host::HostOptions::new(flavour, build_wasm(build));
    opts.vars = vars(&sim);
    opts.vars.insert(
        "io_events_key_origin".into(),
        sim.io_events().key_origin().into(),
    );
    ledger_rig(sim, opts, "forward-ledger", |v| {
        v.insert("forward_targets".into(), format!("erp={url} {}", whsec()));
        v.insert("forward_rules".into(), format!("{ORDER}=erp"));
        v.insert(
            "api_keys".into(),
            format!("erp:{API_KEY}:{ALL_SCOPES}+dead_letters.manage"),
        );
        tweak(v);
    })
}

/// An order event as Commerce publishes it through I/O Events, signed.
fn order(rig: &LedgerRig, id: &str, retry: u32) -> (Vec<u8>, http::Request<bytes::Bytes>) {
    let io = rig.sim.io_events();
    let data = json!({"key": "k-1", "value": {"increment_id": "000000123", "entity_id": "7", "grand_total": 42.5, "status": "pending"}});
    let body = serde_json::to_vec(&io.event(id, ORDER, CLIENT_ID, data)).unwrap();
    let req = post_events(io.headers(&body, Some(id), retry), &body);
    (body, req)
}

/// Again the same delivery (I/O Events' retry of it).
fn again(rig: &LedgerRig, body: &[u8], id: &str, retry: u32) -> http::Request<bytes::Bytes> {
    post_events(rig.sim.io_events().headers(body, Some(id), retry), body)
}

/// Whether `r` is signed as Standard Webhooks with [`KEY`], computed here.
fn signed_with_key(r: &Received) -> bool {
    let (Some(id), Some(ts), Some(sig)) = (
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.header("webhook-signature"),
    ) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    sig.split(' ').any(|s| s == want)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_event_reaches_the_target_signed_as_received() {
    for build in BUILDS {
        let target = Target::start().await;
        let rig = forward_rig(build, &target, |_| {}).await;
        let (body, req) = order(&rig, "ev-order-1", 0);
        let a = rig.send(req).await;
        assert_eq!(a.status, 200, "{build:?}: {}", a.body);
        assert_eq!(a.body["events"][0]["result"], "forwarded", "{}", a.body);
        assert_eq!(a.body["events"][0]["forward"][0]["result"], "delivered");
        let got = target.received();
        assert_eq!(got.len(), 1, "{build:?}");
        let r = &got[0];
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_deref()),
            ("POST", "/hooks/commerce", Some("tenant=eu,1"))
        );
        assert_eq!(r.body, body, "{build:?}: the CloudEvent as received");
        assert_eq!(r.header("webhook-id"), Some("ev-order-1"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("user-agent"), Some("accs-edge"));
        let ts: u64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
        assert!(ts.abs_diff(standard_webhooks::now()) <= 5, "{ts}");
        assert!(
            signed_with_key(r),
            "{build:?}: {:?}",
            r.header("webhook-signature")
        );
        // The delivery's trace, a span of its own.
        let tp = r.header("traceparent").unwrap();
        let answered = a.headers["traceparent"].to_str().unwrap();
        assert_eq!(
            tp.split('-').nth(1),
            answered.split('-').nth(1),
            "{tp} {answered}"
        );
        assert_ne!(tp, answered);
        rig.rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_down_for_three_deliveries_gets_the_event_once_when_back() {
    for build in BUILDS {
        let target = Target::start().await;
        target.fail_next(3, 503);
        let rig = forward_rig(build, &target, |_| {}).await;
        let (body, req) = order(&rig, "ev-order-2", 0);
        let a = rig.send(req).await;
        assert_eq!(a.status, 503, "{build:?}: {}", a.body);
        assert!(a.headers.contains_key("retry-after"));
        for retry in 1..=2 {
            let a = rig.send(again(&rig, &body, "ev-order-2", retry)).await;
            assert_eq!(a.status, 503, "{build:?} retry {retry}: {}", a.body);
        }
        let a = rig.send(again(&rig, &body, "ev-order-2", 3)).await;
        assert_eq!(a.status, 200, "{build:?}: {}", a.body);
        assert_eq!(a.body["events"][0]["forward"][0]["attempts"], 4);
        // A further copy: acknowledged, nothing sent.
        let a = rig.send(again(&rig, &body, "ev-order-2", 4)).await;
        assert_eq!(a.status, 200, "{build:?}: {}", a.body);
        let got = target.received();
        let ok: Vec<_> = got.iter().filter(|r| r.ok()).collect();
        assert_eq!(ok.len(), 1, "{build:?}: exactly one 2xx receipt");
        assert_eq!(got.len(), 4, "{build:?}");
        assert!(got.iter().all(signed_with_key));
        assert!(
            got.iter()
                .all(|r| r.header("webhook-id") == Some("ev-order-2"))
        );
        rig.rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_down_past_the_limit_leaves_a_dead_letter_that_replays() {
    for build in BUILDS {
        let target = Target::start().await;
        target.fail_next(2, 503);
        let rig = forward_rig(build, &target, |v| {
            v.insert("forward_max_attempts".into(), "2".into());
        })
        .await;
        let (body, req) = order(&rig, "ev-order-3", 0);
        assert_eq!(rig.send(req).await.status, 503, "{build:?}");
        let a = rig.send(again(&rig, &body, "ev-order-3", 1)).await;
        assert_eq!(a.status, 200, "{build:?}: acknowledged: {}", a.body);
        assert_eq!(a.body["events"][0]["forward"][0]["result"], "dead_lettered");

        let list = rig.get("/v1/dead-letters", Some(API_KEY)).await;
        assert_eq!(list.status, 200, "{build:?}: {}", list.body);
        let letters = list.body["dead_letters"].as_array().unwrap();
        assert_eq!(letters.len(), 1, "{}", list.body);
        let l = &letters[0];
        assert_eq!(l["event_id"], "ev-order-3");
        assert_eq!(l["event_type"], ORDER);
        assert_eq!(
            (l["target"].as_str(), l["attempts"].as_u64()),
            (Some("erp"), Some(2))
        );
        assert_eq!(l["last_status"], 503);
        let id = l["id"].as_str().unwrap().to_owned();
        // Sealed: the order's data is nowhere in the store's text.
        assert!(!rig.host.logs().contains("000000123"));

        let replay = rig
            .send(request(
                "POST",
                &format!("/v1/dead-letters/{id}/replay"),
                Some(API_KEY),
            ))
            .await;
        assert_eq!(replay.status, 200, "{build:?}: {}", replay.body);
        assert_eq!(replay.body["result"], "delivered");
        let got = target.received();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].body, body);
        assert_eq!(got[2].header("webhook-id"), Some("ev-order-3"));
        assert!(signed_with_key(&got[2]));

        let list = rig.get("/v1/dead-letters", Some(API_KEY)).await;
        assert_eq!(list.body["dead_letters"], json!([]), "{build:?}");
        let gone = rig
            .send(request(
                "DELETE",
                &format!("/v1/dead-letters/{id}"),
                Some(API_KEY),
            ))
            .await;
        assert_eq!(
            (gone.status, gone.body["code"].as_str()),
            (404, Some("dead_letter_not_found"))
        );
        // Without the scope: 403, nothing listed.
        let denied = rig.get("/v1/dead-letters", Some(OTHER_API_KEY)).await;
        assert_eq!(
            denied.status, 401,
            "{build:?}: the other key is not configured here"
        );
        let _: Value = denied.body;
        rig.rig.finish();
    }
}
