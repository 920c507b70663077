use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use accs_sim::{Faults, ScriptedResponse};
use serde_json::Value;

use crate::common::{SECRET, client, get_json, sim, token, token_response};

#[tokio::test]
async fn scripted_429_is_consumed_times_times() {
    let sim = sim().await;
    let token = token(&sim).await;
    sim.set_faults(Faults {
        script: vec![ScriptedResponse {
            method: Some("get".into()),
            path_prefix: Some("/V1/products".into()),
            status: 429,
            headers: BTreeMap::from([("Retry-After".into(), "2".into())]),
            body: None,
            times: 2,
        }],
        ..Faults::default()
    });
    let url = format!("{}/V1/products/SKU-0001", sim.accs_base_url());
    for _ in 0..2 {
        // No credentials at all: the script answers before auth.
        let resp = client().get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "2");
        let body: Value = resp.json().await.unwrap();
        assert!(body["message"].is_string());
    }
    assert_eq!(get_json(&sim, "/V1/products/SKU-0001", &token).await.0, 200);
    assert!(sim.faults().script.is_empty());
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
    assert_eq!(sim.counters().by_route["GET /V1/products/{sku}"], 3);
}

#[tokio::test]
async fn scripted_401_without_body_is_magentos() {
    let sim = sim().await;
    let token = token(&sim).await;
    sim.set_faults(Faults {
        script: vec![ScriptedResponse {
            method: None,
            path_prefix: None,
            status: 401,
            headers: BTreeMap::new(),
            body: None,
            times: 1,
        }],
        ..Faults::default()
    });
    let (status, body) = get_json(&sim, "/V1/orders/1", &token).await;
    assert_eq!(status, 401);
    assert_eq!(body["parameters"]["resources"], "Magento_Catalog::products");
    assert_eq!(get_json(&sim, "/V1/orders/1", &token).await.0, 200);
}

#[tokio::test]
async fn latency_is_added_to_accs_calls() {
    let sim = sim().await;
    let token = token(&sim).await;
    sim.set_faults(Faults {
        latency_ms: 200,
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(get_json(&sim, "/V1/products/SKU-0002", &token).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn ims_outage_and_latency() {
    let sim = sim().await;
    sim.set_faults(Faults {
        ims_outage: true,
        ims_latency_ms: 150,
        ..Faults::default()
    });
    let started = Instant::now();
    let resp = token_response(&sim, SECRET, "commerce.accs").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        serde_json::json!({ "error": "server_error" })
    );
    assert_eq!(sim.counters().token_failures, 1);
}

#[tokio::test]
async fn ims_rate_limit_answers_429_with_retry_after() {
    let sim = sim().await;
    sim.set_faults(Faults {
        ims_rate_limited: Some(42),
        ..Faults::default()
    });
    let resp = token_response(&sim, SECRET, "commerce.accs").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "42");
    assert_eq!(sim.counters().token_failures, 1);
    sim.set_faults(Faults::default());
    assert_eq!(
        token_response(&sim, SECRET, "commerce.accs").await.status(),
        200
    );
}
