//! Figure 3: token economy. 1,000 product reads at concurrency 16 on a fresh
//! `wasmtime serve`: how many IMS calls, against how many instances the host
//! created (counted from the `stderr [<instance>]` prefix of the log lines).
//! Also the peak memory of such a process.

use super::{Bench, component_read};
use crate::load::{self, Limits};
use crate::procs::{ServeOpts, TempDir, spawn_serve};
use crate::stats::median;
use anyhow::Result;
use std::collections::BTreeMap;
use std::time::Duration;

pub const REQUESTS: usize = 1_000;
pub const CONCURRENCY: usize = 16;

#[derive(Debug)]
pub struct TokenRow {
    pub label: &'static str,
    pub ims_calls: f64,
    pub instances: f64,
    /// Token sources over all runs (`ims`, `kv`, `file`, `memory`, ...).
    pub sources: BTreeMap<String, usize>,
    pub errors: usize,
    /// Peak resident memory of the process after the reads (median, KiB).
    pub vm_hwm_kib: f64,
}

struct Mode {
    label: &'static str,
    token_file: bool,
    ims_latency_ms: u64,
}

const MODES: [Mode; 3] = [
    Mode {
        label: "no token file",
        token_file: false,
        ims_latency_ms: 0,
    },
    Mode {
        label: "token file (`token_cache_dir`), empty at start",
        token_file: true,
        ims_latency_ms: 0,
    },
    Mode {
        label: "token file, empty at start, IMS answering in 100 ms",
        token_file: true,
        ims_latency_ms: 100,
    },
];

pub async fn run(b: &Bench) -> Result<Vec<TokenRow>> {
    let mut rows = Vec::new();
    for mode in MODES {
        let (mut ims, mut inst, mut hwm) = (vec![], vec![], vec![]);
        let mut sources = BTreeMap::new();
        let mut errors = 0;
        for i in 0..b.runs {
            let dir = TempDir::new("tokens")?;
            let opts = ServeOpts {
                token_cache: mode.token_file.then(|| dir.0.clone()),
                ..Default::default()
            };
            let serve = spawn_serve(&b.wasm, &b.sim, &opts)?;
            serve.wait_ready(&b.client).await?;
            b.admin.reset().await?;
            b.admin.set_latency(0, mode.ims_latency_ms).await?;
            let off = serve.log_len();
            let s = load::run(
                &b.client,
                &component_read(&serve.base),
                Limits {
                    concurrency: CONCURRENCY,
                    max_requests: REQUESTS,
                    max_duration: Duration::from_secs(30),
                },
            )
            .await;
            let calls = b.admin.counters().await?.token_requests;
            b.admin.reset().await?;
            let log = serve.log_since(off);
            eprintln!(
                "accs-bench: tokens [{}] run {}: {calls} IMS calls, {} instances, sources {:?}",
                mode.label,
                i + 1,
                log.instances,
                log.token_sources
            );
            ims.push(calls as f64);
            inst.push(log.instances as f64);
            hwm.push(serve.proc.status_kib("VmHWM").unwrap_or(0) as f64);
            errors += s.errors;
            for (k, v) in log.token_sources {
                *sources.entry(k).or_default() += v;
            }
        }
        rows.push(TokenRow {
            label: mode.label,
            ims_calls: median(&ims),
            instances: median(&inst),
            sources,
            errors,
            vm_hwm_kib: median(&hwm),
        });
    }
    Ok(rows)
}
