//! One side of a side-by-side measurement (the component or a floor, on
//! one host): the medians over its runs, the same for every host.

use crate::load::Sample;
use crate::stats::{median, ms};
use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct Side {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU of the host per answered request (µs): `spin up` and its `spin
    /// trigger http`, or `wasmtime serve`.
    pub spin_cpu_us: f64,
    pub sim_cpu_us: f64,
    /// ACCS calls the simulator saw per answered request.
    pub accs_per_request: f64,
    /// Answered requests per run.
    pub requests: f64,
    /// Non-200 answers over all runs.
    pub errors: usize,
}

/// What [`side`] needs of one measured run.
pub struct SideInput<'a> {
    pub sample: &'a Sample,
    pub host_cpu: Duration,
    pub sim_cpu: Duration,
    pub accs: u64,
}

/// The medians of one side over its runs.
pub fn side(runs: &[SideInput<'_>]) -> Side {
    let m = |f: &dyn Fn(&SideInput<'_>) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    Side {
        rps: m(&|r| r.sample.rps()),
        p50_ms: m(&|r| ms(r.sample.p(0.5))),
        p99_ms: m(&|r| ms(r.sample.p(0.99))),
        spin_cpu_us: m(&|r| per_ok(r.host_cpu, r.sample)),
        sim_cpu_us: m(&|r| per_ok(r.sim_cpu, r.sample)),
        accs_per_request: m(&|r| r.accs as f64 / r.sample.ok.max(1) as f64),
        requests: m(&|r| r.sample.ok as f64),
        errors: runs.iter().map(|r| r.sample.errors).sum(),
    }
}

pub fn per_ok(d: Duration, s: &Sample) -> f64 {
    d.as_secs_f64() * 1e6 / (s.ok.max(1) as f64)
}
