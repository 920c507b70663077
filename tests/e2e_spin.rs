//! End to end under the real `spin up`: the WASI 0.2 builds (feature `spin`,
//! the default, and `spin` + `kv-cas` from `spin.cas.toml`) on a released
//! Spin (`SPIN`, 3.x or 4.0), and the WASI 0.3 build (`spin-p3`) on Spin 4.1+
//! (`SPIN_P3`), against the simulator on loopback. `.ci/run` provides both Spins and Redis; without them each test
//! says in one line that it did not run.
//!
//! What Spin does here is Spin's own: the manifest's variables reach the
//! component as `SPIN_VARIABLE_*` (spinframework/spin `crates/variables`,
//! the env provider), `allowed_outbound_hosts` templates are resolved from
//! them, the default key-value store is SQLite under `.spin/` unless a
//! runtime config names another (`[key_value_store.default] type = "redis"`).

mod common;

use common::spin::*;
use common::*;
use reqwest::Client;
use std::time::{SystemTime, UNIX_EPOCH};

/// The dev secret of `spin.sim.toml` (the Standard Webhooks example key).
const SIM_WEBHOOK_SECRET: &str = DEV_WEBHOOK_SECRET;
/// A key whose entry grants `products.read` only.
const READ_ONLY_KEY: &str = "ro-key-0123456789abcdef0123456789abcdef";
/// A key whose entry names no scopes: full access, with a warning.
const UNSCOPED_KEY: &str = "open-key-0123456789abcdef0123456789abcdef";
/// The dev API key of `spin.sim.toml`.
const SIM_API_KEY: &str = "dev-key-0123456789abcdef0123456789";

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A response's head and body, for the secret grep.
async fn text(r: reqwest::Response, captured: &mut Vec<String>) -> (u16, String) {
    let status = r.status().as_u16();
    let head = format!("{:?}", r.headers());
    let body = r.text().await.unwrap();
    captured.push(format!("{head} {body}"));
    (status, body)
}

fn inventory_body(n: usize, qty: u32) -> Vec<u8> {
    let items: Vec<_> = (0..n)
        .map(|i| {
            serde_json::json!({"sku": format!("E2E-{i:05}"), "source_code": "default",
                               "quantity": qty, "status": 1})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "sourceItems": items })).unwrap()
}

/// The simulator's ACCS calls to one route template.
fn calls(sim: &accs_sim::Sim, route: &str) -> u64 {
    sim.counters().by_route.get(route).copied().unwrap_or(0)
}

// ---- one host: the promises of every route ----

async fn one_host(build: SpinBuild, test: &str) {
    let Some(bin) = spin_for(build, test) else {
        return;
    };
    let sim = start_sim().await;
    let mut vars = spin_vars(&sim);
    vars.insert("webhook_secrets".into(), SIM_WEBHOOK_SECRET.into());
    let keys = format!(
        "{};ro:{READ_ONLY_KEY}:products.read;open:{UNSCOPED_KEY}",
        vars["api_keys"]
    );
    vars.insert("api_keys".into(), keys);
    let mut host = spin_up(
        &bin,
        build,
        Manifest::Shipped,
        test,
        HostSetup {
            vars,
            ..Default::default()
        },
    )
    .await;
    let client = Client::new();
    let base = host.base.clone();
    let mut captured = Vec::new();

    // Health: no key, no upstream call.
    let (status, body) = text(
        client.get(format!("{base}/healthz")).send().await.unwrap(),
        &mut captured,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));

    // No key: 401, nothing upstream.
    let r = client
        .get(format!("{base}/v1/products/SKU-0001"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let (status, body) = text(r, &mut captured).await;
    assert_eq!(status, 401);
    assert!(body.contains(r#""code":"unauthorized""#), "{body}");
    assert_eq!(
        sim.counters().accs_requests + sim.counters().token_requests,
        0
    );

    // A product read, then 99 more: one IMS call for all 100, each request a
    // fresh instance on the WASI 0.2 build (the token comes from the store).
    for i in 0..100 {
        let r = client
            .get(format!("{base}/v1/products/SKU-{:04}", i % 50 + 1))
            .bearer_auth(API_KEY)
            .header("x-request-id", format!("spin-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-request-id"], format!("spin-{i}").as_str());
        let (status, body) = text(r, &mut captured).await;
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["sku"], format!("SKU-{:04}", i % 50 + 1).as_str());
    }
    assert_eq!(
        sim.counters().token_requests,
        1,
        "100 reads cost 1 IMS call"
    );
    let sources: Vec<_> = host
        .log_lines()
        .into_iter()
        .filter(|l| l["route"] == "/v1/products/{sku}" && l["status"] == 200)
        .map(|l| l["token_source"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sources.len(), 100);
    assert_eq!(sources.iter().filter(|s| *s == "ims").count(), 1);
    if build.is_p2() {
        assert!(sources[1..].iter().all(|s| s == "kv"), "{sources:?}");
    }

    // Odd SKUs reach ACCS encoded exactly once, as one path segment.
    sim.reset();
    // Each is a seeded SKU (accs-sim's ODD_SKUS), so a wrong encoding is a
    // 404, not a pass.
    for (inbound, wire, sku) in [
        ("a%2Fb%20c", "a%2Fb%20c", "a/b c"),
        ("100%25", "100%25", "100%"),
        ("x%2By", "x%2By", "x+y"),
        ("caf%C3%A9-%C3%BC", "caf%C3%A9-%C3%BC", "café-ü"),
        ("tab%3F%26%23", "tab%3F%26%23", "tab?&#"),
    ] {
        let r = client
            .get(format!("{base}/v1/products/{inbound}"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        let (status, body) = text(r, &mut captured).await;
        assert_eq!(status, 200, "{inbound}: {body}");
        let product: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(product["sku"], sku, "{inbound}");
        let seen = sim
            .requests()
            .last()
            .map(|r| r.raw_path.clone())
            .unwrap_or_default();
        assert_eq!(seen, format!("/{TENANT}/V1/products/{wire}"), "{inbound}");
    }

    // An answer over wasmtime-wasi-http's body chunk (1 MiB) arrives whole
    // and exactly as long as it says: the WASI 0.2 build queues the first
    // chunk before it hands Spin the head (so both go out in one write) and
    // the rest as Spin drains it. Two products with a 700,000-character
    // description (a Magento custom attribute), listed together.
    let long = "d".repeat(700_000);
    for sku in ["SKU-0001", "SKU-0002"] {
        let product = serde_json::json!({"product": {"custom_attributes": [
            {"attribute_code": "description", "value": long}
        ]}});
        let r = client
            .put(format!("{base}/v1/products/{sku}"))
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(product.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(status, 200, "{}", r.text().await.unwrap_or_default());
    }
    let r = client
        .get(format!("{base}/v1/products?page_size=300"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let said: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = r.bytes().await.unwrap();
    assert!(body.len() > 1 << 20, "{} bytes", body.len());
    assert_eq!(body.len(), said);
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let long_ones = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["custom_attributes"][0]["value"].as_str() == Some(long.as_str()))
        .count();
    assert_eq!(long_ones, 2, "both long products, whole");

    // A signed webhook syncs inventory; its replay is answered from the
    // ledger without an ACCS call.
    sim.reset();
    let body = inventory_body(3, 7);
    let (status, first) = text(
        deliver(&client, &base, "inventory", "msg-e2e-1", &body).await,
        &mut captured,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(calls(&sim, "POST /V1/inventory/source-items"), 1);
    let r = deliver(&client, &base, "inventory", "msg-e2e-1", &body).await;
    assert_eq!(r.headers()["webhook-replayed"], "true");
    let (status, again) = text(r, &mut captured).await;
    assert_eq!((status, again.as_str()), (200, first.as_str()));
    assert_eq!(
        calls(&sim, "POST /V1/inventory/source-items"),
        1,
        "a replay costs no ACCS call"
    );
    // A tampered body is refused before anything is sent. One reading of
    // the clock for the header and the signature: two could straddle a
    // second, and the 401 would then come from the signed timestamp, not
    // from the body.
    let ts = now_s();
    let r = client
        .post(format!("{base}/v1/webhooks/inventory"))
        .header("webhook-id", "msg-e2e-2")
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            webhook_signature(&dev_webhook_key(), "msg-e2e-2", ts, b"{}"),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(text(r, &mut captured).await.0, 401);
    assert_eq!(calls(&sim, "POST /V1/inventory/source-items"), 1);

    // The inventory sync: 1,200 items in batches of 500, each item once.
    sim.reset();
    let r = client
        .post(format!("{base}/v1/inventory/source-items"))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(inventory_body(1200, 3))
        .send()
        .await
        .unwrap();
    let (status, report) = text(r, &mut captured).await;
    assert_eq!(status, 200, "{report}");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["summary"]["ok"], 1200, "{report}");
    assert_eq!(calls(&sim, "POST /V1/inventory/source-items"), 3);
    // Each batch went out with its length, never chunked.
    for r in sim.requests().iter().filter(|r| r.method == "POST") {
        assert_eq!(
            r.headers.get("content-length"),
            Some(&r.body.len().to_string())
        );
        assert!(
            !r.headers.contains_key("transfer-encoding"),
            "{:?}",
            r.headers
        );
    }
    let receipts = sim.inventory_receipts();
    assert_eq!(receipts.len(), 1200);
    assert!(receipts.values().all(|n| *n == 1));

    // A read-only key: reads work, writes are 403 insufficient_scope and
    // send nothing; the caller's trace id reaches ACCS with a span of its own.
    sim.reset();
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = client
        .get(format!("{base}/v1/products/SKU-0001"))
        .bearer_auth(READ_ONLY_KEY)
        .header("traceparent", parent)
        .send()
        .await
        .unwrap();
    let answered = r.headers()["traceparent"].to_str().unwrap().to_owned();
    assert_eq!(text(r, &mut captured).await.0, 200);
    assert!(
        answered.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "{answered}"
    );
    let sent = sim.requests()[0].headers["traceparent"].clone();
    assert!(
        sent.starts_with("00-0af7651916cd43dd8448eb211c80319c-") && sent != answered,
        "{sent}"
    );
    let r = client
        .post(format!("{base}/v1/inventory/source-items"))
        .bearer_auth(READ_ONLY_KEY)
        .body(inventory_body(1, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"inventory.write\""
    );
    let (status, body) = text(r, &mut captured).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(r#""code":"insufficient_scope""#));
    assert_eq!(sim.requests().len(), 1, "the refused write sent nothing");
    assert!(host.log().contains(r#""key":"ro""#));
    // Every other API-key route: 403 for the read-only key with nothing
    // sent, and open to the key whose entry names no scopes, each with its
    // own answer (the passthrough is closed by passthrough_allow, empty
    // here: 403 `forbidden`, past the scope check).
    for (method, path, scope, want, field) in [
        ("GET", "/v1/token", "token.read", 200, r#""cached":true"#),
        (
            "PUT",
            "/v1/products/SKU-0001",
            "products.write",
            200,
            r#""sku":"SKU-0001""#,
        ),
        ("GET", "/v1/orders", "orders.read", 200, r#""total_count":"#),
        (
            "GET",
            "/v1/orders/1",
            "orders.read",
            200,
            r#""entity_id":1"#,
        ),
        (
            "GET",
            "/v1/accs/V1/categories/2",
            "passthrough",
            403,
            r#""code":"forbidden""#,
        ),
    ] {
        let send = |key: &'static str| {
            let b = client
                .request(method.parse().unwrap(), format!("{base}{path}"))
                .bearer_auth(key);
            if method == "PUT" {
                b.body(r#"{"product":{"name":"n"}}"#).send()
            } else {
                b.send()
            }
        };
        let before = sim.requests().len() + sim.token_requests().len();
        let (status, body) = text(send(READ_ONLY_KEY).await.unwrap(), &mut captured).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(body.contains(scope), "{body}");
        assert_eq!(sim.requests().len() + sim.token_requests().len(), before);
        let (status, body) = text(send(UNSCOPED_KEY).await.unwrap(), &mut captured).await;
        assert_eq!(status, want, "{method} {path} unscoped: {body}");
        assert!(body.contains(field), "{method} {path} unscoped: {body}");
    }
    // docs/ROUTES.md's promise for entries without scopes: a warning naming
    // the entry (never its key). On the WASI 0.2 builds every request is an
    // instance, so each of the five requests above warns; WASI 0.3: the
    // instance warned once.
    let warnings: Vec<_> = host
        .log_lines()
        .into_iter()
        .filter(|l| l["level"] == "warn" && l["entries"] == serde_json::json!(["open"]))
        .collect();
    if build.is_p2() {
        assert_eq!(warnings.len(), 5, "{warnings:?}");
    } else {
        assert!(!warnings.is_empty(), "no warning for the unscoped entry");
    }

    // Bulk upserts under the real host and the shipped manifest (its
    // `bulk_chunk_size`, default 500): 1,200 products in 3 chunks, 202, and
    // the last bulk's status numbered from its first product.
    let products: Vec<serde_json::Value> = (0..1_200)
        .map(|i| serde_json::json!({"sku": format!("E2E-BULK-{i:04}"), "name": "e2e", "price": 5}))
        .collect();
    let r = client
        .post(format!("{base}/v1/products/bulk"))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&serde_json::json!({ "products": products })).unwrap())
        .send()
        .await
        .unwrap();
    let (status, body) = text(r, &mut captured).await;
    assert_eq!(status, 202, "{}", &body[..body.len().min(600)]);
    assert_eq!(calls(&sim, "POST /V1/async/bulk/products"), 3);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["bulks"][2]["items"],
        serde_json::json!({"first": 1000, "count": 200})
    );
    let url = v["bulks"][2]["status_url"].as_str().unwrap();
    let r = client
        .get(format!("{base}{url}"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let (status, body) = text(r, &mut captured).await;
    assert_eq!(status, 200, "{body:.600}");
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["summary"]["complete"], true, "{body:.600}");
    assert_eq!(s["results"][0]["index"], 1000);
    assert_eq!(s["results"][0]["sku"], "E2E-BULK-1000");

    // The default SQLite store keeps the token across a restart: 0 IMS calls.
    sim.reset();
    host.restart().await;
    let r = client
        .get(format!("{base}/v1/products/SKU-0001"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(text(r, &mut captured).await.0, 200);
    assert_eq!(
        sim.counters().token_requests,
        0,
        "the restarted host reuses the stored token"
    );

    captured.push(host.log());
    assert!(host.log_lines().len() >= 110);
    assert!(
        assert_no_secrets(&sim, &captured) > 0,
        "the grep covered no token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_p2_build_on_released_spin() {
    one_host(SpinBuild::P2, "wasi_p2_build_on_released_spin").await
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_p3_build_on_spin_4_1() {
    one_host(SpinBuild::P3, "wasi_p3_build_on_spin_4_1").await
}

// ---- configuration errors and the quick start's manifest ----

async fn config_and_quick_start(build: SpinBuild, test: &str) {
    let Some(bin) = spin_for(build, test) else {
        return;
    };
    let sim = start_sim().await;
    let client = Client::new();
    let mut captured = Vec::new();

    // A required variable left empty: every route but health names it, and
    // never its value; nothing goes upstream.
    let mut vars = spin_vars(&sim);
    vars.insert("accs_base_url".into(), String::new());
    let host = spin_up(
        &bin,
        build,
        Manifest::Shipped,
        &format!("{test}-cfg"),
        HostSetup {
            vars,
            ..Default::default()
        },
    )
    .await;
    let r = client
        .get(format!("{}/v1/products/SKU-0001", host.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let (status, body) = text(r, &mut captured).await;
    assert_eq!(status, 500);
    assert!(
        body.contains(r#""code":"config_invalid""#) && body.contains("accs_base_url"),
        "{body}"
    );
    let r = client
        .get(format!("{}/healthz", host.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        sim.counters().accs_requests + sim.counters().token_requests,
        0
    );
    captured.push(host.log());
    drop(host);

    // spin.sim.toml as docs/OPERATIONS.md (Running on Spin) runs it, with only the
    // simulator's address moved to this test's port.
    let sim_vars = [
        ("ims_client_id", CLIENT_ID.to_owned()),
        ("ims_client_secret", CLIENT_SECRET.to_owned()),
        ("ims_token_url", sim.ims_token_url()),
        ("accs_base_url", sim.accs_base_url()),
    ];
    let vars = sim_vars
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let host = spin_up(
        &bin,
        build,
        Manifest::Sim,
        &format!("{test}-sim"),
        HostSetup {
            vars,
            ..Default::default()
        },
    )
    .await;
    let get = |path: &str| {
        client
            .get(format!("{}{path}", host.base))
            .bearer_auth(SIM_API_KEY)
            .send()
    };
    let (status, body) = text(get("/v1/products/SKU-0001").await.unwrap(), &mut captured).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = text(
        get("/v1/products?page_size=5").await.unwrap(),
        &mut captured,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(5), "{body}");
    let (status, body) = text(get("/v1/products/a%2Fb%20c").await.unwrap(), &mut captured).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = text(
        get("/v1/accs/V1/categories/2").await.unwrap(),
        &mut captured,
    )
    .await;
    assert_eq!(status, 200, "the passthrough rule of spin.sim.toml: {body}");
    let (status, _) = text(get("/v1/accs/V1/customers/1").await.unwrap(), &mut captured).await;
    assert_eq!(status, 403);
    let (status, body) = text(
        deliver(
            &client,
            &host.base,
            "inventory",
            "qs-1",
            &inventory_body(2, 1),
        )
        .await,
        &mut captured,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    captured.push(host.log());
    assert!(
        assert_no_secrets(&sim, &captured) > 0,
        "the grep covered no token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_p2_build_config_errors_and_quick_start() {
    config_and_quick_start(SpinBuild::P2, "wasi_p2_build_config_errors_and_quick_start").await
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_p3_build_config_errors_and_quick_start() {
    config_and_quick_start(SpinBuild::P3, "wasi_p3_build_config_errors_and_quick_start").await
}

// ---- two hosts, one Redis ----

async fn two_hosts(build: SpinBuild, test: &str) {
    let Some(bin) = spin_for(build, test) else {
        return;
    };
    let Some(redis) = redis(test).await else {
        return;
    };
    let sim = start_sim().await;
    // Both hosts reach Redis through a proxy that can make writes slow (the
    // last part); until then it passes everything at once.
    let store = SlowStore::start(&redis).await;
    let setup = || {
        let mut vars = spin_vars(&sim);
        vars.insert("webhook_secrets".into(), SIM_WEBHOOK_SECRET.into());
        HostSetup {
            vars,
            runtime_config: Some(store_runtime_config(&store.url)),
        }
    };
    let mut a = spin_up(
        &bin,
        build,
        Manifest::Shipped,
        &format!("{test}-a"),
        setup(),
    )
    .await;
    let mut b = spin_up(
        &bin,
        build,
        Manifest::Shipped,
        &format!("{test}-b"),
        setup(),
    )
    .await;
    let client = Client::new();
    let mut captured = Vec::new();
    let read = |base: String, sku: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(format!("{base}/v1/products/{sku}"))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap()
        }
    };

    // 20 reads alternating between the hosts: one IMS call, and what the
    // hosts asked of Redis. WASI 0.2: one GET per request (every request is a
    // new instance) and one SET, the new token. WASI 0.3: instances keep the
    // token, so fewer GETs; still one SET.
    redis.reset_stats().await;
    for i in 0..20 {
        let host = if i % 2 == 0 { &a } else { &b };
        let (status, body) = text(read(host.base.clone(), "SKU-0001").await, &mut captured).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        sim.counters().token_requests,
        1,
        "20 reads over two hosts cost 1 IMS call"
    );
    let ops = redis.calls().await;
    let (gets, sets) = (
        ops.get("get").copied().unwrap_or(0),
        ops.get("set").copied().unwrap_or(0),
    );
    assert_eq!(sets, 1, "one write, the token: {ops:?}");
    if build.is_p2() {
        assert_eq!(gets, 20, "one read per request: {ops:?}");
    } else {
        assert!((1..20).contains(&gets), "{ops:?}");
    }
    let _ = writeln_stderr(&format!("{test}: Redis commands for 20 reads: {ops:?}"));

    // A token refreshed by one host is adopted by the other. Start over
    // from a store holding a token issued 10 minutes ago (so its first 401
    // is renewed at once, without asking IMS whether it is still valid, as a
    // token seconds old would be), then ACCS revokes it: host A renews it
    // once, host B takes A's token from Redis instead of asking IMS.
    redis.flush().await;
    a.restart().await;
    b.restart().await;
    sim.reset();
    let old = sim_token(&sim).await;
    let v = spin_vars(&sim);
    redis
        .set(
            &token_kv_key(&v),
            &sealed(&v, &old, now_s() * 1000 + 3_000_000, CLIENT_SECRET),
        )
        .await;
    for host in [&a, &b] {
        let (status, body) = text(read(host.base.clone(), "SKU-0002").await, &mut captured).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        sim.counters().token_requests,
        1,
        "both hosts use the stored token"
    );
    sim.revoke_tokens();
    let (status, body) = text(read(a.base.clone(), "SKU-0003").await, &mut captured).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sim.counters().token_requests,
        2,
        "host A renews the refused token once"
    );
    for _ in 0..3 {
        let (status, body) = text(read(b.base.clone(), "SKU-0004").await, &mut captured).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        sim.counters().token_requests,
        2,
        "host B adopts the token host A renewed"
    );
    let bearers: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| r.headers["authorization"].clone())
        .collect();
    assert_eq!(
        bearers.iter().filter(|b| b.ends_with(&old)).count(),
        if build.is_p2() { 3 } else { 4 }
    );

    // The same delivery to both hosts at once lands exactly once, 20 times.
    // The loser answers 409 `conflict` with `Retry-After` when the two
    // overlapped (it saw the winner's claim), or replays the winner's answer
    // when it came after; anything else (a 500, a 502, a second 200) fails.
    // With `kv-cas` the claim is a compare-and-swap; the other builds write,
    // wait 50 ms and read back (best effort): both must land each once here.
    let mut overlapped = 0;
    for rep in 0..20 {
        sim.reset();
        let id = format!("race-{rep}");
        let body = inventory_body(2, rep + 1);
        let (ra, rb) = tokio::join!(
            deliver(&client, &a.base, "inventory", &id, &body),
            deliver(&client, &b.base, "inventory", &id, &body)
        );
        let mut answers = Vec::new();
        for r in [ra, rb] {
            let replayed = r.headers().get("webhook-replayed").is_some();
            let retry_after = r.headers().get("retry-after").is_some();
            let (status, body) = text(r, &mut captured).await;
            answers.push((status, replayed, retry_after, body));
        }
        assert_eq!(
            calls(&sim, "POST /V1/inventory/source-items"),
            1,
            "rep {rep}: {answers:?}"
        );
        let winners = answers.iter().filter(|a| a.0 == 200 && !a.1).count();
        assert_eq!(winners, 1, "rep {rep}: one processed it: {answers:?}");
        let loser = answers.iter().find(|a| a.0 != 200 || a.1).unwrap();
        match loser {
            (409, false, true, body) if body.contains(r#""code":"conflict""#) => overlapped += 1,
            (200, true, _, _) => {}
            other => panic!("rep {rep}: the loser answered {other:?}"),
        }
        // The other host replays it without calling ACCS.
        let other = if rep % 2 == 0 { &b } else { &a };
        let r = deliver(&client, &other.base, "inventory", &id, &body).await;
        assert_eq!(
            r.headers()
                .get("webhook-replayed")
                .map(|v| v.to_str().unwrap()),
            Some("true")
        );
        assert_eq!(text(r, &mut captured).await.0, 200);
        assert_eq!(
            calls(&sim, "POST /V1/inventory/source-items"),
            1,
            "rep {rep}: replay"
        );
    }
    let _ = writeln_stderr(&format!(
        "{test}: 20 racing deliveries landed once each; {overlapped} overlapped (the loser answered 409), the others replayed"
    ));
    assert!(
        overlapped > 0,
        "no two deliveries overlapped: the race was never run"
    );

    // Slow writes: every SET reaches Redis 300 ms late, six times the claim's
    // 50 ms wait, and host B gets each delivery 150 ms after host A, while
    // A's claim is still on its way. docs/WEBHOOKS.md: the `spin-cas` build
    // processes a delivery exactly once whatever the store's speed; the
    // best-effort builds "write the claim, wait 50 ms and read it back: if a
    // store write takes longer than that wait, both instances can process
    // the same delivery" (the same items sent twice), and deduplicate by
    // `webhook-id` afterwards in every build.
    let exact = build == SpinBuild::P2Cas;
    store.set_write_delay(std::time::Duration::from_millis(300));
    const SLOW_REPS: u32 = 5;
    let mut twice = 0;
    for rep in 0..SLOW_REPS {
        sim.reset();
        let id = format!("slow-{rep}");
        let body = inventory_body(2, 100 + rep);
        let (ra, rb) = tokio::join!(deliver(&client, &a.base, "inventory", &id, &body), async {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            deliver(&client, &b.base, "inventory", &id, &body).await
        });
        let mut answers = Vec::new();
        for r in [ra, rb] {
            let replayed = r.headers().get("webhook-replayed").is_some();
            let retry_after = r.headers().get("retry-after").is_some();
            let (status, body) = text(r, &mut captured).await;
            answers.push((status, replayed, retry_after, body));
        }
        let sent = calls(&sim, "POST /V1/inventory/source-items");
        let processed = answers.iter().filter(|a| a.0 == 200 && !a.1).count() as u64;
        for answer in &answers {
            match answer {
                (200, _, _, _) => {}
                (409, false, true, body) if body.contains(r#""code":"conflict""#) => {}
                other => panic!("rep {rep}, slow writes: an answer {other:?}"),
            }
        }
        assert_eq!(
            processed, sent,
            "rep {rep}, slow writes: each processing is one sync: {answers:?}"
        );
        if exact {
            assert_eq!(
                sent, 1,
                "rep {rep}, slow writes: exact claims process it once: {answers:?}"
            );
        } else {
            assert!(
                (1..=2).contains(&sent),
                "rep {rep}, slow writes: {sent} syncs: {answers:?}"
            );
        }
        twice += u32::from(sent == 2);
        // Later deliveries of it are replays, on either host, with nothing sent.
        for host in [&a, &b] {
            let r = deliver(&client, &host.base, "inventory", &id, &body).await;
            let replayed = r.headers().get("webhook-replayed").is_some();
            let (status, text_body) = text(r, &mut captured).await;
            assert_eq!((status, replayed), (200, true), "rep {rep}: {text_body}");
        }
        assert_eq!(
            calls(&sim, "POST /V1/inventory/source-items"),
            sent,
            "rep {rep}: the replays sent nothing"
        );
    }
    store.set_write_delay(std::time::Duration::ZERO);
    let _ = writeln_stderr(&format!(
        "{test}: with every store write 300 ms late, {twice} of {SLOW_REPS} deliveries 150 ms apart were processed twice"
    ));

    captured.push(a.log());
    captured.push(b.log());
    assert!(
        assert_no_secrets(&sim, &captured) > 0,
        "the grep covered no token"
    );
}

fn writeln_stderr(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stderr(), "{line}")
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_p2_build_two_hosts_one_redis() {
    two_hosts(SpinBuild::P2, "wasi_p2_build_two_hosts_one_redis").await
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_p2_cas_build_two_hosts_one_redis() {
    two_hosts(SpinBuild::P2Cas, "wasi_p2_cas_build_two_hosts_one_redis").await
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_p3_build_two_hosts_one_redis() {
    two_hosts(SpinBuild::P3, "wasi_p3_build_two_hosts_one_redis").await
}
