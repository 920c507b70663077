use accs_sim::{Counters, Faults, RecordedRequest, RecordedTokenRequest};
use serde_json::{Value, json};

use crate::common::{client, get_json, sim, token};

/// A GET on the admin API, read as `T`.
async fn admin_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> T {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn admin_api_round_trip() {
    let sim = sim().await;
    let admin = |path: &str| format!("{}/_admin/{path}", sim.base_url());
    let http = client();
    let token = token(&sim).await;
    assert_eq!(get_json(&sim, "/V1/products/SKU-0003", &token).await.0, 200);

    let counters: Counters = admin_json(&http, &admin("counters")).await;
    assert_eq!((counters.token_requests, counters.accs_requests), (1, 1));
    assert_eq!(counters.by_route["GET /V1/products/{sku}"], 1);
    let requests: Vec<RecordedRequest> = admin_json(&http, &admin("requests")).await;
    assert_eq!(requests[0].raw_path, "/tenant-sim/V1/products/SKU-0003");
    let tokens: Vec<RecordedTokenRequest> = admin_json(&http, &admin("token-requests")).await;
    assert_eq!(tokens.len(), 1);

    // Faults by JSON, naming only some fields.
    let faults = json!({ "script": [{ "path_prefix": "/V1/orders", "status": 503, "times": 1 }] });
    let resp = http
        .post(admin("faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let current: Faults = admin_json(&http, &admin("faults")).await;
    assert_eq!(current.script.len(), 1);
    assert_eq!(get_json(&sim, "/V1/orders/1", &token).await.0, 503);

    let items = json!({ "sourceItems": [{ "sku": "SKU-0001", "source_code": "default", "quantity": 1, "status": 1 }] });
    let resp = crate::common::accs(
        &sim,
        reqwest::Method::POST,
        "/V1/inventory/source-items",
        &token,
    )
    .json(&items)
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let receipts: Value = admin_json(&http, &admin("inventory-receipts")).await;
    assert_eq!(
        receipts,
        json!([{ "sku": "SKU-0001", "source_code": "default", "count": 1 }])
    );

    assert_eq!(
        http.post(admin("revoke")).send().await.unwrap().status(),
        204
    );
    assert_eq!(get_json(&sim, "/V1/products/SKU-0003", &token).await.0, 401);

    assert_eq!(
        http.post(admin("reset")).send().await.unwrap().status(),
        204
    );
    let counters: Counters = admin_json(&http, &admin("counters")).await;
    assert_eq!(counters.accs_requests, 0);
    assert!(sim.inventory_receipts().is_empty());
    // A revoked token stays revoked across the reset, as in IMS.
    assert_eq!(get_json(&sim, "/V1/products/SKU-0003", &token).await.0, 401);

    // Admin typos are plain 404s and never land in the ACCS record.
    assert_eq!(http.get(admin("nope")).send().await.unwrap().status(), 404);
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(
        http.get(admin("health")).send().await.unwrap().status(),
        200
    );
}
