//! What every floor is given: the product URL it reads, the log line the
//! logging floor writes, and its Spin manifest.

use super::{Bench, SKU};
use crate::procs::CLIENT_ID;
use std::path::Path;

/// What the logging floor writes per request: accs-edge's line for a warm
/// product read, field for field and byte for byte in length (the ids are
/// 32 hex digits in both).
pub const LOG_LINE: &str = r#"{"request_id":"5f0c3b9e8a7d4c21b6e0f1a2d3c4b5a6","trace_id":"0af7651916cd43dd8448eb211c80319c","key":"bench","method":"GET","route":"/v1/products/{sku}","status":200,"duration_ms":1,"upstream":[{"service":"accs","status":200,"ms":1}],"token_source":"memory"}"#;

/// The simulator's product URL every floor reads.
pub fn floor_url(b: &Bench) -> String {
    format!("{}/V1/products/{SKU}", b.sim.accs_base())
}

/// The floor's manifest: one component, the simulator as its only outbound
/// host, the URL and bearer in its environment, and a `LOG_LINE` to write
/// per request when `log` is given (`crates/floor-p3` only).
pub fn floor_manifest(
    name: &str,
    wasm: &Path,
    origin: &str,
    url: &str,
    bearer: &str,
    log: Option<&str>,
) -> String {
    let log = log
        .map(|l| format!(", LOG_LINE = {l:?}"))
        .unwrap_or_default();
    format!(
        "spin_manifest_version = 2\n\n\
         [application]\nname = {name:?}\nversion = \"0.1.0\"\n\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"floor\"\n\n\
         [component.floor]\nsource = {source:?}\n\
         allowed_outbound_hosts = [{origin:?}]\n\
         environment = {{ UPSTREAM = {url:?}, BEARER = {bearer:?}, API_KEY = {CLIENT_ID:?}{log} }}\n",
        source = wasm.display().to_string(),
    )
}
