//! ACCS's asynchronous bulk API: `POST /V1/async/bulk/products` accepts a
//! list of `POST /V1/products` bodies all or nothing, and the bulk status
//! endpoints follow each operation from open (4) to complete (1) or failed
//! (2, 3). Every answer here is also held to the schema (`check_response`).

use std::time::{Duration, Instant};

use accs_sim::contract::check_response;
use accs_sim::{Bulk, Faults, SaveFailure, Sim};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{accs, client, sim, token};

const BULK: &str = "/V1/async/bulk/products";

fn item(sku: &str, name: &str) -> Value {
    json!({ "product": { "sku": sku, "name": name, "price": 10, "attribute_set_id": 4 } })
}

/// Sends a bulk request; returns the status and the body, the answer held to the schema.
async fn post_bulk(sim: &Sim, token: &str, body: &Value) -> (u16, Value) {
    post_raw(sim, token, body.to_string()).await
}

async fn post_raw(sim: &Sim, token: &str, body: String) -> (u16, Value) {
    let resp = accs(sim, Method::POST, BULK, token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("bulk request");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    if let Err(why) = check_response("POST", BULK, status, &bytes) {
        panic!("{status}: {why}\n{}", String::from_utf8_lossy(&bytes));
    }
    (status, serde_json::from_slice(&bytes).expect("json"))
}

/// `GET /V1/bulk/{uuid}/<what>`, held to the schema.
async fn status_of(sim: &Sim, token: &str, uuid: &str, what: &str) -> (u16, Value) {
    let resp = accs(sim, Method::GET, &format!("/V1/bulk/{uuid}/{what}"), token)
        .send()
        .await
        .expect("status request");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    let schema_path = match what {
        "detailed-status" | "status" => format!("/V1/bulk/{{bulkUuid}}/{what}"),
        _ => "/V1/bulk/{bulkUuid}/operation-status/{status}".to_owned(),
    };
    if let Err(why) = check_response("GET", &schema_path, status, &bytes) {
        panic!(
            "{what} {status}: {why}\n{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    (status, serde_json::from_slice(&bytes).expect("json"))
}

fn statuses(detailed: &Value) -> Vec<u64> {
    detailed["operations_list"]
        .as_array()
        .expect("operations_list")
        .iter()
        .map(|op| op["status"].as_u64().unwrap())
        .collect()
}

fn faults(f: impl FnOnce(&mut Faults)) -> Faults {
    let mut faults = Faults::default();
    f(&mut faults);
    faults
}

#[tokio::test]
async fn an_accepted_bulk_goes_from_open_to_complete_in_queue_order() {
    let sim = sim().await;
    let token = token(&sim).await;
    // Held first: a read right after the accept sees every operation open
    // however slow this machine is; the consumers start when released.
    sim.set_faults(faults(|f| {
        f.product_save_latency_ms = 400;
        f.bulk_hold = true;
    }));
    let items = json!([
        item("BULK-1", "One"),
        item("SKU-0002", "Renamed"),
        item("BULK-3", "Three")
    ]);
    let (status, accepted) = post_bulk(&sim, &token, &items).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["errors"], false);
    let uuid = accepted["bulk_uuid"].as_str().unwrap().to_owned();
    let request_items = accepted["request_items"].as_array().unwrap();
    for (i, (r, sent)) in request_items
        .iter()
        .zip(items.as_array().unwrap())
        .enumerate()
    {
        assert_eq!(r["id"], i);
        assert_eq!(r["status"], "accepted");
        // The hash is of the element as the simulator stores it (compact JSON).
        let hash: String = Sha256::digest(sent.to_string().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(r["data_hash"], hash.as_str());
    }

    let (code, detailed) = status_of(&sim, &token, &uuid, "detailed-status").await;
    assert_eq!(code, 200);
    assert_eq!(statuses(&detailed), [4, 4, 4], "{detailed}");
    assert!(
        sim.product("BULK-1").is_none(),
        "an open operation saved nothing"
    );
    assert_eq!(detailed["bulk_id"], uuid.as_str());
    assert_eq!(detailed["operation_count"], 3);
    assert_eq!(detailed["user_type"], 1);
    assert_eq!(
        detailed["description"],
        "Topic async.magento.catalog.api.productrepositoryinterface.save.post"
    );
    let ops = detailed["operations_list"].as_array().unwrap();
    let ids: Vec<u64> = ops.iter().map(|o| o["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend: {ids:?}");

    // One consumer, 400 ms per save: whatever is complete is always a prefix.
    // The deadline guards against a hang, it does not time the consumers.
    let released_at = Instant::now();
    sim.set_faults(faults(|f| f.product_save_latency_ms = 400));
    let deadline = released_at + Duration::from_secs(60);
    let detailed = loop {
        let (_, detailed) = status_of(&sim, &token, &uuid, "detailed-status").await;
        let s = statuses(&detailed);
        let done = s.iter().take_while(|&&s| s == 1).count();
        assert!(
            s[done..].iter().all(|&s| s == 4),
            "not in queue order: {s:?}"
        );
        if done == 3 {
            break detailed;
        }
        assert!(Instant::now() < deadline, "never completed: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        released_at.elapsed() >= Duration::from_millis(1200),
        "three saves of 400 ms on one consumer"
    );
    for (op, sent) in detailed["operations_list"]
        .as_array()
        .unwrap()
        .iter()
        .zip(items.as_array().unwrap())
    {
        assert_eq!(op["bulk_uuid"], uuid.as_str());
        assert_eq!(
            op["topic_name"],
            "async.magento.catalog.api.productrepositoryinterface.save.post"
        );
        assert_eq!(
            op["result_message"],
            "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save"
        );
        assert_eq!(op["error_code"], Value::Null);
        // OperationProcessor clears serialized_data once an operation succeeded.
        assert_eq!(op["serialized_data"], Value::Null);
        let saved: Value =
            serde_json::from_str(op["result_serialized_data"].as_str().unwrap()).unwrap();
        let sku = sent["product"]["sku"].as_str().unwrap();
        assert_eq!(saved["sku"], sku);
        assert_eq!(Some(saved), sim.product(sku), "exactly what was stored");
    }
    assert_eq!(sim.product("SKU-0002").unwrap()["name"], "Renamed");
    // The short status: the same operations, without their data.
    let (code, short) = status_of(&sim, &token, &uuid, "status").await;
    assert_eq!(code, 200);
    assert_eq!(short["operations_list"][0].as_object().unwrap().len(), 4);
    assert_eq!(statuses(&short), [1, 1, 1]);
    assert_eq!(
        status_of(&sim, &token, &uuid, "operation-status/1").await.1,
        3
    );
    assert_eq!(
        status_of(&sim, &token, &uuid, "operation-status/4").await.1,
        0
    );
    let counters = sim.counters();
    assert_eq!(counters.by_route["POST /V1/async/bulk/products"], 1);
    assert!(counters.by_route["GET /V1/bulk/{uuid}/detailed-status"] >= 2);
}

#[tokio::test]
async fn without_latency_a_status_read_right_after_the_accept_sees_every_operation_complete() {
    let sim = sim().await;
    let token = token(&sim).await;
    let (_, accepted) = post_bulk(&sim, &token, &json!([item("Z-1", "a"), item("Z-2", "b")])).await;
    let uuid = accepted["bulk_uuid"].as_str().unwrap();
    let (_, detailed) = status_of(&sim, &token, uuid, "detailed-status").await;
    assert_eq!(statuses(&detailed), [1, 1]);
    // An open or failed operation keeps its input: meta_information is the element.
    sim.set_faults(faults(|f| f.bulk_hold = true));
    let (_, accepted) = post_bulk(&sim, &token, &json!([item("Z-3", "c")])).await;
    let uuid = accepted["bulk_uuid"].as_str().unwrap();
    let (_, detailed) = status_of(&sim, &token, uuid, "detailed-status").await;
    let op = &detailed["operations_list"][0];
    let envelope: Value = serde_json::from_str(op["serialized_data"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["entity_id"], Value::Null);
    assert_eq!(envelope["entity_link"], "");
    let meta: Value = serde_json::from_str(envelope["meta_information"].as_str().unwrap()).unwrap();
    assert_eq!(meta, item("Z-3", "c"));
    assert_eq!(
        (
            &op["result_message"],
            &op["error_code"],
            &op["result_serialized_data"]
        ),
        (&Value::Null, &Value::Null, &Value::Null)
    );
}

#[tokio::test]
async fn held_consumers_keep_every_operation_open_until_released() {
    let sim = sim().await;
    let token = token(&sim).await;
    sim.set_faults(faults(|f| f.bulk_hold = true));
    let (_, accepted) = post_bulk(&sim, &token, &json!([item("H-1", "a"), item("H-2", "b")])).await;
    let uuid = accepted["bulk_uuid"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, detailed) = status_of(&sim, &token, uuid, "detailed-status").await;
    assert_eq!(statuses(&detailed), [4, 4]);
    assert_eq!(
        status_of(&sim, &token, uuid, "operation-status/4").await.1,
        2
    );
    assert!(sim.product("H-1").is_none());
    assert_eq!(sim.bulk(uuid).unwrap().operations[0].status, 4);

    sim.set_faults(Faults::default());
    let (_, detailed) = status_of(&sim, &token, uuid, "detailed-status").await;
    assert_eq!(statuses(&detailed), [1, 1]);
    assert_eq!(sim.product("H-2").unwrap()["name"], "b");
}

#[tokio::test]
async fn consumers_work_in_parallel_in_queue_order() {
    let sim = sim().await;
    let token = token(&sim).await;
    sim.set_faults(faults(|f| {
        f.product_save_latency_ms = 1000;
        f.bulk_consumers = 2;
    }));
    let skus = ["C-1", "C-2", "C-3", "C-4"];
    let items: Vec<Value> = skus.iter().map(|s| item(s, s)).collect();
    let accepted_at = Instant::now();
    let (_, accepted) = post_bulk(&sim, &token, &json!(items)).await;
    let uuid = accepted["bulk_uuid"].as_str().unwrap();
    // Two consumers: the first two end at 1 s, the next two at 2 s. Every
    // read, however late, sees one of these three states, and one read
    // (polled every 50 ms through the one-second window) sees the middle one.
    let mut seen = Vec::new();
    loop {
        let (_, detailed) = status_of(&sim, &token, uuid, "detailed-status").await;
        let s = statuses(&detailed);
        assert!(
            [[4, 4, 4, 4], [1, 1, 4, 4], [1, 1, 1, 1]].contains(&[s[0], s[1], s[2], s[3]]),
            "two consumers in queue order never show {s:?}"
        );
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == [1, 1, 1, 1] {
            break;
        }
        // A guard against a hang, not a bound on this machine's speed.
        assert!(accepted_at.elapsed() < Duration::from_secs(60), "{seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen.contains(&vec![1, 1, 4, 4]),
        "two operations end together, then two more: {seen:?}"
    );
    assert!(accepted_at.elapsed() >= Duration::from_millis(2000));
}

#[tokio::test]
async fn a_put_takes_the_save_latency_too() {
    let sim = sim().await;
    let token = token(&sim).await;
    sim.set_faults(faults(|f| f.product_save_latency_ms = 300));
    let started = Instant::now();
    let resp = accs(&sim, Method::PUT, "/V1/products/SKU-0001", &token)
        .json(&json!({ "product": { "name": "Slow" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_failing_save_fails_its_operation_and_its_put_while_neighbours_complete() {
    let sim = sim().await;
    let token = token(&sim).await;
    sim.set_faults(faults(|f| {
        f.save_failures = vec![
            SaveFailure {
                sku: "F-2".into(),
                message: "Lock wait timeout exceeded".into(),
                retriable: true,
            },
            SaveFailure {
                sku: "F-3".into(),
                message: "The product weight is invalid.".into(),
                retriable: false,
            },
        ];
    }));
    let items = json!([
        item("F-1", "a"),
        item("F-2", "b"),
        item("F-3", "c"),
        item("F-4", "d")
    ]);
    let (status, accepted) = post_bulk(&sim, &token, &items).await;
    assert_eq!(status, 202, "a failure is the consumer's, not the accept's");
    let uuid = accepted["bulk_uuid"].as_str().unwrap();
    let (_, detailed) = status_of(&sim, &token, uuid, "detailed-status").await;
    assert_eq!(statuses(&detailed), [1, 2, 3, 1]);
    let ops = detailed["operations_list"].as_array().unwrap();
    assert_eq!(ops[1]["result_message"], "Lock wait timeout exceeded");
    assert_eq!(ops[2]["result_message"], "The product weight is invalid.");
    for op in &ops[1..3] {
        assert!(op["error_code"].is_i64(), "{op}");
        assert_eq!(op["result_serialized_data"], Value::Null);
        assert!(
            op["serialized_data"].is_string(),
            "a failed op keeps its input"
        );
    }
    assert!(sim.product("F-1").is_some() && sim.product("F-4").is_some());
    assert!(sim.product("F-2").is_none() && sim.product("F-3").is_none());
    let (_, short) = status_of(&sim, &token, uuid, "status").await;
    assert_eq!(
        short["operations_list"][2]["result_message"],
        "The product weight is invalid."
    );

    for (sku, code, message) in [
        ("F-2", 503, "Lock wait timeout exceeded"),
        ("F-3", 400, "The product weight is invalid."),
    ] {
        let resp = accs(&sim, Method::PUT, &format!("/V1/products/{sku}"), &token)
            .json(&json!({ "product": { "name": "x" } }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), code);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, json!({ "message": message, "parameters": [] }));
    }
    assert!(sim.product("F-3").is_none());
}

/// Nothing was scheduled and nothing saved.
fn assert_nothing_scheduled(sim: &Sim, sku: &str) {
    let bulks: Vec<Bulk> = sim.bulks();
    assert!(bulks.is_empty(), "{bulks:?}");
    assert!(sim.product(sku).is_none());
}

#[tokio::test]
async fn one_refused_item_refuses_the_whole_request() {
    let sim = sim().await;
    let token = token(&sim).await;
    let unknown = json!({ "product": { "sku": "R-2", "colour": "red" } });
    let (status, body) = post_bulk(&sim, &token, &json!([item("R-1", "a"), unknown])).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({
            "message": "\"%fieldName\" is not supported. Correct the field name and try again.",
            "parameters": { "fieldName": "Colour" },
        })
    );
    assert_nothing_scheduled(&sim, "R-1");

    let wrong_type = json!({ "product": { "sku": "R-2", "price": "cheap" } });
    let (status, body) = post_bulk(&sim, &token, &json!([item("R-1", "a"), wrong_type])).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Error occurred during \"price\" processing. The \"cheap\" value's type is invalid. \
         The \"float\" type was expected. Verify and try again."
    );
    let (status, body) =
        post_bulk(&sim, &token, &json!([item("R-1", "a"), { "sku": "R-2" }])).await;
    assert_eq!(status, 400);
    assert_eq!(body["parameters"], json!({ "fieldName": "product" }));
    assert_nothing_scheduled(&sim, "R-1");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_magentos_decoding_error() {
    let sim = sim().await;
    let token = token(&sim).await;
    for body in ["[{\"product\":", "", "nope"] {
        let (status, answer) = post_raw(&sim, &token, body.to_owned()).await;
        assert_eq!(status, 400, "{body:?}");
        assert_eq!(answer["message"], "Decoding error: \nSyntax error");
    }
    assert_nothing_scheduled(&sim, "SKU-0001-new");
}

#[tokio::test]
async fn more_entities_than_the_store_allows_are_refused() {
    let sim = sim().await;
    let token = token(&sim).await;
    sim.set_faults(faults(|f| f.bulk_max_entities = Some(2)));
    let three = json!([item("M-1", "a"), item("M-2", "b"), item("M-3", "c")]);
    let (status, body) = post_bulk(&sim, &token, &three).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Maximum items of type \"%type\" is %max");
    assert_eq!(body["parameters"]["max"], "2");
    assert_nothing_scheduled(&sim, "M-1");
    let (status, _) = post_bulk(&sim, &token, &json!([item("M-1", "a"), item("M-2", "b")])).await;
    assert_eq!(status, 202);
    assert_eq!(sim.bulks().len(), 1);
}

#[tokio::test]
async fn an_unknown_bulk_is_magentos_404() {
    let sim = sim().await;
    let token = token(&sim).await;
    let uuid = "00000000-0000-4000-8000-000000000000";
    for what in ["detailed-status", "status"] {
        let (status, body) = status_of(&sim, &token, uuid, what).await;
        assert_eq!(status, 404, "{what}");
        assert_eq!(
            body,
            json!({ "message": "Bulk uuid %bulkUuid not exist", "parameters": { "bulkUuid": uuid } })
        );
    }
    // The count filters operations only: an unknown bulk has none.
    assert_eq!(
        status_of(&sim, &token, uuid, "operation-status/1").await,
        (200, json!(0))
    );
    let (status, _) = status_of(&sim, &token, uuid, "operation-status/x").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn each_route_needs_its_own_acl_resource() {
    let sim = sim().await;
    let token = token(&sim).await;
    let (_, accepted) = post_bulk(&sim, &token, &json!([item("A-1", "a")])).await;
    let uuid = accepted["bulk_uuid"].as_str().unwrap().to_owned();
    let bulk_ops = "Magento_AsynchronousOperations::system_magento_logging_bulk_operations";
    sim.set_faults(faults(|f| f.denied_resources = vec![bulk_ops.into()]));
    let (status, body) = status_of(&sim, &token, &uuid, "detailed-status").await;
    assert_eq!(status, 401);
    assert_eq!(body["parameters"]["resources"], bulk_ops);
    assert_eq!(
        post_bulk(&sim, &token, &json!([item("A-2", "a")])).await.0,
        202
    );
    sim.set_faults(faults(|f| {
        f.denied_resources = vec!["Magento_Catalog::products".into()];
    }));
    assert_eq!(
        post_bulk(&sim, &token, &json!([item("A-3", "a")])).await.0,
        401
    );
    assert_eq!(status_of(&sim, &token, &uuid, "status").await.0, 200);
}

#[tokio::test]
async fn the_admin_api_shows_bulks_and_sets_the_bulk_faults() {
    let sim = sim().await;
    let token = token(&sim).await;
    let http = client();
    let admin = |path: &str| format!("{}/_admin/{path}", sim.base_url());
    let faults = json!({
        "bulk_hold": true,
        "bulk_consumers": 3,
        "product_save_latency_ms": 5,
        "bulk_max_entities": 10,
        "save_failures": [{ "sku": "AD-2", "message": "No." }],
    });
    let resp = http
        .post(admin("faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let current = sim.faults();
    assert!(current.bulk_hold);
    assert_eq!(
        (current.bulk_consumers, current.bulk_max_entities),
        (3, Some(10))
    );
    assert!(
        !current.save_failures[0].retriable,
        "retriable defaults to false"
    );

    let (_, accepted) =
        post_bulk(&sim, &token, &json!([item("AD-1", "a"), item("AD-2", "b")])).await;
    let bulks: Vec<Bulk> = http
        .get(admin("bulks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bulks.len(), 1);
    assert_eq!(bulks[0].bulk_uuid, accepted["bulk_uuid"].as_str().unwrap());
    assert_eq!(bulks[0].operations[1].request, item("AD-2", "b"));
    assert!(bulks[0].operations.iter().all(|o| o.status == 4));

    let resp = http
        .post(admin("faults"))
        .json(&json!({ "save_failures": [{ "sku": "AD-2", "message": "No." }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let bulks: Vec<Bulk> = http
        .get(admin("bulks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops = &bulks[0].operations;
    assert_eq!((ops[0].status, ops[1].status), (1, 3));
    assert_eq!(ops[1].result_message.as_deref(), Some("No."));
    assert_eq!(ops[0].saved.as_ref().unwrap()["sku"], "AD-1");

    assert_eq!(
        http.post(admin("reset")).send().await.unwrap().status(),
        204
    );
    assert!(sim.bulks().is_empty());
}

#[test]
fn the_outbound_check_holds_a_bulk_body_to_the_product_body_schema() {
    use accs_sim::contract::{check_request_body, operation_of};
    let (method, path) = operation_of("POST /V1/async/bulk/products").expect("modelled");
    let good = json!([item("O-1", "a"), item("O-2", "b")]).to_string();
    assert_eq!(check_request_body(method, path, good.as_bytes()), Ok(()));
    let unknown = json!([item("O-1", "a"), { "product": { "sku": "O-2", "colour": "red" } }]);
    let why = check_request_body(method, path, unknown.to_string().as_bytes()).unwrap_err();
    assert!(why.contains("colour"), "{why}");
    let not_a_list = item("O-1", "a").to_string();
    assert!(check_request_body(method, path, not_a_list.as_bytes()).is_err());
}
