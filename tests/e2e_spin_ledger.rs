//! The webhook ledger under the real `spin up` (issue 22), on the default
//! build (WASI 0.2, one instance per request, so the store is the only
//! memory): two deployments on one Redis keep apart, the largest delivery's
//! record stays small, and a Redis that goes away makes webhooks fail
//! closed (503 `ledger_unavailable`, nothing sent). Without Spin or Redis
//! the test says so in one line (and fails under `ACCS_EDGE_REQUIRE_SPIN`).

mod common;

use common::spin::*;
use common::*;
use reqwest::Client;
use std::time::{SystemTime, UNIX_EPOCH};

const KEY: &[u8] = b"e2e-spin-ledger-key-0123456789ab";

fn secret() -> String {
    use base64::Engine;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

fn inventory(n: usize, quantity: u32) -> Vec<u8> {
    let items: Vec<_> = (0..n)
        .map(|i| {
            serde_json::json!({"sku": format!("LEDGER-{i:05}"), "source_code": "default",
                               "quantity": quantity, "status": 1})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "sourceItems": items })).unwrap()
}

async fn deliver(
    client: &Client,
    base: &str,
    id: &str,
    body: &[u8],
    captured: &mut Vec<String>,
) -> (u16, bool, serde_json::Value) {
    let r = deliver_webhook(client, base, "inventory", id, KEY, body).await;
    let status = r.status().as_u16();
    let replayed = r.headers().get("webhook-replayed").is_some();
    let head = format!("{:?}", r.headers());
    let text = r.text().await.unwrap();
    captured.push(format!("{head} {}", &text[..text.len().min(2_000)]));
    (status, replayed, serde_json::from_str(&text).unwrap())
}

fn syncs(sim: &accs_sim::Sim) -> u64 {
    sim.counters()
        .by_route
        .get("POST /V1/inventory/source-items")
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_p2_build_ledger_on_one_redis() {
    let test = "wasi_p2_build_ledger_on_one_redis";
    let Some(bin) = spin_for(SpinBuild::P2, test) else {
        return;
    };
    let Some(mut redis) = redis(test).await else {
        return;
    };
    // Two deployments (two tenants, the same webhook secret) on one Redis,
    // as staging and production might share one.
    let sim_a = start_sim().await;
    let sim_b = accs_sim::Sim::start(accs_sim::SimConfig {
        tenant: "tenantT2".into(),
        ..sim_config()
    })
    .await
    .unwrap();
    let setup = |sim: &accs_sim::Sim| {
        let mut vars = spin_vars(sim);
        vars.insert("webhook_secrets".into(), secret());
        HostSetup {
            vars,
            runtime_config: Some(redis_runtime_config(&redis)),
        }
    };
    let a = spin_up(
        &bin,
        SpinBuild::P2,
        Manifest::Shipped,
        &format!("{test}-a"),
        setup(&sim_a),
    )
    .await;
    let b = spin_up(
        &bin,
        SpinBuild::P2,
        Manifest::Shipped,
        &format!("{test}-b"),
        setup(&sim_b),
    )
    .await;
    let client = Client::new();
    let mut captured = Vec::new();

    // The same delivery id to both: each deployment syncs it, once.
    let body = inventory(2, 5);
    for (host, sim) in [(&a, &sim_a), (&b, &sim_b)] {
        let (status, replayed, answer) =
            deliver(&client, &host.base, "shared-id", &body, &mut captured).await;
        assert_eq!((status, replayed), (200, false), "{answer}");
        assert_eq!(syncs(sim), 1);
    }
    for (host, sim) in [(&a, &sim_a), (&b, &sim_b)] {
        let (status, replayed, _) =
            deliver(&client, &host.base, "shared-id", &body, &mut captured).await;
        assert_eq!((status, replayed), (200, true));
        assert_eq!(syncs(sim), 1, "each replays its own");
    }

    // The largest delivery: its record in Redis stays under 4 KiB.
    let big = inventory(10_000, 7);
    let (status, _, answer) = deliver(&client, &a.base, "big-1", &big, &mut captured).await;
    assert_eq!(status, 200, "{}", answer["summary"]);
    let keys = redis.keys("accs-edge/ledger/v2/*").await;
    assert!(keys.len() >= 4, "{keys:?}");
    let mut largest = 0;
    for k in &keys {
        largest = largest.max(redis.value_len(k).await);
    }
    let _ = writeln_stderr(&format!(
        "{test}: {} ledger keys in Redis, the largest value {largest} bytes",
        keys.len()
    ));
    assert!(largest <= 4096, "{largest}");
    assert!(
        redis.keys("accs-edge/webhook/v1/*").await.is_empty(),
        "no record of the old, unbounded kind"
    );

    // Redis refuses writes (full, or a quota): a new delivery is 503
    // ledger_unavailable and ACCS sees nothing; once it takes writes again
    // the sender's retry goes through.
    let before = syncs(&sim_a);
    redis.config_set("maxmemory", "1").await;
    let (status, _, answer) = deliver(&client, &a.base, "while-full", &body, &mut captured).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["code"], "ledger_unavailable", "{answer}");
    assert_eq!(syncs(&sim_a), before, "nothing sent without the ledger");
    redis.config_set("maxmemory", "0").await;
    let (status, replayed, answer) =
        deliver(&client, &a.base, "while-full", &body, &mut captured).await;
    assert_eq!((status, replayed), (200, false), "{answer}");
    assert_eq!(syncs(&sim_a), before + 1);

    // Redis stops: nothing reaches ACCS. Spin 3.6.3 keeps the one
    // multiplexed connection its Redis store opened and waits on it with no
    // timeout, so the key-value call (and the request) does not return while
    // Redis is gone; a Redis that answers with an error is the 503 above.
    let before = syncs(&sim_a);
    redis.stop();
    let stopped = Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let outcome = stopped
        .post(format!("{}/v1/webhooks/inventory", a.base))
        .header("content-type", "application/json")
        .header("webhook-id", "while-down")
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            webhook_signature(KEY, "while-down", ts, &body),
        )
        .body(body.clone())
        .send()
        .await;
    match outcome {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            captured.push(text.clone());
            assert_eq!(status, 503, "{text}");
            assert!(text.contains("ledger_unavailable"), "{text}");
        }
        Err(e) => {
            assert!(e.is_timeout(), "{e}");
            let _ = writeln_stderr(&format!(
                "{test}: with Redis stopped, Spin held the request (no answer in 10 s); nothing was sent"
            ));
        }
    }
    assert_eq!(syncs(&sim_a), before, "nothing sent with Redis stopped");

    captured.push(a.log());
    captured.push(b.log());
    assert_no_secrets(&sim_a, &captured);
}

fn writeln_stderr(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stderr(), "{line}")
}
