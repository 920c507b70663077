//! Figure 8: instructions per request of the `wasmtime serve` process, counted
//! by callgrind. Unlike req/s and CPU time, an instruction count does not move
//! with whatever else this shared machine is doing, so it is the figure that
//! shows what one change to the hot path bought. The floor (`crates/floor-p3`)
//! and the component each run in their own `wasmtime serve` under
//! `valgrind --tool=callgrind`; after a warm-up, the count is zeroed, `READS`
//! sequential requests are made, and the dump's total is divided by them.

use super::{Bench, component_read};
use crate::load::{self, Limits, Target};
use crate::procs::{self, Serve};
use anyhow::{Result, bail};
use std::path::Path;
use std::time::Duration;

/// Requests counted per path, after `WARMUP` uncounted ones. `wasmtime serve`
/// replaces an instance after 128 requests, so both include that cost alike.
pub const READS: usize = 512;
pub const WARMUP: usize = 200;
/// Requests counted per path on Spin, where the WASI 0.2 build makes a new
/// instance for each one (slow under valgrind).
pub const SPIN_READS: usize = 128;

#[derive(Debug, Clone, Copy)]
pub struct Instructions {
    pub reads: usize,
    /// Per request: the floor's proxied read, the component's product read
    /// (token file on, as in figure 7) and its `/healthz`.
    pub floor: f64,
    pub component: f64,
    pub healthz: f64,
    /// The WASI 0.2 floor making a read's host calls (Spin 3.6.3 only).
    pub calls: Option<HostCalls>,
}

impl Instructions {
    pub fn ratio(&self) -> f64 {
        self.component / self.floor.max(1.0)
    }
}

/// What the host calls of a warm read cost on a Spin: the same floor under
/// the shipped `spin.toml` making none of them, the read's variables one by
/// one, the component's variable reads, and every call the component's read
/// makes (`scenarios::spin_p2::calls_manifest`).
#[derive(Debug, Clone, Copy)]
pub struct HostCalls {
    /// How many variables a read reads (`routes::variables_for`).
    pub variables: usize,
    /// Per request, each [`super::spin_p2::Calls`] in its order.
    pub manifest: f64,
    pub individually: f64,
    pub grouped: f64,
    pub all: f64,
}

impl HostCalls {
    /// What one variable read costs: the reads' share over their count.
    pub fn per_variable(&self) -> f64 {
        (self.individually - self.manifest) / self.variables.max(1) as f64
    }
}

/// `n` sequential requests to `target`, every one a 200.
async fn sequential(b: &Bench, target: &Target, n: usize) -> Result<()> {
    let lim = Limits {
        concurrency: 1,
        max_requests: n,
        max_duration: Duration::from_secs(600),
    };
    let s = load::run(&b.client, target, lim).await;
    if s.ok != n || s.errors != 0 {
        bail!("{} of {n} requests to {} answered 200", s.ok, target.url);
    }
    Ok(())
}

/// Instructions per request of `serve` for `target`.
async fn count(b: &Bench, serve: &Serve, target: &Target) -> Result<f64> {
    sequential(b, target, WARMUP).await?;
    serve.callgrind_zero()?;
    sequential(b, target, READS).await?;
    Ok(serve.callgrind_count()? as f64 / READS as f64)
}

pub async fn run(b: &Bench, floor_wasm: &Path) -> Result<Instructions> {
    let (floor, edge, _cache, _) = super::floor_p3::serve_pair(b, floor_wasm, true).await?;
    let floor_read = super::plain(&floor.base, "/");
    let read = component_read(&edge.base);
    let health = super::plain(&edge.base, "/healthz");
    let floor_n = count(b, &floor, &floor_read).await?;
    drop(floor);
    let component = count(b, &edge, &read).await?;
    let healthz = count(b, &edge, &health).await?;
    let r = Instructions {
        reads: READS,
        floor: floor_n,
        component,
        healthz,
        calls: None,
    };
    eprintln!(
        "accs-bench: instructions per request: floor {:.0}, component read {:.0} ({:.3}x), healthz {:.0}",
        r.floor,
        r.component,
        r.ratio(),
        r.healthz
    );
    Ok(r)
}

/// The same count on a Spin: the floor (`floor_name`, `floor_wasm`) and the
/// component (`edge_wasm` under the shipped `spin.toml`), each in its own
/// `spin up` under callgrind (with the trigger process it starts), every
/// process's count summed. `reads` is smaller than on `wasmtime serve`: the
/// WASI 0.2 build instantiates per request, which valgrind makes slow. With
/// `calls`, the WASI 0.2 floor is also counted making a read's host calls
/// ([`HostCalls`]).
pub async fn on_spin(
    b: &Bench,
    root: &Path,
    bin: &str,
    (floor_name, floor_wasm): (&str, &Path),
    edge_wasm: &Path,
    reads: usize,
    calls: bool,
) -> Result<Instructions> {
    let (floor, edge, _, token) =
        super::floor_p3::spin_pair(b, root, bin, (floor_name, floor_wasm), edge_wasm, true).await?;
    let floor_read = super::plain(&floor.base, "/");
    let read = component_read(&edge.base);
    let health = super::plain(&edge.base, "/healthz");
    let mut counted = Vec::new();
    for (s, t) in [(&floor, &floor_read), (&edge, &read), (&edge, &health)] {
        counted.push(count_spin(b, s, t, reads).await?);
    }
    drop((floor, edge));
    let calls = if calls {
        use super::spin_p2::{Calls, calls_manifest, read_variables};
        let url = super::floors::floor_url(b);
        let mut with = Vec::new();
        for kind in [
            Calls::Manifest,
            Calls::Variables,
            Calls::Grouped,
            Calls::All,
        ] {
            let manifest = calls_manifest(root, floor_wasm, &url, &token, kind)?;
            let env = super::spin_setup::edge_vars(b);
            let tag = format!("spin-floor-{kind:?}");
            let s = procs::spawn_spin_callgrind(bin, &manifest, &env, &tag)?;
            s.wait_ready(&b.client, "/", &Default::default()).await?;
            with.push(count_spin(b, &s, &super::plain(&s.base, "/"), reads).await?);
        }
        Some(HostCalls {
            variables: read_variables().split(',').count(),
            manifest: with[0],
            individually: with[1],
            grouped: with[2],
            all: with[3],
        })
    } else {
        None
    };
    let r = Instructions {
        reads,
        floor: counted[0],
        component: counted[1],
        healthz: counted[2],
        calls,
    };
    eprintln!(
        "accs-bench: instructions per request on {bin}: floor {:.0}, component read {:.0} ({:.3}x), healthz {:.0}{}",
        r.floor,
        r.component,
        r.ratio(),
        r.healthz,
        r.calls.map_or(String::new(), |c| format!(
            "; the floor under the shipped spin.toml: no call {:.0}, {} variables one by one {:.0} ({:.0} per variable), the component's reads {:.0}, every host call of the read {:.0}",
            c.manifest,
            c.variables,
            c.individually,
            c.per_variable(),
            c.grouped,
            c.all
        ))
    );
    Ok(r)
}

/// Instructions per request of every process of `s` over `reads` sequential
/// requests to `t`, after uncounted ones.
async fn count_spin(b: &Bench, s: &procs::SpinUp, t: &Target, reads: usize) -> Result<f64> {
    sequential(b, t, WARMUP / 4).await?;
    s.callgrind_zero()?;
    sequential(b, t, reads).await?;
    Ok(s.callgrind_count()? as f64 / reads as f64)
}
