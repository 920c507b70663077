//! Figure 6: the WASI 0.2 `spin` build on a released Spin (the CLI in `SPIN`)
//! against a floor on the same Spin: `crates/floor-p2`, a spin-sdk 5.2
//! component that turns each request into one `GET` to the simulator's
//! product URL with a fixed bearer and hands back status and body. Both run
//! at once under their own `spin up`; each run measures them back to back
//! (rotating which goes first), and ratios (component over floor) are taken
//! within a run before the median.
//!
//! A third contender prices the host calls the design makes per read: the
//! same floor under accs-edge's own manifest and variables, also reading the
//! variables a product read reads ([`read_variables`]), one key from the
//! default key-value store, and writing the component's log line. What it
//! loses against the bare floor no guest code can win back on this Spin.

use super::floors::{LOG_LINE, floor_manifest, floor_url};
use super::side::{Side, SideInput, per_ok, side};
use super::spin_setup::{edge_manifest, edge_vars, find_spin_in};
use super::{Bench, component_read};
use crate::load::{self, Limits, Sample, Target};
use crate::procs::{
    CLIENT_ID, CLIENT_SECRET, LogSummary, PerfStat, SpinUp, perf_unsupported, spawn_spin, wait_for,
};
use crate::stats::{median, ms};
use anyhow::{Context as _, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub const CONCURRENCIES: [usize; 2] = [1, 16];
/// Requests of the one fixed-count run `perf stat` counts, per side.
pub const PERF_REQUESTS: usize = 2_000;
pub const PERF_CONCURRENCY: usize = 16;
/// Issue #13's goal for the WASI 0.2 build at c=16: its floor's req/s times this.
pub const RPS_TARGET: f64 = 0.7;

/// The variables accs-edge's WASI 0.2 build reads for `GET
/// /v1/products/{sku}`, comma-separated: `routes::variables_for` itself
/// (`src/routes/mod.rs`), so the floor that prices them reads what the
/// component reads.
pub fn read_variables() -> String {
    accs_edge::routes::variables_for("GET", "/v1/products/SKU-0001")
        .collect::<Vec<_>>()
        .join(",")
}

/// The Spin CLI in `SPIN` and its `--version` line, or why there is none.
pub fn find_spin() -> Result<(String, String), String> {
    find_spin_in("SPIN")
}

#[derive(Debug, Default)]
pub struct SpinRow {
    pub concurrency: usize,
    pub floor: Side,
    pub component: Side,
    /// The floor making a read's host calls (variables, key-value, log).
    pub calls: Side,
    /// That floor over the bare one (req/s, CPU), and the component over it
    /// (req/s): per run, then the median.
    pub calls_rps_ratio: f64,
    pub calls_rps_ratios: Vec<f64>,
    pub calls_cpu_ratio: f64,
    pub over_calls_rps_ratio: f64,
    /// The component's `/healthz`: a fresh instance, no variables, no store,
    /// no upstream call; one log line.
    pub health: Side,
    /// Component over floor, per run, then the median.
    pub rps_ratio: f64,
    pub p50_ratio: f64,
    pub p99_ratio: f64,
    pub cpu_ratio: f64,
    /// `/healthz` CPU over the floor's, per run, then the median.
    pub health_cpu_ratio: f64,
    /// Component minus floor, per run, then the median.
    pub added_p50_ms: f64,
    pub added_cpu_us: f64,
    /// Over all component runs.
    pub ims_calls: u64,
    pub token_sources: BTreeMap<String, usize>,
    pub logged: usize,
}

#[derive(Debug)]
pub struct SpinReport {
    pub version: String,
    pub runs: usize,
    pub floor_manifest: String,
    pub edge_env: Vec<String>,
    pub size_floor: u64,
    /// The first product read: IMS calls and where its token came from.
    pub warmup_ims: u64,
    pub warmup_sources: BTreeMap<String, usize>,
    /// IMS calls during the settling reads after the warm-up.
    pub settle_ims: u64,
    pub rows: Vec<SpinRow>,
    /// Instructions per request of the serving process (floor, component),
    /// or why they were not counted.
    pub instructions: Result<(f64, f64), String>,
    /// Size of Spin's default key-value store file after the runs.
    pub kv_file_bytes: Option<u64>,
}

#[derive(Debug)]
pub enum SpinResult {
    Skipped(String),
    Done(Box<SpinReport>),
}

fn limits(concurrency: usize, window: Duration) -> Limits {
    Limits {
        concurrency,
        max_requests: if concurrency == 1 { 20_000 } else { 60_000 },
        max_duration: window,
    }
}

/// The variable reads accs-edge's WASI 0.2 build makes for that read: the
/// ten every route reads as one (`accs_edge_core`, `src/host/p2/entry.rs`),
/// then the rest one by one.
pub fn component_reads() -> String {
    let core = accs_edge::config::CORE;
    std::iter::once(accs_edge::config::CORE_GROUP)
        .chain(
            accs_edge::routes::variables_for("GET", "/v1/products/SKU-0001")
                .filter(|v| !core.contains(v)),
        )
        .collect::<Vec<_>>()
        .join(",")
}

/// Which of a read's host calls the floor under the shipped manifest makes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Calls {
    /// None: what the shipped manifest alone costs a floor that calls out.
    Manifest,
    /// The variables of [`read_variables`], one host call each.
    Variables,
    /// The variable reads the component makes ([`component_reads`]).
    Grouped,
    /// Those, one key from the default store, and the log line: every host
    /// call the component's read makes.
    All,
}

/// The floor under the shipped `spin.toml` (its variables, store and
/// outbound hosts, so the same variable provider and key-value store), with
/// an environment that makes it read the variables `calls` names and, with
/// [`Calls::All`], one key, and write accs-edge's log line per request.
pub fn calls_manifest(
    root: &Path,
    floor_wasm: &Path,
    url: &str,
    bearer: &str,
    calls: Calls,
) -> Result<String> {
    let text = edge_manifest(root, floor_wasm)?;
    let kv = "key_value_stores = [\"default\"]\n";
    anyhow::ensure!(text.contains(kv), "spin.toml no longer names {kv}");
    let vars = match calls {
        Calls::Manifest => String::new(),
        Calls::Variables => read_variables(),
        Calls::Grouped | Calls::All => component_reads(),
    };
    let rest = match calls {
        Calls::All => format!(", KV_KEY = \"bench-token\", LOG_LINE = {LOG_LINE:?}"),
        _ => String::new(),
    };
    Ok(text.replacen(
        kv,
        &format!(
            "{kv}environment = {{ UPSTREAM = {url:?}, BEARER = {bearer:?}, API_KEY = {CLIENT_ID:?}, \
             VARIABLES = {vars:?}{rest} }}\n"
        ),
        1,
    ))
}

/// One run: each path measured once, back to back.
struct Run {
    floor: Measured,
    component: Measured,
    health: Measured,
    calls: Measured,
}

/// One path of one run.
#[derive(Default)]
struct Measured {
    sample: Sample,
    spin_cpu: Duration,
    sim_cpu: Duration,
    ims: u64,
    accs: u64,
    log: LogSummary,
}

async fn measure(
    b: &Bench,
    host: &SpinUp,
    target: &Target,
    lim: Limits,
    log: Option<&Path>,
) -> Result<Measured> {
    let before = b.admin.counters().await?;
    let off = log.map_or(0, log_len);
    let (spin0, sim0) = (host.cpu_time(), b.sim.proc.cpu_time().unwrap_or_default());
    let sample = load::run(&b.client, target, lim).await;
    let (spin1, sim1) = (host.cpu_time(), b.sim.proc.cpu_time().unwrap_or_default());

    let after = b.admin.counters().await?;
    Ok(Measured {
        sample,
        spin_cpu: spin1.saturating_sub(spin0),
        sim_cpu: sim1.saturating_sub(sim0),
        ims: after.token_requests.saturating_sub(before.token_requests),
        accs: after.accs_requests.saturating_sub(before.accs_requests),
        log: log.map(|p| log_since(p, off)).unwrap_or_default(),
    })
}

fn log_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn log_since(p: &Path, off: u64) -> LogSummary {
    let text = std::fs::read(p).unwrap_or_default();
    let from = (off as usize).min(text.len());
    LogSummary::parse(&String::from_utf8_lossy(&text[from..]))
}

pub async fn run(
    b: &Bench,
    root: &Path,
    bin: &str,
    floor_wasm: &Path,
    edge_wasm: &Path,
) -> Result<SpinReport> {
    let (_, version) = find_spin().map_err(anyhow::Error::msg)?;
    let token = b.admin.token(CLIENT_ID, CLIENT_SECRET).await?;
    let product_url = floor_url(b);
    let floor_text = floor_manifest(
        "accs-floor-p2",
        floor_wasm,
        &b.sim.base,
        &product_url,
        &token,
        None,
    );
    let floor = spawn_spin(bin, &floor_text, &[], "spin-floor")?;
    let env = edge_vars(b);
    let edge = spawn_spin(bin, &edge_manifest(root, edge_wasm)?, &env, "spin-edge")?;
    let calls_text = calls_manifest(root, floor_wasm, &product_url, &token, Calls::All)?;
    let calls = spawn_spin(bin, &calls_text, &env, "spin-floor-calls")?;
    let calls_read = super::plain(&calls.base, "/");
    calls
        .wait_ready(&b.client, "/", &Default::default())
        .await?;
    let floor_read = super::plain(&floor.base, "/");
    let edge_read = component_read(&edge.base);
    let edge_health = super::plain(&edge.base, "/healthz");
    floor
        .wait_ready(&b.client, "/", &Default::default())
        .await?;
    edge.wait_ready(&b.client, "/healthz", &Default::default())
        .await?;
    let log = edge.component_log("accs-edge");

    // Warm-up: the first product read finds no token in the store and asks
    // IMS; it stores the sealed token for every later instance.
    b.admin.reset().await?;
    let off = log_len(&log);
    wait_for(
        &b.client,
        &edge_read.url,
        &edge_read.headers,
        Duration::from_secs(30),
    )
    .await?;
    let warmup_ims = b.admin.counters().await?.token_requests;
    let warmup_sources = log_since(&log, off).token_sources;
    // Connections settle before anything counts.
    let settle = Limits {
        concurrency: 16,
        max_requests: 2_000,
        max_duration: Duration::from_millis(300),
    };
    let before = b.admin.counters().await?.token_requests;
    load::run(&b.client, &floor_read, settle).await;
    load::run(&b.client, &calls_read, settle).await;
    load::run(&b.client, &edge_read, settle).await;
    let settle_ims = b.admin.counters().await?.token_requests - before;

    let mut rows = Vec::new();
    for c in CONCURRENCIES {
        let mut runs: Vec<Run> = Vec::new();
        for i in 0..b.runs {
            b.admin.reset().await?;
            let lim = limits(c, b.window);
            // Floor, component product read, component `/healthz`, floor
            // with the host calls; the one that goes first rotates from run
            // to run.
            let mut got: [Option<Measured>; 4] = [None, None, None, None];
            for k in 0..4 {
                let p = (i + k) % 4;
                got[p] = Some(match p {
                    0 => measure(b, &floor, &floor_read, lim, None).await?,
                    1 => measure(b, &edge, &edge_read, lim, Some(&log)).await?,
                    2 => measure(b, &edge, &edge_health, lim, None).await?,
                    _ => measure(b, &calls, &calls_read, lim, None).await?,
                });
            }
            let [f, k, h, l] = got.map(Option::unwrap_or_default);
            eprintln!(
                "accs-bench: spin c={c} run {}: floor {:.0}/s p50 {:.2} ms {:.0} µs CPU | floor+calls {:.0}/s p50 {:.2} p99 {:.2} ms {:.0} µs CPU | component {:.0}/s p50 {:.2} ms {:.0} µs CPU | /healthz {:.0}/s {:.0} µs CPU; {} IMS calls, token sources {:?}",
                i + 1,
                f.sample.rps(),
                ms(f.sample.p(0.5)),
                per_ok(f.spin_cpu, &f.sample),
                l.sample.rps(),
                ms(l.sample.p(0.5)),
                ms(l.sample.p(0.99)),
                per_ok(l.spin_cpu, &l.sample),
                k.sample.rps(),
                ms(k.sample.p(0.5)),
                per_ok(k.spin_cpu, &k.sample),
                h.sample.rps(),
                per_ok(h.spin_cpu, &h.sample),
                k.ims,
                k.log.token_sources,
            );
            runs.push(Run {
                floor: f,
                component: k,
                health: h,
                calls: l,
            });
        }
        rows.push(summarize(c, &runs));
    }

    let instructions = match perf_unsupported() {
        Some(why) => Err(why),
        None => {
            let lim = Limits {
                concurrency: PERF_CONCURRENCY,
                max_requests: PERF_REQUESTS,
                max_duration: Duration::from_secs(30),
            };
            let mut per = Vec::new();
            for (host, target) in [(&floor, &floor_read), (&edge, &edge_read)] {
                let perf = PerfStat::attach(host.server_pid()).await?;
                let s = load::run(&b.client, target, lim).await;
                let n = perf.finish().context("perf stat gave no count")?;
                per.push(n as f64 / s.ok.max(1) as f64);
            }
            Ok((per[0], per[1]))
        }
    };
    let kv_file_bytes = std::fs::metadata(edge.dir.join(".spin/sqlite_key_value.db"))
        .ok()
        .map(|m| m.len());

    Ok(SpinReport {
        version,
        runs: b.runs,
        floor_manifest: floor_text
            .replace(&token, "<IMS token>")
            .replace(&b.sim.base, "http://127.0.0.1:<sim>")
            .replace(&floor_wasm.display().to_string(), "accs_floor_p2.wasm"),
        edge_env: env
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(&b.sim.base, "http://127.0.0.1:<sim>")))
            .collect(),
        size_floor: std::fs::metadata(floor_wasm).map(|m| m.len()).unwrap_or(0),
        warmup_ims,
        warmup_sources,
        settle_ims,
        rows,
        instructions,
        kv_file_bytes,
    })
}

impl Measured {
    fn input(&self) -> SideInput<'_> {
        SideInput {
            sample: &self.sample,
            host_cpu: self.spin_cpu,
            sim_cpu: self.sim_cpu,
            accs: self.accs,
        }
    }
}

fn summarize(concurrency: usize, runs: &[Run]) -> SpinRow {
    let m = |f: &dyn Fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let p50 = |r: &Measured| ms(r.sample.p(0.5));
    let p99 = |r: &Measured| ms(r.sample.p(0.99));
    let cpu = |r: &Measured| per_ok(r.spin_cpu, &r.sample);
    let mut token_sources = BTreeMap::new();
    for r in runs {
        for (s, n) in &r.component.log.token_sources {
            *token_sources.entry(s.clone()).or_default() += n;
        }
    }
    let all =
        |f: fn(&Run) -> &Measured| side(&runs.iter().map(|r| f(r).input()).collect::<Vec<_>>());
    SpinRow {
        concurrency,
        floor: all(|r| &r.floor),
        component: all(|r| &r.component),
        health: all(|r| &r.health),
        calls: all(|r| &r.calls),
        calls_rps_ratio: m(&|r| r.calls.sample.rps() / r.floor.sample.rps()),
        calls_rps_ratios: runs
            .iter()
            .map(|r| r.calls.sample.rps() / r.floor.sample.rps())
            .collect(),
        calls_cpu_ratio: m(&|r| cpu(&r.calls) / cpu(&r.floor)),
        over_calls_rps_ratio: m(&|r| r.component.sample.rps() / r.calls.sample.rps()),
        rps_ratio: m(&|r| r.component.sample.rps() / r.floor.sample.rps()),
        p50_ratio: m(&|r| p50(&r.component) / p50(&r.floor)),
        p99_ratio: m(&|r| p99(&r.component) / p99(&r.floor)),
        cpu_ratio: m(&|r| cpu(&r.component) / cpu(&r.floor)),
        health_cpu_ratio: m(&|r| cpu(&r.health) / cpu(&r.floor)),
        added_p50_ms: m(&|r| p50(&r.component) - p50(&r.floor)),
        added_cpu_us: m(&|r| cpu(&r.component) - cpu(&r.floor)),
        ims_calls: runs.iter().map(|r| r.component.ims).sum(),
        token_sources,
        logged: runs.iter().map(|r| r.component.log.requests).sum(),
    }
}
