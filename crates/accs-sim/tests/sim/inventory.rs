use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{accs, sim, token};

const PATH: &str = "/V1/inventory/source-items";

#[tokio::test]
async fn receipts_count_valid_batches_only() {
    let sim = sim().await;
    let token = token(&sim).await;
    let batch = json!({ "sourceItems": [
        { "sku": "SKU-0001", "source_code": "default", "quantity": 5, "status": 1 },
        { "sku": "a/b c", "source_code": "wh-2", "quantity": 0.5, "status": 0 },
    ]});
    for _ in 0..2 {
        let resp = accs(&sim, Method::POST, PATH, &token)
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap(), json!([]));
    }

    let bad = json!({ "sourceItems": [
        { "sku": "SKU-0002", "source_code": "default", "quantity": 1, "status": 1 },
        { "sku": "", "source_code": "default", "quantity": -1, "status": 3 },
    ]});
    let resp = accs(&sim, Method::POST, PATH, &token)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Validation Failed");
    assert_eq!(body["errors"].as_array().unwrap().len(), 3);

    let empty = json!({ "sourceItems": [] });
    let resp = accs(&sim, Method::POST, PATH, &token)
        .json(&empty)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let receipts = sim.inventory_receipts();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[&("SKU-0001".into(), "default".into())], 2);
    assert_eq!(receipts[&("a/b c".into(), "wh-2".into())], 2);
    assert_eq!(
        sim.counters().by_route["POST /V1/inventory/source-items"],
        4
    );
    assert!(sim.requests()[0].body.contains("SKU-0001"));
}
