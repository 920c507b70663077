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

/// Magento saves a batch all or nothing: one unknown source fails the whole call with
/// "Could not save Source Item" and nothing of it is saved.
#[tokio::test]
async fn an_unknown_source_fails_the_whole_batch_like_magento() {
    let sim = sim().await;
    let token = token(&sim).await;
    let batch = json!({ "sourceItems": [
        { "sku": "SKU-0001", "source_code": "default", "quantity": 5, "status": 1 },
        { "sku": "SKU-0002", "source_code": "nowhere", "quantity": 1, "status": 1 },
    ]});
    let resp = accs(&sim, Method::POST, PATH, &token)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "message": "Could not save Source Item" }));
    assert!(sim.inventory_receipts().is_empty(), "nothing saved");
}

/// POSTs `body` chunked over a raw socket (reqwest sends a length for a known body);
/// returns the status code.
async fn post_chunked(sim: &accs_sim::Sim, token: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let head = format!(
        "POST /{}{PATH} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\nx-api-key: {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n",
        sim.config().tenant,
        sim.addr(),
        sim.config().client_id,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    s.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Every request records how its body was framed; with `require_content_length` a
/// chunked upload is 411 and nothing happens.
#[tokio::test]
async fn body_framing_is_recorded_and_chunked_uploads_can_be_refused() {
    use accs_sim::{Faults, Framing};
    let sim = sim().await;
    let token = token(&sim).await;
    assert_eq!(sim.token_requests()[0].framing, Framing::ContentLength);
    let one = json!({ "sourceItems": [
        { "sku": "SKU-0001", "source_code": "default", "quantity": 5, "status": 1 },
    ]});
    let bytes = serde_json::to_vec(&one).unwrap();
    assert_eq!(post_chunked(&sim, &token, &bytes).await, 200);
    let resp = accs(&sim, Method::POST, PATH, &token)
        .json(&one)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let framings: Vec<Framing> = sim.requests().iter().map(|r| r.framing).collect();
    assert_eq!(framings, [Framing::Chunked, Framing::ContentLength]);

    sim.set_faults(Faults {
        require_content_length: true,
        ..Faults::default()
    });
    assert_eq!(post_chunked(&sim, &token, &bytes).await, 411);
    assert_eq!(
        sim.inventory_receipts()[&("SKU-0001".into(), "default".into())],
        2
    );
}

/// Magento's Web API input limits (`Faults::input_limits`), off by default:
/// 21 source items are taken; on at Magento's defaults, 21 are refused with
/// `EntityArrayValidator`'s message and named parameters and nothing is
/// saved, 20 are taken; the bulk route's entities and a product or order
/// search's `pageSize` (over 300: `SearchCriteriaValidator`'s message) too.
#[tokio::test]
async fn input_limits_refuse_long_lists_and_large_pages_as_magento() {
    use accs_sim::{Faults, InputLimits};
    let sim = sim().await;
    let token = token(&sim).await;
    let items = |n: usize, prefix: &str| {
        let list: Vec<Value> = (0..n)
            .map(|i| json!({ "sku": format!("{prefix}-{i}"), "source_code": "default", "quantity": 1, "status": 1 }))
            .collect();
        json!({ "sourceItems": list })
    };
    let post = |body: Value, path: &'static str| {
        let req = accs(&sim, Method::POST, path, &token).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(post(items(21, "OFF"), PATH).await.0, 200, "off by default");
    sim.set_faults(Faults {
        input_limits: Some(InputLimits::default()),
        ..Faults::default()
    });
    let (status, body) = post(items(21, "ON"), PATH).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({ "message": "Maximum items of type \"%type\" is %max",
            "parameters": { "type": "Magento\\InventoryApi\\Api\\Data\\SourceItemInterface", "max": 20 } })
    );
    assert!(
        !sim.inventory_receipts()
            .keys()
            .any(|(sku, _)| sku.starts_with("ON-"))
    );
    assert_eq!(post(items(20, "ON"), PATH).await.0, 200);

    let entities: Vec<Value> = (0..21)
        .map(|i| json!({ "product": { "sku": format!("B-{i}"), "name": "b", "price": 1, "attribute_set_id": 4 } }))
        .collect();
    let (status, body) = post(json!(entities), "/V1/async/bulk/products").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["parameters"],
        json!({ "type": "Magento\\Catalog\\Api\\Data\\ProductInterface", "max": 20 })
    );
    assert!(sim.bulks().is_empty());

    for path in ["/V1/products", "/V1/orders"] {
        let get = |size: u32| {
            let url = format!("{path}?searchCriteria[pageSize]={size}");
            let req = accs(&sim, Method::GET, &url, &token);
            async move {
                let resp = req.send().await.unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
            }
        };
        let (status, body) = get(301).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(
            body,
            json!({ "message": "Maximum SearchCriteria pageSize is %max", "parameters": { "max": 300 } })
        );
        assert_eq!(get(300).await.0, 200, "{path}");
    }
}
