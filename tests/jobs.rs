//! The job routes (`/v1/jobs/{name}`) and the `journal` job, both WASI 0.3
//! flavours in edge-host against the simulator (IMS, ACCS, I/O Events'
//! signed pushes, and its Journaling API as Adobe documents it): pages of
//! `next` links, 204 at the end, 410 after expiry; the key in the query
//! checked against every captured answer and log line.

mod common;

use common::rig::*;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const STOCK: &str = "com.acme.stock.updated";
/// A key marked for the query, registered as a secret: the suite's check
/// fails if it appears in any answer or log line.
const CRON_KEY: &str = "cron-key-0123456789abcdef0123456789abcdef";

async fn jobs_rig(
    flavour: Flavour,
    tweak: impl FnOnce(&mut BTreeMap<String, String>),
) -> LedgerRig {
    secret(CRON_KEY);
    let sim = start_sim().await;
    let url = sim.journal_url();
    let mut opts = edge_host::HostOptions::new(flavour, wasm(flavour));
    opts.vars = vars(&sim);
    opts.vars.insert(
        "io_events_key_origin".into(),
        sim.io_events().key_origin().into(),
    );
    opts.vars
        .insert("io_events_actions".into(), format!("{STOCK}=inventory"));
    ledger_rig(sim, opts, "jobs-ledger", move |v| {
        let keys = v["api_keys"].clone();
        v.insert(
            "api_keys".into(),
            format!("{keys},cron:{CRON_KEY}:jobs.run+query"),
        );
        v.insert("journal_url".into(), url);
        v.insert("journal_limit".into(), "20".into());
        tweak(v);
    })
}

fn stock_event(rig: &LedgerRig, n: usize) -> Value {
    let data = json!({"sourceItems": [{"sku": format!("JOB-{n:04}"), "source_code": "default", "quantity": 5, "status": 1}]});
    rig.sim
        .io_events()
        .event(&format!("ev-job-{n}"), STOCK, CLIENT_ID, data)
}

async fn run(rig: &LedgerRig) -> Answer {
    rig.send(request(
        "GET",
        &format!("/v1/jobs/journal?key={CRON_KEY}"),
        None,
    ))
    .await
}

/// How often ACCS received each `JOB-` SKU.
fn receipts(rig: &LedgerRig) -> BTreeMap<String, u32> {
    rig.sim
        .inventory_receipts()
        .into_iter()
        .filter(|((sku, _), _)| sku.starts_with("JOB-"))
        .map(|((sku, _), n)| (sku, n))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_runs_over_150_events_apply_each_once_and_the_third_finds_nothing_new() {
    for flavour in FLAVOURS {
        let rig = jobs_rig(flavour, |_| {}).await;
        for n in 0..100 {
            rig.sim.io_events().journal_push(stock_event(&rig, n));
        }
        let first = run(&rig).await;
        assert_eq!(first.status, 200, "{flavour:?}: {}", first.body);
        for n in 100..150 {
            rig.sim.io_events().journal_push(stock_event(&rig, n));
        }
        let second = run(&rig).await;
        assert_eq!(second.status, 200, "{flavour:?}: {}", second.body);
        let third = run(&rig).await;
        assert_eq!(third.status, 200, "{flavour:?}: {}", third.body);
        let landed: Vec<u64> = [&first, &second, &third]
            .iter()
            .map(|a| a.body["landed"].as_u64().unwrap())
            .collect();
        assert_eq!(landed, [100, 50, 0], "{flavour:?}");
        assert_eq!(first.body["result"], "caught_up", "{flavour:?}");
        assert!(first.body["pages"].as_u64().unwrap() >= 5, "{}", first.body);
        assert_eq!(
            third.body["result"], "nothing_new",
            "{flavour:?}: {}",
            third.body
        );
        assert_eq!(third.body["retry_after_s"], 10, "the journal's retry-after");
        let r = receipts(&rig);
        assert_eq!(r.len(), 150, "{flavour:?}");
        assert!(r.values().all(|&n| n == 1), "{flavour:?}: {r:?}");
        // The journal took every request (it checks the IMS token and the
        // client id as `x-api-key`: 401 or 403 otherwise), and never saw
        // the query key.
        let io = rig.sim.io_events();
        let statuses: Vec<u16> = io.journal_counters().by_status.into_keys().collect();
        assert!(
            statuses.iter().all(|s| [200, 204].contains(s)),
            "{flavour:?}: {statuses:?}"
        );
        assert!(
            io.journal_requests().iter().all(|r| !r
                .query
                .as_deref()
                .unwrap_or("")
                .contains(CRON_KEY))
        );
        rig.rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_pushed_and_then_pulled_lands_once() {
    for flavour in FLAVOURS {
        let rig = jobs_rig(flavour, |_| {}).await;
        let event = stock_event(&rig, 1);
        let body = serde_json::to_vec(&event).unwrap();
        let pushed = rig
            .send(post_events(
                rig.sim.io_events().headers(&body, Some("ev-job-1"), 0),
                &body,
            ))
            .await;
        assert_eq!(pushed.status, 200, "{flavour:?}: {}", pushed.body);
        rig.sim.io_events().journal_push(event);
        rig.sim.io_events().journal_push(stock_event(&rig, 2));
        let pulled = run(&rig).await;
        assert_eq!(pulled.status, 200, "{flavour:?}: {}", pulled.body);
        assert_eq!(
            (
                pulled.body["duplicates"].as_u64(),
                pulled.body["landed"].as_u64()
            ),
            (Some(1), Some(1)),
            "{flavour:?}: {}",
            pulled.body
        );
        let r = receipts(&rig);
        assert_eq!(r.get("JOB-0001"), Some(&1), "{flavour:?}: {r:?}");
        assert_eq!(r.get("JOB-0002"), Some(&1), "{flavour:?}: {r:?}");
        rig.rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_started_together_apply_each_event_once() {
    for flavour in FLAVOURS {
        let rig = jobs_rig(flavour, |_| {}).await;
        for n in 0..60 {
            rig.sim.io_events().journal_push(stock_event(&rig, n));
        }
        let req = || request("GET", &format!("/v1/jobs/journal?key={CRON_KEY}"), None);
        let (a, b) = tokio::join!(rig.send(req()), rig.send(req()));
        let statuses = [a.status, b.status];
        assert!(
            statuses.contains(&200),
            "{flavour:?}: {} {}",
            a.body,
            b.body
        );
        for x in [&a, &b] {
            assert!(
                x.status == 200 || (x.status == 409 && x.body["code"] == "job_running"),
                "{flavour:?}: {}",
                x.body
            );
        }
        println!(
            "{flavour:?}: two runs at once answered {statuses:?} (lease {} / {})",
            a.body["lease"], b.body["lease"]
        );
        let r = receipts(&rig);
        assert_eq!(r.len(), 60, "{flavour:?}");
        assert!(
            r.values().all(|&n| n == 1),
            "{flavour:?}: an event applied twice: {r:?}"
        );
        rig.rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_position_answers_journal_gone_and_the_next_run_goes_on() {
    for flavour in FLAVOURS {
        let rig = jobs_rig(flavour, |v| {
            v.insert("journal_on_gone".into(), "latest".into());
        })
        .await;
        for n in 0..5 {
            rig.sim.io_events().journal_push(stock_event(&rig, n));
        }
        assert_eq!(run(&rig).await.status, 200);
        for n in 5..10 {
            rig.sim.io_events().journal_push(stock_event(&rig, n));
        }
        rig.sim.io_events().journal_expire_oldest(8);
        let gone = run(&rig).await;
        assert_eq!(gone.status, 502, "{flavour:?}: {}", gone.body);
        assert_eq!(gone.body["code"], "journal_gone");
        assert!(gone.body["detail"].as_str().unwrap().contains("latest"));
        assert!(
            rig.host.logs().contains("410 Gone"),
            "{flavour:?}: the log line"
        );
        let next = run(&rig).await;
        assert_eq!(next.status, 200, "{flavour:?}: {}", next.body);
        assert!(
            rig.sim.io_events().journal_requests().iter().any(|r| r
                .query
                .as_deref()
                .unwrap_or("")
                .contains("latest=true"))
        );
        rig.rig.finish();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_key_opens_the_job_routes_alone() {
    for flavour in FLAVOURS {
        let rig = jobs_rig(flavour, |_| {}).await;
        for path in ["/v1/token", "/v1/products", "/v1/orders"] {
            let a = rig
                .send(request("GET", &format!("{path}?key={CRON_KEY}"), None))
                .await;
            assert_eq!(
                (a.status, a.body["code"].as_str()),
                (401, Some("unauthorized")),
                "{path}"
            );
        }
        let a = rig
            .send(request(
                "GET",
                &format!("/v1/jobs/journal?key={API_KEY}"),
                None,
            ))
            .await;
        assert_eq!(a.status, 401, "an unmarked key in the query: {}", a.body);
        let a = rig.send(request("GET", "/v1/token", Some(CRON_KEY))).await;
        assert_eq!(a.status, 403, "the marked key holds jobs.run alone");
        let a = rig
            .send(request("GET", "/v1/jobs/nope", Some(API_KEY)))
            .await;
        assert_eq!(
            a.status, 403,
            "the test's erp entry lacks jobs.run: {}",
            a.body
        );
        let a = rig
            .send(request(
                "GET",
                &format!("/v1/jobs/nope?key={CRON_KEY}"),
                None,
            ))
            .await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (404, Some("not_found"))
        );
        rig.rig.finish();
    }
}
