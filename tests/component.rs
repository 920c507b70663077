//! Component tests: the built `.wasm` of each flavour in an embedded wasmtime
//! (edge-host), against accs-sim on loopback.

mod common;

use accs_sim::ScriptedResponse;
use common::rig::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread")]
async fn health_needs_no_auth_and_calls_nothing() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let a = rig.get("/healthz", None).await;
        assert_eq!(a.status, 200, "{flavour:?}");
        assert_eq!(a.body, serde_json::json!({"status": "ok"}));
        assert!(a.headers.contains_key("x-request-id"));
        assert_eq!(rig.upstream_calls(), 0);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_wrong_key_is_401_without_upstream_calls() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        for key in [None, Some("not-a-key-0123456789abcdef0123456789"), Some("")] {
            let a = rig.get("/v1/products/SKU-0001", key).await;
            assert_eq!(a.status, 401, "{flavour:?} {key:?}");
            assert_eq!(a.headers["content-type"], "application/problem+json");
            assert_eq!(a.body["code"], "unauthorized");
            assert_eq!(
                a.body["request_id"],
                a.headers["x-request-id"].to_str().unwrap()
            );
        }
        assert_eq!(rig.sim.counters().token_requests, 0, "{flavour:?}");
        assert_eq!(rig.sim.counters().accs_requests, 0, "{flavour:?}");
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn product_read_sends_the_right_headers_upstream() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert("accs_store_code".into(), "de_store".into());
        })
        .await;
        let a = rig.get("/v1/products/SKU-0001", Some(OTHER_API_KEY)).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["sku"], "SKU-0001");
        assert_eq!(a.headers["content-type"], "application/json");

        let tokens = rig.sim.token_requests();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(tokens[0].client_id.as_deref(), Some(CLIENT_ID));
        assert!(tokens[0].scopes.iter().any(|s| s == "commerce.accs"));
        assert!(
            tokens[0]
                .content_type
                .as_deref()
                .unwrap()
                .starts_with("application/x-www-form-urlencoded")
        );

        let reqs = rig.sim.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(
            (r.method.as_str(), r.raw_path.as_str()),
            ("GET", "/tenantT1/V1/products/SKU-0001")
        );
        assert!(r.headers["authorization"].starts_with("Bearer "));
        assert_eq!(r.headers["x-api-key"], CLIENT_ID);
        assert_eq!(r.headers["store"], "de_store");
        assert_eq!(r.headers["x-gw-ims-org-id"], "ORG123@AdobeOrg");
        assert_eq!(
            r.headers["x-request-id"],
            a.headers["x-request-id"].to_str().unwrap()
        );
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_sequential_reads_cost_one_ims_call() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let inst = rig.host.instance().await.unwrap();
        for i in 0..100 {
            let a = rig
                .on(
                    &inst,
                    "GET",
                    &format!("/v1/products/SKU-{:04}", i % 50 + 1),
                    Some(API_KEY),
                )
                .await;
            assert_eq!(a.status, 200, "{flavour:?} read {i}");
        }
        assert_eq!(rig.sim.counters().token_requests, 1, "{flavour:?}");
        assert_eq!(rig.accs_calls("/V1/products/"), 100);
        // A warm request touches no key-value entry: edge-host counts the
        // guest's `spin:key-value` and `wasi:keyvalue` calls alike
        // (crates/edge-host/src/kv.rs, src/keyvalue.rs). That it reads no
        // variable is counted under the real `spin up`
        // (tests/e2e_spin_variables.rs).
        assert_eq!(
            rig.host.kv().gets(),
            1,
            "{flavour:?}: only the cold request looks in the store"
        );
        assert_eq!(
            rig.host.kv().sets(),
            1,
            "{flavour:?}: only the new token is written"
        );
        assert_eq!(rig.host.kv().deletes(), 0, "{flavour:?}");
        rig.finish();
    }
}

/// The wasmtime build with `token_cache_dir` keeps the token in a file as
/// well (src/ims/shared.rs): the cold request reads, leases and writes
/// there; a warm one opens no file and no key-value entry. The kernel's own
/// account of the directory (inotify, edge-host's `DirWatch`) is the witness,
/// shown to see the cold request's files first.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn a_warm_request_touches_no_file_of_the_token_directory() {
    let dir = serve::TempDir::new("warm-token-dir");
    let sim = start_sim().await;
    let mut opts = edge_host::HostOptions::new(Flavour::Wasmtime, wasm(Flavour::Wasmtime));
    opts.vars = vars(&sim);
    opts.vars.insert(
        "token_cache_dir".into(),
        edge_host::PREOPEN_GUEST_PATH.into(),
    );
    opts.preopen_dir = Some(dir.0.clone());
    let rig = Rig {
        flavour: Flavour::Wasmtime,
        sim,
        host: edge_host::EdgeHost::new(opts).expect("hosting the component"),
        captured: Default::default(),
    };
    let inst = rig.host.instance().await.unwrap();
    let watch = edge_host::DirWatch::new(&dir.0).unwrap();
    let read = |i: u32| {
        let (rig, inst) = (&rig, &inst);
        async move {
            let path = format!("/v1/products/SKU-{:04}", i % 50 + 1);
            let a = rig.on(inst, "GET", &path, Some(API_KEY)).await;
            assert_eq!(a.status, 200, "read {i}: {}", a.body);
        }
    };
    read(0).await;
    let cold = watch.events().unwrap();
    assert!(
        cold.iter()
            .any(|e| e.starts_with("accs-edge-ims-token-v2-") && e.contains("MOVED_TO")),
        "the cold request stores the token file: {cold:?}"
    );
    let kv = rig.host.kv();
    let cold_ops = (kv.gets(), kv.sets(), kv.deletes());
    for i in 1..50 {
        read(i).await;
    }
    let warm = watch.events().unwrap();
    assert!(
        warm.is_empty(),
        "warm reads touched the directory {} times: {:?} ...",
        warm.len(),
        &warm[..warm.len().min(6)]
    );
    assert_eq!((kv.gets(), kv.sets(), kv.deletes()), cold_ops, "warm reads");
    assert_eq!(rig.sim.counters().token_requests, 1);
    rig.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_instances_share_the_sealed_token_through_key_value() {
    let rig = rig(Flavour::Spin, |_| {}).await;
    for _ in 0..5 {
        assert_eq!(
            rig.get("/v1/products/SKU-0002", Some(API_KEY)).await.status,
            200
        );
    }
    assert_eq!(rig.sim.counters().token_requests, 1);
    let kv = rig.host.kv().snapshot();
    assert_eq!(kv.len(), 1);
    let (key, value) = kv.iter().next().unwrap();
    assert!(key.starts_with("accs-edge/ims-token/v2/"), "{key}");
    for secret in secrets(&rig.sim) {
        assert!(
            !value.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the store holds a secret in clear"
        );
    }
    rig.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_cold_requests_on_one_instance_cost_one_ims_call() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let inst = rig.host.instance().await.unwrap();
        let reqs = (0..50)
            .map(|i| {
                request(
                    "GET",
                    &format!("/v1/products/SKU-{:04}", i % 50 + 1),
                    Some(API_KEY),
                )
            })
            .collect();
        let answers = inst.handle_concurrent(reqs).await.unwrap();
        for resp in answers {
            assert_eq!(
                rig.checked("GET", "/v1/products/SKU-0001", resp).status,
                200,
                "{flavour:?}"
            );
        }
        assert_eq!(rig.sim.counters().token_requests, 1, "{flavour:?}");
        rig.finish();
    }
}

/// A token seconds old that ACCS refuses is not stale: Magento answers the
/// same 401 when the role lacks the resource. One ACCS call, no renewal,
/// 403 `accs_forbidden`; the renewal of an older token is in
/// tests/token_lifecycle.rs.
#[tokio::test(flavor = "multi_thread")]
async fn persistent_401_to_a_fresh_token_is_403_without_a_renewal() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        rig.sim.set_faults(accs_sim::Faults {
            script: vec![ScriptedResponse {
                method: None,
                path_prefix: Some("/V1/products".into()),
                status: 401,
                headers: BTreeMap::new(),
                body: None,
                times: 0,
            }],
            ..Default::default()
        });
        let a = rig.get("/v1/products/SKU-0001", Some(API_KEY)).await;
        assert_eq!(a.status, 403, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["code"], "accs_forbidden");
        assert_eq!(
            rig.accs_calls("/V1/products/"),
            1,
            "{flavour:?}: one attempt"
        );
        assert_eq!(rig.sim.counters().token_requests, 1, "{flavour:?}");
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_variable_is_config_invalid_naming_it() {
    for flavour in FLAVOURS {
        for missing in ["accs_base_url", "api_keys", "ims_client_secret"] {
            let rig = rig(flavour, |v| {
                v.remove(missing);
            })
            .await;
            let a = rig.get("/v1/products/SKU-0001", Some(API_KEY)).await;
            assert_eq!(a.status, 500, "{flavour:?} {missing}");
            assert_eq!(a.body["code"], "config_invalid");
            assert_eq!(a.body["detail"], format!("variable `{missing}` is missing"));
            assert_eq!(rig.get("/healthz", None).await.status, 200);
            assert_eq!(rig.upstream_calls(), 0);
            rig.finish();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn odd_skus_reach_accs_encoded_exactly() {
    // (what the caller sends, the SKU, what ACCS must receive)
    let cases = [
        ("a%2Fb%20c", "a/b c", "a%2Fb%20c"),
        ("100%25", "100%", "100%25"),
        ("x+y", "x+y", "x%2By"),
        ("x%2By", "x+y", "x%2By"),
        ("caf%C3%A9-%C3%BC", "café-ü", "caf%C3%A9-%C3%BC"),
        ("tab%3F%26%23", "tab?&#", "tab%3F%26%23"),
        ("dot.sku", "dot.sku", "dot.sku"),
    ];
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let inst = rig.host.instance().await.unwrap();
        for (inbound, sku, upstream) in cases {
            let a = rig
                .on(
                    &inst,
                    "GET",
                    &format!("/v1/products/{inbound}"),
                    Some(API_KEY),
                )
                .await;
            assert_eq!(a.status, 200, "{flavour:?} {inbound}: {}", a.body);
            assert_eq!(a.body["sku"], sku);
            let last = rig.sim.requests().pop().unwrap();
            assert_eq!(
                last.raw_path,
                format!("/{TENANT}/V1/products/{upstream}"),
                "{flavour:?}"
            );
        }
        // Escapes are refused before anything goes upstream.
        let before = rig.sim.counters().accs_requests;
        for bad in ["..", "%2E%2E", "a%00b", "%FF"] {
            let a = rig
                .on(&inst, "GET", &format!("/v1/products/{bad}"), Some(API_KEY))
                .await;
            assert_eq!(
                (a.status, a.body["code"].as_str()),
                (400, Some("invalid_request")),
                "{bad}"
            );
        }
        assert_eq!(rig.sim.counters().accs_requests, before);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn product_search_passes_search_criteria_and_maps_paging() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let q = "searchCriteria[filter_groups][0][filters][0][field]=sku\
                 &searchCriteria[filter_groups][0][filters][0][value]=SKU-00%25\
                 &searchCriteria[filter_groups][0][filters][0][condition_type]=like\
                 &searchCriteria[sortOrders][0][field]=sku&searchCriteria[sortOrders][0][direction]=DESC\
                 &page=2&page_size=10";
        let a = rig.get(&format!("/v1/products?{q}"), Some(API_KEY)).await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["total_count"], 50);
        let skus: Vec<&str> = a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku"].as_str().unwrap())
            .collect();
        assert_eq!(skus.first(), Some(&"SKU-0040"));
        assert_eq!(skus.len(), 10);
        let a = rig.get("/v1/products?page_size=301", Some(API_KEY)).await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (400, Some("invalid_request"))
        );
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_status_reports_without_the_token() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let inst = rig.host.instance().await.unwrap();
        let a = rig.on(&inst, "GET", "/v1/token", Some(API_KEY)).await;
        assert_eq!((a.status, &a.body["cached"]), (200, &Value::Bool(false)));
        rig.on(&inst, "GET", "/v1/products/SKU-0001", Some(API_KEY))
            .await;
        let a = rig.on(&inst, "GET", "/v1/token", Some(API_KEY)).await;
        assert_eq!(a.body["cached"], true, "{flavour:?}");
        assert_eq!(a.body["source"], "ims");
        assert!(a.body["seconds_left"].as_u64().unwrap() > 86_000);
        rig.finish();
    }
}
