//! A closed-loop load generator: `concurrency` workers, each sending its next
//! request as soon as the previous answer is read, until a request budget or
//! a deadline runs out (both bounded, so a wedged server cannot hang a run).

use crate::stats::percentile;
use reqwest::header::HeaderMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What to request: one URL with fixed headers.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub headers: HeaderMap,
}

#[derive(Clone, Copy)]
pub struct Limits {
    pub concurrency: usize,
    pub max_requests: usize,
    pub max_duration: Duration,
}

/// One run: successes carry a latency, anything but 200 counts as an error.
#[derive(Debug, Default)]
pub struct Sample {
    pub ok: usize,
    pub errors: usize,
    pub elapsed: Duration,
    /// Sorted, microseconds, successes only.
    pub latencies_us: Vec<u32>,
}

impl Sample {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn p(&self, q: f64) -> Duration {
        percentile(&self.latencies_us, q)
    }
}

/// A client that keeps connections alive, as a real caller would.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("building the load client")
}

pub async fn run(client: &reqwest::Client, target: &Target, limits: Limits) -> Sample {
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + limits.max_duration;
    let workers: Vec<_> = (0..limits.concurrency.max(1))
        .map(|_| {
            let (client, target, issued) = (client.clone(), target.clone(), issued.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0usize;
                while issued.fetch_add(1, Ordering::Relaxed) < limits.max_requests
                    && Instant::now() < deadline
                {
                    let t = Instant::now();
                    let ok = match client
                        .get(&target.url)
                        .headers(target.headers.clone())
                        .send()
                        .await
                    {
                        // The body is read in full: the answer is not done before.
                        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut sample = Sample::default();
    for w in workers {
        if let Ok((lat, errors)) = w.await {
            sample.ok += lat.len();
            sample.errors += errors;
            sample.latencies_us.extend(lat);
        }
    }
    sample.elapsed = started.elapsed();
    sample.latencies_us.sort_unstable();
    sample
}
