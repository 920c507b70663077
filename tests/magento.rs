//! Issue #11: the component against a simulator that behaves like Magento
//! where it breaks our old assumptions (ACL 401s, long Retry-After, whole-
//! batch 400s, duplicates, one budget per request, secrets in config
//! errors), both flavours, with exact upstream counts.

mod common;

use accs_sim::{Faults, Framing, InputLimits, ScriptedResponse};
use bytes::Bytes;
use common::rig::*;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

fn with_body(method: &str, path: &str, body: &Value) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", "application/json")
        .body(Bytes::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// `n` realistic items: 24-character SKUs, source `default`.
fn items(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"sku": format!("ACME-WIDGET-BLUE-{i:07}"), "source_code": "default", "quantity": i % 100, "status": 1}))
        .collect()
}

fn calls_to(rig: &Rig, route: &str) -> u64 {
    rig.sim.counters().by_route.get(route).copied().unwrap_or(0)
}

/// Point 1 (and 2): a role lacking `Magento_Sales::actions_view` gets
/// Magento's 401 on orders only. Five reads: one ACCS call, one IMS call (the
/// cold start), each answered 403 `accs_forbidden` naming the resource. Then
/// IMS goes down: every product read is still 200 with the token in hand.
/// And a Retry-After of 120 s is handed back at once, never slept.
#[tokio::test(flavor = "multi_thread")]
async fn an_acl_401_keeps_the_token_and_an_ims_outage_after_it_costs_nothing() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert("accs_timeout_ms".into(), "60000".into());
        })
        .await;
        let inst = rig.host.instance().await.unwrap();
        rig.sim.set_faults(Faults {
            denied_resources: vec!["Magento_Sales::actions_view".into()],
            ..Default::default()
        });
        for _ in 0..5 {
            let a = rig.on(&inst, "GET", "/v1/orders/7", Some(API_KEY)).await;
            assert_eq!(a.status, 403, "{flavour:?}: {}", a.body);
            assert_eq!(a.body["code"], "accs_forbidden");
            assert!(
                a.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("Magento_Sales::actions_view"),
                "{}",
                a.body
            );
        }
        assert_eq!(rig.sim.counters().token_requests, 1, "{flavour:?}");
        assert_eq!(calls_to(&rig, "GET /V1/orders/{id}"), 1, "{flavour:?}");

        rig.sim.set_faults(Faults {
            denied_resources: vec!["Magento_Sales::actions_view".into()],
            ims_outage: true,
            ..Default::default()
        });
        rig.reads_stay_ok(&inst, 1..=5, &format!("{flavour:?}"))
            .await;
        assert_eq!(
            rig.sim.counters().token_requests,
            1,
            "{flavour:?}: no IMS call"
        );
        let a = rig.on(&inst, "GET", "/v1/orders/7", Some(API_KEY)).await;
        assert_eq!(a.body["code"], "accs_forbidden");
        assert_eq!(calls_to(&rig, "GET /V1/orders/{id}"), 1, "still remembered");

        // Point 2: 120 s is over what we may wait: 429 at once, ACCS's value.
        rig.sim.set_faults(Faults {
            script: vec![ScriptedResponse {
                method: Some("GET".into()),
                path_prefix: Some("/V1/products".into()),
                status: 429,
                headers: BTreeMap::from([("Retry-After".into(), "120".into())]),
                body: None,
                times: 1,
            }],
            ims_outage: true,
            ..Default::default()
        });
        let before = calls_to(&rig, "GET /V1/products/{sku}");
        // Not slept: answered before the 120 s ACCS asked for could pass
        // (a bound set by ACCS's value, not by this machine's speed).
        let a = tokio::time::timeout(
            Duration::from_secs(100),
            rig.on(&inst, "GET", "/v1/products/SKU-0009", Some(API_KEY)),
        )
        .await
        .expect("answered at once, not after waiting ACCS's 120 s");
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (429, Some("accs_rate_limited"))
        );
        assert_eq!(a.headers["retry-after"], "120", "{flavour:?}");
        assert_eq!(
            calls_to(&rig, "GET /V1/products/{sku}"),
            before + 1,
            "one attempt"
        );
        let a = rig
            .on(&inst, "GET", "/v1/products/SKU-0009", Some(API_KEY))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(rig.sim.counters().token_requests, 1, "{flavour:?}");
        rig.finish();
    }
}

/// Point 5: 1,200 items, one with a source Magento does not know: its batch
/// of 500 is refused whole, split until the bad item stands alone; 1,199
/// items land exactly once, `results` fails exactly that index with ACCS's
/// message, and the extra calls are reported.
#[tokio::test(flavor = "multi_thread")]
async fn one_bad_item_among_1200_fails_alone_and_the_rest_land_once() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let mut list = items(1_200);
        list[777]["source_code"] = json!("nowhere");
        let a = rig
            .send(with_body(
                "POST",
                "/v1/inventory/source-items",
                &json!({"sourceItems": list}),
            ))
            .await;
        assert_eq!(a.status, 207, "{flavour:?}: {}", a.body["summary"]);
        let s = &a.body["summary"];
        assert_eq!(
            (&s["items"], &s["ok"], &s["failed"]),
            (&json!(1_200), &json!(1_199), &json!(1))
        );
        let split = s["split_calls"].as_u64().unwrap();
        assert!(
            (2..=18).contains(&split),
            "{flavour:?}: {split} extra calls"
        );
        assert_eq!(
            calls_to(&rig, "POST /V1/inventory/source-items"),
            3 + split,
            "three batches plus the splits"
        );
        let results = a.body["results"].as_array().unwrap();
        let failed: Vec<u64> = results
            .iter()
            .filter(|r| r["result"] != "ok")
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        assert_eq!(failed, [777], "{flavour:?}");
        assert_eq!(results[777]["reason"], "Could not save Source Item");
        assert_eq!(results[777]["error"], "accs_error");
        let receipts = rig.sim.inventory_receipts();
        assert_eq!(receipts.len(), 1_199, "{flavour:?}");
        assert!(receipts.values().all(|&n| n == 1), "{flavour:?}: twice");
        assert!(!receipts.keys().any(|(_, s)| s == "nowhere"));
        assert_eq!(a.body["errors"].as_array().unwrap().len(), 1);

        // `n` items at a source ACCS does not have.
        let at_nowhere = |n: usize| -> Vec<Value> {
            items(n)
                .into_iter()
                .map(|mut i| {
                    i["source_code"] = json!("nowhere");
                    i
                })
                .collect()
        };
        // Nothing landed because ACCS refused every item: 422 with the
        // report, never our own 400 (which means nothing was sent).
        let all_bad = at_nowhere(3);
        let a = rig
            .send(with_body(
                "POST",
                "/v1/inventory/source-items",
                &json!({"sourceItems": all_bad}),
            ))
            .await;
        assert_eq!(a.status, 422, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["summary"]["failed"], 3);

        // docs/ROUTES.md: a 10,000-item sync naming only unknown sources
        // costs at most 9 calls (20 batches of 500, 4 at once), not about
        // 1,000; how many under 9 depends on which answers come first.
        let before = calls_to(&rig, "POST /V1/inventory/source-items");
        let unknown = at_nowhere(10_000);
        let a = rig
            .send(with_body(
                "POST",
                "/v1/inventory/source-items",
                &json!({"sourceItems": unknown}),
            ))
            .await;
        assert_eq!(a.status, 422, "{flavour:?}: {}", a.body["summary"]);
        assert_eq!(a.body["summary"]["failed"], 10_000);
        let calls = calls_to(&rig, "POST /V1/inventory/source-items") - before;
        assert!((2..=9).contains(&calls), "{flavour:?}: {calls} calls");
        // Every body sent to ACCS is one Adobe's schema takes.
        assert!(common::accs_contract::assert_outbound_bodies_match(&rig.sim) > 0);
        rig.finish();
    }
}

/// Point 6: entries for one (sku, source_code) in different batches: the
/// last wins, always; the earlier ones are superseded and never sent.
#[tokio::test(flavor = "multi_thread")]
async fn the_last_entry_of_a_key_wins_and_earlier_ones_are_never_sent() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert("sync_batch_size".into(), "2".into());
            v.insert("sync_concurrency".into(), "4".into());
        })
        .await;
        let e = |sku: &str, q: u32| json!({"sku": sku, "source_code": "default", "quantity": q, "status": 1});
        let list = json!({"sourceItems": [e("A", 1), e("B", 2), e("A", 3), e("C", 4), e("A", 5), e("B", 6)]});
        let a = rig
            .send(with_body("POST", "/v1/inventory/source-items", &list))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["summary"]["superseded"], 3);
        assert_eq!(a.body["summary"]["ok"], 3);
        assert_eq!(a.body["summary"]["failed"], 0);
        let r = a.body["results"].as_array().unwrap();
        let by: Vec<(&str, Option<u64>)> = r
            .iter()
            .map(|r| (r["result"].as_str().unwrap(), r["superseded_by"].as_u64()))
            .collect();
        assert_eq!(
            by,
            [
                ("superseded", Some(4)),
                ("superseded", Some(5)),
                ("superseded", Some(4)),
                ("ok", None),
                ("ok", None),
                ("ok", None)
            ]
        );
        // What reached ACCS: each key once, with the last quantity.
        let mut sent: Vec<(String, u64)> = rig
            .sim
            .requests()
            .iter()
            .flat_map(|r| {
                let v: Value = serde_json::from_str(&r.body).unwrap();
                v["sourceItems"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| {
                        (
                            i["sku"].as_str().unwrap().to_owned(),
                            i["quantity"].as_u64().unwrap(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        sent.sort();
        assert_eq!(sent, [("A".into(), 5), ("B".into(), 6), ("C".into(), 4)]);
        // Every body sent to ACCS is one Adobe's schema takes.
        assert!(common::accs_contract::assert_outbound_bodies_match(&rig.sim) > 0);
        rig.finish();
    }
}

/// Point 3: `accs_timeout_ms` is the whole request's budget. A sync whose
/// batches take 400 ms each under a 1 s budget stops sending when it ends;
/// the items never attempted report `failed` with `accs_timeout`, none is
/// dropped, and the answer comes within the budget and one attempt.
#[tokio::test(flavor = "multi_thread")]
async fn one_budget_covers_a_whole_sync() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert("accs_timeout_ms".into(), "1000".into());
            v.insert("sync_batch_size".into(), "10".into());
            v.insert("sync_concurrency".into(), "1".into());
        })
        .await;
        // Warm the token first, so the budget goes to ACCS only.
        let inst = rig.host.instance().await.unwrap();
        assert_eq!(
            rig.on(&inst, "GET", "/v1/products/SKU-0001", Some(API_KEY))
                .await
                .status,
            200
        );
        rig.sim.set_faults(Faults {
            latency_ms: 400,
            ..Default::default()
        });
        // The budget, not the machine's speed, bounds what lands: 1 s of
        // 400 ms calls, one batch of 10 at a time, is 3 batches at most.
        let a = rig
            .send_on(
                &inst,
                with_body(
                    "POST",
                    "/v1/inventory/source-items",
                    &json!({"sourceItems": items(100)}),
                ),
            )
            .await;
        let results = a.body["results"].as_array().unwrap();
        assert_eq!(results.len(), 100, "nothing dropped");
        let ok = results.iter().filter(|r| r["result"] == "ok").count();
        let timed_out = results
            .iter()
            .filter(|r| r["result"] == "failed" && r["error"] == "accs_timeout")
            .count();
        assert!((10..=30).contains(&ok), "{flavour:?}: {ok} landed");
        assert!(timed_out >= 60, "{flavour:?}: {timed_out} never attempted");
        assert!(
            results
                .iter()
                .all(|r| r["result"] == "ok" || r["result"] == "failed"),
            "every item ends ok or failed"
        );
        assert_eq!(a.status, 207, "{flavour:?}: {}", a.body["summary"]);
        assert!(calls_to(&rig, "POST /V1/inventory/source-items") <= 4);
        rig.finish();
    }
}

/// Point 9: a malformed `api_keys` (name and key swapped) is named by
/// position, never by value, before any authentication.
#[tokio::test(flavor = "multi_thread")]
async fn a_config_error_never_shows_a_value() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert(
                "api_keys".into(),
                format!("erp:{API_KEY},{OTHER_API_KEY}:pim"),
            );
        })
        .await;
        let a = rig.get("/v1/products/SKU-0001", None).await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (500, Some("config_invalid"))
        );
        let detail = a.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("api_keys") && detail.contains("entry 2"),
            "{detail}"
        );
        assert!(
            !detail.contains(&OTHER_API_KEY[..12]) && !detail.contains("pim"),
            "{detail}"
        );
        assert_eq!(rig.upstream_calls(), 0);
        rig.finish();
    }
}

/// Point 4: every outbound body goes with its length (some gateways answer
/// 411 to chunked uploads): the IMS form, a product PUT, a sync POST.
#[tokio::test(flavor = "multi_thread")]
async fn outbound_bodies_carry_their_length() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        rig.sim.set_faults(Faults {
            require_content_length: true,
            ..Default::default()
        });
        let a = rig
            .send(with_body(
                "PUT",
                "/v1/products/SKU-0001",
                &json!({"product": {"name": "x"}}),
            ))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        let a = rig
            .send(with_body(
                "POST",
                "/v1/inventory/source-items",
                &json!({"sourceItems": items(3)}),
            ))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert!(
            rig.sim
                .token_requests()
                .iter()
                .all(|t| t.framing == Framing::ContentLength)
        );
        let framings: Vec<Framing> = rig.sim.requests().iter().map(|r| r.framing).collect();
        assert_eq!(framings, [Framing::ContentLength, Framing::ContentLength]);
        // Every body sent to ACCS is one Adobe's schema takes.
        assert!(common::accs_contract::assert_outbound_bodies_match(&rig.sim) > 0);
        rig.finish();
    }
}

/// Issue 22: a role lacking `Magento_Sales::actions_view`, and a token over
/// a minute old (planted as another instance stored it). 12 `GET
/// /v1/orders/{id}`, 4 one after the other and then 8 at once, cost
/// exactly 1 IMS token call and 2 ACCS calls, and 1 validation: the old
/// token is renewed once (it might be stale), the new one refused too, IMS
/// says it is valid, so it is the role: every answer 403 naming the
/// resource, the repeats from the remembered denial (docs/RETRIES.md).
/// Then IMS goes down and every product read is still 200.
#[tokio::test(flavor = "multi_thread")]
async fn a_role_denial_to_an_old_token_costs_one_renewal_two_accs_calls_and_one_validation() {
    for flavour in FLAVOURS {
        let sim = start_sim().await;
        let old = sim_token(&sim).await;
        let mut opts = edge_host::HostOptions::new(flavour, wasm(flavour));
        opts.vars = vars(&sim);
        plant_old_token(&mut opts, &old);
        let rig = Rig {
            flavour,
            sim,
            host: edge_host::EdgeHost::new(opts).expect("hosting"),
            captured: Default::default(),
        };
        rig.sim.set_faults(Faults {
            denied_resources: vec!["Magento_Sales::actions_view".into()],
            ..Default::default()
        });
        let tokens_before = rig.sim.counters().token_requests;
        let inst = rig.host.instance().await.unwrap();
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(rig.on(&inst, "GET", "/v1/orders/7", Some(API_KEY)).await);
        }
        let eight = (0..8)
            .map(|_| common::rig::request("GET", "/v1/orders/7", Some(API_KEY)))
            .collect();
        for resp in inst.handle_concurrent(eight).await.unwrap() {
            answers.push(rig.checked("GET", "/v1/orders/7", resp));
        }
        assert_eq!(answers.len(), 12);
        for a in &answers {
            assert_eq!(a.status, 403, "{flavour:?}: {}", a.body);
            assert_eq!(a.body["code"], "accs_forbidden");
            assert!(
                a.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("Magento_Sales::actions_view")
            );
        }
        let c = rig.sim.counters();
        assert_eq!(
            c.token_requests - tokens_before,
            1,
            "{flavour:?}: one renewal: {c:?}"
        );
        assert_eq!(
            calls_to(&rig, "GET /V1/orders/{id}"),
            2,
            "{flavour:?}: two ACCS calls: {c:?}"
        );
        assert_eq!(c.token_validations, 1, "{flavour:?}: {c:?}");
        let v = &rig.sim.validations()[0];
        assert_eq!(
            (
                v.token_type.as_deref(),
                v.client_id.as_deref(),
                v.bearer,
                v.valid
            ),
            (Some("access_token"), Some(CLIENT_ID), true, Some(true))
        );

        rig.sim.set_faults(Faults {
            denied_resources: vec!["Magento_Sales::actions_view".into()],
            ims_outage: true,
            ..Default::default()
        });
        rig.reads_stay_ok(&inst, 1..=5, &format!("{flavour:?}"))
            .await;
        rig.finish();
    }
}

/// Issue 22 (review): a bad API key, or a webhook with a stale timestamp,
/// is refused from the head: with a 5 MiB body (over every route's cap) the
/// answer is 401, not the 413 that reading the body first would give.
#[tokio::test(flavor = "multi_thread")]
async fn bad_keys_and_stale_webhooks_are_refused_before_the_body_is_read() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert(
                "webhook_secrets".into(),
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            );
        })
        .await;
        let big = Bytes::from(vec![b' '; 5 * 1024 * 1024]);
        let post = |path: &str, headers: &[(&str, String)]| {
            let mut b = http::Request::builder()
                .method("POST")
                .uri(format!("http://localhost{path}"))
                .header("content-type", "application/json");
            for (n, v) in headers {
                b = b.header(*n, v);
            }
            b.body(big.clone()).unwrap()
        };
        let a = rig
            .send(post(
                "/v1/inventory/source-items",
                &[(
                    "authorization",
                    "Bearer wrong-key-0123456789abcdef0123".into(),
                )],
            ))
            .await;
        assert_eq!(
            (a.status, &a.body["code"]),
            (401, &json!("unauthorized")),
            "{flavour:?}"
        );
        let stale = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 600)
            .to_string();
        let a = rig
            .send(post(
                "/v1/webhooks/inventory",
                &[
                    ("webhook-id", "msg_stale".into()),
                    ("webhook-timestamp", stale),
                    ("webhook-signature", "v1,AAAA".into()),
                ],
            ))
            .await;
        assert_eq!(
            (a.status, &a.body["code"]),
            (401, &json!("unauthorized")),
            "{flavour:?}"
        );
        // The same body with a good key is read, and is too large.
        let a = rig
            .send(post(
                "/v1/inventory/source-items",
                &[("authorization", format!("Bearer {API_KEY}"))],
            ))
            .await;
        assert_eq!(a.status, 413, "{flavour:?}");
        assert_eq!(rig.upstream_calls(), 0);
        rig.finish();
    }
}

/// Issue 31 item 7: Magento's Web API input limits on (the simulator's
/// `input_limits` at Magento's defaults: 20 source items, page size 300, here
/// 50): a 100-item sync is refused once, then makes exactly 5 calls of 20;
/// the next sync on the instance makes exactly 5, none refused. A page size
/// ACCS refused is then refused at the edge, naming its maximum.
#[tokio::test(flavor = "multi_thread")]
async fn input_limits_are_learned_once_not_bisected() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let inst = rig.host.instance().await.unwrap();
        rig.sim.set_faults(Faults {
            input_limits: Some(InputLimits {
                maximum_page_size: 50,
                ..InputLimits::default()
            }),
            ..Faults::default()
        });
        let sync = |list: Vec<Value>| {
            with_body(
                "POST",
                "/v1/inventory/source-items",
                &json!({"sourceItems": list}),
            )
        };
        let a = rig.send_on(&inst, sync(items(100))).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["summary"]["ok"], 100);
        let route = "POST /V1/inventory/source-items";
        assert_eq!(
            calls_to(&rig, route),
            6,
            "{flavour:?}: the refusal and 5 calls of 20"
        );
        let refused: Vec<_> = rig
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.status == 400)
            .collect();
        assert_eq!(refused.len(), 1, "{flavour:?}");
        let a = rig.send_on(&inst, sync(items(100))).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(
            calls_to(&rig, route),
            11,
            "{flavour:?}: 5 more, from the start"
        );
        let receipts = rig.sim.inventory_receipts();
        assert_eq!(receipts.len(), 100);
        assert!(
            receipts.values().all(|&n| n == 2),
            "{flavour:?}: once per sync"
        );

        let a = rig
            .on(&inst, "GET", "/v1/products?page_size=60", Some(API_KEY))
            .await;
        assert_eq!(a.status, 400, "{flavour:?}: {}", a.body);
        assert_eq!(
            a.body["upstream"]["message"],
            "Maximum SearchCriteria pageSize is %max"
        );
        assert_eq!(a.body["upstream"]["parameters"]["max"], 50);
        let searches = calls_to(&rig, "GET /V1/products");
        for path in ["/v1/products?page_size=60", "/v1/orders?page_size=51"] {
            let a = rig.on(&inst, "GET", path, Some(API_KEY)).await;
            assert_eq!(a.status, 400, "{flavour:?} {path}: {}", a.body);
            assert_eq!(a.body["code"], "invalid_request");
            assert!(
                a.body["detail"].as_str().unwrap().contains("at most 50"),
                "{}",
                a.body
            );
        }
        assert_eq!(calls_to(&rig, "GET /V1/products"), searches, "nothing sent");
        assert_eq!(calls_to(&rig, "GET /V1/orders"), 0, "nothing sent");
        let a = rig
            .on(&inst, "GET", "/v1/orders?page_size=50", Some(API_KEY))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        rig.finish();
    }
}
