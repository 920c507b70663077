//! The simulated Commerce publishes its events through I/O Events: a stock
//! item, product or order saved becomes a CloudEvent in the journal and a
//! signed push delivery to the subscription's webhook.

use accs_sim::commerce_events::{ORDER_SAVED, PRODUCT_SAVED, STOCK_ITEM_SAVED};
use accs_sim::target::Target;
use accs_sim::{NewOrder, OrderLine, OrderRefused, Sim};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{accs, client, get_json, sim, token};

/// The journal's events, oldest first (read from the simulator, not its API).
async fn journal(sim: &Sim) -> Vec<Value> {
    let t = token(sim).await;
    let resp = client()
        .get(format!("{}?limit=1000", sim.journal_url()))
        .bearer_auth(t)
        .header("x-api-key", &sim.config().client_id)
        .send()
        .await
        .unwrap();
    if resp.status() == 204 {
        return Vec::new();
    }
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

async fn save_source_items(sim: &Sim, items: Value) {
    let t = token(sim).await;
    let resp = accs(sim, Method::POST, "/V1/inventory/source-items", &t)
        .json(&json!({ "sourceItems": items }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn nothing_is_published_without_a_subscription() {
    let sim = sim().await;
    save_source_items(
        &sim,
        json!([{ "sku": "SKU-0001", "source_code": "default", "quantity": 5, "status": 1 }]),
    )
    .await;
    assert_eq!(sim.io_events().journal_len(), 0);
    assert!(sim.io_events().pending().is_empty());
}

/// One stock event per item saved at the `default` source (the legacy stock
/// item mirrors that source only), with its new quantity and status and
/// `_origData` as it was.
#[tokio::test]
async fn a_source_items_save_publishes_the_stock_item_events() {
    let sim = sim().await;
    let erp = Target::start().await;
    sim.io_events()
        .subscribe(Some(erp.url("/erp")), "client-erp", &[STOCK_ITEM_SAVED]);
    let (_, before) = get_json(&sim, "/V1/products/SKU-0003", &token(&sim).await).await;
    let seeded_qty = before["extension_attributes"]["stock_item"]["qty"].clone();
    save_source_items(
        &sim,
        json!([
            { "sku": "SKU-0003", "source_code": "default", "quantity": 7, "status": 1 },
            { "sku": "SKU-0004", "source_code": "wh-1", "quantity": 9, "status": 1 },
            { "sku": "SKU-0004", "source_code": "default", "quantity": 0, "status": 0 },
        ]),
    )
    .await;
    let events = journal(&sim).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let e = &events[0];
    assert_eq!(e["type"], STOCK_ITEM_SAVED);
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["recipientclientid"], "client-erp");
    assert_eq!(e["recipient_client_id"], "client-erp");
    assert_eq!(e["eventid"], e["event_id"]);
    let v = &e["data"]["value"];
    assert_eq!(
        (v["qty"].as_f64(), v["is_in_stock"].as_bool()),
        (Some(7.0), Some(true))
    );
    assert_eq!(v["product_id"], 3);
    assert_eq!(v["_origData"]["qty"].as_f64(), seeded_qty.as_f64());
    assert_eq!(v["_isNew"], false);
    let v = &events[1]["data"]["value"];
    assert_eq!(
        (v["qty"].as_f64(), v["is_in_stock"].as_bool()),
        (Some(0.0), Some(false))
    );

    // A second save: `_origData` is what the first left.
    save_source_items(
        &sim,
        json!([{ "sku": "SKU-0003", "source_code": "default", "quantity": 2, "status": 1 }]),
    )
    .await;
    let events = journal(&sim).await;
    assert_eq!(
        events[2]["data"]["value"]["_origData"]["qty"].as_f64(),
        Some(7.0)
    );

    // Pushed to the webhook, signed, event id on the header.
    assert_eq!(sim.io_events().pending().len(), 3);
    let attempts = sim.io_events().deliver_pending(&client()).await;
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(|a| a.status == Some(204) && !a.kept));
    assert!(sim.io_events().pending().is_empty());
    let got = erp.received_ok();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].path, "/erp");
    assert_eq!(got[0].body_json(), events[0]);
    assert_eq!(
        got[0].header("x-adobe-event-id"),
        events[0]["eventid"].as_str()
    );
    let sig = sim.io_events().sign(0, &got[0].body);
    assert_eq!(
        got[0].header("x-adobe-digital-signature-1"),
        Some(sig.as_str())
    );
    assert_eq!(got[0].header("x-adobe-retry-count"), None);
}

#[tokio::test]
async fn a_product_put_publishes_product_saved_with_orig_data() {
    let sim = sim().await;
    sim.io_events()
        .subscribe(None, "c", &["com.adobe.commerce.observer.*"]);
    let t = token(&sim).await;
    let (_, old) = get_json(&sim, "/V1/products/SKU-0001", &t).await;
    for (sku, body) in [
        ("SKU-0001", json!({ "product": { "price": 123.45 } })),
        (
            "NEW-1",
            json!({ "product": { "sku": "NEW-1", "name": "New", "price": 5 } }),
        ),
    ] {
        let resp = accs(&sim, Method::PUT, &format!("/V1/products/{sku}"), &t)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let events = journal(&sim).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], PRODUCT_SAVED);
    let v = &events[0]["data"]["value"];
    assert_eq!(v["sku"], "SKU-0001");
    assert_eq!(v["price"].as_f64(), Some(123.45));
    assert_eq!(v["_origData"]["price"], old["price"]);
    assert_eq!(v["_isNew"], false);
    let v = &events[1]["data"]["value"];
    assert_eq!(
        (v["sku"].as_str(), v["_isNew"].as_bool()),
        (Some("NEW-1"), Some(true))
    );
    assert_eq!(v["_origData"], json!([]));
    // A journal-only subscription queues no push.
    assert!(sim.io_events().pending().is_empty());
}

#[tokio::test]
async fn a_bulk_consumer_run_publishes_one_product_saved_per_operation() {
    let sim = sim().await;
    sim.io_events().subscribe(None, "c", &[PRODUCT_SAVED]);
    let t = token(&sim).await;
    let items = json!([
        { "product": { "sku": "B-1", "name": "b1", "price": 1, "attribute_set_id": 4 } },
        { "product": { "sku": "B-2", "name": "b2", "price": 2, "attribute_set_id": 4 } },
    ]);
    let resp = accs(&sim, Method::POST, "/V1/async/bulk/products", &t)
        .json(&items)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let _ = sim.bulks(); // the consumers catch up
    let skus: Vec<Value> = journal(&sim)
        .await
        .iter()
        .map(|e| e["data"]["value"]["sku"].clone())
        .collect();
    assert_eq!(skus, [json!("B-1"), json!("B-2")]);
}

#[tokio::test]
async fn a_placed_order_is_listed_and_published() {
    let sim = sim().await;
    sim.io_events().subscribe(None, "c", &[ORDER_SAVED]);
    let order = NewOrder {
        customer_email: "buyer@example.com".into(),
        items: vec![OrderLine {
            sku: "SKU-0002".into(),
            qty: 3,
        }],
    };
    let placed = sim.place_order(&order).expect("placed");
    let id = placed["entity_id"].as_u64().unwrap();
    let (status, listed) = get_json(&sim, &format!("/V1/orders/{id}"), &token(&sim).await).await;
    assert_eq!(status, 200);
    assert_eq!(listed, placed);
    let events = journal(&sim).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], ORDER_SAVED);
    let v = &events[0]["data"]["value"];
    assert_eq!(v["increment_id"], placed["increment_id"]);
    assert_eq!(v["items"][0]["sku"], "SKU-0002");
    assert_eq!(v["items"][0]["qty_ordered"], 3);
    assert_eq!(v["customer_email"], "buyer@example.com");

    let bad = NewOrder {
        customer_email: "x@example.com".into(),
        items: vec![OrderLine {
            sku: "NOPE".into(),
            qty: 1,
        }],
    };
    assert_eq!(
        sim.place_order(&bad),
        Err(OrderRefused::UnknownSku("NOPE".into()))
    );
    assert_eq!(
        sim.io_events().journal_len(),
        1,
        "a refused order publishes nothing"
    );
}

/// I/O Events retries 429 and 5xx but 505, and no answer; anything else
/// settles the delivery (retry-doc.md).
#[tokio::test]
async fn deliver_pending_keeps_what_io_events_retries_and_drops_the_rest() {
    let sim = sim().await;
    let erp = Target::start().await;
    sim.io_events()
        .subscribe(Some(erp.url("/erp")), "c", &[ORDER_SAVED]);
    let order = NewOrder {
        customer_email: "b@example.com".into(),
        items: vec![OrderLine {
            sku: "SKU-0001".into(),
            qty: 1,
        }],
    };
    sim.place_order(&order).unwrap();
    for (answer, kept) in [(503, true), (429, true), (500, true)] {
        erp.fail_next(1, answer);
        let a = sim.io_events().deliver_pending(&client()).await;
        assert_eq!((a[0].status, a[0].kept), (Some(answer), kept));
    }
    let a = sim.io_events().deliver_pending(&client()).await;
    assert_eq!((a[0].status, a[0].kept, a[0].retry), (Some(204), false, 3));
    let got = erp.received();
    let retries: Vec<_> = got
        .iter()
        .map(|r| r.header("x-adobe-retry-count"))
        .collect();
    assert_eq!(retries, [None, Some("1"), Some("2"), Some("3")]);
    let ids: Vec<_> = got.iter().map(|r| r.header("x-adobe-event-id")).collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one event id across retries"
    );
    assert_ne!(
        got[0].header("x-adobe-delivery-id"),
        got[1].header("x-adobe-delivery-id")
    );

    for refused in [505, 404, 400] {
        sim.place_order(&order).unwrap();
        erp.fail_next(1, refused);
        let a = sim.io_events().deliver_pending(&client()).await;
        assert_eq!((a[0].status, a[0].kept), (Some(refused), false));
        assert!(sim.io_events().pending().is_empty());
    }

    // No answer (nothing listening): kept, status None.
    let gone = Target::start().await;
    let url = gone.url("/gone");
    drop(gone);
    sim.io_events().subscribe(Some(url), "c", &[ORDER_SAVED]);
    sim.place_order(&order).unwrap();
    let a = sim.io_events().deliver_pending(&client()).await;
    assert_eq!((a[0].status, a[0].kept), (None, true));
    assert_eq!(sim.io_events().pending()[0].attempts, 1);
}

/// The same through the admin API, for the `accs-sim` binary's users.
#[tokio::test]
async fn admin_routes_subscribe_place_orders_and_deliver() {
    let sim = sim().await;
    let erp = Target::start().await;
    let admin = |p: &str| format!("{}/_admin/{p}", sim.base_url());
    let resp = client()
        .post(admin("io-events/subscription"))
        .json(
            &json!({ "webhook_url": erp.url("/erp"), "recipient_client_id": "c",
                       "event_types": [ORDER_SAVED] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = client()
        .post(admin("orders"))
        .json(&json!({ "customer_email": "a@example.com", "items": [{ "sku": "SKU-0001", "qty": 2 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let bad = client()
        .post(admin("orders"))
        .json(&json!({ "customer_email": "a@example.com", "items": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let pending: Value = client()
        .get(admin("io-events/pending"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let attempts: Value = client()
        .post(admin("io-events/deliver"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(attempts[0]["status"], 204);
    assert_eq!(erp.received_ok().len(), 1);
}

/// Batch delivery style: arrays of at most 20 events (faq.md), signed over
/// the array; the answer settles every event in it.
#[tokio::test]
async fn a_batch_subscription_delivers_arrays_of_at_most_20() {
    let sim = sim().await;
    let erp = Target::start().await;
    sim.io_events().subscribe_with(accs_sim::Subscription {
        webhook_url: Some(erp.url("/erp")),
        recipient_client_id: "c".into(),
        event_types: vec![ORDER_SAVED.into()],
        batch: true,
    });
    let order = NewOrder {
        customer_email: "b@example.com".into(),
        items: vec![OrderLine {
            sku: "SKU-0001".into(),
            qty: 1,
        }],
    };
    for _ in 0..25 {
        sim.place_order(&order).unwrap();
    }
    erp.fail_next(1, 503);
    let a = sim.io_events().deliver_pending(&client()).await;
    assert_eq!(a.len(), 25);
    assert!(a[..20].iter().all(|a| a.kept) && a[20..].iter().all(|a| !a.kept));
    assert_eq!(sim.io_events().pending().len(), 20);
    let a = sim.io_events().deliver_pending(&client()).await;
    assert!(a.iter().all(|a| a.status == Some(204) && a.retry == 1));
    let got = erp.received();
    let sizes: Vec<usize> = got
        .iter()
        .map(|r| r.body_json().as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [20, 5, 20]);
    assert_eq!(got[0].header("x-adobe-event-id"), None);
    let sig = sim.io_events().sign(1, &got[1].body);
    assert_eq!(
        got[1].header("x-adobe-digital-signature-2"),
        Some(sig.as_str())
    );
    assert_eq!(got[2].header("x-adobe-retry-count"), Some("1"));
}

/// The stock event on a source-items save can be turned off (a real ACCS
/// may write the legacy stock item without its model's save event).
#[tokio::test]
async fn source_item_stock_events_can_be_turned_off() {
    let sim = sim().await;
    sim.io_events().subscribe(None, "c", &[STOCK_ITEM_SAVED]);
    sim.io_events().set_source_item_stock_events(false);
    save_source_items(
        &sim,
        json!([{ "sku": "SKU-0001", "source_code": "default", "quantity": 5, "status": 1 }]),
    )
    .await;
    assert_eq!(sim.io_events().journal_len(), 0);
    sim.io_events().set_source_item_stock_events(true);
    save_source_items(
        &sim,
        json!([{ "sku": "SKU-0001", "source_code": "default", "quantity": 6, "status": 1 }]),
    )
    .await;
    assert_eq!(sim.io_events().journal_len(), 1);
}
