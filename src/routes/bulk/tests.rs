//! The bulk routes over fake ports, ACCS scripted as bulk-design's answers
//! (AdobeDocs/commerce-webapi bulk-endpoints.md, asynchronous-web-endpoints.md,
//! operation-status-endpoints.md): the whole request path, from routing and
//! scopes to the chunks sent and the report.

use crate::ports::{OutRequest, OutResponse, SendError};
use crate::routes::App;
use crate::testing::{FakePorts, TEST_API_KEY, respond, settings};
use crate::wire::{InRequest, InResponse};
use futures::executor::block_on;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// What the fake ACCS holds: bulks by uuid (their SKUs in order), and how
/// it is told to answer.
#[derive(Default)]
pub struct FakeAccs {
    pub bulks: BTreeMap<String, Vec<String>>,
    /// Refuses a request with more entities (the store's "Maximum Entities
    /// per Bulk Request").
    pub max_entities: Option<usize>,
    /// Answers 503 to these bulk POSTs (0-based, in arrival order).
    pub unavailable: Vec<usize>,
    pub posts: usize,
    /// Entities in each bulk POST, in arrival order, refused ones included.
    pub sizes: Vec<usize>,
}

pub type Shared = Rc<RefCell<FakeAccs>>;

pub fn uuid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// ACCS as the design scripts it. A product whose SKU starts `BAD` is one
/// Magento's input processor refuses (the whole request, 400); at status
/// read, a SKU starting `FAILR` failed retriably (2), `FAIL` for good (3),
/// `HOLD` is still open (4), anything else complete (1).
pub fn fake_accs(state: Shared) -> impl Fn(&OutRequest, usize) -> Result<OutResponse, SendError> {
    move |req, _| {
        if req.url.contains("/ims/token") {
            return respond(200, r#"{"access_token":"tok","expires_in":86399}"#);
        }
        let mut s = state.borrow_mut();
        if req.method == "POST" && req.url.ends_with("/V1/async/bulk/products") {
            let n = s.posts;
            s.posts += 1;
            let list: Vec<Value> = serde_json::from_slice(&req.body).unwrap();
            s.sizes.push(list.len());
            if s.unavailable.contains(&n) {
                return respond(503, r#"{"message":"Service Unavailable"}"#);
            }
            if s.max_entities.is_some_and(|m| list.len() > m) {
                return respond(
                    400,
                    r#"{"message":"Maximum items of type \"%1\" is %2","parameters":["product","100"]}"#,
                );
            }
            let skus: Vec<String> = list
                .iter()
                .map(|e| e["product"]["sku"].as_str().unwrap().to_owned())
                .collect();
            if let Some(bad) = skus.iter().find(|s| s.starts_with("BAD")) {
                let _ = bad;
                return respond(
                    400,
                    r#"{"message":"The \"%fieldName\" value's type is invalid.","parameters":{"fieldName":"price"}}"#,
                );
            }
            let id = uuid(s.bulks.len());
            let items: Vec<Value> = (0..skus.len())
                .map(|i| json!({"id": i, "data_hash": "h", "status": "accepted"}))
                .collect();
            s.bulks.insert(id.clone(), skus);
            return respond(
                202,
                &json!({"bulk_uuid": id, "request_items": items, "errors": false}).to_string(),
            );
        }
        if req.method == "GET" && req.url.ends_with("/detailed-status") {
            let id = req.url.rsplit('/').nth(1).unwrap();
            let Some(skus) = s.bulks.get(id) else {
                return respond(
                    404,
                    &json!({"message": "Bulk uuid %bulkUuid not exist", "parameters": {"bulkUuid": id}}).to_string(),
                );
            };
            // Operation ids ascend in request order; listed out of order here.
            let mut ops: Vec<Value> = skus
                .iter()
                .enumerate()
                .map(|(i, sku)| {
                    let (status, message) = if sku.starts_with("FAILR") {
                        (2, "Lock wait timeout exceeded")
                    } else if sku.starts_with("FAIL") {
                        (3, "The value of attribute \"price\" must be set")
                    } else if sku.starts_with("HOLD") {
                        (4, "")
                    } else {
                        (1, "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save")
                    };
                    // Magento's OperationProcessor: a complete operation
                    // holds the saved product, its request data cleared.
                    let meta = json!({"product": {"sku": sku}}).to_string();
                    let (serialized, result) = if status == 1 {
                        (Value::Null, json!({"sku": sku, "id": i}).to_string().into())
                    } else {
                        let s = json!({"entity_id": null, "entity_link": "", "meta_information": meta});
                        (s.to_string().into(), Value::Null)
                    };
                    json!({
                        "id": 1000 + i, "bulk_uuid": id,
                        "topic_name": "async.magento.catalog.api.productrepositoryinterface.save.post",
                        "serialized_data": serialized,
                        "result_serialized_data": result,
                        "status": status, "result_message": message, "error_code": null,
                    })
                })
                .collect();
            ops.reverse();
            return respond(
                200,
                &json!({"operations_list": ops, "bulk_id": id, "description": "d",
                    "start_time": "2026-01-01 00:00:00", "user_id": 1, "user_type": 1,
                    "operation_count": skus.len()})
                .to_string(),
            );
        }
        respond(200, r#"{"sku":"bulk"}"#)
    }
}

pub fn app(extra: &[(&'static str, &str)], state: Shared) -> App<FakePorts> {
    App::new(FakePorts::new(fake_accs(state)), settings(extra))
}

pub fn request(method: &str, path: &str, body: Vec<u8>) -> InRequest {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (path.to_owned(), None),
    };
    InRequest {
        method: method.into(),
        path,
        query,
        headers: vec![("authorization".into(), format!("Bearer {TEST_API_KEY}"))],
        body,
        ..Default::default()
    }
}

pub fn products_body(skus: impl Iterator<Item = String>) -> Vec<u8> {
    let products: Vec<Value> = skus
        .map(|sku| json!({"sku": sku, "name": format!("Product {sku}"), "price": 9.5}))
        .collect();
    serde_json::to_vec(&json!({ "products": products })).unwrap()
}

fn skus(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|i| format!("BULK-{i:05}"))
}

fn body(r: &InResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// An answer, cut short for a failure message.
fn short(v: &Value) -> String {
    v.to_string().chars().take(400).collect()
}

fn header<'a>(r: &'a InResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// `(first, count)` of each bulk of an answer.
fn spans(v: &Value) -> Vec<(u64, u64)> {
    v["bulks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["items"]["first"].as_u64().unwrap(),
                b["items"]["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn bulk_posts(app: &App<FakePorts>) -> usize {
    app.ports.sent_to("/V1/async/bulk/products")
}

fn puts(app: &App<FakePorts>) -> usize {
    app.ports
        .sent
        .borrow()
        .iter()
        .filter(|r| r.method == "PUT")
        .count()
}

#[test]
fn ten_thousand_products_go_in_chunks_and_are_accepted() {
    let state = Shared::default();
    let app = app(&[], state.clone());
    let r = block_on(app.handle(request(
        "POST",
        "/v1/products/bulk",
        products_body(skus(10_000)),
    )));
    let v = body(&r);
    assert_eq!(r.status, 202, "{}", short(&v));
    assert_eq!(bulk_posts(&app), 20, "ceil(10000 / 500) chunks");
    assert_eq!(puts(&app), 0, "no product goes one by one");
    assert_eq!(
        v["summary"],
        json!({"received": 10_000, "accepted": 10_000, "failed": 0})
    );
    let want: Vec<(u64, u64)> = (0..20).map(|k| (k * 500, 500)).collect();
    assert_eq!(spans(&v), want);
    assert_eq!(v["results"], json!([]));
    assert_eq!(v["errors"], json!([]));
    let first = &v["bulks"][1];
    assert_eq!(
        first["status_url"],
        format!(
            "/v1/bulk/{}?first=500",
            first["bulk_uuid"].as_str().unwrap()
        )
    );
    // Every product was sent once, in order, as `POST /V1/products` takes it.
    let s = state.borrow();
    let sent: Vec<&String> = s.bulks.values().flatten().collect();
    assert_eq!(sent.len(), 10_000);
    let mut sorted = sent.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 10_000);
    let one: Value = serde_json::from_slice(&app.ports.sent.borrow()[1].body).unwrap();
    assert_eq!(
        one[0],
        json!({"product": {"sku": "BULK-00000", "name": "Product BULK-00000", "price": 9.5}})
    );
    let log = app.ports.logs.borrow().last().unwrap().clone();
    assert!(
        log.contains(r#""items":{"sent":10000,"landed":0,"accepted":10000}"#),
        "{log}"
    );
}

#[test]
fn the_chunk_size_is_bulk_chunk_size() {
    let app = app(&[("bulk_chunk_size", "300")], Shared::default());
    let r = block_on(app.handle(request(
        "POST",
        "/v1/products/bulk",
        products_body(skus(1_000)),
    )));
    assert_eq!(r.status, 202);
    assert_eq!(bulk_posts(&app), 4);
    assert_eq!(
        spans(&body(&r)),
        [(0, 300), (300, 300), (600, 300), (900, 100)]
    );
}

#[test]
fn bad_products_are_400_with_indexes_and_nothing_is_sent() {
    let app = app(&[], Shared::default());
    let mut products: Vec<Value> = skus(20).map(|s| json!({"sku": s})).collect();
    products[3] = json!({"name": "no sku"});
    products[7] = json!({"sku": "P-7", "price": "cheap"});
    products[11] = json!(5);
    let b = serde_json::to_vec(&json!({ "products": products })).unwrap();
    let r = block_on(app.handle(request("POST", "/v1/products/bulk", b)));
    let v = body(&r);
    assert_eq!(r.status, 400, "{}", short(&v));
    let idx: Vec<u64> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, [3, 7, 11]);
    assert_eq!(v["errors"][1]["field"], "price");
    assert_eq!(
        app.ports.sent.borrow().len(),
        0,
        "nothing sent, not even to IMS"
    );
    for bad in [
        &br#"{"products":[]}"#[..],
        b"{}",
        b"[]",
        b"nope",
        br#"{"products":[{"sku":"A"}],"more":1}"#,
    ] {
        let r = block_on(app.handle(request("POST", "/v1/products/bulk", bad.to_vec())));
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
    }
    let r = block_on(app.handle(request(
        "POST",
        "/v1/products/bulk",
        products_body(skus(10_001)),
    )));
    assert_eq!(r.status, 400);
    assert!(body(&r)["detail"].as_str().unwrap().contains("1 to 10000"));
    assert_eq!(app.ports.sent.borrow().len(), 0);
}

/// A store limit below the chunk size: each refused chunk is split until
/// ACCS takes the parts, and every product is accepted once.
#[test]
fn a_chunk_over_the_store_limit_is_split_and_every_product_accepted() {
    let state = Shared::default();
    state.borrow_mut().max_entities = Some(100);
    let app = app(&[], state.clone());
    let r = block_on(app.handle(request(
        "POST",
        "/v1/products/bulk",
        products_body(skus(1_000)),
    )));
    let v = body(&r);
    assert_eq!(r.status, 202, "{}", short(&v));
    assert_eq!(v["summary"]["accepted"], 1_000);
    let spans = spans(&v);
    assert!(spans.iter().all(|&(_, c)| c <= 100), "{spans:?}");
    let mut next = 0;
    for (first, count) in spans {
        assert_eq!(first, next, "bulks cover the request in order");
        next += count;
    }
    assert_eq!(next, 1_000);
    let s = state.borrow();
    assert_eq!(s.bulks.values().map(Vec::len).sum::<usize>(), 1_000);
    // Both chunks of 500 refused for the limit (`max` 100, a positional
    // parameter here), then 10 calls of 100; halving took 30 calls, 28 of
    // them splits.
    assert_eq!(s.posts, 12);
    assert_eq!(
        s.sizes,
        [500, 500, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100]
    );
    assert_eq!(v["summary"]["split_calls"].as_u64().unwrap_or(0), 0);
}

/// One product ACCS cannot read: it alone fails, with ACCS's message; its
/// neighbours are accepted in smaller bulks.
#[test]
fn a_refused_product_fails_alone_and_its_neighbours_are_accepted() {
    let state = Shared::default();
    let app = app(&[], state.clone());
    let names: Vec<String> = skus(1_000)
        .enumerate()
        .map(|(i, s)| if i == 617 { "BAD-617".into() } else { s })
        .collect();
    let r = block_on(app.handle(request(
        "POST",
        "/v1/products/bulk",
        products_body(names.into_iter()),
    )));
    let v = body(&r);
    assert_eq!(r.status, 422, "{}", short(&v));
    assert_eq!(
        v["summary"],
        json!({"received": 1000, "accepted": 999, "failed": 1, "split_calls": 18})
    );
    assert_eq!(
        v["results"],
        json!([{"index": 617, "sku": "BAD-617", "result": "failed", "batch": 1,
                "error": "accs_error", "reason": "The \"price\" value's type is invalid."}])
    );
    assert_eq!(v["errors"].as_array().unwrap().len(), 1);
    assert_eq!(v["errors"][0]["sku"], "BAD-617");
    let covered: u64 = spans(&v).iter().map(|s| s.1).sum();
    assert_eq!(covered, 999);
    assert!(spans(&v).iter().all(|&(f, c)| !(f..f + c).contains(&617)));
    assert_eq!(header(&r, "retry-after"), None);
}

/// ACCS down for one chunk: 503 with Retry-After, the accepted bulks still
/// listed, the chunk's products failed.
#[test]
fn a_chunk_accs_cannot_take_now_is_503_and_the_accepted_bulks_are_listed() {
    let state = Shared::default();
    state.borrow_mut().unavailable = vec![1];
    let app = app(&[("sync_concurrency", "1")], state.clone());
    let r = block_on(app.handle(request(
        "POST",
        "/v1/products/bulk",
        products_body(skus(1_500)),
    )));
    let v = body(&r);
    assert_eq!(r.status, 503, "{}", short(&v));
    assert_eq!(header(&r, "retry-after"), Some("5"));
    assert_eq!(spans(&v), [(0, 500), (1000, 500)]);
    assert_eq!(v["summary"]["failed"], 500);
    assert_eq!(v["results"][0]["index"], 500);
    assert_eq!(v["results"][0]["error"], "accs_unavailable");
    assert_eq!(v["errors"][0]["status"], 502, "accs_unavailable");
    // A POST is not retried after ACCS may have acted (a 503 answer).
    assert_eq!(state.borrow().posts, 3);
}

#[test]
fn the_status_read_maps_operations_and_numbers_them_from_first() {
    let state = Shared::default();
    let app = app(&[], state.clone());
    let names = ["OK-0", "HOLD-1", "FAIL-2", "FAILR-3", "OK-4"].map(String::from);
    let r = block_on(app.handle(request(
        "POST",
        "/v1/products/bulk",
        products_body(names.into_iter()),
    )));
    assert_eq!(r.status, 202);
    let url = body(&r)["bulks"][0]["status_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.ends_with("?first=0"), "{url}");
    let uuid = body(&r)["bulks"][0]["bulk_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = block_on(app.handle(request("GET", &format!("/v1/bulk/{uuid}?first=40"), vec![])));
    let v = body(&r);
    assert_eq!(r.status, 200, "{}", short(&v));
    assert_eq!(
        v,
        json!({
            "bulk_uuid": uuid,
            "summary": {"operations": 5, "ok": 2, "failed": 2, "pending": 1, "complete": false},
            "results": [
                {"index": 40, "sku": "OK-0", "result": "ok", "status": 1},
                {"index": 41, "sku": "HOLD-1", "result": "pending", "status": 4},
                {"index": 42, "sku": "FAIL-2", "result": "failed", "reason": "The value of attribute \"price\" must be set", "status": 3},
                {"index": 43, "sku": "FAILR-3", "result": "failed", "reason": "Lock wait timeout exceeded", "status": 2},
                {"index": 44, "sku": "OK-4", "result": "ok", "status": 1},
            ]
        })
    );
    let sent = app.ports.sent.borrow();
    assert!(
        sent.last()
            .unwrap()
            .url
            .ends_with(&format!("/V1/bulk/{uuid}/detailed-status"))
    );
}

#[test]
fn unknown_and_malformed_uuids() {
    let app = app(&[], Shared::default());
    let r = block_on(app.handle(request(
        "GET",
        "/v1/bulk/0f0f0f0f-0000-4000-8000-000000000099",
        vec![],
    )));
    assert_eq!(r.status, 404);
    assert_eq!(body(&r)["code"], "bulk_not_found");
    let sent = app.ports.sent.borrow().len();
    for bad in [
        "/v1/bulk/not-a-uuid",
        "/v1/bulk/0f0f0f0f-0000-4000-8000-00000000009",
        "/v1/bulk/0f0f0f0f-0000-4000-8000-000000000099%2F..",
        "/v1/bulk/..%2F..%2Forders%2F1",
        "/v1/bulk/",
        "/v1/bulk/0f0f0f0f-0000-4000-8000-000000000099?first=10001",
        "/v1/bulk/0f0f0f0f-0000-4000-8000-000000000099?page=1",
    ] {
        let r = block_on(app.handle(request("GET", bad, vec![])));
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(body(&r)["code"], "invalid_request");
    }
    assert_eq!(
        app.ports.sent.borrow().len(),
        sent,
        "nothing sent for a bad uuid"
    );
    let r = block_on(app.handle(request(
        "POST",
        "/v1/bulk/0f0f0f0f-0000-4000-8000-000000000099",
        vec![],
    )));
    assert_eq!(r.status, 405);
}

/// `/v1/products/bulk` is also a product's path: only a POST there is the
/// bulk upsert.
#[test]
fn get_and_put_on_products_bulk_address_the_sku_bulk() {
    let state = Shared::default();
    let app = app(&[], state.clone());
    let r = block_on(app.handle(request("GET", "/v1/products/bulk", vec![])));
    assert_eq!(r.status, 200);
    let put = br#"{"product":{"name":"The bulk product"}}"#.to_vec();
    let r = block_on(app.handle(request("PUT", "/v1/products/bulk", put)));
    assert_eq!(r.status, 200);
    {
        let sent = app.ports.sent.borrow();
        let accs: Vec<(&str, &str)> = sent
            .iter()
            .filter(|r| !r.url.contains("/ims/"))
            .map(|r| (r.method, r.url.rsplit_once("/V1/").unwrap().1))
            .collect();
        assert_eq!(accs, [("GET", "products/bulk"), ("PUT", "products/bulk")]);
    }
    let r = block_on(app.handle(request("DELETE", "/v1/products/bulk", vec![])));
    assert_eq!(r.status, 405);
    assert_eq!(header(&r, "allow"), Some("GET, PUT, POST"));
    let r = block_on(app.handle(request("POST", "/v1/products/other", vec![])));
    assert_eq!((r.status, header(&r, "allow")), (405, Some("GET, PUT")));
    assert_eq!(bulk_posts(&app), 0);
}

#[test]
fn both_routes_need_products_write() {
    let keys = format!("ro:{TEST_API_KEY}:products.read");
    let app = app(&[("api_keys", &keys)], Shared::default());
    for (method, path) in [
        ("POST", "/v1/products/bulk"),
        ("GET", "/v1/bulk/0f0f0f0f-0000-4000-8000-000000000099"),
    ] {
        let req = request(method, path, products_body(skus(1)));
        assert_eq!(app.before_body(&req).map(|r| r.status), Some(403), "{path}");
        let r = block_on(app.handle(req));
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(body(&r)["code"], "insufficient_scope");
    }
    // The product `bulk` is still readable with products.read.
    let r = block_on(app.handle(request("GET", "/v1/products/bulk", vec![])));
    assert_eq!(r.status, 200);
    assert_eq!(bulk_posts(&app), 0);
}

#[test]
fn the_routes_read_the_bulk_variables_where_they_use_them() {
    use crate::routes::variables_for;
    let names = |p: &str| variables_for("POST", p).collect::<Vec<_>>();
    let bulk = names("/v1/products/bulk");
    assert!(bulk.contains(&"bulk_chunk_size") && bulk.contains(&"sync_concurrency"));
    assert!(!bulk.contains(&"products_bulk_above") && !bulk.contains(&"sync_batch_size"));
    for path in ["/v1/webhooks/products", "/v1/events"] {
        let n = names(path);
        assert!(n.contains(&"bulk_chunk_size") && n.contains(&"products_bulk_above"));
    }
    for path in ["/v1/products/A", "/v1/bulk/x", "/v1/inventory/source-items"] {
        let n = names(path);
        assert!(
            !n.contains(&"bulk_chunk_size") && !n.contains(&"products_bulk_above"),
            "{path}"
        );
    }
}

/// The products webhook above `products_bulk_above`: the bulk path, its
/// ledger record, replay and resume.
mod webhook {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};

    const KEY: &[u8] = b"webhook-key-A-0123456789abcdef!!";

    fn hook_app(extra: &[(&'static str, &str)], state: Shared) -> App<FakePorts> {
        let secret = format!("whsec_{}", STANDARD.encode(KEY));
        let mut vars: Vec<(&'static str, &str)> = vec![("webhook_secrets", &secret)];
        vars.extend_from_slice(extra);
        App::new(FakePorts::new(fake_accs(state)), settings(&vars))
    }

    fn deliver(app: &App<FakePorts>, id: &str, body: &[u8]) -> InResponse {
        let ts = (app.ports.now.get() / 1000).to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(KEY).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        let sig = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        let req = InRequest {
            method: "POST".into(),
            path: "/v1/webhooks/products".into(),
            query: None,
            headers: vec![
                ("webhook-id".into(), id.into()),
                ("webhook-timestamp".into(), ts),
                ("webhook-signature".into(), sig),
            ],
            body: body.to_vec(),
            ..Default::default()
        };
        block_on(app.handle(req))
    }

    #[test]
    fn above_the_threshold_a_delivery_goes_in_bulks_and_a_repeat_sends_nothing() {
        let state = Shared::default();
        let app = hook_app(
            &[("products_bulk_above", "10"), ("bulk_chunk_size", "10")],
            state.clone(),
        );
        let body = products_body(skus(25));
        let r = deliver(&app, "msg-1", &body);
        let v = super::body(&r);
        assert_eq!(r.status, 202, "{}", short(&v));
        assert_eq!(bulk_posts(&app), 3);
        assert_eq!(puts(&app), 0);
        assert_eq!(spans(&v), [(0, 10), (10, 10), (20, 5)]);
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), 25);
        assert_eq!(
            results[12],
            json!({"index": 12, "sku": "BULK-00012", "result": "accepted", "bulk_uuid": v["bulks"][1]["bulk_uuid"]})
        );
        let sent = app.ports.sent.borrow().len();
        let again = deliver(&app, "msg-1", &body);
        assert_eq!(again.status, 202);
        assert_eq!(header(&again, "webhook-replayed"), Some("true"));
        assert_eq!(super::body(&again), v, "the same bulk ids, from the ledger");
        assert_eq!(
            app.ports.sent.borrow().len(),
            sent,
            "a repeat sends nothing"
        );
    }

    #[test]
    fn at_or_below_the_threshold_or_without_it_products_go_one_put_each() {
        for extra in [&[("products_bulk_above", "10")][..], &[]] {
            let app = hook_app(extra, Shared::default());
            let r = deliver(&app, "msg-1", &products_body(skus(10)));
            assert_eq!(r.status, 200);
            assert_eq!((puts(&app), bulk_posts(&app)), (10, 0));
        }
        let app = hook_app(&[("products_bulk_above", "0")], Shared::default());
        let r = deliver(&app, "msg-1", &products_body(skus(1)));
        assert_eq!(r.status, 202);
        assert_eq!((puts(&app), bulk_posts(&app)), (0, 1));
    }

    /// A chunk ACCS could not take: 503 listing the accepted bulks; the
    /// retry sends only that chunk's products, and answers every bulk.
    #[test]
    fn a_retry_after_a_partial_failure_sends_only_what_no_bulk_holds() {
        let state = Shared::default();
        state.borrow_mut().unavailable = vec![1];
        let app = hook_app(
            &[
                ("products_bulk_above", "10"),
                ("bulk_chunk_size", "10"),
                ("sync_concurrency", "1"),
            ],
            state.clone(),
        );
        let body = products_body(skus(30));
        let r = deliver(&app, "msg-2", &body);
        let v = super::body(&r);
        assert_eq!(r.status, 503, "{}", short(&v));
        // docs/RETRIES.md: ACCS sent none, so the edge's own 5 s.
        assert_eq!(header(&r, "retry-after"), Some("5"));
        assert_eq!(spans(&v), [(0, 10), (20, 10)]);
        assert_eq!(v["summary"]["failed"], 10);
        let first_ids: Vec<Value> = v["bulks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["bulk_uuid"].clone())
            .collect();
        let posts = state.borrow().posts;
        let r = deliver(&app, "msg-2", &body);
        let v = super::body(&r);
        assert_eq!(r.status, 202, "{}", short(&v));
        assert_eq!(
            state.borrow().posts,
            posts + 1,
            "only the refused chunk again"
        );
        assert_eq!(*state.borrow().sizes.last().unwrap(), 10);
        assert_eq!(spans(&v), [(0, 10), (10, 10), (20, 10)]);
        assert_eq!(v["bulks"][0]["bulk_uuid"], first_ids[0]);
        assert_eq!(v["bulks"][2]["bulk_uuid"], first_ids[1]);
        assert_eq!(v["summary"]["accepted"], 30);
        let again = deliver(&app, "msg-2", &body);
        assert_eq!((again.status, super::body(&again)), (202, v));
        assert_eq!(state.borrow().posts, posts + 1);
    }
}

/// Issue 31 item 8c: the worst case, every one of 10,000 products refused,
/// four chunks splitting at once: the split calls stay within the
/// documented 1,000 (counted as they are planned, not as they are sent, so
/// chunks splitting concurrently cannot pass the bound between them), and
/// every product fails with ACCS's reason.
#[test]
fn a_worst_case_request_stays_within_1000_split_calls() {
    let state = Shared::default();
    let app = app(&[], state.clone());
    let names = (0..10_000).map(|i| format!("BAD-{i:05}"));
    let r = block_on(app.handle(request("POST", "/v1/products/bulk", products_body(names))));
    let v = body(&r);
    assert_eq!(r.status, 422, "{}", short(&v));
    let split = v["summary"]["split_calls"].as_u64().unwrap();
    assert!(split <= 1_000, "{split} split calls");
    let posts = state.borrow().posts;
    assert_eq!(
        posts as u64,
        20 + split,
        "20 chunks and the splits, nothing more"
    );
    // docs/ROUTES.md: "at most 20 chunk calls and 1,000 split calls".
    assert!(posts <= 20 + 1_000, "{posts} calls");
    assert_eq!(v["summary"]["failed"], 10_000);
    assert_eq!(v["summary"]["accepted"], 0);
}

/// ACCS as Magento with its Web API input limits on: over `max` entities,
/// 400 `Maximum items of type "%type" is %max` with named parameters
/// (`EntityArrayValidator::validateComplexArrayType`).
fn input_limited_accs(
    max: usize,
    sizes: Rc<RefCell<Vec<usize>>>,
) -> impl Fn(&OutRequest, usize) -> Result<OutResponse, SendError> {
    let inner = fake_accs(Shared::default());
    move |req, n| {
        if req.method == "POST" && req.url.ends_with("/V1/async/bulk/products") {
            let list: Vec<Value> = serde_json::from_slice(&req.body).unwrap();
            sizes.borrow_mut().push(list.len());
            if list.len() > max {
                return respond(
                    400,
                    &json!({"message": "Maximum items of type \"%type\" is %max",
                        "parameters": {"type": "Magento\\Catalog\\Api\\Data\\ProductInterface", "max": max}})
                    .to_string(),
                );
            }
        }
        inner(req, n)
    }
}

/// Issue 31 item 7: a request refused for the input limit re-chunks
/// everything not yet sent at `max` (not halves), and the next request on
/// the deployment starts at `max`: no refusal, one `get`, no `set`.
#[test]
fn the_input_limit_is_learned_once_and_the_next_request_starts_at_it() {
    let sizes: Rc<RefCell<Vec<usize>>> = Rc::default();
    let app = App::new(
        FakePorts::new(input_limited_accs(100, sizes.clone())),
        settings(&[("sync_concurrency", "1")]),
    );
    let ops = crate::accs::limits::count_ops(&app.ports);
    let r = block_on(app.handle(request(
        "POST",
        "/v1/products/bulk",
        products_body(skus(1_000)),
    )));
    let v = body(&r);
    assert_eq!(r.status, 202, "{}", short(&v));
    assert_eq!(v["summary"]["accepted"], 1_000);
    assert_eq!(v["summary"]["split_calls"].as_u64().unwrap_or(0), 0);
    let mut want = vec![500];
    want.extend([100; 10]);
    assert_eq!(
        *sizes.borrow(),
        want,
        "one refusal, then 10 calls at the limit"
    );
    assert_eq!(*ops.borrow(), (1, 1), "one get, and one set when learned");
    sizes.borrow_mut().clear();
    let r = block_on(app.handle(request(
        "POST",
        "/v1/products/bulk",
        products_body(skus(1_000)),
    )));
    assert_eq!(r.status, 202);
    assert_eq!(
        *sizes.borrow(),
        [100; 10],
        "starts at the limit, no refusal"
    );
    assert_eq!(*ops.borrow(), (2, 1), "one more get, no set");
}
