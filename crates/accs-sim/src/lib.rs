//! Native simulator of Adobe IMS and the Adobe Commerce as a Cloud Service (ACCS) REST API.
//!
//! Tests start it in-process with [`Sim::start`]; benchmarks and end-to-end runs use the
//! `accs-sim` binary and drive it through the `/_admin/` HTTP API. Both views share one state,
//! so whatever a test can observe or change through [`Sim`] is also reachable over HTTP.
//!
//! Besides IMS and ACCS:
//! - [`target::Target`]: a back-office receiver (ERP, PIM) that records what it is sent and
//!   fails on command, for the edge's forwarding tests;
//! - Adobe I/O Events ([`Sim::io_events`]): the signing keys and a signed sender; the event
//!   registration the simulated Commerce publishes to ([`io_events::IoEvents::subscribe`]),
//!   with its push queue ([`io_events::IoEvents::deliver_pending`]) and its journal
//!   ([`Sim::journal_url`], the Journaling API; [`io_events::IoEvents::journal_push`]);
//!   the events' shapes are [`commerce_events`]; [`Sim::place_order`] places an order.

mod accs;
mod admin;
mod admin_io;
mod bulk;
pub mod commerce_events;
mod config;
pub mod contract;
mod ims;
pub mod io_events;
pub mod journal;
mod journal_http;
mod magento;
mod place_order;
mod publish;
mod save;
mod seed;
mod server;
mod state;
pub mod target;
mod time;
mod types;
mod vault;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::SimConfig;
pub use io_events::Attempt;
pub use place_order::{NewOrder, OrderLine, Refused as OrderRefused};
pub use publish::{JournalCounters, JournalRequest, Pending, Subscription};
pub use seed::ODD_SKUS;
pub use types::{
    Bulk, Counters, Faults, Framing, InputLimits, Operation, RecordedRequest, RecordedTokenRequest,
    RecordedValidation, SaveFailure, ScriptedResponse,
};
pub use vault::{VAULT_MOUNT, VAULT_TOKEN};

use state::Shared;

/// A running simulator. Dropping it aborts the server task, so the port stops accepting.
pub struct Sim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    vault: Arc<vault::Vault>,
    io_events: Arc<io_events::IoEvents>,
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
        let publisher = Arc::new(publish::Publisher::new());
        let shared = Arc::new(Shared::new(cfg, publisher.clone()));
        let vault = Arc::new(vault::Vault::default());
        let io_events = Arc::new(io_events::IoEvents::new(
            format!("http://{addr}"),
            publisher,
        ));
        let _ = shared.io.set(io_events.clone());
        let app =
            server::router(shared.clone(), io_events.clone()).merge(vault::router(vault.clone()));
        let task = tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Sim {
            addr,
            shared,
            vault,
            io_events,
            task,
        })
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

    /// The Adobe I/O Events double: its key server (on this address, at
    /// `/prod/keys/...`) and a sender of signed deliveries.
    pub fn io_events(&self) -> &io_events::IoEvents {
        &self.io_events
    }

    /// The registration's journal (the Journaling API, `src/journal_http.rs`):
    /// `http://ADDR/events/organizations/sim-org/integrations/sim-integration/<registration>`,
    /// what the Developer Console shows as the registration's journaling URL.
    pub fn journal_url(&self) -> String {
        format!("{}{}", self.base_url(), self.io_events.journal_path())
    }

    /// Places an order as a storefront checkout would: it joins
    /// `GET /V1/orders` and, when subscribed, publishes
    /// [`commerce_events::ORDER_SAVED`]. Returns the order as ACCS serves it.
    pub fn place_order(&self, order: &NewOrder) -> Result<Value, OrderRefused> {
        place_order::place(&mut self.shared.lock(), order)
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
    /// seeded catalog is restored. The I/O Events registration (subscription,
    /// journal, push queue) stays, as Adobe's does. Issued tokens stay as they are: valid ones valid, so a
    /// component that cached one keeps working across benchmark rounds, and revoked ones
    /// revoked, as IMS never brings a revoked token back.
    pub fn reset(&self) {
        self.shared.reset();
        self.vault.reset_reads();
    }

    /// The fake HashiCorp Vault's address (`src/vault.rs`): the `url` of a Spin
    /// `[[variables_provider]] type = "vault"`, with [`VAULT_TOKEN`] and [`VAULT_MOUNT`].
    pub fn vault_url(&self) -> String {
        self.base_url()
    }

    /// What the fake Vault holds: each name's `value` (every other name is 404).
    pub fn set_vault_secrets(&self, secrets: BTreeMap<String, String>) {
        self.vault.set_secrets(secrets);
    }

    /// How often each secret was read from the fake Vault since the last
    /// [`Sim::reset_vault_reads`] (or [`Sim::reset`]), names never read absent.
    pub fn vault_reads(&self) -> BTreeMap<String, u64> {
        self.vault.reads()
    }

    pub fn reset_vault_reads(&self) {
        self.vault.reset_reads();
    }

    /// Replaces the current faults (including whatever is left of the script).
    pub fn set_faults(&self, f: Faults) {
        self.shared.lock().set_faults(f);
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

    /// The stored product for `sku` (decoded), to check what a PUT or a bulk
    /// operation left behind (the bulk consumers catch up first).
    pub fn product(&self, sku: &str) -> Option<Value> {
        let mut inner = self.shared.lock();
        inner.advance_bulks();
        inner.catalog.product(sku).cloned()
    }

    /// Every accepted `POST /V1/async/bulk/products`, in accept order, with its
    /// operations as the consumers have left them by now.
    pub fn bulks(&self) -> Vec<Bulk> {
        let mut inner = self.shared.lock();
        inner.advance_bulks();
        inner.bulks.list.clone()
    }

    /// The bulk `uuid`, as [`Sim::bulks`] shows it.
    pub fn bulk(&self, uuid: &str) -> Option<Bulk> {
        self.bulks().into_iter().find(|b| b.bulk_uuid == uuid)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
