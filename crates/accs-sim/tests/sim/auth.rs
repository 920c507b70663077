use std::time::Duration;

use accs_sim::{Sim, SimConfig};
use reqwest::Method;
use serde_json::Value;

use crate::common::{SECRET, accs, client, get_json, sim, token, token_response};

const PRODUCT: &str = "/V1/products/SKU-0001";

fn assert_magento_401(body: &Value) {
    assert_eq!(
        body["message"],
        "The consumer isn't authorized to access %resources."
    );
    assert_eq!(body["parameters"]["resources"], "Magento_Catalog::products");
}

#[tokio::test]
async fn valid_token_and_api_key_are_required() {
    let sim = sim().await;
    let url = format!("{}{PRODUCT}", sim.accs_base_url());

    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_magento_401(&resp.json().await.unwrap());

    let token = token(&sim).await;
    let resp = client()
        .get(&url)
        .bearer_auth(&token)
        .header("x-api-key", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let resp = client()
        .get(&url)
        .bearer_auth("eyJforged")
        .header("x-api-key", "sim-client")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let (status, body) = get_json(&sim, PRODUCT, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["sku"], "SKU-0001");

    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 401, 200]);
    let last = sim.requests().pop().unwrap();
    assert_eq!(last.headers["store"], "default");
    assert_eq!(last.headers["authorization"], format!("Bearer {token}"));
}

#[tokio::test]
async fn revoked_tokens_stay_revoked_across_a_reset() {
    let sim = sim().await;
    let old = token(&sim).await;
    sim.revoke_tokens();
    let (status, body) = get_json(&sim, PRODUCT, &old).await;
    assert_eq!(status, 401);
    assert_magento_401(&body);

    let fresh = token(&sim).await;
    assert_eq!(get_json(&sim, PRODUCT, &fresh).await.0, 200);

    sim.reset();
    assert_eq!(get_json(&sim, PRODUCT, &old).await.0, 401);
    assert_eq!(get_json(&sim, PRODUCT, &fresh).await.0, 200);
}

#[tokio::test]
async fn missing_scope_is_forbidden() {
    let sim = sim().await;
    let resp = token_response(&sim, SECRET, "openid,AdobeID").await;
    let body: Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let (status, body) = get_json(&sim, PRODUCT, token).await;
    assert_eq!(status, 403);
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn tokens_expire() {
    let cfg = SimConfig {
        expires_in: Some(1),
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let token = token(&sim).await;
    assert_eq!(get_json(&sim, PRODUCT, &token).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get_json(&sim, PRODUCT, &token).await.0, 401);
}

#[tokio::test]
async fn wrong_tenant_and_unknown_routes_are_404() {
    let sim = sim().await;
    let token = token(&sim).await;
    let resp = client()
        .get(format!(
            "{}/other-tenant/V1/products/SKU-0001",
            sim.base_url()
        ))
        .bearer_auth(&token)
        .header("x-api-key", "sim-client")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let resp = accs(&sim, Method::DELETE, PRODUCT, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Request does not match any route.");
    assert_eq!(body["parameters"], serde_json::json!([]));
    assert_eq!(sim.counters().by_route["unmatched"], 2);
}

/// Like Magento, a role lacking one resource gets the ACL 401 naming it on that route
/// only; the same token works everywhere else.
#[tokio::test]
async fn a_denied_resource_is_magentos_401_on_its_routes_only() {
    use accs_sim::Faults;
    let sim = crate::common::sim().await;
    let token = crate::common::token(&sim).await;
    sim.set_faults(Faults {
        denied_resources: vec!["Magento_Sales::actions_view".into()],
        ..Faults::default()
    });
    let resp = crate::common::accs(&sim, reqwest::Method::GET, "/V1/orders/7", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "message": "The consumer isn't authorized to access %resources.",
            "parameters": { "resources": "Magento_Sales::actions_view" },
        })
    );
    let resp = crate::common::accs(&sim, reqwest::Method::GET, "/V1/products/SKU-0001", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
