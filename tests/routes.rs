//! Component tests of the catalog, inventory, orders and passthrough routes,
//! both flavours, against the simulator. Every answer is checked against
//! docs/openapi.yaml by the rig.

mod common;

use accs_sim::{Faults, ScriptedResponse};
use bytes::Bytes;
use common::rig::*;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn with_body(method: &str, path: &str, body: &Value) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", "application/json")
        .body(Bytes::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn items(n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"sku": format!("INV-{i:05}"), "source_code": "default", "quantity": i % 100, "status": 1}))
        .collect();
    json!({ "sourceItems": items })
}

#[test]
#[should_panic(expected = "does not match docs/openapi.yaml")]
fn the_openapi_check_catches_a_wrong_body() {
    common::openapi::check(
        "GET",
        "/healthz",
        200,
        &answer_headers("application/json"),
        br#"{"status":"down"}"#,
    );
}

/// Issue 26: what the reads answer is typed by Adobe's own definitions, so a
/// client generated from docs/openapi.yaml gets models, not bare objects.
/// Each route passes ACCS's answer through: its 200 is a `$ref` to
/// `accs-out-<the definition the ACCS schema gives that operation's 200>`,
/// and what ACCS's errors say (`upstream` of a problem or a batch error) is
/// `accs-out-<its default>`, `error-response`.
#[test]
fn the_reads_answer_adobes_own_definitions() {
    let api = common::openapi::doc();
    let accs: Value =
        serde_json::from_str(include_str!("../tests/reference/accs-schema.json")).unwrap();
    let definition = |path: &str, method: &str, status: &str| {
        let r = accs["paths"][path][method]["responses"][status]["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} {status}: no $ref in the ACCS schema"));
        r.trim_start_matches("#/definitions/").to_owned()
    };
    let typed = |schema: &Value, name: &str, what: &str| {
        let want = format!("#/components/schemas/accs-out-{name}");
        assert_eq!(
            schema["$ref"].as_str(),
            Some(want.as_str()),
            "{what}: {schema}"
        );
        let component = &api["components"]["schemas"][format!("accs-out-{name}")];
        assert!(
            component["type"] == "object"
                && component["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty()),
            "{what}: accs-out-{name} is not a typed object: {component}"
        );
    };
    for (ours, method, theirs) in [
        ("/v1/products", "get", "/V1/products"),
        ("/v1/products/{sku}", "get", "/V1/products/{sku}"),
        ("/v1/products/{sku}", "put", "/V1/products/{sku}"),
        ("/v1/orders", "get", "/V1/orders"),
        ("/v1/orders/{id}", "get", "/V1/orders/{id}"),
    ] {
        let responses = api["paths"][ours][method]["responses"].as_object().unwrap();
        let mut successes = 0;
        for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('2')) {
            let media = response["content"].as_object().unwrap();
            assert_eq!(media.len(), 1, "{method} {ours} {status}: {media:?}");
            let name = definition(theirs, method, "200");
            typed(
                &media["application/json"]["schema"],
                &name,
                &format!("{method} {ours} {status}"),
            );
            successes += 1;
        }
        assert_eq!(successes, 1, "{method} {ours}");
        assert_eq!(definition(theirs, method, "default"), "error-response");
    }
    let schemas = &api["components"]["schemas"];
    typed(
        &schemas["Problem"]["properties"]["upstream"],
        "error-response",
        "Problem.upstream",
    );
    typed(
        &schemas["SyncReport"]["properties"]["errors"]["items"]["properties"]["upstream"],
        "error-response",
        "SyncReport.errors[].upstream",
    );
    // And every `$ref` of the document resolves.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(api, &mut all);
    for r in all {
        assert!(
            api.pointer(r.trim_start_matches('#')).is_some(),
            "dangling $ref {r}"
        );
    }
}

/// The outbound check is stricter than Magento's input processor: a price
/// sent as the string "12.5" is a number to PHP's `is_numeric`, so ACCS (and
/// the simulator) take it, but Adobe's schema says `number`.
#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "not what Adobe's ACCS schema says")]
async fn the_outbound_check_catches_a_body_off_the_schema() {
    let sim = start_sim().await;
    let token = sim_token(&sim).await;
    let resp = reqwest::Client::new()
        .put(format!("{}/V1/products/SKU-0001", sim.accs_base_url()))
        .bearer_auth(token)
        .header("x-api-key", CLIENT_ID)
        .json(&json!({"product": {"price": "12.5"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    common::accs_contract::assert_outbound_bodies_match(&sim);
}

/// The secret grep covers a token issued before a `Sim::reset` (the
/// requests it was seen in are gone by then).
#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "a secret (63 chars) leaked")]
async fn the_secret_grep_catches_a_token_from_before_a_reset() {
    let sim = common::start_sim().await;
    let token = common::sim_token(&sim).await;
    sim.reset();
    common::assert_no_secrets(&sim, &[format!("log line with {token}")]);
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "a webhook secret leaked")]
async fn the_secret_grep_catches_a_webhook_secret() {
    let sim = common::start_sim().await;
    let secret = common::secret("whsec_dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==");
    common::assert_no_secrets(&sim, &[format!("detail: bad secret {secret}")]);
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "a secret (36 chars) leaked")]
async fn the_secret_grep_catches_a_webhook_key_without_its_prefix() {
    let sim = common::start_sim().await;
    let secret = common::secret("whsec_dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==");
    let key = secret.trim_start_matches("whsec_");
    common::assert_no_secrets(&sim, &[format!("detail: bad key {key}")]);
}

/// The heads every answer carries, with `content_type`.
fn answer_headers(content_type: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("content-type", content_type.parse().unwrap());
    h.insert("x-request-id", "req-1".parse().unwrap());
    h.insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            .parse()
            .unwrap(),
    );
    h
}

#[test]
#[should_panic(expected = "no x-request-id")]
fn the_openapi_check_catches_a_missing_request_id() {
    let mut h = answer_headers("application/json");
    h.remove("x-request-id");
    common::openapi::check("GET", "/healthz", 200, &h, br#"{"status":"ok"}"#);
}

#[test]
#[should_panic(expected = "Allow")]
fn the_openapi_check_catches_a_wrong_allow() {
    let mut h = answer_headers("application/problem+json");
    h.insert("allow", "GET, DELETE".parse().unwrap());
    let body = br#"{"type":"about:blank","title":"Method not allowed","status":405,"detail":"x","code":"method_not_allowed","request_id":"req-1"}"#;
    common::openapi::check("PATCH", "/healthz", 405, &h, body);
}

#[test]
#[should_panic(expected = "is not an integer")]
fn the_openapi_check_catches_a_malformed_documented_header() {
    let mut h = answer_headers("application/problem+json");
    h.insert("retry-after", "soon".parse().unwrap());
    let body = br#"{"type":"about:blank","title":"Conflict","status":409,"detail":"x","code":"conflict","request_id":"req-1"}"#;
    common::openapi::check("POST", "/v1/webhooks/inventory", 409, &h, body);
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_is_served_without_auth() {
    let rig = rig(Flavour::Spin, |_| {}).await;
    let a = rig.get("/v1/openapi.json", None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["openapi"], "3.1.0");
    for path in [
        "/v1/products/{sku}",
        "/v1/inventory/source-items",
        "/v1/orders/{id}",
        "/v1/accs/{path}",
    ] {
        assert!(a.body["paths"].get(path).is_some(), "{path}");
    }
    rig.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn product_conveniences_map_onto_search_criteria() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let a = rig
            .get(
                "/v1/products?sku=SKU-001%25&sort=sku:desc&page_size=3",
                Some(API_KEY),
            )
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["total_count"], 10);
        let skus: Vec<&str> = a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku"].as_str().unwrap())
            .collect();
        assert_eq!(skus, ["SKU-0019", "SKU-0018", "SKU-0017"]);

        let a = rig
            .get("/v1/products?updated_since=2099-01-01", Some(API_KEY))
            .await;
        assert_eq!((a.status, &a.body["total_count"]), (200, &json!(0)));

        let before = rig.sim.counters().accs_requests;
        for bad in [
            "sort=sku:sideways",
            "updated_since=soon",
            "colour=red",
            "page_size=0",
        ] {
            let a = rig.get(&format!("/v1/products?{bad}"), Some(API_KEY)).await;
            assert_eq!(
                (a.status, a.body["code"].as_str()),
                (400, Some("invalid_request")),
                "{bad}"
            );
        }
        assert_eq!(
            rig.sim.counters().accs_requests,
            before,
            "invalid input sends nothing"
        );
        rig.finish();
    }
}

/// `from`, `to`, `moreq` and `nfinset` (issue #26) pass the component and
/// filter as Magento does: a `from` group and a `to` group are an inclusive
/// range, `moreq` is `>=`, `nfinset` the complement of `finset`.
#[tokio::test(flavor = "multi_thread")]
async fn the_remaining_condition_types_reach_accs_and_filter() {
    fn f(g: u32, field: &str, value: &str, condition: &str) -> String {
        let k = format!("searchCriteria[filter_groups][{g}][filters][0]");
        format!("&{k}[field]={field}&{k}[value]={value}&{k}[condition_type]={condition}")
    }
    let skus = |a: &Answer| -> Vec<String> {
        a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let all = rig.get("/v1/products?page_size=300", Some(API_KEY)).await;
        assert_eq!(all.status, 200, "{flavour:?}: {}", all.body);
        let items = all.body["items"].as_array().unwrap().clone();
        let query = |q: String| format!("/v1/products?page_size=300{q}");

        let a = rig
            .get(
                &query(f(0, "price", "20", "from") + &f(1, "price", "40", "to")),
                Some(API_KEY),
            )
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        let expected: Vec<String> = items
            .iter()
            .filter(|p| (20.0..=40.0).contains(&p["price"].as_f64().unwrap()))
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect();
        assert!(!expected.is_empty() && expected.len() < items.len());
        assert_eq!(skus(&a), expected, "{flavour:?}: from/to");

        let a = rig
            .get(&query(f(0, "id", "55", "moreq")), Some(API_KEY))
            .await;
        assert_eq!(skus(&a), ["tab?&#", "dot.sku"], "{flavour:?}: moreq");

        let a = rig
            .get(&query(f(0, "category_ids", "5", "finset")), Some(API_KEY))
            .await;
        let b = rig
            .get(&query(f(0, "category_ids", "5", "nfinset")), Some(API_KEY))
            .await;
        let (with, without) = (skus(&a), skus(&b));
        assert!(!with.is_empty() && !without.is_empty(), "{flavour:?}");
        assert!(with.iter().all(|s| !without.contains(s)), "{flavour:?}");
        assert_eq!(
            with.len() + without.len(),
            items.len(),
            "{flavour:?}: nfinset"
        );

        let sent = rig.sim.requests().pop().unwrap();
        assert!(
            sent.raw_query
                .unwrap_or_default()
                .contains("%5Bcondition_type%5D=nfinset"),
            "{flavour:?}: the condition reaches ACCS as given"
        );
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn put_product_upserts_and_the_path_sku_wins() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let body = json!({"product": {"name": "Renamed", "price": 12.5}});
        let a = rig
            .send(with_body("PUT", "/v1/products/a%2Fb%20c", &body))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["sku"], "a/b c");
        assert_eq!(rig.sim.product("a/b c").unwrap()["name"], "Renamed");
        let sent = rig.sim.requests().pop().unwrap();
        assert_eq!(
            (sent.method.as_str(), sent.raw_path.as_str()),
            ("PUT", "/tenantT1/V1/products/a%2Fb%20c")
        );
        assert_eq!(sent.headers["content-type"], "application/json");
        let sent_body: Value = serde_json::from_str(&sent.body).unwrap();
        assert_eq!(sent_body["product"]["sku"], "a/b c");

        let before = rig.sim.counters().accs_requests;
        let a = rig
            .send(with_body(
                "PUT",
                "/v1/products/SKU-0001",
                &json!({"product": {"sku": "SKU-0002"}}),
            ))
            .await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (400, Some("invalid_request"))
        );
        let a = rig
            .send(with_body(
                "PUT",
                "/v1/products/SKU-0001",
                &json!({"name": "x"}),
            ))
            .await;
        assert_eq!(a.status, 400);
        assert_eq!(rig.sim.counters().accs_requests, before);
        // Every body sent to ACCS is one Adobe's schema takes.
        assert!(common::accs_contract::assert_outbound_bodies_match(&rig.sim) > 0);
        rig.finish();
    }
}

/// Issue #26: fields ACCS would refuse are named before anything is sent:
/// unknown ones (by Magento's name rule, so `attributeSetId` is
/// `attribute_set_id`) and values of another JSON type than the
/// definition's (as docs/openapi.yaml states them).
#[tokio::test(flavor = "multi_thread")]
async fn a_product_field_accs_would_refuse_is_named_and_nothing_is_sent() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let body = json!({"product": {
            "name": ["not", "a", "string"],
            "colour": "red",
            "price": "cheap",
            "extension_attributes": {"category_links": [{"category_id": "3", "rank": 1}]},
        }});
        let a = rig
            .send(with_body("PUT", "/v1/products/SKU-0001", &body))
            .await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (400, Some("invalid_request")),
            "{flavour:?}: {}",
            a.body
        );
        let detail = a.body["detail"].as_str().unwrap();
        let fields: Vec<&str> = a.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "colour",
                "extension_attributes.category_links[0].rank",
                "name",
                "price"
            ]
        );
        for f in &fields {
            assert!(detail.contains(&format!("`product.{f}`")), "{detail}");
        }
        assert_eq!(
            rig.sim.counters().accs_requests,
            0,
            "{flavour:?}: nothing sent"
        );

        let ok = json!({"product": {"attribute_set_id": 4, "price": 12.5, "name": "Fine"}});
        let a = rig
            .send(with_body("PUT", "/v1/products/SKU-0001", &ok))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_items_reach_accs_exactly_once_each() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let a = rig
            .send(with_body(
                "POST",
                "/v1/inventory/source-items",
                &items(10_000),
            ))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body["summary"]);
        assert_eq!(
            a.body["summary"],
            json!({"items": 10_000, "ok": 10_000, "failed": 0, "failed_batches": 0})
        );
        let results = a.body["results"].as_array().unwrap();
        assert_eq!(results.len(), 10_000);
        assert!(
            results
                .iter()
                .enumerate()
                .all(|(i, r)| r["index"] == i && r["result"] == "ok")
        );
        let receipts = rig.sim.inventory_receipts();
        assert_eq!(receipts.len(), 10_000, "{flavour:?}");
        assert!(
            receipts.values().all(|&n| n == 1),
            "{flavour:?}: an item arrived twice"
        );
        assert_eq!(
            rig.accs_calls("/V1/inventory/source-items"),
            20,
            "batches of 500"
        );
        // Every body sent to ACCS is one Adobe's schema takes.
        assert!(common::accs_contract::assert_outbound_bodies_match(&rig.sim) > 0);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_failing_in_the_middle_is_reported_per_item() {
    for flavour in FLAVOURS {
        // One batch in flight at a time, so the script hits the third batch.
        let rig = rig(flavour, |v| {
            v.insert("sync_batch_size".into(), "10".into());
            v.insert("sync_concurrency".into(), "1".into());
        })
        .await;
        let pass = |times| ScriptedResponse {
            method: Some("POST".into()),
            path_prefix: Some("/V1/inventory".into()),
            status: 200,
            headers: BTreeMap::new(),
            body: Some(json!([])),
            times,
        };
        // A 503 to a POST is final (ACCS may have acted); a 400 would be
        // split instead (tests/magento.rs).
        let mut fail = pass(1);
        fail.status = 503;
        fail.body = None;
        rig.sim.set_faults(Faults {
            script: vec![pass(2), fail],
            ..Default::default()
        });
        let a = rig
            .send(with_body("POST", "/v1/inventory/source-items", &items(50)))
            .await;
        assert_eq!(a.status, 207, "{flavour:?}: {}", a.body);
        assert_eq!(
            a.body["summary"],
            json!({"items": 50, "ok": 40, "failed": 10, "failed_batches": 1})
        );
        for r in a.body["results"].as_array().unwrap() {
            let i = r["index"].as_u64().unwrap();
            let want = if (20..30).contains(&i) {
                "failed"
            } else {
                "ok"
            };
            assert_eq!(r["result"], want, "{flavour:?} item {i}");
            if want == "failed" {
                assert_eq!(r["error"], "accs_unavailable");
                assert_eq!(r["batch"], 2);
            }
        }
        let e = &a.body["errors"][0];
        assert_eq!(
            (e["batch"].as_u64(), e["status"].as_u64()),
            (Some(2), Some(502))
        );
        assert_eq!(e["detail"], "ACCS answered 503");
        // Every body sent to ACCS is one Adobe's schema takes.
        assert!(common::accs_contract::assert_outbound_bodies_match(&rig.sim) > 0);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_item_sends_nothing() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let mut body = items(1_000);
        body["sourceItems"][17]["quantity"] = json!(-3);
        body["sourceItems"][998]["status"] = json!("yes");
        let a = rig
            .send(with_body("POST", "/v1/inventory/source-items", &body))
            .await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (400, Some("invalid_request"))
        );
        let idx: Vec<u64> = a.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["index"].as_u64().unwrap())
            .collect();
        assert_eq!(idx, [17, 998]);
        assert_eq!(rig.upstream_calls(), 0);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_list_filter_and_read() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let all = rig.get("/v1/orders?page_size=100", Some(API_KEY)).await;
        assert_eq!(all.status, 200, "{flavour:?}: {}", all.body);
        let total = all.body["total_count"].as_u64().unwrap();
        assert!(total >= 30);
        let pending = rig
            .get(
                "/v1/orders?status=pending&page_size=100&sort=entity_id:desc",
                Some(API_KEY),
            )
            .await;
        let items = pending.body["items"].as_array().unwrap();
        assert!(!items.is_empty() && (items.len() as u64) < total);
        assert!(items.iter().all(|o| o["status"] == "pending"));
        assert!(
            items
                .windows(2)
                .all(|w| w[0]["entity_id"].as_u64() > w[1]["entity_id"].as_u64())
        );
        let recent = rig
            .get(
                "/v1/orders?created_since=2025-06-01&page_size=100",
                Some(API_KEY),
            )
            .await;
        let n = recent.body["total_count"].as_u64().unwrap();
        assert!(n > 0 && n < total, "{n} of {total}");

        let id = items[0]["entity_id"].as_u64().unwrap();
        let one = rig.get(&format!("/v1/orders/{id}"), Some(API_KEY)).await;
        assert_eq!(
            (one.status, one.body["entity_id"].as_u64()),
            (200, Some(id))
        );
        let missing = rig.get("/v1/orders/999999", Some(API_KEY)).await;
        assert_eq!(
            (missing.status, missing.body["code"].as_str()),
            (404, Some("accs_error"))
        );
        let before = rig.sim.counters().accs_requests;
        let bad = rig.get("/v1/orders/12abc", Some(API_KEY)).await;
        assert_eq!(bad.status, 400);
        assert_eq!(rig.sim.counters().accs_requests, before);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn passthrough_forwards_only_what_the_allow_list_names() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |v| {
            v.insert(
                "passthrough_allow".into(),
                "GET /V1/categories/*, GET /V1/categories".into(),
            );
        })
        .await;
        let a = rig
            .get("/v1/accs/V1/categories/2?fields=id,name", Some(API_KEY))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        assert_eq!(a.body["id"], 2);
        let sent = rig.sim.requests().pop().unwrap();
        assert_eq!(sent.raw_path, "/tenantT1/V1/categories/2");
        assert_eq!(sent.raw_query.as_deref(), Some("fields=id,name"));
        assert_eq!(
            rig.get("/v1/accs/V1/categories", Some(API_KEY))
                .await
                .status,
            200
        );

        let before = rig.sim.counters().accs_requests;
        for (method, path, status) in [
            ("GET", "/v1/accs/V1/products", 403),
            ("DELETE", "/v1/accs/V1/categories/2", 403),
            ("GET", "/v1/accs/V1/categories/2/children", 403),
            ("GET", "/v1/accs/rest/V1/categories/2", 403),
            ("GET", "/v1/accs/V1/categories/..", 400),
            ("GET", "/v1/accs/V1/categories/%2e%2e", 400),
            // An encoded `/` separates segments: four of them, not allowed.
            ("GET", "/v1/accs/V1/categories/a%2Fb", 403),
            ("GET", "/v1/accs/V1/categories/a%252Fb", 400),
            ("GET", "/v1/accs/V1/categories%2F..", 400),
            ("GET", "/v1/accs/V1/categories/x@evil.example", 400),
        ] {
            let a = rig
                .send(common::rig::request(method, path, Some(API_KEY)))
                .await;
            assert_eq!(a.status, status, "{flavour:?} {method} {path}: {}", a.body);
        }
        assert_eq!(
            rig.sim.counters().accs_requests,
            before,
            "nothing left for a refused path"
        );
        assert_eq!(rig.get("/v1/accs/V1/categories/2", None).await.status, 401);
        rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_the_routes_cap_are_413() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        // 1 MiB for a product, 4 MiB for a sync (10,000 realistic items).
        for (method, path, cap) in [
            ("PUT", "/v1/products/SKU-0001", 1024 * 1024),
            ("POST", "/v1/inventory/source-items", 4 * 1024 * 1024),
        ] {
            let big = Bytes::from(vec![b' '; cap + 1]);
            let req = http::Request::builder()
                .method(method)
                .uri(format!("http://localhost{path}"))
                .header("authorization", format!("Bearer {API_KEY}"))
                .header("x-request-id", "big-1")
                .body(big)
                .unwrap();
            let a = rig.send(req).await;
            assert_eq!(
                (a.status, a.body["code"].as_str()),
                (413, Some("payload_too_large")),
                "{flavour:?} {path}"
            );
            assert!(
                a.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&cap.to_string())
            );
            assert_eq!(a.headers["x-request-id"], "big-1", "echoed on a 413 too");
        }
        assert_eq!(rig.sim.counters().accs_requests, 0);
        rig.finish();
    }
}

/// Issue 31 item 6: the edge takes what ACCS takes. Magento reads a numeric
/// string as a number (`TypeProcessor::setType`: `is_numeric`, then
/// `settype`) and `null` as not given, so `"12.5"` reaches ACCS as sent and
/// ACCS saves it; `"12,5"`, `"cheap"` and an object it refuses, so the edge
/// names the field and sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_numeric_string_price_reaches_accs_as_sent_and_a_non_number_is_400() {
    for flavour in FLAVOURS {
        let rig = rig(flavour, |_| {}).await;
        let body = json!({"product": {"price": "12.5", "status": "1", "weight": null}});
        let a = rig
            .send(with_body("PUT", "/v1/products/SKU-0001", &body))
            .await;
        assert_eq!(a.status, 200, "{flavour:?}: {}", a.body);
        let sent = rig.sim.requests().pop().unwrap();
        assert_eq!(sent.method, "PUT");
        let sent: Value = serde_json::from_str(&sent.body).unwrap();
        assert_eq!(sent["product"]["price"], "12.5", "forwarded as sent");
        assert_eq!(sent["product"]["status"], "1");

        let before = rig.sim.counters().accs_requests;
        for bad in [json!("12,5"), json!("cheap"), json!({})] {
            let body = json!({"product": {"name": "x", "price": bad}});
            let a = rig
                .send(with_body("PUT", "/v1/products/SKU-0001", &body))
                .await;
            assert_eq!(a.status, 400, "{flavour:?} {bad}: {}", a.body);
            assert_eq!(a.body["errors"][0]["field"], "price", "{}", a.body);
            assert!(
                a.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("`product.price`")
            );
        }
        assert_eq!(rig.sim.counters().accs_requests, before, "nothing sent");
        rig.finish();
    }
}
