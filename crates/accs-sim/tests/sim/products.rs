use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{accs, get_json, sim, token};

/// Each odd SKU with the component's encoding of it.
const ODD: [(&str, &str); 6] = [
    ("a/b c", "a%2Fb%20c"),
    ("100%", "100%25"),
    ("x+y", "x%2By"),
    ("café-ü", "caf%C3%A9-%C3%BC"),
    ("tab?&#", "tab%3F%26%23"),
    ("dot.sku", "dot.sku"),
];

#[tokio::test]
async fn odd_skus_resolve_and_raw_path_keeps_encoding() {
    let sim = sim().await;
    let token = token(&sim).await;
    for (sku, encoded) in ODD {
        let (status, body) = get_json(&sim, &format!("/V1/products/{encoded}"), &token).await;
        assert_eq!(status, 200, "{sku}");
        assert_eq!(body["sku"], sku);
        let recorded = sim.requests().pop().unwrap();
        assert_eq!(
            recorded.raw_path,
            format!("/tenant-sim/V1/products/{encoded}")
        );
        assert_eq!(recorded.route, "GET /V1/products/{sku}");
    }
    assert_eq!(sim.counters().by_route["GET /V1/products/{sku}"], 6);

    // An unencoded slash is two segments: no such route.
    let (status, body) = get_json(&sim, "/V1/products/a/b%20c", &token).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Request does not match any route.");

    let (status, body) = get_json(&sim, "/V1/products/NOPE", &token).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "The product that was requested doesn't exist. Verify the product and try again."
    );
}

fn skus(body: &Value) -> Vec<&str> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn search_criteria_filter_sort_and_page() {
    let sim = sim().await;
    let token = token(&sim).await;

    // Group 0 ORs two likes; group 1 ANDs a price bound; sorted by price descending.
    let q = "?searchCriteria[filter_groups][0][filters][0][field]=sku\
             &searchCriteria[filter_groups][0][filters][0][value]=SKU-000%25\
             &searchCriteria[filter_groups][0][filters][0][condition_type]=like\
             &searchCriteria[filter_groups][0][filters][1][field]=sku\
             &searchCriteria[filter_groups][0][filters][1][value]=sku-001%25\
             &searchCriteria[filter_groups][0][filters][1][condition_type]=like\
             &searchCriteria[filter_groups][1][filters][0][field]=price\
             &searchCriteria[filter_groups][1][filters][0][value]=100\
             &searchCriteria[filter_groups][1][filters][0][condition_type]=gt\
             &searchCriteria[sortOrders][0][field]=price\
             &searchCriteria[sortOrders][0][direction]=DESC";
    let (status, body) = get_json(&sim, &format!("/V1/products{q}"), &token).await;
    assert_eq!(status, 200);
    let prices: Vec<f64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price"].as_f64().unwrap())
        .collect();
    assert!(!prices.is_empty());
    assert!(prices.iter().all(|p| *p > 100.0));
    assert!(prices.windows(2).all(|w| w[0] >= w[1]), "{prices:?}");
    assert!(
        skus(&body)
            .iter()
            .all(|s| s.starts_with("SKU-000") || s.starts_with("SKU-001"))
    );
    assert_eq!(body["total_count"], prices.len());
    assert_eq!(
        body["search_criteria"]["filter_groups"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        body["search_criteria"]["sort_orders"],
        json!([{ "field": "price", "direction": "DESC" }])
    );

    // `in` plus paging: three of four on page 1, the fourth on page 2.
    let q = "?searchCriteria[filter_groups][0][filters][0][field]=sku\
             &searchCriteria[filter_groups][0][filters][0][value]=SKU-0004,SKU-0001,x%2By,SKU-0003\
             &searchCriteria[filter_groups][0][filters][0][condition_type]=in\
             &searchCriteria[sortOrders][0][field]=sku\
             &searchCriteria[pageSize]=3";
    let (_, page1) = get_json(
        &sim,
        &format!("/V1/products{q}&searchCriteria[currentPage]=1"),
        &token,
    )
    .await;
    assert_eq!(skus(&page1), ["SKU-0001", "SKU-0003", "SKU-0004"]);
    assert_eq!(page1["total_count"], 4);
    assert_eq!(page1["search_criteria"]["page_size"], 3);
    let (_, page2) = get_json(
        &sim,
        &format!("/V1/products{q}&searchCriteria[currentPage]=2"),
        &token,
    )
    .await;
    assert_eq!(skus(&page2), ["x+y"]);
    // Past the end Magento answers the last page again.
    let (_, page9) = get_json(
        &sim,
        &format!("/V1/products{q}&searchCriteria[currentPage]=9"),
        &token,
    )
    .await;
    assert_eq!(skus(&page9), ["x+y"]);

    // Custom attributes are searchable; everything listed without criteria.
    let q = "?searchCriteria[filter_groups][0][filters][0][field]=category_ids\
             &searchCriteria[filter_groups][0][filters][0][value]=4\
             &searchCriteria[filter_groups][0][filters][0][condition_type]=finset";
    let (_, body) = get_json(&sim, &format!("/V1/products{q}"), &token).await;
    assert!(body["total_count"].as_u64().unwrap() > 10);
    let (_, all) = get_json(&sim, "/V1/products", &token).await;
    assert_eq!(all["total_count"], 56);
    assert_eq!(all["search_criteria"], json!({ "filter_groups": [] }));

    let bad = "?searchCriteria[filter_groups][0][filters][0][field]=sku\
               &searchCriteria[filter_groups][0][filters][0][condition_type]=bogus";
    assert_eq!(
        get_json(&sim, &format!("/V1/products{bad}"), &token)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn put_upserts_and_reset_restores_seed() {
    let sim = sim().await;
    let token = token(&sim).await;
    let resp = accs(&sim, Method::PUT, "/V1/products/a%2Fb%20c", &token)
        .json(&json!({ "product": { "sku": "ignored", "name": "Renamed", "price": 1.5 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["sku"].as_str(), body["name"].as_str()),
        (Some("a/b c"), Some("Renamed"))
    );
    assert_eq!(sim.product("a/b c").unwrap()["price"], 1.5);

    let resp = accs(&sim, Method::PUT, "/V1/products/NEW-1", &token)
        .json(&json!({ "product": { "name": "New", "price": 9 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        get_json(&sim, "/V1/products/NEW-1", &token).await.1["name"],
        "New"
    );

    for bad in ["not json", "{\"nope\":1}"] {
        let resp = accs(&sim, Method::PUT, "/V1/products/NEW-2", &token)
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
    }

    sim.reset();
    assert!(sim.product("NEW-1").is_none());
    assert_eq!(sim.product("a/b c").unwrap()["name"], "Sim Product 0051");
    assert_eq!(sim.requests().len(), 0);
}

/// Magento keeps the custom attributes a PUT leaves out and replaces the
/// ones it names, by `attribute_code` (`ProductRepository::save`).
#[tokio::test]
async fn put_merges_custom_attributes_by_code() {
    let sim = sim().await;
    let token = token(&sim).await;
    let put = |attributes: Value| {
        accs(&sim, Method::PUT, "/V1/products/SKU-0001", &token)
            .json(&json!({ "product": { "custom_attributes": attributes } }))
            .send()
    };
    let resp = put(json!([
        {"attribute_code": "description", "value": "first"},
        {"attribute_code": "color", "value": "49"},
    ]))
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = put(json!([{"attribute_code": "description", "value": "second"}]))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let stored = sim.product("SKU-0001").unwrap();
    let value = |code: &str| {
        stored["custom_attributes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["attribute_code"] == code)
            .map(|a| a["value"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(value("description"), [json!("second")], "replaced, once");
    assert_eq!(value("color"), [json!("49")], "kept");
}

#[tokio::test]
async fn orders_and_categories() {
    let sim = sim().await;
    let token = token(&sim).await;
    let q = "?searchCriteria[filter_groups][0][filters][0][field]=status\
             &searchCriteria[filter_groups][0][filters][0][value]=complete";
    let (status, body) = get_json(&sim, &format!("/V1/orders{q}"), &token).await;
    assert_eq!(status, 200);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert!(items.iter().all(|o| o["status"] == "complete"));

    let (status, order) = get_json(&sim, "/V1/orders/7", &token).await;
    assert_eq!(status, 200);
    assert_eq!(order["increment_id"], "000000007");
    assert!(!order["items"].as_array().unwrap().is_empty());
    assert_eq!(get_json(&sim, "/V1/orders/999", &token).await.0, 404);

    let (status, tree) = get_json(&sim, "/V1/categories", &token).await;
    assert_eq!(status, 200);
    assert_eq!(tree["id"], 2);
    assert!(!tree["children_data"].as_array().unwrap().is_empty());
    let (status, cat) = get_json(&sim, "/V1/categories/4", &token).await;
    assert_eq!(status, 200);
    assert_eq!(cat["path"], "1/2/3/4");
    assert_eq!(get_json(&sim, "/V1/categories/99", &token).await.0, 404);
}

/// Magento compares SKUs without case (`catalog_product_entity.sku` under a
/// `_ci` collation): a read, a search and an update in another case all
/// reach the stored product, which keeps its SKU as first saved.
#[tokio::test]
async fn skus_are_compared_without_case() {
    let sim = sim().await;
    let token = token(&sim).await;
    let (status, body) = get_json(&sim, "/V1/products/sku-0001", &token).await;
    assert_eq!((status, body["sku"].as_str()), (200, Some("SKU-0001")));
    let (status, body) = get_json(
        &sim,
        "/V1/products?searchCriteria[filterGroups][0][filters][0][field]=sku\
         &searchCriteria[filterGroups][0][filters][0][value]=sku-0002",
        &token,
    )
    .await;
    assert_eq!((status, skus(&body)), (200, vec!["SKU-0002"]));
    let resp = accs(&sim, Method::PUT, "/V1/products/Sku-0003", &token)
        .json(&json!({ "product": { "name": "Cased" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let stored = sim.product("SKU-0003").unwrap();
    assert_eq!(
        (stored["sku"].as_str(), stored["name"].as_str()),
        (Some("SKU-0003"), Some("Cased")),
        "an update of the stored product, not a new one"
    );
}

/// `ProductRepository::save` validates a new product before it saves it: a
/// required attribute left out is refused with Magento's phrase and the
/// attribute's label, nothing saved; an update needs neither.
#[tokio::test]
async fn a_new_product_without_a_required_attribute_is_refused() {
    let sim = sim().await;
    let token = token(&sim).await;
    for (body, label) in [
        (json!({ "product": { "price": 3 } }), "Product Name"),
        (
            json!({ "product": { "name": "New", "price": null } }),
            "Price",
        ),
        (
            json!({ "product": { "name": "", "price": 3 } }),
            "Product Name",
        ),
    ] {
        let resp = accs(&sim, Method::PUT, "/V1/products/NEW-9", &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(
            answer,
            json!({
                "message": "The \"%1\" attribute value is empty. Set the attribute and try again.",
                "parameters": [label],
            }),
            "{body}"
        );
        assert!(sim.product("NEW-9").is_none());
    }
    let resp = accs(&sim, Method::PUT, "/V1/products/SKU-0004", &token)
        .json(&json!({ "product": { "price": 4 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "an update names what it changes only");
}
