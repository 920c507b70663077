//! Magento's input processor as the simulator applies it (src/contract/input.rs):
//! the answers Magento's own tests expect, and nothing kept of a refused call.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{accs, client, sim, token};

async fn send(
    sim: &accs_sim::Sim,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let resp = accs(sim, method, path, token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn not_supported(field: &str) -> Value {
    json!({
        "message": "\"%fieldName\" is not supported. Correct the field name and try again.",
        "parameters": { "fieldName": field },
    })
}

#[tokio::test]
async fn an_unknown_product_field_is_refused_by_its_property_name_and_nothing_is_saved() {
    let sim = sim().await;
    let token = token(&sim).await;
    let before = sim.product("SKU-0002").unwrap();
    for (product, field) in [
        (json!({ "name": "x", "colour": "red" }), "Colour"),
        (json!({ "sale_price": 1 }), "SalePrice"),
        (json!({ "extension_attributes": { "stock": 1 } }), "Stock"),
        (
            json!({ "extension_attributes": { "category_links": [{ "category_id": "3", "rank": 1 }] } }),
            "Rank",
        ),
    ] {
        let (status, body) = send(
            &sim,
            Method::PUT,
            "/V1/products/SKU-0002",
            &token,
            json!({ "product": product }),
        )
        .await;
        assert_eq!((status, body), (400, not_supported(field)), "{product}");
    }
    assert_eq!(sim.product("SKU-0002").unwrap(), before);
    // camelCase names the same property, as Magento reads them.
    let body = json!({ "product": { "attributeSetId": 4, "name": "Renamed" } });
    assert_eq!(
        send(&sim, Method::PUT, "/V1/products/SKU-0002", &token, body)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_refused_as_inventory_apis_tests_expect() {
    let sim = sim().await;
    let token = token(&sim).await;
    let item = |field: &str, value: Value| {
        let mut item =
            json!({ "sku": "SKU-1", "source_code": "default", "quantity": 1.5, "status": 1 });
        item[field] = value;
        json!({ "sourceItems": [item] })
    };
    for (field, value, shown, php) in [
        ("quantity", json!(""), "", "float"),
        ("quantity", json!("test"), "test", "float"),
        ("source_code", json!([]), "array", "string"),
        ("status", json!(true), "1", "int"),
    ] {
        let (status, body) = send(
            &sim,
            Method::POST,
            "/V1/inventory/source-items",
            &token,
            item(field, value),
        )
        .await;
        let message = format!(
            "Error occurred during \"{field}\" processing. The \"{shown}\" value's type is invalid. \
             The \"{php}\" type was expected. Verify and try again."
        );
        assert_eq!(
            (status, body),
            (400, json!({ "message": message })),
            "{field}"
        );
    }
    assert!(sim.inventory_receipts().is_empty());
    let (status, body) = send(
        &sim,
        Method::POST,
        "/V1/inventory/source-items",
        &token,
        json!({ "sourceItems": [{ "sku": "SKU-1", "qty": 1 }] }),
    )
    .await;
    assert_eq!((status, body), (400, not_supported("Qty")));
}

#[tokio::test]
async fn a_path_parameter_of_the_wrong_type_is_refused_unwrapped() {
    let sim = sim().await;
    let token = token(&sim).await;
    let resp = accs(&sim, Method::GET, "/V1/orders/abc", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "message": "The \"abc\" value's type is invalid. The \"int\" type was expected. Verify and try again." })
    );
}

#[tokio::test]
async fn the_acl_check_comes_before_the_input_processor() {
    let sim = sim().await;
    let resp = client()
        .put(format!("{}/V1/products/SKU-0002", sim.accs_base_url()))
        .json(&json!({ "product": { "colour": "red" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
