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

/// `POST /ims/validate_token/v1` as aio-lib-ims sends it: valid until the
/// token is revoked; unknown tokens and other clients are not valid; an
/// outage is 503; every call is counted and recorded without the token.
#[tokio::test]
async fn validate_token_answers_valid_until_revoked_and_counts_every_call() {
    use crate::common::token;
    let sim = sim().await;
    let t = token(&sim).await;
    let url = format!("{}/ims/validate_token/v1", sim.base_url());
    let ask = |bearer: String, client_id: &'static str| {
        client()
            .post(&url)
            .bearer_auth(bearer)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("type", "access_token"), ("client_id", client_id)]))
            .send()
    };
    let valid = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["valid"].as_bool().unwrap()
    };
    assert!(valid(ask(t.clone(), "sim-client").await.unwrap()).await);
    assert!(!valid(ask("eyJunknown".into(), "sim-client").await.unwrap()).await);
    assert!(!valid(ask(t.clone(), "other-client").await.unwrap()).await);
    sim.revoke_tokens();
    assert!(!valid(ask(t.clone(), "sim-client").await.unwrap()).await);
    sim.set_faults(accs_sim::Faults {
        ims_outage: true,
        ..Default::default()
    });
    assert_eq!(ask(t.clone(), "sim-client").await.unwrap().status(), 503);
    assert_eq!(sim.counters().token_validations, 5);
    assert_eq!(
        sim.counters().token_requests,
        1,
        "validations are not token requests"
    );
    let recorded = sim.validations();
    assert_eq!(recorded[0].token_type.as_deref(), Some("access_token"));
    assert_eq!(recorded[0].client_id.as_deref(), Some("sim-client"));
    assert!(recorded[0].bearer);
    assert_eq!(recorded[4].status, 503);
    let json = serde_json::to_string(&recorded).unwrap();
    assert!(!json.contains(&t), "the token was recorded: {json}");
}
