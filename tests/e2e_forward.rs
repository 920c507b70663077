//! Forwarding end to end (docs/FORWARDING.md): the simulator plays Commerce
//! publishing through Adobe I/O Events (its orders and stock saves become
//! signed deliveries) and two back-office targets (`accs_sim::target`), and
//! the real hosts run the component: the default build under `spin up`
//! (Spin 3.6.3, the shipped spin.toml, per-request instances, two hosts on
//! one Redis) and the wasmtime build under `wasmtime serve`.
//!
//! What a user is promised, each checked here: an order event reaches the
//! ERP signed as Standard Webhooks, verified by the reference library (Python
//! `standardwebhooks`); a target down for three deliveries gets the event
//! exactly once when it is back; a target down past `forward_max_attempts`
//! leaves a dead letter that a replay delivers; an event delivered to both
//! hosts at once reaches the target once; an inventory sync the ERP made
//! through accs-edge is not echoed back to it by Commerce's stock event, and
//! a real change after it is. Without Spin, Redis or the Python library the
//! test says so in one line.

mod common;

use accs_sim::commerce_events::{ORDER_SAVED, STOCK_ITEM_SAVED};
use accs_sim::target::{Received, Target};
use accs_sim::{NewOrder, OrderLine};
use common::serve::{TempDir, serve};
use common::spin::*;
use common::*;
use reqwest::Client;
use serde_json::{Value, json};

/// The targets' Standard Webhooks keys (32 bytes each, base64 in `whsec_`).
const ERP_KEY: &[u8] = b"e2e-forward-erp-key-0123456789ab";
const PIM_KEY: &[u8] = b"e2e-forward-pim-key-0123456789ab";
/// Attempts per (event, target) before a dead letter: one more than the
/// three failed deliveries the "comes back" promise survives.
const MAX_ATTEMPTS: u32 = 4;

fn whsec(key: &[u8]) -> String {
    secret(common::rig::standard_webhooks::whsec(key))
}

/// What the component is configured with, beside the simulator's variables.
fn forward_vars(sim: &accs_sim::Sim, erp: &Target, pim: &Target) -> Vec<(String, String)> {
    vec![
        (
            "io_events_key_origin".into(),
            sim.io_events().key_origin().to_owned(),
        ),
        (
            "forward_targets".into(),
            format!(
                "erp={} {} pim={} {}",
                erp.url("/hooks/commerce"),
                whsec(ERP_KEY),
                pim.url("/in"),
                whsec(PIM_KEY)
            ),
        ),
        (
            "forward_rules".into(),
            format!("{ORDER_SAVED}=erp;{STOCK_ITEM_SAVED}=erp+pim"),
        ),
        ("forward_max_attempts".into(), MAX_ATTEMPTS.to_string()),
        ("forward_timeout_ms".into(), "2000".into()),
        ("io_events_timeout_ms".into(), "4000".into()),
        // The ERP's own key: its name is its forward target's, which is
        // what tells an echo of its writes (docs/FORWARDING.md, "Echoes").
        (
            "api_keys".into(),
            format!("erp:{API_KEY}:inventory.write+dead_letters.manage+jobs.run"),
        ),
    ]
}

/// One signed push attempt of `body` (event `id`) to `url`, as I/O Events
/// makes it: the answer's status (0: none within its 10 s) and body.
async fn push(
    sim: &accs_sim::Sim,
    client: &Client,
    url: &str,
    body: &str,
    id: &str,
    retry: u32,
) -> (u16, Value) {
    match sim
        .io_events()
        .deliver(client, url, body.as_bytes(), Some(id), retry)
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) if e.is_timeout() => (0, Value::Null),
        Err(e) => panic!("delivery to {url}: {e}"),
    }
}

/// The single event the simulator published last (its id and body).
fn published(sim: &accs_sim::Sim, event_type: &str) -> (String, String) {
    let p = sim
        .io_events()
        .pending()
        .into_iter()
        .rev()
        .find(|p| p.event_type == event_type)
        .unwrap_or_else(|| panic!("the simulator published no {event_type}"));
    (p.event_id, p.body)
}

fn receipts_of(target: &Target, id: &str) -> Vec<Received> {
    target
        .received()
        .into_iter()
        .filter(|r| r.header("webhook-id") == Some(id))
        .collect()
}

/// `standardwebhooks`' verdict on each receipt, with the target's secret.
fn verified_by_reference(python: &str, key: &[u8], receipts: &[Received]) {
    let cases: Vec<_> = receipts
        .iter()
        .map(|r| {
            let headers = r
                .headers
                .iter()
                .filter(|(k, _)| k.starts_with("webhook-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            common::standardwebhooks_py::Case {
                secret: common::rig::standard_webhooks::whsec(key),
                headers,
                body: r.body.clone(),
            }
        })
        .collect();
    let verdicts = common::standardwebhooks_py::verdicts(python, &cases);
    assert!(
        verdicts.iter().all(|v| *v == Value::Bool(true)),
        "standardwebhooks refused a forwarded delivery: {verdicts:?}"
    );
}

async fn dead_letters(client: &Client, base: &str) -> Value {
    let r = client
        .get(format!("{base}/v1/dead-letters"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The promises, on `bases` (two Spin hosts on one store, or one `wasmtime
/// serve`), deliveries alternating between them.
async fn the_promises(
    sim: &accs_sim::Sim,
    erp: &Target,
    pim: &Target,
    bases: &[&str],
    python: &str,
    logs: &dyn Fn() -> String,
) {
    let client = Client::new();
    let url = |i: usize| format!("{}/v1/events", bases[i % bases.len()]);
    let io = sim.io_events();
    io.subscribe(Some(url(0)), CLIENT_ID, &["com.adobe.commerce.observer.*"]);

    // 1. An order placed in Commerce reaches the ERP, signed: the reference
    // library verifies it with the ERP's secret; the body is the CloudEvent
    // as I/O Events delivered it.
    sim.place_order(&NewOrder {
        customer_email: "buyer@example.com".into(),
        items: vec![OrderLine {
            sku: "SKU-0001".into(),
            qty: 2,
        }],
    })
    .expect("an order placed");
    let (order_id, order) = published(sim, ORDER_SAVED);
    let (status, answer) = push(sim, &client, &url(0), &order, &order_id, 0).await;
    assert_eq!(status, 200, "{answer}");
    let got = receipts_of(erp, &order_id);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert!(got[0].header("traceparent").is_some());
    assert_eq!(got[0].body, order.as_bytes(), "the CloudEvent as received");
    verified_by_reference(python, ERP_KEY, &got);
    assert!(
        receipts_of(pim, &order_id).is_empty(),
        "no rule sends orders to pim"
    );

    // 2. The ERP down for three deliveries (alternating hosts): each is
    // answered 503 so that I/O Events retries; back on the fourth, it gets
    // the event exactly once, and a further redelivery sends nothing.
    sim.place_order(&NewOrder {
        customer_email: "second@example.com".into(),
        items: vec![OrderLine {
            sku: "SKU-0002".into(),
            qty: 1,
        }],
    })
    .expect("a second order");
    let (id, body) = published(sim, ORDER_SAVED);
    erp.fail(503);
    for retry in 0..3 {
        let (status, answer) = push(sim, &client, &url(retry as usize), &body, &id, retry).await;
        assert_eq!(status, 503, "attempt {retry}: {answer}");
    }
    erp.recover();
    let (status, answer) = push(sim, &client, &url(3), &body, &id, 3).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = push(sim, &client, &url(4), &body, &id, 4).await;
    assert_eq!(status, 200);
    let delivered: Vec<_> = receipts_of(erp, &id)
        .into_iter()
        .filter(|r| r.ok())
        .collect();
    assert_eq!(delivered.len(), 1, "exactly one 2xx receipt: {delivered:?}");
    assert_eq!(
        receipts_of(erp, &id).len(),
        4,
        "three failed attempts and one good"
    );

    // 3. Down past the limit: the last allowed attempt leaves a dead letter
    // and acknowledges the delivery (a broken ERP must not get the
    // registration disabled); the letter is listed on the other host, and a
    // replay there delivers it and removes it.
    sim.place_order(&NewOrder {
        customer_email: "third@example.com".into(),
        items: vec![OrderLine {
            sku: "SKU-0003".into(),
            qty: 1,
        }],
    })
    .expect("a third order");
    let (dead_id, dead_body) = published(sim, ORDER_SAVED);
    erp.fail(500);
    for retry in 0..MAX_ATTEMPTS {
        let (status, answer) = push(
            sim,
            &client,
            &url(retry as usize),
            &dead_body,
            &dead_id,
            retry,
        )
        .await;
        let last = retry + 1 == MAX_ATTEMPTS;
        assert_eq!(
            status,
            if last { 200 } else { 503 },
            "attempt {retry}: {answer}"
        );
    }
    erp.recover();
    let list = dead_letters(&client, bases[bases.len() - 1]).await;
    let letters = list["dead_letters"].as_array().cloned().unwrap_or_default();
    let letter = letters
        .iter()
        .find(|l| l["event_id"] == dead_id.as_str())
        .unwrap_or_else(|| panic!("no dead letter for {dead_id}: {list}"));
    assert_eq!(letter["target"], "erp");
    assert_eq!(letter["attempts"], MAX_ATTEMPTS);
    assert_eq!(letter["last_status"], 500);
    let letter_id = letter["id"].as_str().unwrap().to_owned();
    let r = client
        .post(format!("{}/v1/dead-letters/{letter_id}/replay", bases[0]))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let replayed: Vec<_> = receipts_of(erp, &dead_id)
        .into_iter()
        .filter(|r| r.ok())
        .collect();
    assert_eq!(replayed.len(), 1, "the replay delivered it once");
    verified_by_reference(python, ERP_KEY, &replayed);
    let list = dead_letters(&client, bases[bases.len() - 1]).await;
    assert!(
        !list["dead_letters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["event_id"] == dead_id.as_str()),
        "the replayed letter is gone: {list}"
    );

    // 3b. The retry job (`/v1/jobs/dead-letters`, for a schedule): with the
    // ERP still down it tries once and keeps the letter; back, it delivers.
    sim.place_order(&NewOrder {
        customer_email: "job@example.com".into(),
        items: vec![OrderLine {
            sku: "SKU-0006".into(),
            qty: 1,
        }],
    })
    .expect("an order for the retry job");
    let (job_id, job_body) = published(sim, ORDER_SAVED);
    erp.fail(502);
    for retry in 0..MAX_ATTEMPTS {
        let (status, answer) = push(
            sim,
            &client,
            &url(retry as usize),
            &job_body,
            &job_id,
            retry,
        )
        .await;
        assert!([200, 503].contains(&status), "{answer}");
    }
    let run_job = |i: usize| {
        let client = client.clone();
        let url = format!("{}/v1/jobs/dead-letters", bases[i % bases.len()]);
        async move {
            let r = client.post(url).bearer_auth(API_KEY).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, report) = run_job(0).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["result"], "pending", "{report}");
    assert_eq!(
        report["failed"], 1,
        "one attempt for the down target: {report}"
    );
    erp.recover();
    let (status, report) = run_job(1).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["delivered"], 1, "{report}");
    let redelivered: Vec<_> = receipts_of(erp, &job_id)
        .into_iter()
        .filter(|r| r.ok())
        .collect();
    assert_eq!(redelivered.len(), 1, "the job delivered it once");
    verified_by_reference(python, ERP_KEY, &redelivered);
    let list = dead_letters(&client, bases[0]).await;
    assert_eq!(list["dead_letters"], json!([]), "{list}");

    // 4. The same delivery on every host at once: the target gets it once.
    sim.place_order(&NewOrder {
        customer_email: "fourth@example.com".into(),
        items: vec![OrderLine {
            sku: "SKU-0004".into(),
            qty: 1,
        }],
    })
    .expect("a fourth order");
    let (race_id, race_body) = published(sim, ORDER_SAVED);
    let racers = (0..bases.len().max(2)).map(|i| {
        let (client, url, body, id) = (client.clone(), url(i), race_body.clone(), race_id.clone());
        async move { push(sim, &client, &url, &body, &id, 0).await }
    });
    let answers = futures::future::join_all(racers).await;
    for (status, answer) in &answers {
        assert!([200, 503].contains(status), "{status} {answer}");
    }
    // A racer that saw the other's claim answered 503: I/O Events retries it.
    for (i, (status, _)) in answers.iter().enumerate() {
        if *status == 503 {
            let (status, answer) = push(sim, &client, &url(i), &race_body, &race_id, 1).await;
            assert_eq!(status, 200, "{answer}");
        }
    }
    let raced: Vec<_> = receipts_of(erp, &race_id)
        .into_iter()
        .filter(|r| r.ok())
        .collect();
    assert_eq!(raced.len(), 1, "forwarded once across the hosts: {raced:?}");

    // 5. No echo: the ERP syncs stock through accs-edge; Commerce's stock
    // event for that very change goes to pim, not back to the ERP. Then a
    // real change made in Commerce reaches both.
    let r = client
        .post(format!("{}/v1/inventory/source-items", bases[0]))
        .bearer_auth(API_KEY)
        .json(&json!({"sourceItems": [{"sku": "SKU-0005", "source_code": "default", "quantity": 17, "status": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (echo_id, echo_body) = published(sim, STOCK_ITEM_SAVED);
    let (status, answer) = push(sim, &client, &url(1), &echo_body, &echo_id, 0).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        receipts_of(pim, &echo_id).len(),
        1,
        "pim gets the stock change"
    );
    assert!(
        receipts_of(erp, &echo_id).is_empty(),
        "the ERP's own write came back to it ({} deliveries); the log: {}",
        receipts_of(erp, &echo_id).len(),
        logs()
            .lines()
            .filter(|l| l.contains("echo")
                || l.contains("product_id")
                || l.contains(&echo_id)
                || l.contains("source-items")
                || l.contains("V1/products"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        logs().contains("echo_suppressed"),
        "no echo_suppressed log line"
    );
    // A change made in Commerce itself (not through accs-edge).
    let token = sim_token(sim).await;
    let r = client
        .post(format!("{}/V1/inventory/source-items", sim.accs_base_url()))
        .bearer_auth(token)
        .header("x-api-key", CLIENT_ID)
        .json(&json!({"sourceItems": [{"sku": "SKU-0005", "source_code": "default", "quantity": 4, "status": 1}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let (real_id, real_body) = published(sim, STOCK_ITEM_SAVED);
    assert_ne!(real_id, echo_id);
    let (status, answer) = push(sim, &client, &url(0), &real_body, &real_id, 0).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        receipts_of(erp, &real_id).len(),
        1,
        "a real change reaches the ERP"
    );
    assert_eq!(receipts_of(pim, &real_id).len(), 1);
    io.unsubscribe();
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_default_build_two_hosts_on_one_redis() {
    let test = "forward_spin_default_build_two_hosts_on_one_redis";
    let Some(python) = common::standardwebhooks_py::python(test) else {
        return;
    };
    let Some(bin) = spin_for(SpinBuild::P2, test) else {
        return;
    };
    let Some(redis) = redis(test).await else {
        return;
    };
    let sim = start_sim().await;
    let (erp, pim) = (Target::start().await, Target::start().await);
    let setup = || {
        let mut vars = spin_vars(&sim);
        vars.extend(forward_vars(&sim, &erp, &pim));
        // Both targets listen on loopback, each on its own port.
        vars.insert("forward_origins".into(), "http://127.0.0.1:*".into());
        HostSetup {
            vars,
            runtime_config: Some(redis_runtime_config(&redis)),
        }
    };
    let a = spin_up(
        &bin,
        SpinBuild::P2,
        Manifest::Shipped,
        &format!("{test}-a"),
        setup(),
    )
    .await;
    let b = spin_up(
        &bin,
        SpinBuild::P2,
        Manifest::Shipped,
        &format!("{test}-b"),
        setup(),
    )
    .await;
    let logs = || format!("{}\n{}", a.log(), b.log());
    the_promises(&sim, &erp, &pim, &[&a.base, &b.base], &python, &logs).await;
    assert_no_secrets(&sim, &[a.log(), b.log()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_serve_with_token_cache_dir() {
    let test = "forward_wasmtime_serve_with_token_cache_dir";
    let Some(python) = common::standardwebhooks_py::python(test) else {
        return;
    };
    let sim = start_sim().await;
    let (erp, pim) = (Target::start().await, Target::start().await);
    let dir = TempDir::new("forward-ledger-dir");
    let mut extra = vec![
        "--dir".to_owned(),
        format!("{}::/cache", dir.0.display()),
        "-Sconfig-var=token_cache_dir=/cache".to_owned(),
    ];
    extra.extend(
        forward_vars(&sim, &erp, &pim)
            .into_iter()
            .map(|(k, v)| format!("-Sconfig-var={k}={v}")),
    );
    let served = serve(&sim, "forward", &extra).await;
    let logs = || served.log();
    the_promises(&sim, &erp, &pim, &[&served.base], &python, &logs).await;
    assert_no_secrets(&sim, &[served.log()]);
}
