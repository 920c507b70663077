//! Figure 1: warm product reads through the component versus straight to the
//! simulator. Each run measures every path back to back (rotating which goes
//! first), and ratios are taken within a run before the median, so noise from
//! other work on the machine hits both sides alike.
//!
//! Two more paths explain the gap: the simulator over a new connection per
//! request (what `wasmtime serve`'s outbound HTTP does: it does not pool), and
//! the component's `/healthz` (the host's own per-request cost, no upstream).

use super::{Bench, component_read, direct_read, fresh_client};
use crate::load::{self, Limits, Sample, Target};
use crate::procs::{CLIENT_ID, CLIENT_SECRET, Serve};
use crate::stats::{median, ms};
use anyhow::Result;
use std::time::Duration;

pub const CONCURRENCIES: [usize; 2] = [1, 16];

/// The paths, in the order of [`WarmRow::paths`]; the first is the baseline
/// and the last is the component's product read.
pub const PATHS: [&str; 4] = [
    "simulator direct (keep-alive)",
    "simulator direct (new connection per request)",
    "component `/healthz` (no upstream call)",
    "component `/v1/products/{sku}`",
];
const DIRECT: usize = 0;
const PRODUCT: usize = 3;

#[derive(Debug, Default, Clone)]
pub struct PathStat {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-200 answers over all runs.
    pub errors: usize,
    /// CPU time of each server process per answered request (median, µs).
    pub serve_cpu_us: f64,
    pub sim_cpu_us: f64,
}

#[derive(Debug, Default)]
pub struct WarmRow {
    pub concurrency: usize,
    /// Medians per path, in [`PATHS`] order.
    pub paths: Vec<PathStat>,
    /// Component product read over direct keep-alive, per run, then the median.
    pub rps_ratio: f64,
    pub p50_ratio: f64,
    pub p99_ratio: f64,
    /// Component minus direct at p50, per run, then the median.
    pub added_p50_ms: f64,
    /// Median product reads per component run.
    pub requests: f64,
    /// IMS calls and host instances per 1,000 component product reads (median).
    pub ims_per_1000: f64,
    pub instances_per_1000: f64,
}

fn limits(concurrency: usize, window: Duration) -> Limits {
    Limits {
        concurrency,
        max_requests: if concurrency == 1 { 20_000 } else { 60_000 },
        max_duration: window,
    }
}

/// One run: a sample and the servers' CPU time per path, and what the host
/// did during the product reads.
struct Run {
    samples: Vec<Sample>,
    cpu: Vec<(Duration, Duration)>,
    ims: u64,
    instances: usize,
}

fn cpu(serve: &Serve, b: &Bench) -> (Duration, Duration) {
    (
        serve.proc.cpu_time().unwrap_or_default(),
        b.sim.proc.cpu_time().unwrap_or_default(),
    )
}

pub async fn run(b: &Bench, serve: &Serve) -> Result<Vec<WarmRow>> {
    let token = b.admin.token(CLIENT_ID, CLIENT_SECRET).await?;
    let fresh = fresh_client();
    let direct = direct_read(&b.sim, &token);
    let health = super::plain(&serve.base, "/healthz");
    let paths: [(&reqwest::Client, Target); 4] = [
        (&b.client, direct.clone()),
        (&fresh, direct),
        (&b.client, health),
        (&b.client, component_read(&serve.base)),
    ];
    // Connections, token and instances settle before anything counts.
    for (client, target) in &paths {
        load::run(client, target, limits(16, Duration::from_millis(300))).await;
    }

    let mut rows = Vec::new();
    for c in CONCURRENCIES {
        let mut runs = Vec::new();
        for i in 0..b.runs {
            b.admin.reset().await?;
            let mut samples: Vec<Option<Sample>> = (0..paths.len()).map(|_| None).collect();
            let mut cpus = vec![Default::default(); paths.len()];
            let (mut ims, mut instances) = (0, 0);
            for k in 0..paths.len() {
                let p = (i + k) % paths.len();
                let (client, target) = &paths[p];
                let before = b.admin.counters().await?.token_requests;
                let off = serve.log_len();
                let (serve0, sim0) = cpu(serve, b);
                let s = load::run(client, target, limits(c, b.window)).await;
                let (serve1, sim1) = cpu(serve, b);
                cpus[p] = (serve1.saturating_sub(serve0), sim1.saturating_sub(sim0));
                if p == PRODUCT {
                    ims = b.admin.counters().await?.token_requests - before;
                    instances = serve.log_since(off).instances;
                }
                samples[p] = Some(s);
            }
            let samples: Vec<Sample> = samples.into_iter().map(Option::unwrap_or_default).collect();
            eprintln!(
                "accs-bench: warm c={c} run {}: {}; {ims} IMS calls, {instances} instances",
                i + 1,
                samples
                    .iter()
                    .map(|s| format!("{:.0}/s p50 {:.2} ms", s.rps(), ms(s.p(0.5))))
                    .collect::<Vec<_>>()
                    .join(" | "),
            );
            runs.push(Run {
                samples,
                cpu: cpus,
                ims,
                instances,
            });
        }
        rows.push(summarize(c, &runs));
    }
    Ok(rows)
}

fn summarize(concurrency: usize, runs: &[Run]) -> WarmRow {
    let m = |f: &dyn Fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let p50 = |s: &Sample| ms(s.p(0.5));
    let p99 = |s: &Sample| ms(s.p(0.99));
    let per_1000 = |n: f64, s: &Sample| n * 1000.0 / (s.ok.max(1) as f64);
    let per_ok = |d: Duration, s: &Sample| d.as_secs_f64() * 1e6 / (s.ok.max(1) as f64);
    let paths = (0..PATHS.len())
        .map(|p| PathStat {
            rps: m(&|r| r.samples[p].rps()),
            p50_ms: m(&|r| p50(&r.samples[p])),
            p99_ms: m(&|r| p99(&r.samples[p])),
            errors: runs.iter().map(|r| r.samples[p].errors).sum(),
            serve_cpu_us: m(&|r| per_ok(r.cpu[p].0, &r.samples[p])),
            sim_cpu_us: m(&|r| per_ok(r.cpu[p].1, &r.samples[p])),
        })
        .collect();
    let (d, k) = (DIRECT, PRODUCT);
    WarmRow {
        concurrency,
        paths,
        rps_ratio: m(&|r| r.samples[k].rps() / r.samples[d].rps()),
        p50_ratio: m(&|r| p50(&r.samples[k]) / p50(&r.samples[d])),
        p99_ratio: m(&|r| p99(&r.samples[k]) / p99(&r.samples[d])),
        added_p50_ms: m(&|r| p50(&r.samples[k]) - p50(&r.samples[d])),
        requests: m(&|r| r.samples[k].ok as f64),
        ims_per_1000: m(&|r| per_1000(r.ims as f64, &r.samples[k])),
        instances_per_1000: m(&|r| per_1000(r.instances as f64, &r.samples[k])),
    }
}
