//! The figures of issues #7 and #26, one module each; memory rides along with the
//! phases that load the host. Figure 6 is the WASI 0.2 build on a released
//! Spin against a pass-through floor; figure 7 the WASI 0.3 builds against
//! theirs, on `wasmtime serve` and Spin 4.1+.

pub mod cold;
pub mod floor_p3;
pub mod floors;
pub mod instructions;
pub mod products;
pub mod side;
pub mod spin_p2;
pub mod spin_setup;
pub mod sync;
pub mod tokens;
pub mod warm;

use crate::load::Target;
use crate::procs::{API_KEY, CLIENT_ID, Sim};
use crate::sim::Admin;
use reqwest::header::{HeaderMap, HeaderValue};
use std::path::PathBuf;
use std::time::Duration;

pub const SKU: &str = "SKU-0001";

/// What every scenario shares.
pub struct Bench {
    pub client: reqwest::Client,
    pub admin: Admin,
    pub sim: Sim,
    pub wasm: PathBuf,
    pub runs: usize,
    /// Length of one throughput measurement.
    pub window: Duration,
}

fn header(v: &str) -> HeaderValue {
    HeaderValue::from_str(v).expect("ASCII header value")
}

/// `GET <base><path>` with no headers: a floor's read, `/healthz`.
pub fn plain(base: &str, path: &str) -> Target {
    Target {
        url: format!("{base}{path}"),
        headers: Default::default(),
    }
}

/// `GET /v1/products/SKU-0001` through the component at `base`.
pub fn component_read(base: &str) -> Target {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", header(&format!("Bearer {API_KEY}")));
    Target {
        url: format!("{base}/v1/products/{SKU}"),
        headers,
    }
}

/// The same read straight to the simulator, with the headers the component
/// would send, so both paths ask the simulator for the same work.
pub fn direct_read(sim: &Sim, token: &str) -> Target {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", header(&format!("Bearer {token}")));
    headers.insert("x-api-key", header(CLIENT_ID));
    headers.insert("store", header("default"));
    headers.insert("accept", header("application/json"));
    Target {
        url: format!("{}/V1/products/{SKU}", sim.accs_base()),
        headers,
    }
}

/// A client that opens a fresh connection per request: for polling a server
/// that is still starting, where a pooled connection would mislead.
pub fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("building the polling client")
}
