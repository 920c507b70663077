//! Native simulator of Adobe IMS and the Adobe Commerce as a Cloud Service (ACCS) REST API.
//!
//! Tests start it in-process with [`Sim::start`]; benchmarks and end-to-end runs use the
//! `accs-sim` binary and drive it through the `/_admin/` HTTP API. Both views share one state,
//! so whatever a test can observe or change through [`Sim`] is also reachable over HTTP.

mod accs;
mod admin;
mod config;
pub mod contract;
mod ims;
mod magento;
mod seed;
mod server;
mod state;
mod time;
mod types;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::SimConfig;
pub use seed::ODD_SKUS;
pub use types::{
    Counters, Faults, Framing, RecordedRequest, RecordedTokenRequest, RecordedValidation,
    ScriptedResponse,
};

use state::Shared;

/// A running simulator. Dropping it aborts the server task, so the port stops accepting.
pub struct Sim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Sim {
    /// Starts on an ephemeral loopback port, so parallel tests never collide.
    pub async fn start(cfg: SimConfig) -> anyhow::Result<Sim> {
        Self::start_on(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts on `addr`; port 0 picks a free port, see [`Sim::addr`] for the bound one.
    pub async fn start_on(cfg: SimConfig, addr: SocketAddr) -> anyhow::Result<Sim> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(cfg));
        let app = server::router(shared.clone());
        let task = tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Sim { addr, shared, task })
    }

    /// Waits until the server task ends (it only does on an I/O error); for the binary.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        (&mut self.task).await?.context("serving")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ims_token_url(&self) -> String {
        format!("{}/ims/token/v3", self.base_url())
    }

    /// The ACCS base the component is configured with: `http://ADDR/TENANT`, no trailing slash.
    pub fn accs_base_url(&self) -> String {
        format!("{}/{}", self.base_url(), self.shared.cfg.tenant)
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.cfg
    }

    pub fn counters(&self) -> Counters {
        self.shared.lock().counters.clone()
    }

    /// Every ACCS request (not IMS, not admin) in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn token_requests(&self) -> Vec<RecordedTokenRequest> {
        self.shared.lock().token_requests.clone()
    }

    /// Every access token this simulator ever issued, across [`Sim::reset`]s
    /// (which keep them), for the test suite's secret grep.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.issued_tokens()
    }

    /// Every `POST /ims/validate_token/v1` in arrival order.
    pub fn validations(&self) -> Vec<RecordedValidation> {
        self.shared.lock().validations.clone()
    }

    /// Back to a fresh start: counters, recordings, faults and receipts are cleared and the
    /// seeded catalog is restored. Issued tokens stay as they are: valid ones valid, so a
    /// component that cached one keeps working across benchmark rounds, and revoked ones
    /// revoked, as IMS never brings a revoked token back.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Replaces the current faults (including whatever is left of the script).
    pub fn set_faults(&self, f: Faults) {
        self.shared.lock().faults = f;
    }

    /// The current faults, with the script as consumed so far.
    pub fn faults(&self) -> Faults {
        self.shared.lock().faults.clone()
    }

    /// Every token issued so far is rejected with 401 from now on; later ones still work.
    pub fn revoke_tokens(&self) {
        self.shared.revoke_tokens();
    }

    /// How many times each `(sku, source_code)` was received through source-items saves.
    pub fn inventory_receipts(&self) -> BTreeMap<(String, String), u32> {
        self.shared.lock().receipts.clone()
    }

    /// The stored product for `sku` (decoded), to check what a PUT left behind.
    pub fn product(&self, sku: &str) -> Option<Value> {
        self.shared.lock().catalog.product(sku).cloned()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
