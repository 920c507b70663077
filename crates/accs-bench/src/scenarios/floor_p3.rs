//! Figure 7: the host floor of the WASI 0.3 builds. On each host the product
//! read through accs-edge is measured against `crates/floor-p3`, a spin-sdk 7
//! pass-through that turns each request into one `GET` to the simulator's
//! product URL with a fixed bearer and answers its status and body. Hosts:
//! `wasmtime serve` (the `wasmtime` build) always, and Spin 4.1+ (the
//! `spin-p3` build) when `SPIN_P3` names its CLI. Both sides run at once; each
//! run measures them back to back (alternating which goes first), and ratios
//! (component over floor) are taken within a run before the median.
//!
//! A third side on each host prices the log line: the same floor writing
//! [`LOG_LINE`] to stderr once per request, as accs-edge writes its own. The
//! issue keeps the log; this shows what the host charges for it.

use super::floors::{LOG_LINE, floor_manifest, floor_url};
use super::side::{Side, SideInput, per_ok, side};
use super::spin_setup::{edge_manifest, edge_vars, find_spin_in};
use super::{Bench, SKU, component_read};
use crate::load::{self, Limits, Sample, Target};
use crate::procs::{self, CLIENT_ID, CLIENT_SECRET, TempDir, spawn_spin};
use crate::stats::{median, ms};
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

pub const CONCURRENCIES: [usize; 2] = [1, 16];

/// The targets of issue #13.
pub const RPS_TARGET: f64 = 0.85;
pub const P50_TARGET_MS: f64 = 0.3;

/// The Spin CLI in `SPIN_P3` (Spin 4.1+, WASI 0.3) and its version, or why none.
pub fn find_spin_p3() -> Result<(String, String), String> {
    find_spin_in("SPIN_P3")
}

#[derive(Debug, Default)]
pub struct FloorRow {
    pub concurrency: usize,
    pub floor: Side,
    pub component: Side,
    /// The floor writing [`LOG_LINE`] per request.
    pub logged: Side,
    /// The logging floor over the floor, and the component over the logging
    /// floor: req/s and CPU per request, each per run, then the median.
    pub logged_rps_ratio: f64,
    pub logged_rps_ratios: Vec<f64>,
    pub logged_cpu_ratio: f64,
    pub over_logged_rps_ratio: f64,
    /// Component over floor, per run, then the median; and the runs' range.
    pub rps_ratio: f64,
    pub rps_ratios: Vec<f64>,
    pub cpu_ratio: f64,
    /// Component minus floor, per run, then the median.
    pub added_p50_ms: f64,
    pub added_cpu_us: f64,
}

impl FloorRow {
    pub fn meets(&self) -> bool {
        if self.concurrency == 1 {
            self.added_p50_ms <= P50_TARGET_MS
        } else {
            self.rps_ratio >= RPS_TARGET
        }
    }
}

#[derive(Debug)]
pub struct HostFloor {
    /// `wasmtime serve` or the Spin version line.
    pub host: String,
    /// The build of accs-edge it runs.
    pub build: &'static str,
    /// How the floor was started, placeholders for ports and paths.
    pub floor_how: String,
    pub rows: Vec<FloorRow>,
}

#[derive(Debug)]
pub struct FloorReport {
    pub runs: usize,
    pub size_floor: u64,
    pub hosts: Vec<HostFloor>,
    /// Hosts not measured, and why.
    pub skipped: Vec<String>,
}

fn limits(concurrency: usize, window: Duration) -> Limits {
    Limits {
        concurrency,
        max_requests: if concurrency == 1 { 20_000 } else { 60_000 },
        max_duration: window,
    }
}

/// One side of one run.
#[derive(Default)]
struct Measured {
    sample: Sample,
    host_cpu: Duration,
    sim_cpu: Duration,
    accs: u64,
}

async fn measure(
    b: &Bench,
    cpu: &dyn Fn() -> Duration,
    target: &Target,
    lim: Limits,
) -> Result<Measured> {
    let before = b.admin.counters().await?;
    let (h0, s0) = (cpu(), b.sim.proc.cpu_time().unwrap_or_default());
    let sample = load::run(&b.client, target, lim).await;
    let (h1, s1) = (cpu(), b.sim.proc.cpu_time().unwrap_or_default());
    let after = b.admin.counters().await?;
    Ok(Measured {
        sample,
        host_cpu: h1.saturating_sub(h0),
        sim_cpu: s1.saturating_sub(s0),
        accs: after.accs_requests.saturating_sub(before.accs_requests),
    })
}

fn to_side(m: &Measured) -> SideInput<'_> {
    SideInput {
        sample: &m.sample,
        host_cpu: m.host_cpu,
        sim_cpu: m.sim_cpu,
        accs: m.accs,
    }
}

/// A side to measure: its host's CPU so far, and the request to send it.
type Contender<'a> = (&'a dyn Fn() -> Duration, &'a Target);

/// The three sides at each concurrency, `b.runs` times, the order reversed
/// every other run.
async fn compare(
    b: &Bench,
    label: &str,
    floor: Contender<'_>,
    logged: Contender<'_>,
    edge: Contender<'_>,
) -> Result<Vec<FloorRow>> {
    // Connections and instances settle before anything counts.
    let settle = Limits {
        concurrency: 16,
        max_requests: 3_000,
        max_duration: Duration::from_millis(500),
    };
    for side in [floor, logged, edge] {
        load::run(&b.client, side.1, settle).await;
    }
    let mut rows = Vec::new();
    for c in CONCURRENCIES {
        let lim = limits(c, b.window);
        // (floor, logging floor, component) per run.
        let mut runs: Vec<[Measured; 3]> = Vec::new();
        for i in 0..b.runs {
            let mut order = [(0, floor), (1, logged), (2, edge)];
            if i % 2 == 1 {
                order.reverse();
            }
            let mut got: [Measured; 3] = Default::default();
            for (slot, (cpu, target)) in order {
                got[slot] = measure(b, cpu, target, lim).await?;
            }
            let [f, l, k] = &got;
            eprintln!(
                "accs-bench: floor {label} c={c} run {}: floor {:.0}/s p50 {:.2} ms {:.0} µs CPU | floor+log {:.0}/s p50 {:.2} ms {:.0} µs CPU | component {:.0}/s p50 {:.2} ms {:.0} µs CPU | ratio {:.3}",
                i + 1,
                f.sample.rps(),
                ms(f.sample.p(0.5)),
                per_ok(f.host_cpu, &f.sample),
                l.sample.rps(),
                ms(l.sample.p(0.5)),
                per_ok(l.host_cpu, &l.sample),
                k.sample.rps(),
                ms(k.sample.p(0.5)),
                per_ok(k.host_cpu, &k.sample),
                k.sample.rps() / f.sample.rps().max(1e-9),
            );
            runs.push(got);
        }
        let m = |f: &dyn Fn(&[Measured; 3]) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let all = |i: usize| side(&runs.iter().map(|r| to_side(&r[i])).collect::<Vec<_>>());
        let p50 = |r: &Measured| ms(r.sample.p(0.5));
        let cpu = |r: &Measured| per_ok(r.host_cpu, &r.sample);
        let rps =
            |over: &Measured, under: &Measured| over.sample.rps() / under.sample.rps().max(1e-9);
        let rps_ratios: Vec<f64> = runs.iter().map(|[f, _, k]| rps(k, f)).collect();
        rows.push(FloorRow {
            concurrency: c,
            floor: all(0),
            logged: all(1),
            component: all(2),
            rps_ratio: median(&rps_ratios),
            rps_ratios,
            cpu_ratio: m(&|[f, _, k]| cpu(k) / cpu(f)),
            added_p50_ms: m(&|[f, _, k]| p50(k) - p50(f)),
            added_cpu_us: m(&|[f, _, k]| cpu(k) - cpu(f)),
            logged_rps_ratio: m(&|[f, l, _]| rps(l, f)),
            logged_rps_ratios: runs.iter().map(|[f, l, _]| rps(l, f)).collect(),
            logged_cpu_ratio: m(&|[f, l, _]| cpu(l) / cpu(f)),
            over_logged_rps_ratio: m(&|[_, l, k]| rps(k, l)),
        });
    }
    Ok(rows)
}

/// The floor's environment: [`floor_url`], an IMS token the benchmark
/// fetched, and the client id ACCS wants in `x-api-key`.
pub(super) async fn floor_env(b: &Bench) -> Result<(String, String)> {
    let token = b.admin.token(CLIENT_ID, CLIENT_SECRET).await?;
    Ok((floor_url(b), token))
}

/// Waits until the component at `base` answers a product read (its first one
/// fetches a token).
async fn first_read(b: &Bench, base: &str) -> Result<()> {
    let read = component_read(base);
    procs::wait_for(&b.client, &read.url, &read.headers, Duration::from_secs(30)).await?;
    Ok(())
}

/// The floor (with `--env`) and the `wasmtime` build as in figure 1 (token
/// file on, in the returned directory), each in its own `wasmtime serve`,
/// both answering and the component past its first product read; with
/// `callgrind`, both under it. Also returns the IMS token in the floor's
/// environment.
pub(super) async fn serve_pair(
    b: &Bench,
    floor_wasm: &Path,
    callgrind: bool,
) -> Result<(procs::Serve, procs::Serve, TempDir, String)> {
    let (url, token) = floor_env(b).await?;
    let env = [
        ("UPSTREAM", url.as_str()),
        ("BEARER", token.as_str()),
        ("API_KEY", CLIENT_ID),
    ];
    let cache = TempDir::new("floor-cache")?;
    let opts = procs::ServeOpts {
        token_cache: Some(cache.0.clone()),
        ..Default::default()
    };
    let (floor, edge) = if callgrind {
        (
            procs::spawn_serve_floor_callgrind(floor_wasm, &env)?,
            procs::spawn_serve_callgrind(&b.wasm, &b.sim, &opts)?,
        )
    } else {
        (
            procs::spawn_serve_floor(floor_wasm, &env)?,
            procs::spawn_serve(&b.wasm, &b.sim, &opts)?,
        )
    };
    floor.wait_ready(&b.client).await?;
    edge.wait_ready(&b.client).await?;
    first_read(b, &edge.base).await?;
    Ok((floor, edge, cache, token))
}

/// `wasmtime serve`: the floor with `--env`, the `wasmtime` build as in
/// figure 1 (token file on).
async fn on_wasmtime(b: &Bench, floor_wasm: &Path) -> Result<HostFloor> {
    let (floor, edge, _cache, token) = serve_pair(b, floor_wasm, false).await?;
    let url = floor_url(b);
    let logged = procs::spawn_serve_floor(
        floor_wasm,
        &[
            ("UPSTREAM", url.as_str()),
            ("BEARER", token.as_str()),
            ("API_KEY", CLIENT_ID),
            ("LOG_LINE", LOG_LINE),
        ],
    )?;
    logged.wait_ready(&b.client).await?;
    let edge_read = component_read(&edge.base);
    let floor_read = super::plain(&floor.base, "/");
    let logged_read = super::plain(&logged.base, "/");
    let fcpu = || floor.proc.cpu_time().unwrap_or_default();
    let lcpu = || logged.proc.cpu_time().unwrap_or_default();
    let kcpu = || edge.proc.cpu_time().unwrap_or_default();
    let rows = compare(
        b,
        "wasmtime serve",
        (&fcpu, &floor_read),
        (&lcpu, &logged_read),
        (&kcpu, &edge_read),
    )
    .await?;
    Ok(HostFloor {
        host: "`wasmtime serve`".into(),
        build: "`wasmtime` (figure 1's `wasmtime serve` flags, token file on)",
        floor_how: format!(
            "wasmtime serve --addr=127.0.0.1:<port> {} \\\n  --env UPSTREAM=http://127.0.0.1:<sim>/tenant-bench/V1/products/{SKU} \\\n  --env BEARER=<IMS token> --env API_KEY={CLIENT_ID} accs_floor_p3.wasm",
            procs::FLOOR_SERVE_FLAGS.join(" ")
        ),
        rows,
    })
}

/// On the Spin `bin`: the floor `(name, wasm)` in a manifest with
/// `environment`, and `edge_wasm` under the shipped `spin.toml`, each in its
/// own `spin up`, both answering; with `callgrind`, both under it. Returns
/// them once the component has answered a product read, the floor's
/// manifest and the IMS token in it.
pub(super) async fn spin_pair(
    b: &Bench,
    root: &Path,
    bin: &str,
    (floor_name, floor_wasm): (&str, &Path),
    edge_wasm: &Path,
    callgrind: bool,
) -> Result<(procs::SpinUp, procs::SpinUp, String, String)> {
    let (url, token) = floor_env(b).await?;
    let manifest = floor_manifest(floor_name, floor_wasm, &b.sim.base, &url, &token, None);
    let spawn = if callgrind {
        procs::spawn_spin_callgrind
    } else {
        spawn_spin
    };
    let floor = spawn(bin, &manifest, &[], "spin-floor")?;
    let edge = spawn(
        bin,
        &edge_manifest(root, edge_wasm)?,
        &edge_vars(b),
        "spin-edge",
    )?;
    floor
        .wait_ready(&b.client, "/", &Default::default())
        .await?;
    edge.wait_ready(&b.client, "/healthz", &Default::default())
        .await?;
    first_read(b, &edge.base).await?;
    Ok((floor, edge, manifest, token))
}

/// Spin 4.1+: the floor in a manifest with `environment`, the `spin-p3`
/// build under the shipped `spin.toml`.
async fn on_spin(
    b: &Bench,
    root: &Path,
    bin: &str,
    version: &str,
    floor_wasm: &Path,
    edge_wasm: &Path,
) -> Result<HostFloor> {
    let (floor, edge, manifest, token) = spin_pair(
        b,
        root,
        bin,
        ("accs-floor-p3", floor_wasm),
        edge_wasm,
        false,
    )
    .await?;
    let url = floor_url(b);
    let logged_manifest = floor_manifest(
        "accs-floor-p3",
        floor_wasm,
        &b.sim.base,
        &url,
        &token,
        Some(LOG_LINE),
    );
    let logged = spawn_spin(bin, &logged_manifest, &[], "spin-floor-log")?;
    logged
        .wait_ready(&b.client, "/", &Default::default())
        .await?;
    let edge_read = component_read(&edge.base);
    let floor_read = super::plain(&floor.base, "/");
    let logged_read = super::plain(&logged.base, "/");
    let fcpu = || floor.cpu_time();
    let lcpu = || logged.cpu_time();
    let kcpu = || edge.cpu_time();
    let rows = compare(
        b,
        "spin-p3",
        (&fcpu, &floor_read),
        (&lcpu, &logged_read),
        (&kcpu, &edge_read),
    )
    .await?;
    Ok(HostFloor {
        host: version.to_owned(),
        build: "`spin-p3` (the shipped `spin.toml`, variables as in figure 6)",
        floor_how: format!(
            "$SPIN_P3 up -f <tmp>/spin.toml --listen 127.0.0.1:<port>\n\n{}",
            manifest
                .replace(&token, "<IMS token>")
                .replace(&b.sim.base, "http://127.0.0.1:<sim>")
                .replace(&floor_wasm.display().to_string(), "accs_floor_p3.wasm")
        ),
        rows,
    })
}

/// Figure 7 on every host available: `wasmtime serve` always, Spin when
/// `spin_p3` (its CLI, version and the `spin-p3` `.wasm`) is given.
pub async fn run(
    b: &Bench,
    root: &Path,
    floor_wasm: &Path,
    spin_p3: Option<(&str, &str, &Path)>,
    skipped: Vec<String>,
) -> Result<FloorReport> {
    let mut hosts = vec![on_wasmtime(b, floor_wasm).await?];
    if let Some((bin, version, edge_wasm)) = spin_p3 {
        hosts.push(on_spin(b, root, bin, version, floor_wasm, edge_wasm).await?);
    }
    Ok(FloorReport {
        runs: b.runs,
        size_floor: std::fs::metadata(floor_wasm).map(|m| m.len()).unwrap_or(0),
        hosts,
        skipped,
    })
}
