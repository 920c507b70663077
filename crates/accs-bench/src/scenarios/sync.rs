//! Figure 4: sync throughput. 10,000 inventory items in one
//! `POST /v1/inventory/source-items` while the simulator adds latency to each
//! ACCS call, against the latency-bound minimum
//! ceil(items / batch / concurrency) x latency. At 0 ms added latency the same
//! run shows what the component's own work (parse, validate, split, encode,
//! answer) costs.
//!
//! Side by side, the benchmark itself posts the same 20 batches straight to
//! the simulator, 4 at a time: the floor any client reaches, the simulator's
//! own parsing included.

use super::{Bench, component_read, direct_read};
use crate::load::Target;
use crate::procs::{API_KEY, CLIENT_ID, CLIENT_SECRET, Serve};
use crate::stats::{median, ms};
use anyhow::{Result, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const ITEMS: usize = 10_000;
pub const BATCH: usize = 500;
pub const CONCURRENCY: usize = 4;
pub const LATENCIES_MS: [u64; 2] = [50, 0];
const ROUTE: &str = "POST /V1/inventory/source-items";

/// The variables the main `wasmtime serve` gets, so the minimum is computed
/// from what the component was told, not from its defaults.
pub fn vars() -> Vec<(String, String)> {
    vec![
        ("sync_batch_size".into(), BATCH.to_string()),
        ("sync_concurrency".into(), CONCURRENCY.to_string()),
    ]
}

#[derive(Debug)]
pub struct SyncRow {
    pub latency_ms: u64,
    pub wall_ms: f64,
    /// The same batches posted straight to the simulator (median).
    pub direct_ms: f64,
    pub min_ms: f64,
    /// Wall over minimum, per run, then the median; none at 0 ms.
    pub ratio: Option<f64>,
    /// The lowest and highest of those per-run ratios.
    pub ratio_range: (f64, f64),
    /// Component over direct, per run, then the median.
    pub direct_ratio: f64,
    /// ACCS source-items calls per sync (median).
    pub accs_calls: f64,
    pub body_bytes: usize,
    pub statuses: Vec<u16>,
    /// Items the component reported as landed (median).
    pub ok_items: f64,
}

pub enum SyncResult {
    Rows(Vec<SyncRow>),
    /// The route answered 404 (not built yet) or not at all.
    Unavailable(String),
}

pub fn min_ms(latency_ms: u64) -> f64 {
    let rounds = ITEMS.div_ceil(BATCH).div_ceil(CONCURRENCY);
    (rounds as u64 * latency_ms) as f64
}

fn items(range: std::ops::Range<usize>) -> Vec<u8> {
    let items: Vec<_> = range
        .map(|i| {
            serde_json::json!({
                "sku": format!("SKU-{:05}", i + 1),
                "source_code": "default",
                "quantity": i % 100,
                "status": 1,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "sourceItems": items })).expect("encoding items")
}

pub async fn run(b: &Bench, serve: &Serve) -> Result<SyncResult> {
    let body = items(0..ITEMS);
    let batches: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..ITEMS)
            .step_by(BATCH)
            .map(|s| items(s..(s + BATCH).min(ITEMS)))
            .collect(),
    );
    let direct = direct_read(&b.sim, &b.admin.token(CLIENT_ID, CLIENT_SECRET).await?);
    let url = format!("{}/v1/inventory/source-items", serve.base);
    let warm = component_read(&serve.base);
    let mut rows = Vec::new();
    for latency in LATENCIES_MS {
        let (mut wall, mut ratio, mut calls, mut ok) = (vec![], vec![], vec![], vec![]);
        let (mut direct_wall, mut direct_ratio) = (vec![], vec![]);
        let mut statuses = Vec::new();
        for i in 0..b.runs {
            b.admin.reset().await?;
            b.admin.set_latency(latency, 0).await?;
            let direct_first = i % 2 == 1;
            let mut direct_ms = 0.0;
            if direct_first {
                direct_ms = post_direct(b, &direct, &batches).await?;
            }
            // A token in the instance's memory first: the sync is what counts.
            touch(b, &warm).await;
            let started = Instant::now();
            let resp = b
                .client
                .post(&url)
                .header("authorization", format!("Bearer {API_KEY}"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            let (status, answer) = match resp {
                Ok(r) => (r.status().as_u16(), r.bytes().await.unwrap_or_default()),
                Err(e) => return Ok(SyncResult::Unavailable(format!("no answer: {e}"))),
            };
            let took = ms(started.elapsed());
            let counters = b.admin.counters().await?;
            if !direct_first {
                direct_ms = post_direct(b, &direct, &batches).await?;
            }
            b.admin.reset().await?;
            if status == 404 {
                return Ok(SyncResult::Unavailable(
                    "the route answered 404 (not built in this checkout)".into(),
                ));
            }
            let landed = serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v["summary"]["ok"].as_f64())
                .unwrap_or(0.0);
            // The direct batches, when sent first, are in the counters too.
            let n = counters.by_route.get(ROUTE).copied().unwrap_or(0)
                - if direct_first {
                    batches.len() as u64
                } else {
                    0
                };
            eprintln!(
                "accs-bench: sync +{latency} ms run {}: {status} in {took:.0} ms (direct {direct_ms:.0} ms), {n} ACCS calls, {landed} items ok",
                i + 1
            );
            wall.push(took);
            direct_wall.push(direct_ms);
            direct_ratio.push(took / direct_ms.max(1e-3));
            if latency > 0 {
                ratio.push(took / min_ms(latency));
            }
            calls.push(n as f64);
            ok.push(landed);
            statuses.push(status);
        }
        statuses.sort_unstable();
        statuses.dedup();
        rows.push(SyncRow {
            latency_ms: latency,
            wall_ms: median(&wall),
            direct_ms: median(&direct_wall),
            min_ms: min_ms(latency),
            ratio: (!ratio.is_empty()).then(|| median(&ratio)),
            ratio_range: ratio
                .iter()
                .fold((f64::INFINITY, 0.0), |(lo, hi), &x| (lo.min(x), hi.max(x))),
            direct_ratio: median(&direct_ratio),
            accs_calls: median(&calls),
            body_bytes: body.len(),
            statuses,
            ok_items: median(&ok),
        });
    }
    Ok(SyncResult::Rows(rows))
}

/// Posts `batches` straight to the simulator, `CONCURRENCY` at a time;
/// returns the wall time in ms.
async fn post_direct(b: &Bench, direct: &Target, batches: &Arc<Vec<Vec<u8>>>) -> Result<f64> {
    let url = format!("{}/V1/inventory/source-items", b.sim.accs_base());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, headers) = (b.client.clone(), direct.headers.clone());
            let (url, next, batches) = (url.clone(), next.clone(), batches.clone());
            tokio::spawn(async move {
                let mut failed = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = batches.get(i) else { break };
                    let r = client
                        .post(&url)
                        .headers(headers.clone())
                        .header("content-type", "application/json")
                        .timeout(Duration::from_secs(30))
                        .body(body.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                        }
                        _ => failed += 1,
                    }
                }
                failed
            })
        })
        .collect();
    let mut failed = 0;
    for w in workers {
        failed += w.await.unwrap_or(1);
    }
    if failed > 0 {
        bail!("{failed} direct batches failed");
    }
    Ok(ms(started.elapsed()))
}

async fn touch(b: &Bench, t: &Target) {
    if let Ok(r) = b.client.get(&t.url).headers(t.headers.clone()).send().await {
        let _ = r.bytes().await;
    }
}
