//! The journal job end to end, called as the schedulers of docs/DEPLOY.md
//! call it: a plain `GET /v1/jobs/journal?key=...` (Akamai's cron) on the
//! default build under the real `spin up` (Spin 3.6.3 in CI, the shipped
//! `spin.toml`, whose `allowed_outbound_hosts` must let the journal in), and
//! a `POST` with the key in `Authorization` (a CronJob, a systemd timer) on
//! `wasmtime serve`, whose lease and position live in `token_cache_dir`.
//! The journal is the simulator's Journaling API. Every
//! answer and log line is checked for the query key.
//!
//! Without the Spin the first test needs it prints one `SKIPPED` line and
//! asserts nothing (as `tests/e2e_spin.rs`).

mod common;

use common::serve::*;
use common::spin::*;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const STOCK: &str = "com.acme.stock.updated";
const CRON_KEY: &str = "cron-key-e2e-0123456789abcdef0123456789";

fn stock_event(sim: &accs_sim::Sim, n: usize) -> Value {
    let data = json!({"sourceItems": [{"sku": format!("E2E-JOB-{n:04}"), "source_code": "default", "quantity": 2, "status": 1}]});
    sim.io_events()
        .event(&format!("ev-e2e-job-{n}"), STOCK, CLIENT_ID, data)
}

fn receipts(sim: &accs_sim::Sim) -> BTreeMap<String, u32> {
    sim.inventory_receipts()
        .into_iter()
        .filter(|((sku, _), _)| sku.starts_with("E2E-JOB-"))
        .map(|((sku, _), n)| (sku, n))
        .collect()
}

async fn get(base: &str, path: &str, captured: &mut Vec<String>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let head = format!("{:?}", r.headers());
    let text = r.text().await.unwrap();
    captured.push(format!("{head} {text}"));
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post_with_header(base: &str, key: &str, captured: &mut Vec<String>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/jobs/journal"))
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    captured.push(text.clone());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_default_build_runs_the_journal_job_from_a_cron_style_get() {
    let test = "spin_default_build_runs_the_journal_job_from_a_cron_style_get";
    let Some(bin) = spin_for(SpinBuild::P2, test) else {
        return;
    };
    secret(CRON_KEY);
    let sim = start_sim().await;
    let mut vars = spin_vars(&sim);
    let keys = vars["api_keys"].clone();
    vars.insert(
        "api_keys".into(),
        format!("{keys},cron:{CRON_KEY}:jobs.run+query"),
    );
    vars.insert("io_events_actions".into(), format!("{STOCK}=inventory"));
    vars.insert(
        "io_events_key_origin".into(),
        sim.io_events().key_origin().into(),
    );
    vars.insert("journal_url".into(), sim.journal_url());
    let origin = sim.journal_url();
    let origin = origin[..origin.find("/events/").unwrap()].to_owned();
    vars.insert("journal_origin".into(), origin);
    vars.insert("journal_limit".into(), "20".into());
    let mut up = spin_up(
        &bin,
        SpinBuild::P2,
        Manifest::Shipped,
        "jobs",
        HostSetup {
            vars,
            runtime_config: None,
        },
    )
    .await;
    let mut captured = Vec::new();
    for n in 0..45 {
        sim.io_events().journal_push(stock_event(&sim, n));
    }
    let path = format!("/v1/jobs/journal?key={CRON_KEY}");
    let (s1, first) = get(&up.base, &path, &mut captured).await;
    assert_eq!(s1, 200, "{first}");
    for n in 45..50 {
        sim.io_events().journal_push(stock_event(&sim, n));
    }
    let (s2, second) = get(&up.base, &path, &mut captured).await;
    let (s3, third) = get(&up.base, &path, &mut captured).await;
    assert_eq!((s2, s3), (200, 200), "{second} {third}");
    let landed: Vec<u64> = [&first, &second, &third]
        .iter()
        .map(|v| v["landed"].as_u64().unwrap())
        .collect();
    assert_eq!(landed, [45, 5, 0]);
    assert_eq!(first["lease"], "best_effort", "the default build: {first}");
    assert_eq!(third["result"], "nothing_new");
    assert_eq!(third["retry_after_s"], 10);
    let r = receipts(&sim);
    assert_eq!(r.len(), 50);
    assert!(r.values().all(|&n| n == 1), "{r:?}");
    // The key in the query opens nothing else.
    let (s, v) = get(
        &up.base,
        &format!("/v1/token?key={CRON_KEY}"),
        &mut captured,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("unauthorized")), "{v}");
    let log = up.log();
    assert!(
        log.contains("/v1/jobs/{name}"),
        "the route's log lines: {log}"
    );
    assert!(!log.contains(CRON_KEY), "the query key in the log");
    captured.push(log);
    assert_no_secrets(&sim, &captured);
    up.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_serve_runs_the_journal_job_once_at_a_time_from_its_files() {
    secret(CRON_KEY);
    let sim = start_sim().await;
    let dir = TempDir::new("jobs-dir");
    let keys = vars(&sim)["api_keys"].replace(',', ";");
    let served = serve(
        &sim,
        "jobs",
        &[
            "--dir".to_owned(),
            format!("{}::/cache", dir.0.display()),
            "-Sconfig-var=token_cache_dir=/cache".to_owned(),
            format!("-Sconfig-var=api_keys={keys};cron:{CRON_KEY}:jobs.run"),
            format!("-Sconfig-var=io_events_actions={STOCK}=inventory"),
            format!("-Sconfig-var=journal_url={}", sim.journal_url()),
            "-Sconfig-var=journal_limit=10".to_owned(),
        ],
    )
    .await;
    let mut captured = Vec::new();
    for n in 0..40 {
        sim.io_events().journal_push(stock_event(&sim, n));
    }
    let (a, b) = tokio::join!(
        async {
            let mut c = Vec::new();
            let r = post_with_header(&served.base, CRON_KEY, &mut c).await;
            (r, c)
        },
        async {
            let mut c = Vec::new();
            let r = post_with_header(&served.base, CRON_KEY, &mut c).await;
            (r, c)
        }
    );
    captured.extend(a.1);
    captured.extend(b.1);
    let ((sa, va), (sb, vb)) = (a.0, b.0);
    println!("wasmtime serve, two runs at once: {sa} {sb}");
    assert!(sa == 200 || sb == 200, "{va} {vb}");
    for (s, v) in [(sa, &va), (sb, &vb)] {
        assert!(
            s == 200 || (s == 409 && v["code"] == "job_running"),
            "{s}: {v}"
        );
        if s == 200 {
            assert_eq!(v["lease"], "exact", "{v}");
        }
    }
    // Whatever the first two did, the next run finishes the journal.
    let (s, v) = post_with_header(&served.base, CRON_KEY, &mut captured).await;
    assert_eq!(s, 200, "{v}");
    let r = receipts(&sim);
    assert_eq!(r.len(), 40, "{r:?}");
    assert!(r.values().all(|&n| n == 1), "an event applied twice: {r:?}");
    let files: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("accs-edge-jobs-v1-"))
        .collect();
    assert!(
        files.iter().any(|n| n.ends_with("-journal-position")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|n| n.ends_with("-journal-lease")),
        "released: {files:?}"
    );
    captured.push(served.log());
    assert_no_secrets(&sim, &captured);
}

/// The default build's lease (write, wait 50 ms, read back) measured under
/// the real `spin up` on its default store: pairs of runs started together,
/// counting the pairs where both ran. Each event lands once whatever the
/// count (the ledger); the count goes to docs/ROUTES.md.
#[tokio::test(flavor = "multi_thread")]
async fn spin_default_build_lease_measured_with_pairs_of_runs() {
    let test = "spin_default_build_lease_measured_with_pairs_of_runs";
    let Some(bin) = spin_for(SpinBuild::P2, test) else {
        return;
    };
    let sim = start_sim().await;
    let mut vars = spin_vars(&sim);
    let keys = vars["api_keys"].clone();
    vars.insert(
        "api_keys".into(),
        format!("{keys},cron:{CRON_KEY}:jobs.run"),
    );
    vars.insert("io_events_actions".into(), format!("{STOCK}=inventory"));
    vars.insert("journal_url".into(), sim.journal_url());
    let origin = sim.journal_url();
    vars.insert(
        "journal_origin".into(),
        origin[..origin.find("/events/").unwrap()].to_owned(),
    );
    vars.insert("journal_limit".into(), "5".into());
    let mut up = spin_up(
        &bin,
        SpinBuild::P2,
        Manifest::Shipped,
        "jobs-pairs",
        HostSetup {
            vars,
            runtime_config: None,
        },
    )
    .await;
    let mut captured = Vec::new();
    let (mut both, mut one) = (0, 0);
    const PAIRS: usize = 20;
    for pair in 0..PAIRS {
        for n in 0..3 {
            sim.io_events()
                .journal_push(stock_event(&sim, pair * 3 + n));
        }
        let (a, b) = tokio::join!(
            async {
                let mut c = Vec::new();
                (post_with_header(&up.base, CRON_KEY, &mut c).await, c)
            },
            async {
                let mut c = Vec::new();
                (post_with_header(&up.base, CRON_KEY, &mut c).await, c)
            }
        );
        captured.extend(a.1);
        captured.extend(b.1);
        match (a.0.0, b.0.0) {
            (200, 200) => both += 1,
            (200, 409) | (409, 200) => one += 1,
            other => panic!("pair {pair}: {other:?}: {} {}", a.0.1, b.0.1),
        }
    }
    println!(
        "spin 3.6.3 default build, {PAIRS} pairs of runs at once: one ran {one}, both ran {both}"
    );
    let r = receipts(&sim);
    assert_eq!(r.len(), PAIRS * 3, "{r:?}");
    assert!(r.values().all(|&n| n == 1), "an event applied twice: {r:?}");
    captured.push(up.log());
    assert_no_secrets(&sim, &captured);
    up.stop();
}

/// The exact-claims build (`spin.cas.toml`, `kv-cas`) on two Spin hosts
/// sharing one Redis, as two replicas would: pairs of runs, one on each
/// host, started together. The lease is a compare-and-swap: in every pair
/// one runs and the other is answered 409; each event lands once.
#[tokio::test(flavor = "multi_thread")]
async fn spin_cas_two_hosts_on_one_redis_run_the_journal_job_one_at_a_time() {
    let test = "spin_cas_two_hosts_on_one_redis_run_the_journal_job_one_at_a_time";
    let Some(bin) = spin_for(SpinBuild::P2Cas, test) else {
        return;
    };
    let Some(mut redis) = redis(test).await else {
        return;
    };
    let sim = start_sim().await;
    let setup = || {
        let mut vars = spin_vars(&sim);
        let keys = vars["api_keys"].clone();
        vars.insert(
            "api_keys".into(),
            format!("{keys},cron:{CRON_KEY}:jobs.run"),
        );
        vars.insert("io_events_actions".into(), format!("{STOCK}=inventory"));
        vars.insert("journal_url".into(), sim.journal_url());
        let origin = sim.journal_url();
        vars.insert(
            "journal_origin".into(),
            origin[..origin.find("/events/").unwrap()].to_owned(),
        );
        vars.insert("journal_limit".into(), "5".into());
        HostSetup {
            vars,
            runtime_config: Some(redis_runtime_config(&redis)),
        }
    };
    let mut a = spin_up(
        &bin,
        SpinBuild::P2Cas,
        Manifest::Shipped,
        &format!("{test}-a"),
        setup(),
    )
    .await;
    let mut b = spin_up(
        &bin,
        SpinBuild::P2Cas,
        Manifest::Shipped,
        &format!("{test}-b"),
        setup(),
    )
    .await;
    let mut captured = Vec::new();
    const PAIRS: usize = 10;
    let (mut held_back, mut one_after_the_other) = (0, 0);
    for pair in 0..PAIRS {
        for n in 0..3 {
            sim.io_events()
                .journal_push(stock_event(&sim, 1000 + pair * 3 + n));
        }
        let (x, y) = tokio::join!(
            async {
                let mut c = Vec::new();
                (post_with_header(&a.base, CRON_KEY, &mut c).await, c)
            },
            async {
                let mut c = Vec::new();
                (post_with_header(&b.base, CRON_KEY, &mut c).await, c)
            }
        );
        captured.extend(x.1);
        captured.extend(y.1);
        let ((sx, vx), (sy, vy)) = (x.0, y.0);
        let mut statuses = [sx, sy];
        statuses.sort();
        // Started together, one may also have finished before the other
        // read the lease: then both ran, one after the other, and the
        // second found nothing new.
        match statuses {
            [200, 409] => held_back += 1,
            [200, 200] => {
                one_after_the_other += 1;
                assert!(
                    vx["landed"] == 0 || vy["landed"] == 0,
                    "pair {pair}: both ran and both landed events: {vx} {vy}"
                )
            }
            other => panic!("pair {pair}: {other:?}: {vx} {vy}"),
        }
        for v in [&vx, &vy] {
            if v["lease"] != Value::Null {
                assert_eq!(v["lease"], "exact", "{v}");
            }
        }
    }
    println!(
        "spin 3.6.3 kv-cas, two hosts on one Redis, {PAIRS} pairs: one held back {held_back}, one after the other {one_after_the_other}"
    );
    let r = receipts(&sim);
    assert_eq!(r.len(), PAIRS * 3, "{r:?}");
    assert!(r.values().all(|&n| n == 1), "an event applied twice: {r:?}");
    captured.push(a.log());
    captured.push(b.log());
    assert_no_secrets(&sim, &captured);
    a.stop();
    b.stop();
    redis.stop();
}
