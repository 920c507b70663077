//! The token file under the real `wasmtime serve`: its `wasi:keyvalue` keeps
//! nothing between instances and it drops an instance after 1 s idle or 128
//! requests (and starts one per request while none is ready), so without
//! `token_cache_dir` sparse or heavy load asks IMS again and again. With
//! `--dir HOST::/cache -Sconfig-var=token_cache_dir=/cache` it asks once.

mod common;

use common::serve::*;
use common::*;
use futures::StreamExt;
use std::time::Duration;

/// The arguments that give the component its token directory.
fn cache_args(dir: &TempDir) -> Vec<String> {
    vec![
        "--dir".to_owned(),
        format!("{}::/cache", dir.0.display()),
        "-Sconfig-var=token_cache_dir=/cache".to_owned(),
    ]
}

async fn read(client: &reqwest::Client, base: &str, sku: &str) -> (u16, String) {
    let r = client
        .get(format!("{base}/v1/products/{sku}"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let head = format!("{:?}", r.headers());
    let text = format!("{head} {}", r.text().await.unwrap());
    (status, text)
}

fn token_sources(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let json = &l[l.find('{')?..];
            let v: serde_json::Value = serde_json::from_str(json).ok()?;
            Some(v.get("token_source")?.as_str()?.to_owned())
        })
        .collect()
}

/// Requests 2 s apart: each lands on a new instance.
async fn spaced(with_dir: bool) -> (u64, Vec<String>) {
    let sim = start_sim().await;
    let tag = if with_dir { "spaced-dir" } else { "spaced" };
    let cache = TempDir::new(&format!("{tag}-cache"));
    let extra = if with_dir { cache_args(&cache) } else { vec![] };
    let served = serve(&sim, tag, &extra).await;
    let client = reqwest::Client::new();
    let mut captured = Vec::new();
    for i in 0..4 {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let (status, text) = read(&client, &served.base, &format!("SKU-{:04}", i + 1)).await;
        assert_eq!(status, 200, "{text}");
        captured.push(text);
    }
    let log = served.log();
    captured.push(log.clone());
    assert_no_secrets(&sim, &captured);
    (sim.counters().token_requests, token_sources(&log))
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_two_seconds_apart_cost_one_ims_call_with_the_token_file() {
    let (with_dir, without) = tokio::join!(spaced(true), spaced(false));
    eprintln!(
        "IMS calls for 4 requests 2 s apart: {} with token_cache_dir, {} without",
        with_dir.0, without.0
    );
    assert_eq!(with_dir.0, 1, "with the token file");
    assert_eq!(with_dir.1, ["ims", "file", "file", "file"]);
    // What the file saves: every new instance asks IMS again.
    assert_eq!(without.0, 4, "without it");
    assert_eq!(without.1, ["ims", "ims", "ims", "ims"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_requests_at_concurrency_sixteen_cost_one_ims_call() {
    let sim = start_sim().await;
    let cache = TempDir::new("thousand-cache");
    let served = serve(&sim, "thousand", &cache_args(&cache)).await;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let answers: Vec<(u16, String)> = futures::stream::iter(0..1000)
        .map(|i| {
            let (client, base) = (client.clone(), served.base.clone());
            async move { read(&client, &base, &format!("SKU-{:04}", i % 50 + 1)).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let took = started.elapsed();
    assert_eq!(answers.len(), 1000);
    for (status, text) in &answers {
        assert_eq!(*status, 200, "{text}");
    }
    let log = served.log();
    let sources = token_sources(&log);
    let count = |s: &str| sources.iter().filter(|x| *x == s).count();
    eprintln!(
        "1000 requests at c=16 in {took:?}: {} IMS call(s); token from memory {}, file {}, ims {}",
        sim.counters().token_requests,
        count("memory"),
        count("file"),
        count("ims")
    );
    assert_eq!(sim.counters().token_requests, 1, "one IMS call in total");
    assert_eq!(count("ims"), 1);
    assert_eq!(sim.counters().accs_requests, 1000);
    let mut left: Vec<String> = std::fs::read_dir(&cache.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 1, "the token file alone: {left:?}");
    assert!(left[0].starts_with("accs-edge-ims-token-v2-"));
    let mut captured: Vec<String> = answers.into_iter().map(|(_, t)| t).collect();
    captured.push(log);
    assert_no_secrets(&sim, &captured);
}
