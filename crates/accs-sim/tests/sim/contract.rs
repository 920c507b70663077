//! Every answer of every modelled endpoint, success and error alike, against
//! Adobe's ACCS schema (`accs_sim::contract::check_response`, objects closed).

use std::collections::BTreeSet;

use accs_sim::contract::{OPERATIONS, check_response, operation_of};
use accs_sim::{Faults, SaveFailure, Sim};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{SECRET, accs, client, sim, token, token_response};

/// One call: the route label it must land on, and what it sends.
struct Case {
    label: &'static str,
    path: String,
    body: Option<Value>,
    token: Token,
    status: u16,
}

#[derive(Clone, Copy)]
enum Token {
    Good,
    /// A valid token without the scope ACCS requires: the gateway's 403.
    NoScope,
    None,
}

fn case(label: &'static str, path: &str, status: u16) -> Case {
    Case {
        label,
        path: path.to_owned(),
        body: None,
        token: Token::Good,
        status,
    }
}

fn with_body(mut c: Case, body: Value) -> Case {
    c.body = Some(body);
    c
}

fn with_token(mut c: Case, token: Token) -> Case {
    c.token = token;
    c
}

const SEARCH: &str = "searchCriteria[filter_groups][0][filters][0][field]=sku\
    &searchCriteria[filter_groups][0][filters][0][value]=SKU-000%25\
    &searchCriteria[filter_groups][0][filters][0][condition_type]=like\
    &searchCriteria[sortOrders][0][field]=price&searchCriteria[pageSize]=3";

fn cases() -> Vec<Case> {
    let item = |q: Value| json!({ "sku": "SKU-0001", "source_code": "default", "quantity": q, "status": 1 });
    vec![
        case("GET /V1/products", &format!("/V1/products?{SEARCH}"), 200),
        case("GET /V1/products", "/V1/products", 200),
        case(
            "GET /V1/products",
            "/V1/products?searchCriteria[filter_groups][0][filters][0][field]=sku\
             &searchCriteria[filter_groups][0][filters][0][condition_type]=bogus",
            400,
        ),
        with_token(case("GET /V1/products", "/V1/products", 401), Token::None),
        with_token(
            case("GET /V1/products", "/V1/products", 403),
            Token::NoScope,
        ),
        case("GET /V1/products/{sku}", "/V1/products/SKU-0001", 200),
        case("GET /V1/products/{sku}", "/V1/products/a%2Fb%20c", 200),
        case("GET /V1/products/{sku}", "/V1/products/NOPE", 404),
        with_token(
            case("GET /V1/products/{sku}", "/V1/products/SKU-0001", 401),
            Token::None,
        ),
        with_body(
            case("PUT /V1/products/{sku}", "/V1/products/SKU-0002", 200),
            json!({ "product": { "name": "Renamed", "price": 12.5,
                "custom_attributes": [{ "attribute_code": "color", "value": "50" }] } }),
        ),
        with_body(
            case("PUT /V1/products/{sku}", "/V1/products/NEW-1", 200),
            json!({ "product": { "sku": "NEW-1", "name": "New", "price": 5, "attribute_set_id": 4 } }),
        ),
        // A new product without a required attribute (`save.rs`).
        with_body(
            case("PUT /V1/products/{sku}", "/V1/products/NEW-2", 400),
            json!({ "product": { "sku": "NEW-2", "name": "New" } }),
        ),
        with_body(
            case("PUT /V1/products/{sku}", "/V1/products/SKU-0002", 400),
            json!({ "product": { "colour": "red" } }),
        ),
        with_body(
            case("PUT /V1/products/{sku}", "/V1/products/SKU-0002", 400),
            json!({ "product": { "price": "cheap" } }),
        ),
        with_body(
            case("PUT /V1/products/{sku}", "/V1/products/SKU-0002", 400),
            json!({}),
        ),
        with_body(
            case(
                "POST /V1/inventory/source-items",
                "/V1/inventory/source-items",
                200,
            ),
            json!({ "sourceItems": [item(json!(5))] }),
        ),
        with_body(
            case(
                "POST /V1/inventory/source-items",
                "/V1/inventory/source-items",
                400,
            ),
            json!({ "sourceItems": [] }),
        ),
        with_body(
            case(
                "POST /V1/inventory/source-items",
                "/V1/inventory/source-items",
                400,
            ),
            json!({ "sourceItems": [item(json!(-1))] }),
        ),
        with_body(
            case(
                "POST /V1/inventory/source-items",
                "/V1/inventory/source-items",
                400,
            ),
            json!({ "sourceItems": [{ "sku": "SKU-0001", "source_code": "nowhere", "quantity": 1, "status": 1 }] }),
        ),
        with_body(
            case(
                "POST /V1/inventory/source-items",
                "/V1/inventory/source-items",
                400,
            ),
            json!({ "sourceItems": [item(json!(""))] }),
        ),
        with_token(
            with_body(
                case(
                    "POST /V1/inventory/source-items",
                    "/V1/inventory/source-items",
                    401,
                ),
                json!({ "sourceItems": [item(json!(1))] }),
            ),
            Token::None,
        ),
        case(
            "GET /V1/orders",
            "/V1/orders?searchCriteria[pageSize]=2",
            200,
        ),
        case(
            "GET /V1/orders",
            "/V1/orders?searchCriteria[pageSize]=x",
            400,
        ),
        case("GET /V1/orders/{id}", "/V1/orders/1", 200),
        case("GET /V1/orders/{id}", "/V1/orders/999", 404),
        case("GET /V1/orders/{id}", "/V1/orders/abc", 400),
        case("GET /V1/categories", "/V1/categories", 200),
        case("GET /V1/categories", "/V1/categories?rootCategoryId=3", 200),
        case(
            "GET /V1/categories",
            "/V1/categories?rootCategoryId=999",
            404,
        ),
        case("GET /V1/categories", "/V1/categories?rootCategoryId=x", 400),
        case("GET /V1/categories/{id}", "/V1/categories/3", 200),
        case("GET /V1/categories/{id}", "/V1/categories/999", 404),
        with_token(
            case("GET /V1/categories/{id}", "/V1/categories/3", 401),
            Token::None,
        ),
        with_body(
            case("POST /V1/async/bulk/products", BULK, 202),
            json!([bulk_item("BULK-OK"), bulk_item(FAILING)]),
        ),
        with_body(
            case("POST /V1/async/bulk/products", BULK, 400),
            json!([bulk_item("BULK-OK"), { "product": { "sku": "B", "colour": "red" } }]),
        ),
        with_body(
            case("POST /V1/async/bulk/products", BULK, 400),
            json!([{ "product": { "sku": "B", "price": "cheap" } }]),
        ),
        with_token(
            with_body(
                case("POST /V1/async/bulk/products", BULK, 401),
                json!([bulk_item("BULK-OK")]),
            ),
            Token::None,
        ),
        // `LAST_BULK` is the bulk the 202 above accepted: one complete
        // operation (no `serialized_data`, `error_code` null) and one failed
        // (no `result_serialized_data`).
        case(
            "GET /V1/bulk/{uuid}/detailed-status",
            "/V1/bulk/LAST_BULK/detailed-status",
            200,
        ),
        case(
            "GET /V1/bulk/{uuid}/detailed-status",
            &format!("/V1/bulk/{UNKNOWN_BULK}/detailed-status"),
            404,
        ),
        with_token(
            case(
                "GET /V1/bulk/{uuid}/detailed-status",
                "/V1/bulk/LAST_BULK/detailed-status",
                401,
            ),
            Token::None,
        ),
        case(
            "GET /V1/bulk/{uuid}/status",
            "/V1/bulk/LAST_BULK/status",
            200,
        ),
        case(
            "GET /V1/bulk/{uuid}/status",
            &format!("/V1/bulk/{UNKNOWN_BULK}/status"),
            404,
        ),
        case(
            "GET /V1/bulk/{uuid}/operation-status/{status}",
            "/V1/bulk/LAST_BULK/operation-status/1",
            200,
        ),
        case(
            "GET /V1/bulk/{uuid}/operation-status/{status}",
            "/V1/bulk/LAST_BULK/operation-status/one",
            400,
        ),
    ]
}

const BULK: &str = "/V1/async/bulk/products";
const UNKNOWN_BULK: &str = "00000000-0000-4000-8000-000000000000";
/// A SKU whose saves fail, so the bulk sweep sees a failed operation too.
const FAILING: &str = "BULK-FAILS";

fn bulk_item(sku: &str) -> Value {
    json!({ "product": { "sku": sku, "name": "Bulk", "price": 3 } })
}

async fn send(sim: &Sim, c: &Case, good: &str, no_scope: &str) -> (u16, Vec<u8>) {
    let (method, _) = operation_of(c.label).expect("a modelled label");
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let last_bulk = sim.bulks().last().map(|b| b.bulk_uuid.clone());
    let path = match last_bulk {
        Some(uuid) => c.path.replace("LAST_BULK", &uuid),
        None => c.path.clone(),
    };

    let req = match c.token {
        Token::Good => accs(sim, method, &path, good),
        Token::NoScope => accs(sim, method, &path, no_scope),
        Token::None => client().request(method, format!("{}{path}", sim.accs_base_url())),
    };
    let req = match &c.body {
        Some(b) => req.json(b),
        None => req,
    };
    let resp = req.send().await.expect("accs request");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn every_answer_of_every_modelled_endpoint_is_what_the_schema_says() {
    let sim = sim().await;
    let good = token(&sim).await;
    let resp = token_response(&sim, SECRET, "openid").await;
    let no_scope: Value = resp.json().await.unwrap();
    let no_scope = no_scope["access_token"].as_str().unwrap().to_owned();
    sim.set_faults(Faults {
        save_failures: vec![SaveFailure {
            sku: FAILING.into(),
            message: "Could not save product".into(),
            retriable: false,
        }],
        ..Faults::default()
    });
    let mut seen = BTreeSet::new();
    for c in cases() {
        let (status, body) = send(&sim, &c, &good, &no_scope).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, c.status, "{} {}: {text}", c.label, c.path);
        let recorded = sim.requests().last().unwrap().route.clone();
        assert_eq!(recorded, c.label, "{}", c.path);
        let (method, path) = operation_of(c.label).unwrap();
        if let Err(why) = check_response(method, path, status, &body) {
            panic!("{} -> {status}: {why}\n{text}", c.path);
        }
        seen.insert((c.label, status < 300));
    }
    for (label, _) in OPERATIONS {
        for success in [true, false] {
            assert!(
                seen.contains(&(label, success)),
                "{label}: no {} answer was checked",
                if success { "success" } else { "error" }
            );
        }
    }
}
