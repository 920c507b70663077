//! Documented promises no other test held (issue 32, item 3), on the
//! embedded host against the simulator. Every number is the document's,
//! written as a literal.

mod common;

use accs_sim::{Faults, ScriptedResponse};
use bytes::Bytes;
use common::rig::standard_webhooks::{signed, whsec};
use common::rig::*;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const KEY: &[u8] = b"webhook-key-promises-0123456789a";
const BULK_POST: &str = "POST /V1/async/bulk/products";

fn post(path: &str, body: &Value) -> http::Request<Bytes> {
    post_json(path, body)
}

fn products(prefix: &str, n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"sku": format!("{prefix}-{i:05}"), "name": "Promise", "price": 2.5, "attribute_set_id": 4, "type_id": "simple"}))
        .collect();
    json!({ "products": list })
}

fn source_items(prefix: &str, n: usize) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"sku": format!("{prefix}-{i:05}"), "source_code": "default", "quantity": 5, "status": 1}))
        .collect();
    json!({ "sourceItems": list })
}

fn scripted(
    method: &str,
    prefix: &str,
    status: u16,
    headers: &[(&str, &str)],
    times: u32,
) -> ScriptedResponse {
    ScriptedResponse {
        method: Some(method.into()),
        path_prefix: Some(prefix.into()),
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: None,
        times,
    }
}

/// At most 300 characters of `v`, for messages.
fn short(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

fn route_calls(rig: &Rig, route: &str) -> u64 {
    rig.sim.counters().by_route.get(route).copied().unwrap_or(0)
}

/// Fetches the token first, so that only ACCS calls of the request under
/// test overlap, then clears the simulator's counters.
async fn warm(rig: &Rig) {
    let a = rig.get("/v1/products/SKU-0001", Some(API_KEY)).await;
    assert_eq!(a.status, 200, "{}", short(&a.body));
    rig.sim.reset();
}

/// CONFIGURATION.md: `sync_concurrency` is "also the bulk chunks in
/// flight". With every ACCS answer held 300 ms, 8 chunks of 10 under
/// `sync_concurrency` 3 peak at exactly 3 in flight.
#[tokio::test(flavor = "multi_thread")]
async fn bulk_chunks_in_flight_are_exactly_sync_concurrency() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert("sync_concurrency".into(), "3".into());
            v.insert("bulk_chunk_size".into(), "10".into());
        })
        .await;
        warm(&rig).await;
        rig.sim.set_faults(Faults {
            latency_ms: 300,
            bulk_hold: true,
            ..Faults::default()
        });
        let a = rig
            .send(post("/v1/products/bulk", &products("FLIGHT", 80)))
            .await;
        assert_eq!(a.status, 202, "{flavour:?}: {}", a.body["summary"]);
        let c = rig.sim.counters();
        assert_eq!(c.by_route[BULK_POST], 8, "{flavour:?}: ceil(80 / 10)");
        assert_eq!(c.accs_peak_in_flight, 3, "{flavour:?}: {c:?}");
        rig.finish();
    }
}

/// ROUTES.md: `split_calls` is "at most 1,000 per sync". Every batch of a
/// 1,500-item sync refused with 400 would cost about 3,000 splits to
/// bisect; the sync stops at 1,000 and reports each item.
#[tokio::test(flavor = "multi_thread")]
async fn an_inventory_sync_makes_at_most_1000_split_calls() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        warm(&rig).await;
        rig.sim.set_faults(Faults {
            script: vec![scripted("POST", "/V1/inventory/source-items", 400, &[], 0)],
            ..Faults::default()
        });
        let a = rig
            .send(post(
                "/v1/inventory/source-items",
                &source_items("SPLIT", 1_500),
            ))
            .await;
        let split = a.body["summary"]["split_calls"].as_u64().unwrap();
        assert!(split <= 1_000, "{flavour:?}: {split} split calls");
        let sent = route_calls(&rig, "POST /V1/inventory/source-items");
        // 3 batches of the default 500, then the splits.
        assert_eq!(sent, 3 + split, "{flavour:?}: {}", a.body["summary"]);
        assert!(split > 900, "{flavour:?}: the cap was reached: {split}");
        assert_eq!(a.body["summary"]["ok"], 0, "{flavour:?}");
        assert_eq!(a.status, 422, "{flavour:?}: {}", a.body["summary"]);
        rig.finish();
    }
}

/// ROUTES.md: "a request whose every product is refused makes at most 20
/// chunk calls and 1,000 split calls" (10,000 products, chunks of 500).
#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_request_makes_at_most_20_chunk_calls_and_1000_split_calls() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert("accs_timeout_ms".into(), "120000".into());
        })
        .await;
        warm(&rig).await;
        rig.sim.set_faults(Faults {
            script: vec![scripted("POST", "/V1/async/bulk", 400, &[], 0)],
            ..Faults::default()
        });
        let a = rig
            .send(post("/v1/products/bulk", &products("ALLBAD", 10_000)))
            .await;
        assert_eq!(a.status, 422, "{flavour:?}: {}", a.body["summary"]);
        let split = a.body["summary"]["split_calls"].as_u64().unwrap();
        assert!(split <= 1_000, "{flavour:?}: {split} split calls");
        assert!(split > 900, "{flavour:?}: the cap was reached: {split}");
        assert_eq!(route_calls(&rig, BULK_POST), 20 + split, "{flavour:?}");
        assert_eq!(a.body["summary"]["accepted"], 0);
        rig.finish();
    }
}

/// ROUTES.md: when no item of a sync landed, the answer is the failure's
/// status, 429/502/503/504, never a 200 or 207; RETRIES.md and the error
/// table say which: ACCS failing past its retries is 502
/// `accs_unavailable`, ACCS not answering in time 504, IMS down with no
/// token 503 `ims_unavailable` with `Retry-After`, ACCS throttling 429 with
/// ACCS's own `Retry-After` (here 120 s, over the 20 s that are waited).
#[tokio::test(flavor = "multi_thread")]
async fn an_inventory_sync_where_nothing_landed_answers_the_failures_status() {
    let path = "/V1/inventory/source-items";
    for flavour in FLAVOURS {
        for (what, want, code, retry_after) in [
            ("ACCS 502", 502, "accs_unavailable", None),
            ("ACCS 503", 502, "accs_unavailable", None),
            ("ACCS too slow", 504, "accs_unavailable", None),
            ("IMS down", 503, "ims_unavailable", Some(None)),
            ("ACCS 429", 429, "accs_rate_limited", Some(Some("120"))),
        ] {
            let rig = rig(flavour, |v| {
                v.insert("accs_timeout_ms".into(), "1000".into());
            })
            .await;
            if what != "IMS down" {
                warm(&rig).await;
            }
            rig.sim.set_faults(match what {
                "ACCS 502" => Faults {
                    script: vec![scripted("POST", path, 502, &[], 0)],
                    ..Faults::default()
                },
                "ACCS 503" => Faults {
                    script: vec![scripted("POST", path, 503, &[], 0)],
                    ..Faults::default()
                },
                "ACCS too slow" => Faults {
                    latency_ms: 3_000,
                    ..Faults::default()
                },
                "IMS down" => Faults {
                    ims_outage: true,
                    ..Faults::default()
                },
                _ => Faults {
                    script: vec![scripted("POST", path, 429, &[("retry-after", "120")], 0)],
                    ..Faults::default()
                },
            });
            let a = rig
                .send(post("/v1/inventory/source-items", &source_items("DOWN", 3)))
                .await;
            let what = format!("{flavour:?}: {what}");
            assert_eq!(a.status, want, "{what}: {}", short(&a.body));
            let codes = a.body["errors"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .filter_map(|e| e["code"].as_str())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_else(|| vec![a.body["code"].as_str().unwrap()]);
            assert!(
                codes.iter().all(|c| *c == code),
                "{what}: {}",
                short(&a.body)
            );
            let sent = a.headers.get("retry-after").map(|v| v.to_str().unwrap());
            match retry_after {
                None => {}
                Some(None) => assert!(sent.is_some(), "{what}: no Retry-After"),
                Some(Some(v)) => assert_eq!(sent, Some(v), "{what}"),
            }
            assert!(
                rig.sim.inventory_receipts().is_empty(),
                "{what}: nothing landed"
            );
            rig.finish();
        }
    }
}

/// ROUTES.md: a chunk ACCS throttles makes the bulk answer 429 with
/// `Retry-After`; RETRIES.md: a `Retry-After` over 20 s is not waited, the
/// caller gets ACCS's own to honour (here 120).
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_bulk_is_429_with_accss_retry_after() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        warm(&rig).await;
        rig.sim.set_faults(Faults {
            script: vec![scripted(
                "POST",
                "/V1/async/bulk",
                429,
                &[("retry-after", "120")],
                0,
            )],
            ..Faults::default()
        });
        let a = rig
            .send(post("/v1/products/bulk", &products("SLOW", 3)))
            .await;
        assert_eq!(a.status, 429, "{flavour:?}: {}", short(&a.body));
        assert_eq!(
            a.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("120"),
            "{flavour:?}"
        );
        assert_eq!(route_calls(&rig, BULK_POST), 1, "{flavour:?}: not waited");
        rig.finish();
    }
}

async fn webhook_rig(
    flavour: Flavour,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> LedgerRig {
    common::rig::webhook_rig(flavour, KEY, "promises-ledger", tweak).await
}

/// A second deployment of `rig`'s component and variables (after `tweak`)
/// that shares its ledger: the Spin store, or the wasmtime flavour's
/// `token_cache_dir`.
fn sharing_host(
    rig: &LedgerRig,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> edge_host::EdgeHost {
    let mut opts = edge_host::HostOptions::new(rig.flavour, wasm(rig.flavour));
    opts.vars = vars(&rig.sim);
    opts.vars.insert("webhook_secrets".into(), whsec(KEY));
    match &rig.dir {
        Some(dir) => {
            opts.preopen_dir = Some(dir.0.clone());
            opts.vars.insert(
                "token_cache_dir".into(),
                edge_host::PREOPEN_GUEST_PATH.into(),
            );
        }
        None => opts.kv = rig.host.kv(),
    }
    tweak(&mut opts.vars);
    edge_host::EdgeHost::new(opts).expect("hosting the component")
}

/// WEBHOOKS.md: "A delivery keeps the path it started on: once some of its
/// products landed one by one, a retry finishes them one by one even if the
/// threshold changed, and once it has bulks, it stays on the bulk path."
/// Each delivery starts on one deployment and is retried on one, sharing
/// the ledger, whose `products_bulk_above` says the other path.
#[tokio::test(flavor = "multi_thread")]
async fn a_products_delivery_keeps_its_path_when_the_threshold_changes() {
    for flavour in FLAVOURS {
        // One by one (no threshold), ACCS failing the third product's PUT.
        let rig = webhook_rig(flavour, |v| {
            v.insert("sync_concurrency".into(), "1".into());
            v.insert("accs_timeout_ms".into(), "2000".into());
        })
        .await;
        let body = serde_json::to_vec(&products("ONE", 4)).unwrap();
        rig.sim.set_faults(Faults {
            script: vec![scripted("PUT", "/V1/products/ONE-00002", 503, &[], 0)],
            ..Faults::default()
        });
        let a = rig.send(signed(KEY, "products", "path-one", &body)).await;
        assert_eq!(a.status, 503, "{flavour:?}: {}", short(&a.body));
        assert!(rig.sim.product("ONE-00001").is_some());
        rig.sim.set_faults(Faults::default());
        let (bulks, puts) = (
            route_calls(&rig, BULK_POST),
            route_calls(&rig, "PUT /V1/products/{sku}"),
        );
        let bulk = sharing_host(&rig, |v| {
            v.insert("products_bulk_above".into(), "0".into());
        });
        let a =
            rig.answer(oneshot_checked(&bulk, signed(KEY, "products", "path-one", &body)).await);
        assert_eq!(
            a.status,
            200,
            "{flavour:?}: finished one by one: {}",
            short(&a.body)
        );
        assert_eq!(route_calls(&rig, BULK_POST), bulks, "{flavour:?}: no bulk");
        assert_eq!(
            route_calls(&rig, "PUT /V1/products/{sku}"),
            puts + 1,
            "{flavour:?}: only the product that had not landed"
        );
        assert!(rig.sim.product("ONE-00002").is_some());
        rig.rig.finish();
    }
    for flavour in FLAVOURS {
        // Bulks of 2, the first chunk's POST failed by ACCS: one bulk held.
        let rig = webhook_rig(flavour, |v| {
            v.insert("sync_concurrency".into(), "1".into());
            v.insert("bulk_chunk_size".into(), "2".into());
            v.insert("products_bulk_above".into(), "0".into());
        })
        .await;
        rig.sim.set_faults(Faults {
            bulk_hold: true,
            script: vec![scripted("POST", "/V1/async/bulk", 503, &[], 1)],
            ..Faults::default()
        });
        let body = serde_json::to_vec(&products("BULKY", 4)).unwrap();
        let a = rig.send(signed(KEY, "products", "path-bulk", &body)).await;
        assert_eq!(a.status, 503, "{flavour:?}: {}", short(&a.body));
        assert_eq!(
            a.body["bulks"].as_array().map(Vec::len),
            Some(1),
            "{}",
            short(&a.body)
        );
        rig.sim.set_faults(Faults {
            bulk_hold: true,
            ..Faults::default()
        });
        let (bulks, puts) = (
            route_calls(&rig, BULK_POST),
            route_calls(&rig, "PUT /V1/products/{sku}"),
        );
        let one_by_one = sharing_host(&rig, |v| {
            v.insert("bulk_chunk_size".into(), "2".into());
        });
        let a = rig.answer(
            oneshot_checked(&one_by_one, signed(KEY, "products", "path-bulk", &body)).await,
        );
        assert_eq!(
            a.status,
            202,
            "{flavour:?}: finished in bulks: {}",
            short(&a.body)
        );
        assert_eq!(
            route_calls(&rig, BULK_POST),
            bulks + 1,
            "{flavour:?}: the two not accepted"
        );
        assert_eq!(
            route_calls(&rig, "PUT /V1/products/{sku}"),
            puts,
            "{flavour:?}: none one by one"
        );
        assert_eq!(
            a.body["bulks"].as_array().map(Vec::len),
            Some(2),
            "{}",
            short(&a.body)
        );
        rig.rig.finish();
    }
}

const STOCK: &str = "com.acme.stock.updated";

async fn events_rig(
    flavour: Flavour,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> LedgerRig {
    let actions = format!("{STOCK}=inventory");
    common::rig::events_rig(flavour, &actions, "promises-events", tweak).await
}

/// One stock event for `skus`, signed as I/O Events signs it.
fn event(rig: &Rig, id: &str, n: usize) -> http::Request<Bytes> {
    let io = rig.sim.io_events();
    let body = serde_json::to_vec(&io.event(id, STOCK, CLIENT_ID, source_items(id, n))).unwrap();
    post_events(io.headers(&body, Some(id), 0), &body)
}

/// IO-EVENTS.md: "The ledger fails closed: when the store fails, that event
/// is pending and the answer 503", nothing sent.
#[tokio::test(flavor = "multi_thread")]
async fn the_events_ledger_fails_closed() {
    for flavour in FLAVOURS {
        let rig = events_rig(flavour, |_| {}).await;
        let inst = rig.host.instance().await.unwrap();
        // A first event on the instance: the key is verified and held.
        let a = rig.send_on(&inst, event(&rig, "ev-before", 1)).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", short(&a.body));
        match flavour {
            Flavour::Spin => rig.host.kv().set_failing(true),
            Flavour::Wasmtime => std::fs::remove_dir_all(&rig.dir.as_ref().unwrap().0).unwrap(),
        }
        let calls = rig.sim.counters().accs_requests;
        let a = rig.send_on(&inst, event(&rig, "ev-down", 2)).await;
        assert_eq!(a.status, 503, "{flavour:?}: {}", short(&a.body));
        assert!(a.headers.contains_key("retry-after"), "{flavour:?}");
        assert_eq!(
            a.body["events"][0]["result"],
            "pending",
            "{flavour:?}: {}",
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

/// CONFIGURATION.md / RETRIES.md: the events route's budget is "the smaller
/// of" `io_events_timeout_ms` and `accs_timeout_ms`. Six items one call
/// each, every ACCS answer held 400 ms: under a 1 s budget (either
/// variable) not all land and the event is pending; with both long, all do.
#[tokio::test(flavor = "multi_thread")]
async fn the_events_budget_is_the_smaller_of_the_two_timeouts() {
    for flavour in FLAVOURS {
        for (accs, events, lands) in [
            ("1000", "9000", false),
            ("30000", "1000", false),
            ("30000", "9000", true),
        ] {
            let rig = events_rig(flavour, |v| {
                v.insert("accs_timeout_ms".into(), accs.into());
                v.insert("io_events_timeout_ms".into(), events.into());
                v.insert("sync_batch_size".into(), "1".into());
                v.insert("sync_concurrency".into(), "1".into());
            })
            .await;
            rig.sim.set_faults(Faults {
                latency_ms: 400,
                ..Faults::default()
            });
            let a = rig.send(event(&rig, "ev-budget", 6)).await;
            let what = format!("{flavour:?}: accs_timeout_ms={accs} io_events_timeout_ms={events}");
            let landed = rig.sim.inventory_receipts().len();
            if lands {
                assert_eq!(a.status, 200, "{what}: {}", short(&a.body));
                assert_eq!(landed, 6, "{what}");
            } else {
                assert_eq!(a.status, 503, "{what}: {}", short(&a.body));
                assert_eq!(a.body["events"][0]["result"], "pending", "{what}");
                assert!(landed < 6, "{what}: {landed} landed");
            }
            rig.rig.finish();
        }
    }
}

/// The ```toml variables file of DEPLOY.md, `name = "value"` lines.
fn deploy_placeholders() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(manifest_dir().join("docs/DEPLOY.md")).unwrap();
    let from = doc.find("# ~/.config/accs-edge/prod.vars.toml").unwrap();
    let block = &doc[from..doc[from..].find("```").unwrap() + from];
    let vars: BTreeMap<String, String> = block
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            let v = v.trim();
            let v = &v[1..];
            (k.trim().to_owned(), v[..v.find('"').unwrap()].to_owned())
        })
        .collect();
    assert!(vars["api_keys"].contains("REPLACE"), "{vars:?}");
    vars
}

/// DEPLOY.md: "The placeholders are deliberately invalid. An app deployed
/// with them answers `500 config_invalid`, naming the variable, on every
/// route but `/healthz`."
#[tokio::test(flavor = "multi_thread")]
async fn deploys_placeholders_answer_config_invalid() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| *v = deploy_placeholders()).await;
        for (method, path) in [
            ("GET", "/v1/products/SKU-0001"),
            ("GET", "/v1/token"),
            ("POST", "/v1/inventory/source-items"),
            ("GET", "/v1/orders"),
        ] {
            let a = rig.send(request(method, path, Some("REPLACE_ME"))).await;
            assert_eq!(
                (a.status, a.body["code"].as_str()),
                (500, Some("config_invalid")),
                "{flavour:?}: {method} {path}: {}",
                short(&a.body)
            );
            let detail = a.body["detail"].as_str().unwrap_or("");
            assert!(
                detail.contains("api_keys"),
                "{flavour:?}: names the variable: {detail}"
            );
        }
        let a = rig.get("/healthz", None).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", short(&a.body));
        assert_eq!(rig.upstream_calls(), 0);
        rig.finish();
    }
}

/// WEBHOOKS.md, "What a delivery writes": a delivery is 4 writes (index
/// entry, hint, claim, outcome), the first claim ever one more (the
/// pointer); DEPLOY.md: "Keys stay under the 255-byte limit" (Fermyon's
/// "Maximum key size (bytes) | 255"). Counted on the Spin flavour's store,
/// the one edge-host counts.
#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_writes_4_keys_and_every_key_is_under_255_bytes() {
    let actions = format!("{STOCK}=inventory");
    let rig = common::rig::events_rig(Flavour::Spin, &actions, "promises-writes", |v| {
        v.insert("webhook_secrets".into(), common::secret(whsec(KEY)));
        v.insert("products_bulk_above".into(), "0".into());
    })
    .await;
    let kv = rig.host.kv();
    warm(&rig).await;
    let inventory = serde_json::to_vec(&source_items("W", 2)).unwrap();
    for (id, writes) in [("w-1", 5), ("w-2", 4), ("w-3", 4)] {
        kv.reset_counters();
        let a = rig.send(signed(KEY, "inventory", id, &inventory)).await;
        assert_eq!(a.status, 200, "{id}: {}", short(&a.body));
        assert_eq!(kv.sets(), writes, "{id}: {:?}", kv.keys());
        assert_eq!(kv.deletes(), 0, "{id}: nothing expired yet");
    }
    // A bulk delivery, an I/O event, a remembered denial: more kinds of key.
    rig.sim.set_faults(Faults {
        bulk_hold: true,
        ..Faults::default()
    });
    let body = serde_json::to_vec(&products("KEYS", 3)).unwrap();
    let a = rig.send(signed(KEY, "products", "w-bulk", &body)).await;
    assert_eq!(a.status, 202, "{}", short(&a.body));
    let a = rig.send(event(&rig, "ev-keys", 1)).await;
    assert_eq!(a.status, 200, "{}", short(&a.body));
    // An event is a delivery in the ledger's events namespace: with its
    // key verified and cached (IO-EVENTS.md: at most one key-cache write a
    // request), the next event writes the ledger's 4.
    kv.reset_counters();
    let a = rig.send(event(&rig, "ev-keys-2", 1)).await;
    assert_eq!(a.status, 200, "{}", short(&a.body));
    assert_eq!(kv.sets(), 4, "the second event: {:?}", kv.keys());
    rig.sim.set_faults(Faults {
        denied_resources: vec!["Magento_Sales::actions_view".into()],
        ..Faults::default()
    });
    let a = rig.get("/v1/orders", Some(API_KEY)).await;
    assert_eq!(a.status, 403, "{}", short(&a.body));
    let keys = kv.keys();
    assert!(keys.len() > 10, "{keys:?}");
    for k in &keys {
        assert!(k.len() < 255, "{} bytes: {k}", k.len());
    }
    rig.rig.finish();
}

/// WEBHOOKS.md: of two instances receiving one delivery at once, "the
/// second backs off with 409 `conflict` and `Retry-After` (a claim lasts at
/// least `accs_timeout_ms` plus 10 s)". The first holds its claim while
/// ACCS answers slowly; the second arrives then.
#[tokio::test(flavor = "multi_thread")]
async fn the_race_loser_answers_409_conflict_with_the_claims_retry_after() {
    for flavour in FLAVOURS {
        let rig = webhook_rig(flavour, |v| {
            v.insert("accs_timeout_ms".into(), "120000".into());
        })
        .await;
        let (a, b) = (
            rig.host.instance().await.unwrap(),
            rig.host.instance().await.unwrap(),
        );
        rig.sim.set_faults(Faults {
            latency_ms: 2_000,
            ..Faults::default()
        });
        let body = serde_json::to_vec(&source_items("RACE", 2)).unwrap();
        let (won, lost) = tokio::join!(
            rig.send_on(&a, signed(KEY, "inventory", "race-1", &body)),
            async {
                // The winner's ACCS call has arrived: its claim is written.
                while rig.sim.counters().accs_peak_in_flight == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                rig.send_on(&b, signed(KEY, "inventory", "race-1", &body))
                    .await
            }
        );
        assert_eq!(won.status, 200, "{flavour:?}: {}", short(&won.body));
        assert_eq!(
            (lost.status, lost.body["code"].as_str()),
            (409, Some("conflict")),
            "{flavour:?}: {}",
            short(&lost.body)
        );
        let retry: u64 = lost.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // 120 s of budget plus 10 s, less the moment the winner has had.
        assert!(
            (121..=130).contains(&retry),
            "{flavour:?}: Retry-After {retry}"
        );
        assert_eq!(
            rig.accs_calls("/V1/inventory/source-items"),
            1,
            "{flavour:?}"
        );
        rig.rig.finish();
    }
}

/// The OpenAPI check takes a status only as itself: ACCS's 409 on a product
/// upsert is covered by nothing but the operation's `4XX` range, and is
/// refused as undocumented.
#[test]
#[should_panic(expected = "status 409 is not documented")]
fn the_openapi_check_refuses_a_status_only_a_range_covers() {
    let mut h = http::HeaderMap::new();
    h.insert("content-type", "application/problem+json".parse().unwrap());
    h.insert("x-request-id", "req-1".parse().unwrap());
    h.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            .parse()
            .unwrap(),
    );
    let body = br#"{"type":"about:blank","title":"ACCS error","status":409,"detail":"ACCS answered 409","code":"accs_error","request_id":"req-1"}"#;
    common::openapi::check("PUT", "/v1/products/SKU-1", 409, &h, body);
}
