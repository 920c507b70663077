//! Figure 2: cold start, from spawning `wasmtime serve` to its first answer.
//! Two fresh processes per run: one polled on `/healthz` (process start and
//! instantiation), one polled on a product read (that plus reading the
//! variables, the IMS call and the ACCS call).

use super::{Bench, component_read, fresh_client};
use crate::procs::{ServeOpts, TempDir, spawn_serve, wait_for};
use crate::stats::{median, ms};
use anyhow::Result;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct ColdRow {
    pub label: &'static str,
    pub healthz_ms: f64,
    pub product_ms: f64,
    /// The product read that answered 200, on its own (median).
    pub first_read_ms: f64,
    /// IMS calls made by the product-read process (median).
    pub ims_calls: f64,
}

const TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(b: &Bench) -> Result<Vec<ColdRow>> {
    let filled = TempDir::new("token-file")?;
    prefill(b, &filled).await?;
    let modes: [(&'static str, ServeOpts); 3] = [
        (
            "compile cache off (`-Ccache=n`), no token file",
            ServeOpts {
                no_compile_cache: true,
                ..Default::default()
            },
        ),
        ("compile cache warm, no token file", ServeOpts::default()),
        (
            "compile cache warm, token file left by an earlier process",
            ServeOpts {
                token_cache: Some(filled.0.clone()),
                ..Default::default()
            },
        ),
    ];
    let mut rows = Vec::new();
    for (label, opts) in modes {
        let (mut health, mut product, mut first, mut ims) = (vec![], vec![], vec![], vec![]);
        for i in 0..b.runs {
            health.push(ms(time_to_healthz(b, &opts).await?));
            let (total, last, calls) = time_to_product(b, &opts).await?;
            product.push(ms(total));
            first.push(ms(last));
            ims.push(calls as f64);
            eprintln!(
                "accs-bench: cold [{label}] run {}: healthz {:.0} ms, product {:.0} ms ({calls} IMS calls)",
                i + 1,
                health[i],
                product[i]
            );
        }
        rows.push(ColdRow {
            label,
            healthz_ms: median(&health),
            product_ms: median(&product),
            first_read_ms: median(&first),
            ims_calls: median(&ims),
        });
    }
    Ok(rows)
}

/// Leaves a token file in `dir` for the warm-token-file mode.
async fn prefill(b: &Bench, dir: &TempDir) -> Result<()> {
    let opts = ServeOpts {
        token_cache: Some(dir.0.clone()),
        ..Default::default()
    };
    let serve = spawn_serve(&b.wasm, &b.sim, &opts)?;
    let t = component_read(&serve.base);
    wait_for(&fresh_client(), &t.url, &t.headers, TIMEOUT).await?;
    Ok(())
}

async fn time_to_healthz(b: &Bench, opts: &ServeOpts) -> Result<Duration> {
    let client = fresh_client();
    let started = Instant::now();
    let serve = spawn_serve(&b.wasm, &b.sim, opts)?;
    let url = format!("{}/healthz", serve.base);
    let done = wait_for(&client, &url, &Default::default(), TIMEOUT).await?;
    Ok(done - started)
}

/// Spawn to the first 200 on a product read; also that read's own time and
/// the IMS calls the process made.
async fn time_to_product(b: &Bench, opts: &ServeOpts) -> Result<(Duration, Duration, u64)> {
    b.admin.reset().await?;
    let client = fresh_client();
    let started = Instant::now();
    let serve = spawn_serve(&b.wasm, &b.sim, opts)?;
    let t = component_read(&serve.base);
    let deadline = started + TIMEOUT;
    loop {
        let attempt = Instant::now();
        if let Ok(r) = client.get(&t.url).headers(t.headers.clone()).send().await {
            let status = r.status();
            let _ = r.bytes().await;
            if status == 200 {
                let done = Instant::now();
                let calls = b.admin.counters().await?.token_requests;
                return Ok((done - started, done - attempt, calls));
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no product read within {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
