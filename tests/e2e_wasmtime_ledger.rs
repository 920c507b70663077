//! The webhook ledger under the real `wasmtime serve` (issue 22): its
//! `wasi:keyvalue` keeps nothing beyond one instance, and it drops an
//! instance after 1 s idle, so the ledger lives in `token_cache_dir`. With
//! it, a delivery replayed on a new instance is answered from the ledger and
//! an older delivery replayed after a newer one changes nothing; without it,
//! webhook routes say to set it.

mod common;

use common::serve::*;
use common::*;
use std::time::Duration;

const KEY: &[u8] = b"e2e-ledger-key-0123456789abcdef!";

fn secret() -> String {
    use base64::Engine;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

fn inventory(quantity: u32) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"sourceItems": [
        {"sku": "LEDGER-1", "source_code": "default", "quantity": quantity, "status": 1}
    ]}))
    .unwrap()
}

async fn deliver(
    base: &str,
    id: &str,
    body: &[u8],
    captured: &mut Vec<String>,
) -> (u16, bool, serde_json::Value) {
    let r = deliver_webhook(&reqwest::Client::new(), base, "inventory", id, KEY, body).await;
    let status = r.status().as_u16();
    let replayed = r.headers().get("webhook-replayed").is_some();
    let head = format!("{:?}", r.headers());
    let text = r.text().await.unwrap();
    captured.push(format!("{head} {text}"));
    (status, replayed, serde_json::from_str(&text).unwrap())
}

fn syncs(sim: &accs_sim::Sim) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.route == "POST /V1/inventory/source-items")
        .map(|r| r.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_serve_keeps_the_webhook_ledger_in_token_cache_dir() {
    let sim = start_sim().await;
    let dir = TempDir::new("ledger-dir");
    let served = serve(
        &sim,
        "ledger",
        &[
            "--dir".to_owned(),
            format!("{}::/cache", dir.0.display()),
            "-Sconfig-var=token_cache_dir=/cache".to_owned(),
            format!("-Sconfig-var=webhook_secrets={}", secret()),
        ],
    )
    .await;
    let mut captured = Vec::new();
    let older = inventory(5);
    let newer = inventory(3);

    let (status, replayed, first) = deliver(&served.base, "msg-old", &older, &mut captured).await;
    assert_eq!((status, replayed), (200, false), "{first}");
    assert_eq!(syncs(&sim).len(), 1);
    // Past the 1 s idle limit: the next request gets a new instance, whose
    // key-value store is empty.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let (status, replayed, again) = deliver(&served.base, "msg-old", &older, &mut captured).await;
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again, first, "the same answer");
    assert_eq!(syncs(&sim).len(), 1, "a replay sends nothing");

    // A newer delivery, then the older one replayed again: the stock stays 3.
    let (status, _, _) = deliver(&served.base, "msg-new", &newer, &mut captured).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let (status, replayed, _) = deliver(&served.base, "msg-old", &older, &mut captured).await;
    assert_eq!((status, replayed), (200, true));
    let sent = syncs(&sim);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].contains(r#""quantity":3"#), "{}", sent[1]);

    let files: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("accs-edge-ledger-v2-"))
        .collect();
    eprintln!("ledger files after 2 deliveries: {files:?}");
    assert!(files.iter().any(|n| n.contains("-r-")), "{files:?}");
    assert!(
        !files.iter().any(|n| n.contains(".c")),
        "claims removed: {files:?}"
    );
    captured.push(served.log());
    assert_no_secrets(&sim, &captured);
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_serve_without_token_cache_dir_refuses_webhooks_naming_it() {
    let sim = start_sim().await;
    let served = serve(
        &sim,
        "ledger-none",
        &[format!("-Sconfig-var=webhook_secrets={}", secret())],
    )
    .await;
    let mut captured = Vec::new();
    let (status, _, body) = deliver(&served.base, "m1", &inventory(1), &mut captured).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "webhook_not_configured");
    assert!(
        body["detail"].as_str().unwrap().contains("token_cache_dir"),
        "{body}"
    );
    assert_eq!(sim.counters().accs_requests, 0);
    captured.push(served.log());
    assert_no_secrets(&sim, &captured);
}
