//! Adobe I/O Events deliveries, both flavours, against the simulator's I/O
//! Events double (its key server and signed deliveries): the challenge
//! (AdobeDocs/adobe-io-events `src/pages/guides/index.md`, "The challenge
//! request"), the digital signatures ("Adobe I/O Events Digital
//! Signature"), the event-to-sync mapping, dedup on the event id, and the
//! retry rules of `src/pages/common/retry-doc.md` (only 429 and 5xx retried).

mod common;

use accs_sim::io_events::STRANGER;
use accs_sim::{Faults, ScriptedResponse};
use bytes::Bytes;
use common::rig::*;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const STOCK: &str = "com.acme.stock.updated";
const PRODUCT: &str = "com.acme.product.updated";

type EventsRig = LedgerRig;

async fn events_rig(
    flavour: Flavour,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> EventsRig {
    let actions = format!("{STOCK}=inventory;{PRODUCT}=products");
    common::rig::events_rig(flavour, &actions, "io-events-ledger", tweak).await
}

fn stock(skus: &[&str]) -> Value {
    let items: Vec<Value> = skus
        .iter()
        .map(|s| json!({"sku": s, "source_code": "default", "quantity": 7, "status": 1}))
        .collect();
    json!({ "sourceItems": items })
}

fn post(headers: Vec<(String, String)>, body: &[u8]) -> http::Request<Bytes> {
    post_events(headers, body)
}

impl EventsRig {
    /// One event as I/O Events delivers it, signed by both keys.
    fn single(&self, id: &str, event_type: &str, data: Value) -> (Vec<u8>, http::Request<Bytes>) {
        let io = self.sim.io_events();
        let body = serde_json::to_vec(&io.event(id, event_type, CLIENT_ID, data)).unwrap();
        let req = post(io.headers(&body, Some(id), 0), &body);
        (body, req)
    }

    fn signed(&self, body: &[u8], id: Option<&str>, retry: u32) -> http::Request<Bytes> {
        post(self.sim.io_events().headers(body, id, retry), body)
    }

    fn finish(self) {
        self.rig.finish()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_challenge_is_echoed_in_both_forms_and_a_hostile_one_refused() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |_| {}).await;
        let value = "8ec8d794-e0ab-42df-9017-e3dada8e84f7";
        let plain = rig
            .send_raw(request(
                "GET",
                &format!("/v1/events?challenge={value}"),
                None,
            ))
            .await;
        assert_eq!(plain.status(), 200, "{flavour:?}");
        assert!(
            plain.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(plain.body().as_ref(), value.as_bytes());

        let mut req = request("GET", &format!("/v1/events?challenge={value}"), None);
        req.headers_mut()
            .insert("accept", "application/json".parse().unwrap());
        let a = rig.send(req).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body, json!({"challenge": value}));

        for hostile in [
            "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "a%22b",
            "",
            "x&challenge=y",
        ] {
            let a = rig
                .get(&format!("/v1/events?challenge={hostile}"), None)
                .await;
            assert_eq!(a.status, 400, "{flavour:?} {hostile}");
            assert!(
                !a.body.to_string().contains("script"),
                "never reflected: {}",
                a.body
            );
        }
        assert_eq!(rig.upstream_calls(), 0);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_io_events_actions_the_route_is_503_and_sends_nothing() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |v| {
            v.remove("io_events_actions");
        })
        .await;
        let a = rig.get("/v1/events?challenge=abc", None).await;
        assert_eq!(a.status, 503, "{flavour:?}");
        assert_eq!(a.body["code"], "webhook_not_configured");
        let (_, req) = rig.single("ev-1", STOCK, stock(&["SKU-0001"]));
        let a = rig.send(req).await;
        assert_eq!(a.status, 503);
        assert_eq!(a.body["code"], "webhook_not_configured");
        assert_eq!(rig.sim.io_events().key_fetches(), 0);
        assert_eq!(rig.upstream_calls(), 0);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_event_lands_once_and_its_retry_sends_nothing() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |_| {}).await;
        let (body, req) = rig.single("ev-single-1", STOCK, stock(&["SKU-0001", "SKU-0002"]));
        let a = rig.send(req).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["summary"]["landed"], 1);
        assert_eq!(a.body["events"][0]["result"], "landed");
        assert_eq!(a.body["events"][0]["report"]["summary"]["ok"], 2);
        assert_eq!(rig.sim.inventory_receipts().len(), 2);
        let calls = rig.sim.counters().accs_requests;
        assert_eq!(rig.sim.io_events().key_fetches(), 1);

        // I/O Events' retry: same event id, new delivery id, retry count.
        let a = rig.send(rig.signed(&body, Some("ev-single-1"), 1)).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body["events"][0]["result"], "duplicate");
        assert_eq!(
            rig.sim.counters().accs_requests,
            calls,
            "{flavour:?}: nothing sent again"
        );
        assert!(rig.sim.inventory_receipts().values().all(|&n| n == 1));
        if flavour == Flavour::Spin {
            // The store is shared by the instances: the key came from it.
            assert_eq!(rig.sim.io_events().key_fetches(), 1, "the key is cached");
        }
        rig.finish();
    }
}

/// Adobe's signatures cover the body only: a captured delivery posted again
/// under a fresh `x-adobe-event-id` verifies, and must not land again (an
/// older quantity would roll the stock back). The id is the signed body's;
/// a header naming another is a 400, and an event older than the window
/// (its signed `time`) is acknowledged and not applied.
#[tokio::test(flavor = "multi_thread")]
async fn a_captured_delivery_replayed_under_a_fresh_event_id_is_refused_and_accs_sees_nothing() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |_| {}).await;
        let (body, req) = rig.single("replay-1", STOCK, stock(&["SKU-0001"]));
        let a = rig.send(req).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["events"][0]["result"], "landed");
        let calls = rig.sim.counters().accs_requests;
        let receipts = rig.sim.inventory_receipts();

        let a = rig.send(rig.signed(&body, Some("fresh-id-9"), 0)).await;
        assert_eq!(a.status, 400, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["code"], "invalid_request");
        assert!(
            a.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
        let detail = a.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("fresh-id-9") && detail.contains("replay-1"),
            "{detail}"
        );
        assert_eq!(
            rig.sim.counters().accs_requests,
            calls,
            "{flavour:?}: ACCS saw nothing"
        );
        assert_eq!(rig.sim.inventory_receipts(), receipts);

        // A signed event older than the window: acknowledged, not applied.
        let io = rig.sim.io_events();
        let day_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            - 24 * 3_600_000;
        let old = serde_json::to_vec(&io.event_at(
            "old-1",
            STOCK,
            CLIENT_ID,
            stock(&["SKU-0002"]),
            day_ago,
        ))
        .unwrap();
        let a = rig.send(rig.signed(&old, Some("old-1"), 0)).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["events"][0]["result"], "expired");
        assert_eq!(a.body["summary"]["expired"], 1);
        assert_eq!(rig.sim.counters().accs_requests, calls);
        assert!(rig.host.logs().contains("outside its window"));
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_runs_each_event_and_acknowledges_an_unmapped_type() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |_| {}).await;
        let io = rig.sim.io_events();
        let batch = json!([
            io.event("b-1", STOCK, CLIENT_ID, stock(&["SKU-0003"])),
            io.event("b-2", PRODUCT, CLIENT_ID, json!({"products": [{"sku": "EV-NEW-1", "name": "From an event", "price": 5, "attribute_set_id": 4, "type_id": "simple"}]})),
            io.event("b-3", "com.acme.order.shipped", CLIENT_ID, json!({"x": 1})),
        ]);
        let body = serde_json::to_vec(&batch).unwrap();
        let a = rig.send(rig.signed(&body, None, 0)).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        let results: Vec<&str> = a.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["result"].as_str().unwrap())
            .collect();
        assert_eq!(results, ["landed", "landed", "ignored"]);
        assert_eq!(rig.accs_calls("/V1/inventory/source-items"), 1);
        assert_eq!(rig.accs_calls("/V1/products/EV-NEW-1"), 1);
        // Redelivered as a batch again (an event's own retry): nothing sent.
        let calls = rig.sim.counters().accs_requests;
        let a = rig.send(rig.signed(&body, None, 1)).await;
        let results: Vec<&str> = a.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["result"].as_str().unwrap())
            .collect();
        assert_eq!(results, ["duplicate", "duplicate", "ignored"]);
        assert_eq!(rig.sim.counters().accs_requests, calls);
        assert!(rig.host.logs().contains("not mapped in io_events_actions"));

        // A single unmapped event: 200, no ACCS call at all.
        let (_, req) = rig.single("u-1", "com.acme.unknown", json!({}));
        let a = rig.send(req).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body["events"][0]["result"], "ignored");
        assert_eq!(rig.sim.counters().accs_requests, calls);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_signature_alone_verifies_and_bad_ones_are_401_with_nothing_sent() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |_| {}).await;
        let io = rig.sim.io_events();
        let body = serde_json::to_vec(&io.event("sig-1", "com.acme.unknown", CLIENT_ID, json!({})))
            .unwrap();
        for signers in [
            [Some(0), None],
            [None, Some(1)],
            [Some(STRANGER), Some(1)],
            [Some(0), Some(STRANGER)],
        ] {
            let a = rig
                .send(post(
                    io.headers_with(&body, Some("sig-1"), 0, signers),
                    &body,
                ))
                .await;
            assert_eq!(a.status, 200, "{flavour:?} {signers:?}: {}", a.body);
        }
        let tampered =
            serde_json::to_vec(&io.event("sig-1", STOCK, CLIENT_ID, stock(&["SKU-0001"]))).unwrap();
        type Case<'a> = (&'a str, Vec<(String, String)>, &'a [u8]);
        let cases: Vec<Case> = vec![
            (
                "both signatures by a stranger",
                io.headers_with(&body, Some("sig-2"), 0, [Some(STRANGER), Some(STRANGER)]),
                &body,
            ),
            (
                "a tampered body",
                io.headers(&body, Some("sig-2"), 0),
                &tampered,
            ),
            (
                "unsigned",
                vec![("content-type".into(), "application/json".into())],
                &body,
            ),
            (
                "the old HMAC header only",
                vec![("x-adobe-signature".into(), "aGVsbG8gd29ybGQ=".into())],
                &body,
            ),
        ];
        for (what, headers, b) in cases {
            let a = rig.send(post(headers, b)).await;
            assert_eq!(a.status, 401, "{flavour:?}: {what}: {}", a.body);
            assert_eq!(a.body["code"], "unauthorized");
        }
        assert_eq!(rig.upstream_calls(), 0, "nothing reached IMS or ACCS");
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_key_paths_failing_key_origins_and_foreign_recipients() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |_| {}).await;
        let io = rig.sim.io_events();
        let body =
            serde_json::to_vec(&io.event("k-1", STOCK, CLIENT_ID, stock(&["SKU-0001"]))).unwrap();

        // A key path not of Adobe's form is never fetched.
        for path in [
            "/prod/keys/../../_admin/counters",
            "/keys/pub-key.pem",
            "https://evil.example/k.pem",
        ] {
            let mut h = io.headers_with(&body, Some("k-1"), 0, [Some(0), None]);
            for (k, v) in h.iter_mut() {
                if k == "x-adobe-public-key1-path" {
                    *v = path.into();
                }
            }
            let a = rig.send(post(h, &body)).await;
            assert_eq!(a.status, 401, "{flavour:?} {path}");
        }
        assert_eq!(io.key_fetches(), 0, "no key was fetched");

        // The key origin failing: 503 with Retry-After, nothing sent, nothing cached.
        io.fail_keys(500);
        let a = rig.send(rig.signed(&body, Some("k-1"), 0)).await;
        assert_eq!(a.status, 503, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["code"], "io_events_key_unavailable");
        // docs/RETRIES.md: 60 s on the events route.
        assert_eq!(a.headers["retry-after"], "60", "{flavour:?}");
        // docs/IO-EVENTS.md: a request "stops at the first fetch that fails".
        assert_eq!(io.key_fetches(), 1, "{flavour:?}: one fetch");
        io.fail_keys(0);

        // A recipient other than our client id: 403, nothing sent.
        let foreign = serde_json::to_vec(&json!([
            io.event("k-2", STOCK, CLIENT_ID, stock(&["SKU-0001"])),
            io.event("k-3", STOCK, "someone-elses-client", stock(&["SKU-0002"])),
        ]))
        .unwrap();
        let a = rig.send(rig.signed(&foreign, None, 0)).await;
        assert_eq!(a.status, 403, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["code"], "forbidden");
        assert_eq!(rig.upstream_calls(), 0);

        // The retry after the origin recovered lands.
        let a = rig.send(rig.signed(&body, Some("k-1"), 1)).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(rig.sim.inventory_receipts().len(), 1);
        rig.finish();
    }
}

/// Forged deliveries naming made-up key paths of Adobe's form: one fetch
/// per request at most, and a refused path is remembered.
#[tokio::test(flavor = "multi_thread")]
async fn made_up_key_paths_cost_one_fetch_per_request_and_are_remembered() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |_| {}).await;
        let io = rig.sim.io_events();
        let body =
            serde_json::to_vec(&io.event("f-1", STOCK, CLIENT_ID, stock(&["SKU-0001"]))).unwrap();
        let made_up = |h: &mut Vec<(String, String)>| {
            for (k, v) in h.iter_mut() {
                if k == "x-adobe-public-key1-path" {
                    *v = "/prod/keys/pub-key-12345678-1234-4234-8234-123456789abc.pem".into();
                }
                if k == "x-adobe-public-key2-path" {
                    *v = "/prod/keys/pub-key-87654321-4321-4321-8321-cba987654321.pem".into();
                }
            }
        };
        let mut h = io.headers_with(&body, Some("f-1"), 0, [Some(STRANGER), Some(STRANGER)]);
        made_up(&mut h);
        let a = rig.send(post(h.clone(), &body)).await;
        assert_eq!(a.status, 503, "{flavour:?}: {}", a.body);
        assert_eq!(
            io.key_fetches(),
            1,
            "{flavour:?}: one missing key per request"
        );
        let a = rig.send(post(h.clone(), &body)).await;
        assert!(matches!(a.status, 401 | 503), "{flavour:?}: {}", a.body);
        // docs/IO-EVENTS.md: at most one key the origin does not publish
        // per request, and this request has one to fetch (Spin: the second
        // path, the first remembered; wasmtime: the first again).
        assert_eq!(io.key_fetches(), 2, "{flavour:?}: one more fetch");
        if flavour == Flavour::Spin {
            // The store is shared: both refusals are remembered there.
            assert_eq!(a.status, 401);
            let a = rig.send(post(h, &body)).await;
            assert_eq!(a.status, 401);
            assert_eq!(io.key_fetches(), 2, "nothing fetched again");
        }
        assert_eq!(rig.upstream_calls(), 0);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_accs_answers_503_within_the_budget_and_the_retry_completes() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |v| {
            v.insert("io_events_timeout_ms".into(), "1500".into());
            v.insert("sync_batch_size".into(), "1".into());
            v.insert("sync_concurrency".into(), "1".into());
        })
        .await;
        let skus = [
            "SKU-0001", "SKU-0002", "SKU-0003", "SKU-0004", "SKU-0005", "SKU-0006",
        ];
        let (body, req) = rig.single("slow-1", STOCK, stock(&skus));
        rig.sim.set_faults(Faults {
            latency_ms: 400,
            ..Faults::default()
        });
        let a = rig.send(req).await;
        assert_eq!(a.status, 503, "{flavour:?}: {}", a.body);
        // docs/RETRIES.md: a pending event asks what its sync asked, 5 s.
        assert_eq!(a.headers["retry-after"], "5", "{flavour:?}");
        assert_eq!(a.body["events"][0]["result"], "pending");
        // The budget, not the machine's speed, bounds the calls: 1.5 s of
        // 400 ms calls one at a time starts 4 at most (at 0, 0.4, 0.8 and
        // 1.2 s); ignoring the budget would send all 6.
        let calls = rig.sim.counters().by_route["POST /V1/inventory/source-items"];
        assert!(calls <= 4, "{flavour:?}: {calls} calls in a 1.5 s budget");
        let first = rig.sim.inventory_receipts().len();
        assert!(
            first < skus.len(),
            "{flavour:?}: {first} landed in the budget"
        );

        rig.sim.set_faults(Faults::default());
        let a = rig.send(rig.signed(&body, Some("slow-1"), 1)).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["events"][0]["result"], "landed");
        // What ACCS holds after the resumed delivery: every item of the
        // event, at its source, saved exactly once (the ones that landed in
        // the first attempt not sent again), and nothing else.
        let receipts = rig.sim.inventory_receipts();
        let expected: std::collections::BTreeMap<(String, String), u32> = skus
            .iter()
            .map(|s| ((s.to_string(), "default".to_string()), 1))
            .collect();
        assert_eq!(receipts, expected, "{flavour:?}: each item in ACCS once");
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_4xx_from_accs_is_final_reported_and_not_sent_again() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |_| {}).await;
        rig.sim.set_faults(Faults {
            script: vec![ScriptedResponse {
                method: Some("POST".into()),
                path_prefix: Some("/V1/inventory/source-items".into()),
                status: 400,
                headers: BTreeMap::new(),
                body: Some(json!({"message": "The source item is invalid."})),
                times: 0,
            }],
            ..Faults::default()
        });
        let (body, req) = rig.single("refused-1", STOCK, stock(&["SKU-0001"]));
        let a = rig.send(req).await;
        assert_eq!(a.status, 200, "{flavour:?}: a refusal is final: {}", a.body);
        assert_eq!(a.body["events"][0]["result"], "refused");
        assert!(
            a.body.to_string().contains("The source item is invalid."),
            "ACCS's reason is reported"
        );
        assert!(rig.host.logs().contains("refused for good"));
        let calls = rig.sim.counters().accs_requests;
        let a = rig.send(rig.signed(&body, Some("refused-1"), 1)).await;
        assert_eq!(a.body["events"][0]["result"], "duplicate");
        assert_eq!(rig.sim.counters().accs_requests, calls);

        // Malformed data: refused as final too, nothing sent.
        let (_, req) = rig.single("bad-data-1", STOCK, json!({"nope": 1}));
        let a = rig.send(req).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body["events"][0]["result"], "refused");
        assert_eq!(a.body["events"][0]["status"], 400);
        assert_eq!(rig.sim.counters().accs_requests, calls);
        rig.finish();
    }
}

/// The `products` action above `products_bulk_above` takes the webhook's
/// bulk path: ACCS accepts the products in bulks, the event counts as
/// `accepted`, and its retry is a duplicate that sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_products_event_above_the_threshold_is_accepted_in_bulks() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |v| {
            v.insert("products_bulk_above".into(), "2".into());
            v.insert("bulk_chunk_size".into(), "2".into());
        })
        .await;
        let products: Vec<Value> = (0..5)
            .map(|i| json!({"sku": format!("EV-BULK-{i}"), "name": "From an event", "price": 5}))
            .collect();
        let (body, req) = rig.single("ev-bulk-1", PRODUCT, json!({ "products": products }));
        let a = rig.send(req).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["summary"]["accepted"], 1);
        assert_eq!(a.body["summary"]["landed"], 0);
        let event = &a.body["events"][0];
        assert_eq!(
            (&event["result"], &event["status"]),
            (&json!("accepted"), &json!(202))
        );
        assert_eq!(event["report"]["summary"]["accepted"], 5);
        assert_eq!(event["report"]["bulks"].as_array().map(Vec::len), Some(3));
        let c = rig.sim.counters();
        assert_eq!(c.by_route.get("POST /V1/async/bulk/products"), Some(&3));
        assert_eq!(c.by_route.get("PUT /V1/products/{sku}"), None);
        let a = rig.send(rig.signed(&body, Some("ev-bulk-1"), 1)).await;
        assert_eq!(a.body["events"][0]["result"], "duplicate");
        assert_eq!(
            rig.sim.counters().accs_requests,
            c.accs_requests,
            "{flavour:?}"
        );
        rig.finish();
    }
}
