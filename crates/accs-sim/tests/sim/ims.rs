use accs_sim::{Sim, SimConfig};
use serde_json::Value;

use crate::common::{SECRET, client, form, sim, token_response};

#[tokio::test]
async fn issues_unique_tokens_and_records_without_secret() {
    let sim = sim().await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let resp = token_response(&sim, SECRET, "openid,commerce.accs").await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 86399);
        let token = body["access_token"].as_str().unwrap().to_owned();
        assert!(token.len() >= 40 && token.starts_with("eyJ"), "{token}");
        tokens.push(token);
    }
    assert_ne!(tokens[0], tokens[1]);

    let recorded = sim.token_requests();
    assert_eq!(recorded.len(), 2);
    assert_eq!(
        recorded[0].grant_type.as_deref(),
        Some("client_credentials")
    );
    assert_eq!(recorded[0].client_id.as_deref(), Some("sim-client"));
    assert_eq!(recorded[0].scopes, ["openid", "commerce.accs"]);
    assert_eq!(recorded[0].status, 200);
    let json = serde_json::to_string(&recorded).unwrap();
    assert!(!json.contains(SECRET), "secret leaked into {json}");
    assert_eq!(sim.counters().token_requests, 2);
    assert_eq!(sim.counters().token_failures, 0);
}

#[tokio::test]
async fn rejects_bad_client_grant_and_content_type() {
    let sim = sim().await;
    let resp = token_response(&sim, "wrong", "commerce.accs").await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_description"], "invalid client_secret parameter");

    let url = sim.ims_token_url();
    let other_client = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "nope"),
        ("client_secret", SECRET),
    ]);
    let resp = client()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(other_client)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_description"], "invalid client_id parameter");

    let wrong_grant = form(&[("grant_type", "password"), ("client_id", "sim-client")]);
    let resp = client()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(wrong_grant)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");

    let resp = client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let counters = sim.counters();
    assert_eq!((counters.token_requests, counters.token_failures), (4, 4));
    assert_eq!(
        sim.token_requests()[3].content_type.as_deref(),
        Some("application/json")
    );
}

#[tokio::test]
async fn accepts_any_configured_secret_and_can_omit_expires_in() {
    let cfg = SimConfig {
        client_secrets: vec!["old".into(), "new".into()],
        expires_in: None,
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg).await.unwrap();
    for secret in ["old", "new"] {
        let resp = token_response(&sim, secret, "commerce.accs").await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert!(body.get("expires_in").is_none(), "{body}");
    }
}
