//! Helpers shared by the integration tests.

use accs_sim::{Sim, SimConfig};
use reqwest::{Client, Response};
use serde_json::Value;
use url::form_urlencoded;

pub const SECRET: &str = "sim-secret-0123456789abcdef";

pub async fn sim() -> Sim {
    Sim::start(SimConfig::default()).await.expect("sim starts")
}

pub fn client() -> Client {
    Client::builder().no_proxy().build().expect("client")
}

/// A client-credentials form body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub async fn token_response(sim: &Sim, secret: &str, scope: &str) -> Response {
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &sim.config().client_id),
        ("client_secret", secret),
        ("scope", scope),
    ]);
    client()
        .post(sim.ims_token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token request")
}

pub async fn token(sim: &Sim) -> String {
    let resp = token_response(sim, SECRET, "openid,AdobeID,commerce.accs").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// An authenticated ACCS request; `path` is appended verbatim to the tenant base.
pub fn accs(
    sim: &Sim,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    client()
        .request(method, format!("{}{path}", sim.accs_base_url()))
        .bearer_auth(token)
        .header("x-api-key", &sim.config().client_id)
        .header("Store", "default")
}

pub async fn get_json(sim: &Sim, path: &str, token: &str) -> (u16, Value) {
    let resp = accs(sim, reqwest::Method::GET, path, token)
        .send()
        .await
        .expect("accs request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json body"))
}
