//! Documented promises (docs/ROUTES.md, docs/RETRIES.md, docs/CONFIGURATION.md)
//! held end to end under the real `wasmtime serve` (the
//! wasmtime build) against the simulator: the passthrough's body handling
//! and retries, a sync where nothing landed, `sync_concurrency`, the
//! webhook limits and the `x-request-id` rule.

mod common;

use accs_sim::{Faults, ScriptedResponse};
use common::serve::*;
use common::*;
use reqwest::Client;
use std::collections::BTreeMap;

fn script(
    method: &str,
    prefix: &str,
    status: u16,
    body: serde_json::Value,
    times: u32,
) -> ScriptedResponse {
    ScriptedResponse {
        method: Some(method.into()),
        path_prefix: Some(prefix.into()),
        status,
        headers: BTreeMap::new(),
        body: Some(body),
        times,
    }
}

fn var(name: &str, value: &str) -> String {
    format!("-Sconfig-var={name}={value}")
}

/// Webhooks under `wasmtime serve` keep their ledger in `token_cache_dir`
/// (its `wasi:keyvalue` keeps nothing): a directory, the secret, the setting.
fn webhook_args(dir: &TempDir) -> Vec<String> {
    vec![
        "--dir".to_owned(),
        format!("{}::/cache", dir.0.display()),
        var("token_cache_dir", "/cache"),
        var("webhook_secrets", DEV_WEBHOOK_SECRET),
    ]
}

/// `POST path` with `headers` (CRLF-terminated lines), a `content-length`
/// of `len` and no body sent (yet): the answer as text, read until the
/// server closes or 10 s pass.
async fn head_only(base: &str, path: &str, headers: &str, len: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n{headers}connection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut out),
    )
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// `POST`/`PUT` through `/v1/accs/...` reach ACCS byte for byte with a
/// `Content-Length`; a body that is not JSON is 400 with nothing sent; a
/// `DELETE` answered 500 is retried (it is idempotent).
#[tokio::test(flavor = "multi_thread")]
async fn the_passthrough_forwards_json_as_is_and_retries_an_idempotent_500() {
    let sim = start_sim().await;
    let served = serve(
        &sim,
        "promises-passthrough",
        &[var(
            "passthrough_allow",
            "POST /V1/customers;PUT /V1/customers/*;DELETE /V1/customers/*",
        )],
    )
    .await;
    let client = Client::new();
    let base = &served.base;
    let mut captured = Vec::new();
    sim.set_faults(Faults {
        script: vec![
            script(
                "POST",
                "/V1/customers",
                200,
                serde_json::json!({"id": 5}),
                0,
            ),
            script(
                "PUT",
                "/V1/customers/5",
                200,
                serde_json::json!({"id": 5}),
                0,
            ),
            script(
                "DELETE",
                "/V1/customers/5",
                500,
                serde_json::json!({"message": "Internal error"}),
                1,
            ),
            script("DELETE", "/V1/customers/5", 200, serde_json::json!(true), 0),
        ],
        ..Faults::default()
    });

    // Spacing, key order and a non-ASCII name as the caller wrote them.
    let body = "{ \"customer\" : {\"lastname\":\"Müller\", \"email\":\"a@example.com\"} }";
    for (method, path) in [("POST", "/V1/customers"), ("PUT", "/V1/customers/5")] {
        let before = sim.requests().len();
        let r = client
            .request(method.parse().unwrap(), format!("{base}/v1/accs{path}"))
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        captured.push(text.clone());
        assert_eq!((status, text.as_str()), (200, r#"{"id":5}"#), "{method}");
        let sent = sim.requests().split_off(before);
        assert_eq!(sent.len(), 1, "{method}");
        assert_eq!(sent[0].body, body, "{method}: forwarded as is");
        assert_eq!(
            sent[0].framing,
            accs_sim::Framing::ContentLength,
            "{method}"
        );
        assert_eq!(sent[0].headers["content-length"], body.len().to_string());
    }

    let before = sim.requests().len();
    let r = client
        .post(format!("{base}/v1/accs/V1/customers"))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body("email=a@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains(r#""code":"invalid_request""#), "{text}");
    captured.push(text);
    assert_eq!(
        sim.requests().len(),
        before,
        "a non-JSON body sends nothing"
    );

    let r = client
        .delete(format!("{base}/v1/accs/V1/customers/5"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    captured.push(r.text().await.unwrap());
    let deletes: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.status)
        .collect();
    assert_eq!(deletes, [500, 200], "the 500 was retried once");
    captured.push(served.log());
    assert_no_secrets(&sim, &captured);
}

/// A sync where nothing landed answers ACCS's own status: 429 with its
/// `Retry-After` (over 20 s, so handed back at once), on the inventory
/// route and on the inventory webhook.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_where_nothing_landed_answers_429_with_retry_after() {
    let sim = start_sim().await;
    let cache = TempDir::new("promises-429-cache");
    let served = serve(&sim, "promises-429", &webhook_args(&cache)).await;
    let client = Client::new();
    let mut throttled = script(
        "POST",
        "/V1/inventory/source-items",
        429,
        serde_json::json!({"message": "Too many requests"}),
        0,
    );
    throttled.headers.insert("retry-after".into(), "25".into());
    sim.set_faults(Faults {
        script: vec![throttled],
        ..Faults::default()
    });
    let body = serde_json::json!({"sourceItems": [
        {"sku": "SKU-0001", "source_code": "default", "quantity": 3, "status": 1},
        {"sku": "SKU-0002", "source_code": "default", "quantity": 4, "status": 1},
    ]})
    .to_string();
    let route = client
        .post(format!("{}/v1/inventory/source-items", served.base))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let hook = deliver(
        &client,
        &served.base,
        "inventory",
        "promise-429",
        body.as_bytes(),
    )
    .await;
    for (what, r) in [("route", route), ("webhook", hook)] {
        assert_eq!(r.status(), 429, "{what}");
        assert_eq!(r.headers()["retry-after"], "25", "{what}");
        let report: serde_json::Value = r.json().await.unwrap();
        assert_eq!(report["summary"]["ok"], 0, "{what}: {report}");
        assert_eq!(report["summary"]["failed"], 2, "{what}: {report}");
    }
    assert_no_secrets(&sim, &[served.log()]);
}

/// `sync_concurrency` is the number of ACCS calls in flight: 20 batches of
/// 50, each answered after 150 ms, never more than 3 at once and 3 at the
/// peak.
#[tokio::test(flavor = "multi_thread")]
async fn sync_concurrency_is_the_number_of_calls_in_flight() {
    let sim = start_sim().await;
    let served = serve(
        &sim,
        "promises-concurrency",
        &[var("sync_batch_size", "50"), var("sync_concurrency", "3")],
    )
    .await;
    let items: Vec<_> = (0..1000)
        .map(|i| serde_json::json!({"sku": format!("CC-{i:04}"), "source_code": "default", "quantity": 1, "status": 1}))
        .collect();
    // The token first, so that only batches overlap below.
    let r = reqwest::Client::new()
        .get(format!("{}/v1/products/SKU-0001", served.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sim.reset();
    sim.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let r = reqwest::Client::new()
        .post(format!("{}/v1/inventory/source-items", served.base))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "sourceItems": items }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c = sim.counters();
    assert_eq!(c.by_route["POST /V1/inventory/source-items"], 20);
    assert_eq!(c.accs_peak_in_flight, 3, "{c:?}");
    assert_no_secrets(&sim, &[served.log()]);
}

/// The products webhook takes at most 1,000 products; webhook routes take
/// at most 4 MiB (the API-key routes 1 MiB, the inventory route 4 MiB).
#[tokio::test(flavor = "multi_thread")]
async fn webhook_limits_hold_end_to_end() {
    let sim = start_sim().await;
    let cache = TempDir::new("promises-limits-cache");
    let served = serve(&sim, "promises-limits", &webhook_args(&cache)).await;
    let client = Client::new();
    let products = |n: usize| {
        let list: Vec<_> = (0..n)
            .map(|i| serde_json::json!({"sku": format!("CAP-{i:04}"), "name": "n"}))
            .collect();
        serde_json::json!({ "products": list })
            .to_string()
            .into_bytes()
    };
    let r = deliver(
        &client,
        &served.base,
        "products",
        "cap-1001",
        &products(1001),
    )
    .await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("1 to 1000 products"), "{text}");
    assert_eq!(sim.counters().accs_requests, 0, "nothing sent");

    // 4 MiB and one byte: refused before the signature is even looked at.
    let mut big = br#"{"products":[{"sku":"BIG","price":1,"name":""#.to_vec();
    big.resize((4 << 20) - 4, b'x');
    big.extend_from_slice(br#""}]}"#);
    big.push(b' ');
    assert_eq!(big.len(), (4 << 20) + 1);
    // The component answers from the `content-length` alone and the host
    // may close the connection while a client is still writing (an HTTP
    // client then loses the answer to a broken pipe), so this one goes out
    // by hand: the head, then the answer is read before any of the body.
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = format!(
        "webhook-id: too-big\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: {}\r\n",
        common::spin::webhook_signature(&dev_webhook_key(), "too-big", ts, &big)
    );
    let answer = head_only(&served.base, "/v1/webhooks/products", &signed, big.len()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");
    // The same delivery a byte shorter is read and checked (here: one
    // product, upserted).
    big.pop();
    let r = deliver(&client, &served.base, "products", "just-fits", &big).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(sim.counters().by_route["PUT /V1/products/{sku}"], 1);
    assert_no_secrets(&sim, &[served.log()]);
}

/// `x-request-id` is kept when it is 1 to 128 of `A-Z a-z 0-9 - _ . :`,
/// else replaced by a new one (which follows the same rule).
#[tokio::test(flavor = "multi_thread")]
async fn the_request_id_rule() {
    let sim = start_sim().await;
    let served = serve(&sim, "promises-request-id", &[]).await;
    let client = Client::new();
    let kept = [
        "a".to_owned(),
        "Z".repeat(128),
        "az-AZ_09.:".to_owned(),
        "0".to_owned(),
        "-".to_owned(),
        "_".to_owned(),
        ".".to_owned(),
        ":".to_owned(),
    ];
    let replaced = [
        "b".repeat(129),
        "a b".to_owned(),
        "a/b".to_owned(),
        "a,b".to_owned(),
        "é".to_owned(),
        String::new(),
    ];
    for (id, keep) in kept
        .iter()
        .map(|i| (i, true))
        .chain(replaced.iter().map(|i| (i, false)))
    {
        let r = client
            .get(format!("{}/healthz", served.base))
            .header("x-request-id", id.as_bytes())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let answered = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        if keep {
            assert_eq!(&answered, id);
        } else {
            assert_ne!(&answered, id);
            assert!(
                (1..=128).contains(&answered.len())
                    && answered
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)),
                "{id:?} was replaced by {answered:?}"
            );
        }
    }
}
