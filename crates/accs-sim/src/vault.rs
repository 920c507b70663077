//! A HashiCorp Vault KV v2 read endpoint that counts reads per secret, so that
//! tests can count the variables a component reads under the real `spin up`.
//!
//! Spin's Vault variables provider (spinframework/spin v3.6.3 and v4.1,
//! `crates/variables-vault/src/lib.rs`) asks Vault on every variable lookup,
//! without caching: `vaultrs::kv2::read(client, mount, key)` with the key as the
//! path (no `prefix` configured), which is `GET {url}/v1/{mount}/data/{key}` with the
//! token in `X-Vault-Token` (vaultrs 0.7: `api/kv2/requests.rs` `ReadSecretRequest`,
//! `api.rs` `EndpointMiddleware`). The answer's shape is Vault's
//! (<https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version>):
//! the secret's fields under `data.data`, here `{"value": ...}` as the provider reads
//! it, and `data.metadata`; a missing secret is 404 `{"errors":[]}`, which the
//! provider takes for "not here, ask the next provider". A wrong token is 403
//! `{"errors":["permission denied"]}`, as Vault answers it.
//!
//! `GET /_vault/reads` answers the counts as JSON, for runs driven over HTTP.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// The token the fake Vault accepts.
pub const VAULT_TOKEN: &str = "accs-sim-vault-token";
/// The KV v2 mount it serves (Vault's dev server mounts KV v2 at `secret`).
pub const VAULT_MOUNT: &str = "secret";

#[derive(Default)]
pub(crate) struct Vault {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    secrets: BTreeMap<String, String>,
    reads: BTreeMap<String, u64>,
}

impl Vault {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_secrets(&self, secrets: BTreeMap<String, String>) {
        self.lock().secrets = secrets;
    }

    pub fn reads(&self) -> BTreeMap<String, u64> {
        self.lock().reads.clone()
    }

    pub fn reset_reads(&self) {
        self.lock().reads.clear();
    }
}

pub(crate) fn router(vault: Arc<Vault>) -> Router {
    Router::new()
        .route("/v1/{mount}/data/{*path}", get(read))
        .route("/_vault/reads", get(reads))
        .with_state(vault)
}

async fn read(
    State(vault): State<Arc<Vault>>,
    Path((mount, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let token_ok = headers
        .get("x-vault-token")
        .is_some_and(|t| t.as_bytes() == VAULT_TOKEN.as_bytes());
    if !token_ok {
        return errors(StatusCode::FORBIDDEN, &["permission denied"]);
    }
    if mount != VAULT_MOUNT {
        return errors(StatusCode::NOT_FOUND, &[]);
    }
    let mut inner = vault.lock();
    *inner.reads.entry(path.clone()).or_default() += 1;
    let Some(value) = inner.secrets.get(&path).cloned() else {
        return errors(StatusCode::NOT_FOUND, &[]);
    };
    drop(inner);
    axum::Json(json!({
        "request_id": "00000000-0000-0000-0000-000000000000",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": {
            "data": { "value": value },
            "metadata": {
                "created_time": "2026-01-01T00:00:00.000000Z",
                "custom_metadata": null,
                "deletion_time": "",
                "destroyed": false,
                "version": 1
            }
        },
        "wrap_info": null,
        "warnings": null,
        "auth": null
    }))
    .into_response()
}

async fn reads(State(vault): State<Arc<Vault>>) -> Response {
    axum::Json(vault.reads()).into_response()
}

fn errors(status: StatusCode, errors: &[&str]) -> Response {
    (status, axum::Json(json!({ "errors": errors }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::{VAULT_MOUNT, VAULT_TOKEN};
    use crate::{Sim, SimConfig};
    use std::collections::BTreeMap;

    /// The three answers Spin's provider tells apart, and what is counted.
    #[tokio::test]
    async fn reads_are_answered_as_vault_does_and_counted() {
        let sim = Sim::start(SimConfig::default()).await.unwrap();
        sim.set_vault_secrets(BTreeMap::from([("api_keys".into(), "k:v".into())]));
        let client = reqwest::Client::new();
        let get = |name: &str, token: &str| {
            client
                .get(format!("{}/v1/{VAULT_MOUNT}/data/{name}", sim.vault_url()))
                .header("x-vault-token", token)
                .send()
        };
        let r = get("api_keys", VAULT_TOKEN).await.unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["data"]["data"]["value"], "k:v");
        assert_eq!(v["data"]["metadata"]["version"], 1);
        assert_eq!(v["lease_id"], "");
        let r = get("allow_http", VAULT_TOKEN).await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.text().await.unwrap(), r#"{"errors":[]}"#);
        let r = get("api_keys", "wrong").await.unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(
            sim.vault_reads(),
            BTreeMap::from([("allow_http".into(), 1), ("api_keys".into(), 1)]),
            "a refused token reads nothing"
        );
        sim.reset();
        assert_eq!(sim.vault_reads(), BTreeMap::new());
    }
}
