//! The simulator's admin API (`/_admin/...`) and its IMS, as the benchmark
//! needs them: counters tell how many IMS and ACCS calls a phase made.

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
pub struct Counters {
    pub token_requests: u64,
    #[serde(default)]
    pub accs_requests: u64,
    #[serde(default)]
    pub by_route: BTreeMap<String, u64>,
}

pub struct Admin {
    pub http: reqwest::Client,
    pub base: String,
}

impl Admin {
    /// Clears counters, recordings and faults; issued tokens stay valid.
    /// Called before each phase so that the simulator's request log (kept in
    /// memory) does not grow across the whole run.
    pub async fn reset(&self) -> Result<()> {
        self.post("/_admin/reset", None).await
    }

    pub async fn set_latency(&self, accs_ms: u64, ims_ms: u64) -> Result<()> {
        let body = serde_json::json!({ "latency_ms": accs_ms, "ims_latency_ms": ims_ms });
        self.post("/_admin/faults", Some(body)).await
    }

    /// Every product save (`PUT /V1/products/{sku}` and each bulk
    /// operation) takes `save_ms`; nothing else is slowed.
    pub async fn set_product_save_latency(&self, save_ms: u64) -> Result<()> {
        let body = serde_json::json!({ "product_save_latency_ms": save_ms });
        self.post("/_admin/faults", Some(body)).await
    }

    pub async fn counters(&self) -> Result<Counters> {
        let r = self
            .http
            .get(format!("{}/_admin/counters", self.base))
            .send()
            .await?;
        Ok(r.error_for_status()?.json().await?)
    }

    /// A token straight from the simulated IMS, for the direct baseline.
    pub async fn token(&self, client_id: &str, secret: &str) -> Result<String> {
        let body = format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={secret}&scope=commerce.accs"
        );
        let r = self
            .http
            .post(format!("{}/ims/token/v3", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-api-key", client_id)
            .body(body)
            .send()
            .await?;
        let v: serde_json::Value = r.error_for_status()?.json().await?;
        v["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("the IMS answer has no access_token")
    }

    async fn post(&self, path: &str, body: Option<serde_json::Value>) -> Result<()> {
        let mut req = self.http.post(format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        if !r.status().is_success() {
            bail!("{path} answered {}", r.status());
        }
        Ok(())
    }
}
