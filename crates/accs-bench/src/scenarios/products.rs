//! Figure 9: product syncs. The same products upserted through the
//! component two ways while the simulator takes `SAVE_MS` for every product
//! save (`POST /_admin/faults {"product_save_latency_ms":200}`): one
//! `PUT /v1/products/{sku}` per product, `CONCURRENCY` at a time (what the
//! products webhook sends at the default `sync_concurrency`), against one
//! `POST /v1/products/bulk`, which hands them to ACCS's asynchronous bulk API
//! in chunks of `CHUNK`. ACCS applies bulk operations later, in its
//! consumers; the figure is the time to the caller's answer and the ACCS
//! calls made, not the time until ACCS's queue is empty.

use super::Bench;
use crate::procs::{API_KEY, Serve};
use crate::stats::{median, ms};
use anyhow::{Context as _, Result, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const COUNTS: [usize; 2] = [1_000, 10_000];
pub const SAVE_MS: u64 = 200;
pub const CHUNK: usize = 500;
pub const CONCURRENCY: usize = 4;
/// Per-product PUTs take minutes: at most 3 runs of 1,000 and one of 10,000.
const PUT_RUNS: usize = 3;
const PUT_RUNS_ABOVE_1000: usize = 1;
const PUT_ROUTE: &str = "PUT /V1/products/{sku}";
const BULK_ROUTE: &str = "POST /V1/async/bulk/products";

/// The variables the main `wasmtime serve` gets for this figure.
pub fn vars() -> Vec<(String, String)> {
    vec![("bulk_chunk_size".into(), CHUNK.to_string())]
}

#[derive(Debug)]
pub struct ProductRow {
    pub path: &'static str,
    pub products: usize,
    pub runs: usize,
    /// Time to the (last) answer, median of the runs.
    pub wall_ms: f64,
    /// The latency-bound minimum of the path: ceil(products / concurrency)
    /// saves for PUTs; none for the bulk path, whose saves happen later.
    pub min_ms: Option<f64>,
    pub put_calls: f64,
    pub bulk_calls: f64,
    pub statuses: Vec<u16>,
    /// Products answered as landed (PUT) or accepted (bulk), median.
    pub done: f64,
    pub body_bytes: usize,
}

pub enum ProductResult {
    Rows(Vec<ProductRow>),
    Unavailable(String),
}

fn product(i: usize) -> serde_json::Value {
    serde_json::json!({
        "name": format!("Bench product {i}"),
        "attribute_set_id": 4,
        "price": 10 + i % 90,
        "status": 1,
        "visibility": 4,
        "type_id": "simple",
        "weight": 1,
        "custom_attributes": [
            {"attribute_code": "description",
             "value": "A product of the benchmark catalog, with a description about as long as a short one in a real catalog."},
            {"attribute_code": "url_key", "value": format!("bench-product-{i}")}
        ]
    })
}

fn sku(i: usize) -> String {
    format!("BENCH-{i:05}")
}

fn bulk_body(n: usize) -> Vec<u8> {
    let list: Vec<_> = (0..n)
        .map(|i| {
            let mut p = product(i);
            p["sku"] = sku(i).into();
            p
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "products": list })).expect("encoding products")
}

pub async fn run(b: &Bench, serve: &Serve) -> Result<ProductResult> {
    // The bulk rows first: they are short and CPU-bound, the PUT rows
    // minutes long and bound by the simulator's latency.
    let mut bulk = Vec::new();
    for n in COUNTS {
        match bulk_row(b, serve, n).await? {
            Ok(row) => bulk.push(row),
            Err(why) => return Ok(ProductResult::Unavailable(why)),
        }
    }
    let mut rows = Vec::new();
    for (n, bulk) in COUNTS.into_iter().zip(bulk) {
        let put_runs = if n > 1_000 {
            PUT_RUNS_ABOVE_1000
        } else {
            b.runs.min(PUT_RUNS)
        };
        rows.push(put_row(b, serve, n, put_runs).await?);
        rows.push(bulk);
    }
    Ok(ProductResult::Rows(rows))
}

async fn put_row(b: &Bench, serve: &Serve, n: usize, runs: usize) -> Result<ProductRow> {
    let (mut wall, mut puts, mut bulks, mut done, mut statuses) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..runs {
        b.admin.reset().await?;
        b.admin.set_product_save_latency(SAVE_MS).await?;
        let started = Instant::now();
        let (ok, mut st) = put_all(b, serve, n).await?;
        let took = ms(started.elapsed());
        let c = b.admin.counters().await?;
        eprintln!(
            "accs-bench: products PUT x{n} run {}: {took:.0} ms, {ok} ok",
            i + 1
        );
        wall.push(took);
        puts.push(c.by_route.get(PUT_ROUTE).copied().unwrap_or(0) as f64);
        bulks.push(c.by_route.get(BULK_ROUTE).copied().unwrap_or(0) as f64);
        done.push(ok as f64);
        statuses.append(&mut st);
    }
    b.admin.reset().await?;
    statuses.sort_unstable();
    statuses.dedup();
    Ok(ProductRow {
        path: "one `PUT /v1/products/{sku}` per product",
        products: n,
        runs,
        wall_ms: median(&wall),
        min_ms: Some((n.div_ceil(CONCURRENCY) as u64 * SAVE_MS) as f64),
        put_calls: median(&puts),
        bulk_calls: median(&bulks),
        statuses,
        done: median(&done),
        body_bytes: (0..n)
            .map(|i| {
                serde_json::json!({ "product": product(i) })
                    .to_string()
                    .len()
            })
            .sum(),
    })
}

/// `n` PUTs, `CONCURRENCY` at a time; the number answered 200 and the
/// statuses seen.
async fn put_all(b: &Bench, serve: &Serve, n: usize) -> Result<(usize, Vec<u16>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, base, next) = (b.client.clone(), serve.base.clone(), next.clone());
            tokio::spawn(async move {
                let (mut ok, mut statuses) = (0, Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let body = serde_json::json!({ "product": product(i) });
                    let r = client
                        .put(format!("{base}/v1/products/{}", sku(i)))
                        .header("authorization", format!("Bearer {API_KEY}"))
                        .header("content-type", "application/json")
                        .timeout(Duration::from_secs(60))
                        .body(body.to_string())
                        .send()
                        .await;
                    let status = match r {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            let _ = r.bytes().await;
                            s
                        }
                        Err(_) => 0,
                    };
                    ok += usize::from(status == 200);
                    statuses.push(status);
                }
                statuses.sort_unstable();
                statuses.dedup();
                (ok, statuses)
            })
        })
        .collect();
    let (mut ok, mut statuses) = (0, Vec::new());
    for w in workers {
        let (o, mut s) = w.await.context("a PUT worker")?;
        ok += o;
        statuses.append(&mut s);
    }
    Ok((ok, statuses))
}

async fn bulk_row(b: &Bench, serve: &Serve, n: usize) -> Result<Result<ProductRow, String>> {
    let body = bulk_body(n);
    let url = format!("{}/v1/products/bulk", serve.base);
    let (mut wall, mut puts, mut bulks, mut done, mut statuses) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..b.runs {
        b.admin.reset().await?;
        b.admin.set_product_save_latency(SAVE_MS).await?;
        let started = Instant::now();
        let r = b
            .client
            .post(&url)
            .header("authorization", format!("Bearer {API_KEY}"))
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(60))
            .body(body.clone())
            .send()
            .await;
        let (status, answer) = match r {
            Ok(r) => (r.status().as_u16(), r.bytes().await.unwrap_or_default()),
            Err(e) => return Ok(Err(format!("no answer: {e}"))),
        };
        let took = ms(started.elapsed());
        if status == 404 || status == 405 {
            return Ok(Err(format!(
                "`POST /v1/products/bulk` answered {status} (not built in this checkout)"
            )));
        }
        let c = b.admin.counters().await?;
        let accepted = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["summary"]["accepted"].as_f64())
            .unwrap_or(0.0);
        eprintln!(
            "accs-bench: products bulk x{n} run {}: {status} in {took:.0} ms, {accepted} accepted",
            i + 1
        );
        wall.push(took);
        puts.push(c.by_route.get(PUT_ROUTE).copied().unwrap_or(0) as f64);
        bulks.push(c.by_route.get(BULK_ROUTE).copied().unwrap_or(0) as f64);
        done.push(accepted);
        statuses.push(status);
    }
    b.admin.reset().await?;
    if done.iter().any(|&d| d < n as f64) {
        bail!("the bulk path accepted fewer than {n} products: {done:?}");
    }
    statuses.sort_unstable();
    statuses.dedup();
    Ok(Ok(ProductRow {
        path: "one `POST /v1/products/bulk`",
        products: n,
        runs: b.runs,
        wall_ms: median(&wall),
        min_ms: None,
        put_calls: median(&puts),
        bulk_calls: median(&bulks),
        statuses,
        done: median(&done),
        body_bytes: body.len(),
    }))
}
