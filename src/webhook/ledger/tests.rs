//! The ledger alone (records, verdicts, names), and through the webhook
//! route over fake ports: failing closed, small records, deployments apart,
//! bounded growth, the file ledger of `wasmtime serve`.

use super::*;
use crate::routes::App;
use crate::testing::{FakePorts, KvOp, respond, settings};
use crate::wire::{InRequest, InResponse};
use base64::engine::general_purpose::STANDARD;
use futures::executor::block_on;
use serde_json::{Value, json};

/// docs/WEBHOOKS.md: a delivery is remembered 24 h; written here as the
/// documented number, shadowing ledger.rs's constant.
const REMEMBER_MS: u64 = 24 * 3600 * 1000;
const HOUR_MS: u64 = 3600 * 1000;
const KEY_A: &[u8] = b"ledger-key-A-0123456789abcdef!!!";
const KEY_B: &[u8] = b"ledger-key-B-0123456789abcdef!!!";

fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}

fn rec(state: State, forget_ms: u64) -> Record {
    Record {
        state,
        owner: "a".into(),
        claim_until_ms: 30_000,
        forget_ms,
        generation: 1,
        body_sha256: body_digest(b"one"),
        status: 200,
        problem: false,
        summary: Some(r#"{"items":1}"#.into()),
        landed: vec![1, 2],
        bulks: vec![],
    }
}

#[test]
fn verdicts() {
    let d = body_digest(b"one");
    assert_eq!(verdict(None, 5, &d), Verdict::Process { landed: vec![] });
    assert_eq!(
        verdict(Some(&rec(State::Done, 10)), 5, &d),
        Verdict::Replay {
            status: 200,
            summary: Some(r#"{"items":1}"#.into()),
            problem: false,
            before: vec![1, 2],
        }
    );
    // Forgotten after its window: the id is free again, whatever the body.
    assert_eq!(
        verdict(Some(&rec(State::Done, 10)), 10, &body_digest(b"two")),
        Verdict::Process { landed: vec![] }
    );
    assert_eq!(
        verdict(Some(&rec(State::Processing, 90_000)), 5, &d),
        Verdict::Busy { retry_after_s: 30 }
    );
    // A claim whose instance died resumes from what it knew had landed.
    assert_eq!(
        verdict(Some(&rec(State::Processing, 90_000)), 30_001, &d),
        Verdict::Process { landed: vec![1, 2] }
    );
    assert_eq!(
        verdict(Some(&rec(State::Partial, 90_000)), 5, &d),
        Verdict::Process { landed: vec![1, 2] }
    );
    for state in [State::Processing, State::Partial, State::Done] {
        assert_eq!(
            verdict(Some(&rec(state, 90_000)), 40_000, &body_digest(b"two")),
            Verdict::Mismatch,
            "{state:?}"
        );
    }
    assert_eq!(claim_ms(30_000), 60_000);
    assert_eq!(claim_ms(300_000), 310_000);
}

#[test]
fn landed_indexes_round_trip_in_the_shorter_form() {
    let cases: Vec<Vec<usize>> = vec![
        vec![],
        vec![0],
        vec![3, 4, 5, 9],
        (0..10_000).collect(),
        (0..10_000).step_by(2).collect(),
        (0..10_000).filter(|i| i % 7 != 3).collect(),
        vec![9_999],
    ];
    for landed in cases {
        let text = encode_landed(&landed);
        assert!(text.len() <= 1 + 1_668, "{} bytes", text.len());
        assert_eq!(decode_landed(&text), Some(landed.clone()), "{text:.40}");
    }
    assert_eq!(
        encode_landed(&[3, 4, 5, 9]),
        "bOAI",
        "the bitmap is shorter here"
    );
    assert_eq!(encode_landed(&[9_000, 9_001, 9_002]), "r9000-9002");
    for bad in ["r5-3", "r1,1", "r10000", "x", "r1-", "b!!", "r3,2"] {
        assert_eq!(decode_landed(bad), None, "{bad}");
    }
    // A bitmap longer than the largest delivery is refused.
    let long = format!("b{}", STANDARD_NO_PAD.encode(vec![0xffu8; 1_251]));
    assert_eq!(decode_landed(&long), None);
}

fn ledger(extra: &[(&'static str, &str)]) -> Ledger {
    let secrets = format!("{},{}", whsec(KEY_B), whsec(KEY_A));
    let mut vars = vec![("webhook_secrets", secrets.as_str())];
    vars.extend_from_slice(extra);
    Ledger::new(&settings(&vars).unwrap(), true).unwrap()
}

#[test]
fn records_are_sealed_under_their_name_and_the_deployment() {
    let l = ledger(&[]);
    let name = l.record_name("inventory", "m1");
    assert_ne!(name, l.record_name("products", "m1"));
    assert!(!l.record_name("inventory", "msg/../x").contains(".."));
    let r = rec(State::Partial, 9);
    let sealed = l.seal(&name, &r);
    assert_eq!(l.open(&name, &sealed), Ok(r.clone()));
    // Anywhere else, or changed, or from another deployment: not ours.
    let other = l.record_name("inventory", "m2");
    assert_eq!(l.open(&other, &sealed), Err(LedgerError::Unauthentic));
    let mut tampered = sealed.clone();
    tampered[3] ^= 1;
    assert_eq!(l.open(&name, &tampered), Err(LedgerError::Unauthentic));
    let plain = serde_json::to_vec(&r).unwrap();
    assert_eq!(l.open(&name, &plain), Err(LedgerError::Unauthentic));
    let staging = ledger(&[("accs_base_url", "https://na1.api.commerce.adobe.com/T2")]);
    assert_ne!(staging.record_name("inventory", "m1"), name);
    assert_eq!(staging.open(&name, &sealed), Err(LedgerError::Unauthentic));
    // The key follows the last secret: adding a new one in front keeps it.
    let rotated = Ledger::new(
        &settings(&[(
            "webhook_secrets",
            &format!(
                "{},{},{}",
                whsec(b"new-key-0123456789abcdef0123456"),
                whsec(KEY_B),
                whsec(KEY_A)
            ),
        )])
        .unwrap(),
        true,
    )
    .unwrap();
    assert_eq!(rotated.record_name("inventory", "m1"), name);
    assert_eq!(rotated.open(&name, &sealed), Ok(r));
}

// ---- through the route ----

const NOW: u64 = 1_700_000_000_000;

/// IMS hands out a token; ACCS answers 200 unless `fail` says otherwise for
/// a request's body.
fn ports(fail: impl Fn(&str) -> Option<u16> + 'static) -> FakePorts {
    let p = FakePorts::new(move |req, _| {
        if req.url.contains("/ims/token") {
            return respond(200, r#"{"access_token":"tok-1","expires_in":86399}"#);
        }
        let body = String::from_utf8_lossy(&req.body);
        match fail(&format!("{} {body}", req.url)) {
            Some(status) => respond(status, r#"{"message":"try later"}"#),
            None => respond(200, "[]"),
        }
    });
    p.now.set(NOW);
    p
}

fn app(ports: FakePorts, extra: &[(&'static str, &str)]) -> App<FakePorts> {
    let secret = whsec(KEY_A);
    let mut vars = vec![("webhook_secrets", secret.as_str())];
    vars.extend_from_slice(extra);
    App::new(ports, settings(&vars))
}

fn signed(topic: &str, id: &str, body: &[u8], now_ms: u64) -> InRequest {
    let ts = (now_ms / 1000).to_string();
    let mut mac = HmacSha256::new_from_slice(KEY_A).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let sig = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    InRequest {
        method: "POST".into(),
        path: format!("/v1/webhooks/{topic}"),
        query: None,
        headers: vec![
            ("webhook-id".into(), id.into()),
            ("webhook-timestamp".into(), ts),
            ("webhook-signature".into(), sig),
        ],
        body: body.to_vec(),
        ..Default::default()
    }
}

fn deliver(app: &App<FakePorts>, topic: &str, id: &str, body: &[u8]) -> InResponse {
    block_on(app.handle(signed(topic, id, body, app.ports.now_ms())))
}

fn body_json(resp: &InResponse) -> Value {
    serde_json::from_slice(&resp.body).unwrap()
}

fn header<'r>(resp: &'r InResponse, name: &str) -> Option<&'r str> {
    resp.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn inventory(n: usize, quantity: u32) -> Vec<u8> {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"sku": format!("SKU-{i:05}"), "source_code": "default", "quantity": quantity, "status": 1}))
        .collect();
    serde_json::to_vec(&json!({ "sourceItems": items })).unwrap()
}

fn accs_calls(p: &FakePorts) -> usize {
    p.sent_to("/V1/")
}

fn assert_unavailable(resp: &InResponse) -> Value {
    let b = body_json(resp);
    assert_eq!(
        (resp.status, b["code"].as_str()),
        (503, Some("ledger_unavailable")),
        "{b}"
    );
    assert_eq!(header(resp, "retry-after"), Some("5"));
    b
}

fn record_keys(p: &FakePorts) -> Vec<String> {
    let mut keys: Vec<String> =
        p.kv.borrow()
            .keys()
            .filter(|k| k.contains("/r/"))
            .cloned()
            .collect();
    keys.sort();
    keys
}

#[test]
fn a_failing_read_answers_503_and_sends_nothing() {
    let a = app(ports(|_| None), &[]);
    a.ports.kv_fault.replace(Some(Box::new(|op, key, _| {
        op == KvOp::Get && key.contains("/r/")
    })));
    // With compare-and-swap nothing reads the record again before the sync:
    // the first read alone must stop the delivery.
    for cas in [true, false] {
        a.ports.kv_cas.set(cas);
        assert_unavailable(&deliver(&a, "inventory", "m1", &inventory(3, 5)));
    }
    assert_eq!(accs_calls(&a.ports), 0);
    // Logged once per instance, without a secret.
    let logs = a.ports.logs.borrow();
    let warned: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("webhook ledger unavailable"))
        .collect();
    assert_eq!(warned.len(), 1, "{logs:?}");
    let secret_text = whsec(KEY_A);
    for l in logs.iter() {
        assert!(
            !l.contains(&secret_text[6..]) && !l.contains("secret-1"),
            "{l}"
        );
    }
}

#[test]
fn a_failing_claim_answers_503_and_sends_nothing() {
    for cas in [false, true] {
        let a = app(ports(|_| None), &[]);
        a.ports.kv_cas.set(cas);
        a.ports.kv_fault.replace(Some(Box::new(|op, key, value| {
            matches!(op, KvOp::Set | KvOp::Swap)
                && key.contains("/r/")
                && value.is_some_and(|v| v.starts_with(br#"{"s":"c""#))
        })));
        assert_unavailable(&deliver(&a, "inventory", "m1", &inventory(3, 5)));
        assert_eq!(accs_calls(&a.ports), 0, "cas {cas}");
    }
    // Listing the record for the sweep is a ledger write too.
    let a = app(ports(|_| None), &[]);
    a.ports.kv_fault.replace(Some(Box::new(|op, key, _| {
        op == KvOp::Set && key.contains("/i/")
    })));
    assert_unavailable(&deliver(&a, "inventory", "m1", &inventory(3, 5)));
    assert_eq!(accs_calls(&a.ports), 0);
}

#[test]
fn a_failing_final_write_says_so_and_the_retry_resumes_from_the_last_record() {
    // P-2 fails first: a partial record (P-1 and P-3 landed).
    let fail_p2 = std::rc::Rc::new(std::cell::Cell::new(true));
    let f = fail_p2.clone();
    let a = app(
        ports(move |what| (f.get() && what.contains("/V1/products/P-2")).then_some(503)),
        &[],
    );
    let body = serde_json::to_vec(&json!({"products": [
        {"sku": "P-1", "name": "One"}, {"sku": "P-2", "name": "Two"}, {"sku": "P-3", "name": "Three"},
    ]}))
    .unwrap();
    let puts = |sku: &str| a.ports.sent_to(&format!("/V1/products/{sku}"));
    assert_eq!(deliver(&a, "products", "d7", &body).status, 503);
    assert_eq!((puts("P-1"), puts("P-3")), (1, 1));
    // Now ACCS takes P-2, but the outcome cannot be written.
    fail_p2.set(false);
    a.ports.kv_fault.replace(Some(Box::new(|op, key, value| {
        op == KvOp::Set
            && key.contains("/r/")
            && value.is_some_and(|v| v.starts_with(br#"{"s":"d""#))
    })));
    let resp = deliver(&a, "products", "d7", &body);
    let b = assert_unavailable(&resp);
    assert!(
        b["detail"].as_str().unwrap().contains("may be retried"),
        "{b}"
    );
    assert_eq!((puts("P-1"), puts("P-3")), (1, 1), "only P-2 was sent");
    let p2 = puts("P-2");
    assert!(
        a.ports
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("not recorded")),
        "the lost outcome is logged"
    );
    // The retry resumes from the claim, which kept what had landed: P-2 only.
    a.ports.kv_fault.replace(None);
    a.ports.advance(61_000);
    let resp = deliver(&a, "products", "d7", &body);
    assert_eq!(resp.status, 200, "{}", body_json(&resp));
    assert_eq!(
        (puts("P-1"), puts("P-2"), puts("P-3")),
        (1, p2 + 1, 1),
        "the retry sends P-2 only"
    );
}

#[test]
fn a_record_that_does_not_authenticate_is_a_store_failure() {
    let a = app(ports(|_| None), &[]);
    let l = a.edge.as_ref().unwrap().ledger().unwrap();
    let body = inventory(3, 5);
    let name = l.record_name("inventory", "m1");
    // Someone who can write the store marks everything as done...
    let forged = Record {
        state: State::Done,
        owner: "x".into(),
        claim_until_ms: 0,
        forget_ms: NOW + REMEMBER_MS,
        generation: 1,
        body_sha256: body_digest(&body),
        status: 200,
        problem: false,
        summary: Some(r#"{"items":3,"ok":3,"failed":0,"failed_batches":0}"#.into()),
        landed: vec![],
        bulks: vec![],
    };
    let mut plain = serde_json::to_vec(&forged).unwrap();
    a.ports.kv.borrow_mut().insert(name.clone(), plain.clone());
    assert_unavailable(&deliver(&a, "inventory", "m1", &body));
    // ...with a made-up MAC, or one valid for another deployment.
    plain.extend_from_slice(b".00");
    a.ports.kv.borrow_mut().insert(name.clone(), plain);
    assert_unavailable(&deliver(&a, "inventory", "m1", &body));
    let other = ledger(&[("accs_base_url", "https://na1.api.commerce.adobe.com/T9")]);
    a.ports
        .kv
        .borrow_mut()
        .insert(name.clone(), other.seal(&name, &forged));
    assert_unavailable(&deliver(&a, "inventory", "m1", &body));
    assert_eq!(accs_calls(&a.ports), 0, "never taken as landed, never sent");
    // Sealed by this deployment, it replays.
    a.ports
        .kv
        .borrow_mut()
        .insert(name.clone(), l.seal(&name, &forged));
    let resp = deliver(&a, "inventory", "m1", &body);
    assert_eq!(resp.status, 200);
    assert_eq!(header(&resp, "webhook-replayed"), Some("true"));
    assert_eq!(accs_calls(&a.ports), 0);
}

#[test]
fn two_deployments_on_one_store_both_process_the_same_delivery() {
    let prod = app(ports(|_| None), &[]);
    let mut p = ports(|_| None);
    p.kv = prod.ports.kv.clone();
    p.seed.set(0x5eed);
    let staging = app(
        p,
        &[("accs_base_url", "https://na1.api.commerce.adobe.com/T2")],
    );
    let body = inventory(2, 5);
    for a in [&prod, &staging] {
        let resp = deliver(a, "inventory", "shared-id", &body);
        assert_eq!(resp.status, 200, "{}", body_json(&resp));
        assert!(header(&resp, "webhook-replayed").is_none());
        assert_eq!(a.ports.sent_to("/V1/inventory/source-items"), 1);
    }
    assert_eq!(record_keys(&prod.ports).len(), 2, "one record each");
    // Each replays its own.
    for a in [&prod, &staging] {
        let resp = deliver(a, "inventory", "shared-id", &body);
        assert_eq!(header(&resp, "webhook-replayed"), Some("true"));
        assert_eq!(a.ports.sent_to("/V1/inventory/source-items"), 1);
    }
}

/// The largest delivery, 10,000 items: its record stays under 4 KiB, done
/// or partial, and a replay answers the same status and summary.
#[test]
fn records_stay_small_for_the_largest_delivery() {
    let body = inventory(10_000, 5);
    let a = app(ports(|_| None), &[]);
    let first = deliver(&a, "inventory", "big", &body);
    assert_eq!(first.status, 200);
    let keys = record_keys(&a.ports);
    let size = a.ports.kv.borrow()[&keys[0]].len();
    eprintln!("done record of a 10,000-item delivery: {size} bytes");
    assert!(size <= MAX_RECORD, "{size}");
    let calls = accs_calls(&a.ports);
    let again = deliver(&a, "inventory", "big", &body);
    assert_eq!(again.status, 200);
    assert_eq!(header(&again, "webhook-replayed"), Some("true"));
    assert_eq!(accs_calls(&a.ports), calls);
    let (f, g) = (body_json(&first), body_json(&again));
    assert_eq!(f, g, "the same answer, rebuilt from the body");
    assert_eq!(g["results"].as_array().unwrap().len(), 10_000);
    assert!(
        g["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "ok")
    );

    // Partial: every other batch of 500 fails, so the landed set is ranges.
    let a = app(
        ports(|what| {
            let n: usize = what
                .split("SKU-")
                .nth(1)
                .and_then(|s| s.get(..5))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            ((n / 500) % 2 == 1).then_some(503)
        }),
        &[],
    );
    assert_eq!(deliver(&a, "inventory", "big", &body).status, 503);
    let keys = record_keys(&a.ports);
    let size = a.ports.kv.borrow()[&keys[0]].len();
    eprintln!("partial record of a 10,000-item delivery: {size} bytes");
    assert!(size <= MAX_RECORD, "{size}");
    // The worst case for the landed set (every other item) under the bound.
    let l = ledger(&[]);
    let mut worst = rec(State::Partial, NOW);
    worst.landed = (0..10_000).step_by(2).collect();
    worst.summary = Some(
        r#"{"items":10000,"ok":5000,"failed":5000,"failed_batches":5000,"superseded":9999,"split_calls":1000}"#
            .into(),
    );
    worst.body_sha256 = body_digest(&body);
    worst.owner = "0".repeat(24);
    let size = l.seal(&keys[0], &worst).len();
    eprintln!("worst-case partial record: {size} bytes");
    assert!(size <= MAX_RECORD, "{size}");
}

/// An older delivery replayed after a newer one changes nothing: its record
/// answers it, nothing is sent.
#[test]
fn a_replayed_older_delivery_after_a_newer_one_sends_nothing() {
    let a = app(ports(|_| None), &[]);
    let older = inventory(1, 5);
    let newer = inventory(1, 3);
    assert_eq!(deliver(&a, "inventory", "old", &older).status, 200);
    a.ports.advance(1_000);
    assert_eq!(deliver(&a, "inventory", "new", &newer).status, 200);
    a.ports.advance(1_000);
    let replay = deliver(&a, "inventory", "old", &older);
    assert_eq!(header(&replay, "webhook-replayed"), Some("true"));
    let sent = a.ports.sent.borrow();
    let last = sent
        .iter()
        .rev()
        .find(|r| r.url.contains("source-items"))
        .unwrap();
    assert!(String::from_utf8_lossy(&last.body).contains(r#""quantity":3"#));
    assert_eq!(
        sent.iter()
            .filter(|r| r.url.contains("source-items"))
            .count(),
        2
    );
}

/// 5,000 deliveries over 48 hours: the store holds the records of the last
/// 24 hours and a bounded number of other keys, never all of them.
#[test]
fn the_store_holds_one_window_of_records_whatever_the_traffic() {
    let a = app(ports(|_| None), &[]);
    let step = 48 * HOUR_MS / 5_000;
    let body = inventory(1, 5);
    let mut written: Vec<u64> = Vec::new();
    let mut most_other = 0;
    for i in 0..5_000 {
        let resp = deliver(&a, "inventory", &format!("msg-{i}"), &body);
        assert_eq!(resp.status, 200, "{i}");
        written.push(a.ports.now_ms());
        let now = a.ports.now_ms();
        let in_window = written.iter().filter(|&&t| t + REMEMBER_MS > now).count();
        let records = record_keys(&a.ports).len();
        let other = a.ports.kv.borrow().len() - records;
        most_other = most_other.max(other);
        // Every remembered delivery is there; at most a few expired ones wait.
        assert!(records >= in_window, "{i}: {records} < {in_window}");
        assert!(
            records <= in_window + 2,
            "{i}: {records} records, {in_window} in the window"
        );
        // One index entry per record, a hint and a sweep mark for each
        // hour of the window (26 hours across an hour boundary) and the
        // pointer.
        assert!(
            other <= records + 2 * 26 + 1,
            "{i}: {other} other keys, {records} records"
        );
        a.ports.advance(step);
    }
    let total = a.ports.kv.borrow().len();
    eprintln!(
        "after 5,000 deliveries over 48 h: {total} keys ({} records, at most {most_other} others)",
        record_keys(&a.ports).len()
    );
    assert!(total < 2 * 2_700, "{total}");
    // Replays of the window are still answered from the ledger.
    let calls = accs_calls(&a.ports);
    let recent = deliver(&a, "inventory", "msg-4999", &body);
    assert_eq!(header(&recent, "webhook-replayed"), Some("true"));
    assert_eq!(accs_calls(&a.ports), calls);
}

// ---- `wasmtime serve`: no shared store ----

#[test]
fn without_a_shared_store_or_token_cache_dir_webhooks_are_503_naming_it() {
    let p = ports(|_| None);
    p.kv_shared.set(false);
    let a = app(p, &[]);
    let resp = deliver(&a, "inventory", "m1", &inventory(1, 5));
    let b = body_json(&resp);
    assert_eq!(
        (resp.status, b["code"].as_str()),
        (503, Some("webhook_not_configured"))
    );
    assert!(
        b["detail"].as_str().unwrap().contains("token_cache_dir"),
        "{b}"
    );
    assert_eq!(a.ports.sent.borrow().len(), 0);
}

#[test]
fn with_token_cache_dir_the_ledger_is_files_shared_by_instances() {
    let instance = |seed: u64, files: Option<&FakePorts>| {
        let mut p = ports(|_| None);
        p.kv_shared.set(false);
        p.seed.set(seed);
        if let Some(other) = files {
            p.files = other.files.clone();
        }
        app(p, &[("token_cache_dir", "/cache")])
    };
    let a = instance(1, None);
    let body = inventory(2, 5);
    assert_eq!(deliver(&a, "inventory", "m1", &body).status, 200);
    assert!(
        !a.ports.kv.borrow().keys().any(|k| k.contains("ledger")),
        "nothing of the ledger in the instance's store"
    );
    let names: Vec<String> = a.ports.files.borrow().keys().cloned().collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("/cache/accs-edge-ledger-v2-")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains(".c1-")),
        "the claim file is removed: {names:?}"
    );
    // A new instance on the same directory, later: answered from the ledger.
    let b = instance(2, Some(&a.ports));
    b.ports.now.set(a.ports.now_ms() + 1_500);
    let resp = deliver(&b, "inventory", "m1", &body);
    assert_eq!(header(&resp, "webhook-replayed"), Some("true"));
    assert_eq!(accs_calls(&b.ports), 0);
    // A failing directory fails closed.
    let c = instance(3, Some(&a.ports));
    c.ports.files_failing.set(true);
    assert_unavailable(&deliver(&c, "inventory", "m2", &body));
    assert_eq!(accs_calls(&c.ports), 0);
}

/// Two instances claim one delivery from one directory at once: exactly one
/// sends. The exclusive create decides, with no wait.
#[test]
fn file_claims_are_exact() {
    let p = ports(|_| None);
    p.kv_shared.set(false);
    let a = app(p, &[("token_cache_dir", "/cache")]);
    let mut q = ports(|_| None);
    q.kv_shared.set(false);
    q.seed.set(0x5eed);
    q.files = a.ports.files.clone();
    let b = app(q, &[("token_cache_dir", "/cache")]);
    let body = inventory(1, 5);
    let (ra, rb) = block_on(futures::future::join(
        a.handle(signed("inventory", "race", &body, NOW)),
        b.handle(signed("inventory", "race", &body, NOW)),
    ));
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(
        accs_calls(&a.ports) + accs_calls(&b.ports),
        1,
        "ACCS written once"
    );
}

/// A claim file left by an instance that died is taken over once expired.
#[test]
fn an_expired_claim_file_is_taken_over() {
    let p = ports(|_| None);
    p.kv_shared.set(false);
    let a = app(p, &[("token_cache_dir", "/cache")]);
    let l = a.edge.as_ref().unwrap().ledger().unwrap();
    let body = inventory(1, 5);
    let name = l.record_name("inventory", "m1");
    let file = format!("{name}.c1-0");
    let mut dead = rec(State::Processing, NOW + REMEMBER_MS);
    dead.body_sha256 = body_digest(&body);
    dead.claim_until_ms = NOW + 1_000;
    dead.landed = vec![];
    a.ports.files.borrow_mut().insert(
        format!("/cache/{}", file.replace('/', "-")),
        l.seal(&file, &dead),
    );
    let resp = deliver(&a, "inventory", "m1", &body);
    assert_eq!(resp.status, 409, "held until it expires");
    a.ports.advance(2_000);
    let resp = deliver(&a, "inventory", "m1", &body);
    assert_eq!(resp.status, 200, "{}", body_json(&resp));
}

/// An instance that read the record before another one finished the
/// delivery (and removed its claim file) wins the next claim file, but
/// finds the record moved on and backs off.
#[test]
fn a_stale_file_claim_backs_off() {
    let p = ports(|_| None);
    p.kv_shared.set(false);
    let secret = whsec(KEY_A);
    let l = Ledger::new(
        &settings(&[("webhook_secrets", &secret), ("token_cache_dir", "/cache")]).unwrap(),
        false,
    )
    .unwrap();
    let body = inventory(1, 5);
    let stale = block_on(l.read(&p, "inventory", "m1")).unwrap();
    assert!(stale.record.is_none());
    let mut q = ports(|_| None);
    q.kv_shared.set(false);
    q.seed.set(7);
    q.files = p.files.clone();
    let other = app(q, &[("token_cache_dir", "/cache")]);
    assert_eq!(deliver(&other, "inventory", "m1", &body).status, 200);
    let mut processing = rec(State::Processing, NOW + REMEMBER_MS);
    processing.body_sha256 = body_digest(&body);
    processing.claim_until_ms = NOW + 60_000;
    let claimed = block_on(l.claim(&p, &stale, processing)).unwrap();
    assert!(
        claimed.is_err(),
        "the stale reader must not take the delivery"
    );
    // And the record it would have overwritten is still the finished one.
    let now = block_on(l.read(&p, "inventory", "m1")).unwrap();
    assert_eq!(now.record.unwrap().state, State::Done);
}

#[test]
fn bulks_round_trip_and_a_record_with_them_stays_sealed() {
    let bulks = vec![
        BulkRef {
            uuid: "799a59c0-09ca-4d60-b432-2953986c1c38".into(),
            first: 0,
            count: 500,
            from: 0,
        },
        BulkRef {
            uuid: "899a59c0-09ca-4d60-b432-2953986c1c38".into(),
            first: 500,
            count: 250,
            from: 0,
        },
        // The same bulk again after a product ACCS rejected.
        BulkRef {
            uuid: "899a59c0-09ca-4d60-b432-2953986c1c38".into(),
            first: 751,
            count: 249,
            from: 250,
        },
    ];
    let text = encode_bulks(&bulks);
    assert_eq!(decode_bulks(&text), Some(bulks.clone()));
    assert_eq!(decode_bulks(""), Some(vec![]));
    assert!(text.ends_with(":751:249:250"), "{text}");
    for bad in [
        "u:1",
        "u:1:0",
        "u:x:1",
        "u:1:1:0",
        "u:1:1:1:1",
        ":1:1",
        "u/..:1:1",
    ] {
        assert_eq!(decode_bulks(bad), None, "{bad}");
    }
    let l = ledger(&[]);
    let mut r = rec(State::Done, NOW + 1);
    r.bulks = bulks.clone();
    let sealed = l.seal("n", &r);
    assert!(sealed.len() <= MAX_RECORD, "{}", sealed.len());
    assert_eq!(l.open("n", &sealed).unwrap().bulks, bulks);
    assert_eq!(bulks_of(Some(&r), NOW, &r.body_sha256), bulks);
    assert_eq!(
        bulks_of(Some(&r), NOW + 1, &r.body_sha256),
        vec![],
        "forgotten"
    );
    assert_eq!(bulks_of(Some(&r), NOW, "other"), vec![], "another body");
}

// ---- writes per delivery, the size cap, lost index entries ----

/// Store writes (sets, swaps that wrote, deletes) and value bytes written
/// so far.
fn writes(p: &FakePorts) -> (usize, usize) {
    (
        p.kv_sets.get() + p.kv_swaps.get() + p.kv_deletes.get(),
        p.kv_set_bytes.get(),
    )
}

/// 1,000 deliveries in one hour, then 1,000 more a day later while the
/// sweep removes the first ones: what one delivery writes stays the same,
/// however many came before it in its hour.
#[test]
fn bytes_written_per_delivery_do_not_grow_with_the_hour() {
    for cas in [false, true] {
        let a = app(ports(|_| None), &[]);
        a.ports.kv_cas.set(cas);
        // The start of an hour, so 1,000 deliveries 3 s apart share it.
        a.ports.now.set((NOW / HOUR_MS + 1) * HOUR_MS);
        let body = inventory(1, 5);
        let mut costs = Vec::new();
        for day in 0..2 {
            for i in 0..1_000 {
                let before = writes(&a.ports);
                let resp = deliver(&a, "inventory", &format!("d{day}-{i}"), &body);
                assert_eq!(resp.status, 200, "{i}");
                let after = writes(&a.ports);
                costs.push((after.0 - before.0, after.1 - before.1));
                a.ports.advance(3_000);
            }
            a.ports.now.set((a.ports.now_ms() / HOUR_MS + 24) * HOUR_MS);
        }
        let (first, last) = (costs[0], costs[999]);
        // The hour's 1,000 deliveries together: linear, not quadratic.
        let hour: usize = costs[..1_000].iter().map(|c| c.1).sum();
        eprintln!("cas {cas}: 1,000 deliveries in one hour wrote {hour} bytes");
        assert!(hour <= 1_000 * 2 * first.1, "cas {cas}: {hour} bytes");
        let most = costs.iter().map(|c| c.1).max().unwrap();
        let swept: f64 = costs[1_000..].iter().map(|c| c.0 as f64).sum::<f64>() / 1_000.0;
        let swept_bytes: f64 = costs[1_000..].iter().map(|c| c.1 as f64).sum::<f64>() / 1_000.0;
        eprintln!(
            "cas {cas}: 1st delivery {} writes / {} bytes, 1,000th {} writes / {} bytes, at most {most} bytes; while sweeping, {swept:.2} writes / {swept_bytes:.0} bytes a delivery",
            first.0, first.1, last.0, last.1
        );
        assert!(
            last.1 <= 2 * first.1,
            "cas {cas}: the 1,000th delivery wrote {} bytes, the 1st {}",
            last.1,
            first.1
        );
        assert!(last.0 <= first.0, "cas {cas}: {last:?} after {first:?}");
        assert!(most <= 1_000, "cas {cas}: {most} bytes in one delivery");
        assert!(
            costs[1_000..].iter().all(|c| c.0 <= 16 && c.1 <= 1_000),
            "cas {cas}: {:?}",
            costs[1_000..].iter().max()
        );
        // The first day's records are gone, the second day's are there.
        assert_eq!(record_keys(&a.ports).len(), 1_000, "cas {cas}");
    }
}

/// ACCS's bulk route: each POST accepted as one bulk of its own, numbered
/// in arrival order; POSTs whose number `fail` names answer 503.
fn bulk_ports(fail: impl Fn(usize) -> bool + 'static) -> FakePorts {
    let posts = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let p = FakePorts::new(move |req, _| {
        if req.url.contains("/ims/token") {
            return respond(200, r#"{"access_token":"tok-1","expires_in":86399}"#);
        }
        if req.method == "POST" && req.url.ends_with("/V1/async/bulk/products") {
            let n = posts.get();
            posts.set(n + 1);
            if fail(n) {
                return respond(503, r#"{"message":"Service Unavailable"}"#);
            }
            let list: Vec<Value> = serde_json::from_slice(&req.body).unwrap();
            let items: Vec<Value> = (0..list.len())
                .map(|i| json!({"id": i, "data_hash": "h", "status": "accepted"}))
                .collect();
            let id = format!("00000000-0000-4000-8000-{n:012}");
            return respond(
                202,
                &json!({"bulk_uuid": id, "request_items": items, "errors": false}).to_string(),
            );
        }
        respond(404, r#"{"message":"not here"}"#)
    });
    p.now.set(NOW);
    p
}

fn products(n: usize) -> Vec<u8> {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"sku": format!("P-{i:04}"), "name": "N"}))
        .collect();
    serde_json::to_vec(&json!({ "products": list })).unwrap()
}

/// The largest value the store was ever asked to hold, and how many.
fn value_sizes(p: &FakePorts) -> std::rc::Rc<std::cell::RefCell<Vec<usize>>> {
    let sizes = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s = sizes.clone();
    p.kv_fault.replace(Some(Box::new(move |_, key, value| {
        if let Some(v) = value.filter(|_| key.contains("/ledger/")) {
            s.borrow_mut().push(v.len());
        }
        false
    })));
    sizes
}

/// A products delivery of 1,000 products in bulks of one (1,000 bulk ids,
/// about 45 KB as one list): no value the ledger writes passes
/// [`MAX_RECORD`], a replay answers the same 1,000 bulk ids and sends
/// nothing, and a retry after a partial failure sends only what no bulk
/// holds.
#[test]
fn a_delivery_of_a_thousand_bulks_keeps_every_value_under_max_record() {
    let extra = [("products_bulk_above", "0"), ("bulk_chunk_size", "1")];
    // Every 10th bulk fails at first: 900 accepted.
    let failing = std::rc::Rc::new(std::cell::Cell::new(true));
    let f = failing.clone();
    let a = app(bulk_ports(move |n| f.get() && n % 10 == 3), &extra);
    let sizes = value_sizes(&a.ports);
    let body = products(1_000);
    let first = deliver(&a, "products", "bulky", &body);
    assert_eq!(
        first.status,
        503,
        "{}",
        String::from_utf8_lossy(&first.body[..200])
    );
    assert_eq!(body_json(&first)["bulks"].as_array().unwrap().len(), 900);
    let posts = accs_calls(&a.ports);
    assert_eq!(posts, 1_000);
    failing.set(false);
    a.ports.advance(61_000);
    let second = deliver(&a, "products", "bulky", &body);
    assert_eq!(second.status, 202);
    assert_eq!(
        accs_calls(&a.ports) - posts,
        100,
        "the retry sends only the 100 products no bulk holds"
    );
    let ids = |r: &InResponse| -> Vec<String> {
        body_json(r)["bulks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["bulk_uuid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&second).len(), 1_000);
    let calls = accs_calls(&a.ports);
    let again = deliver(&a, "products", "bulky", &body);
    assert_eq!(header(&again, "webhook-replayed"), Some("true"));
    assert_eq!(accs_calls(&a.ports), calls, "a replay sends nothing");
    assert!(
        ids(&again) == ids(&second),
        "the same 1,000 bulk ids, in order"
    );
    assert!(body_json(&again)["results"] == body_json(&second)["results"]);
    let sizes = sizes.borrow();
    let largest = sizes.iter().max().unwrap();
    eprintln!(
        "1,000 bulks: {} ledger writes, the largest value {largest} bytes",
        sizes.len()
    );
    assert!(*largest <= MAX_RECORD, "a value of {largest} bytes");
}

/// Past what pages can hold (not reachable from a route: a delivery has
/// at most 1,000 products, so 1,000 bulks), the record keeps what fits, is
/// final, and no value passes the cap; a value over the cap is refused
/// before it is written.
#[test]
fn bulks_past_the_pages_are_kept_final_and_nothing_passes_the_cap() {
    let p = ports(|_| None);
    let sizes = value_sizes(&p);
    let l = ledger(&[]);
    let digest = body_digest(b"big");
    let entry = block_on(l.read(&p, "products", "many")).unwrap();
    let record = Record::processing(&p, claim_ms(30_000), digest.clone(), vec![], vec![]);
    let claim = block_on(l.claim(&p, &entry, record)).unwrap().unwrap();
    let bulks: Vec<BulkRef> = (0..MAX_BULKS + 500)
        .map(|i| BulkRef {
            uuid: format!("{i:064}"),
            first: i,
            count: 1,
            from: 0,
        })
        .collect();
    let mut partial = rec(State::Partial, NOW + REMEMBER_MS);
    partial.body_sha256 = digest.clone();
    partial.landed = (0..bulks.len()).collect();
    partial.bulks = bulks.clone();
    block_on(l.finish(&p, &claim, partial)).unwrap();
    let read = block_on(l.read(&p, "products", "many")).unwrap();
    let kept = read.record.as_ref().unwrap();
    assert_eq!(kept.state, State::Done, "final: a retry sends nothing");
    assert!(kept.bulks.len() >= MAX_BULKS, "{}", kept.bulks.len());
    assert_eq!(kept.bulks[..], bulks[..kept.bulks.len()]);
    assert!(matches!(
        verdict(Some(kept), NOW, &digest),
        Verdict::Replay { .. }
    ));
    assert!(
        p.logs
            .borrow()
            .iter()
            .any(|l| l.contains("more accepted bulks")),
        "{:?}",
        p.logs.borrow()
    );
    let largest = *sizes.borrow().iter().max().unwrap();
    assert!(largest <= MAX_RECORD, "a value of {largest} bytes");
    // A record over the cap however made (a summary far past the 1 KiB the
    // routes keep) is refused before the store sees it.
    let entry = block_on(l.read(&p, "inventory", "huge")).unwrap();
    let record = Record::processing(&p, claim_ms(30_000), digest.clone(), vec![], vec![]);
    let claim = block_on(l.claim(&p, &entry, record)).unwrap().unwrap();
    let mut huge = rec(State::Done, NOW + REMEMBER_MS);
    huge.summary = Some(format!(r#"{{"items":"{}"}}"#, "9".repeat(MAX_RECORD)));
    let before = sizes.borrow().len();
    assert!(block_on(l.finish(&p, &claim, huge)).is_err());
    assert!(
        sizes.borrow()[before..].iter().all(|&s| s <= MAX_RECORD),
        "{:?}",
        &sizes.borrow()[before..]
    );
}

/// The default build has no compare-and-swap: two instances claiming two
/// deliveries at the same moment both see the hour's next position free
/// and both write it, so one index entry is overwritten. The loser reads
/// its entry back and lists its record again, so both records are swept
/// once expired: none is left for ever.
#[test]
fn an_index_entry_lost_to_a_race_is_listed_again_and_swept() {
    let a = app(ports(|_| None), &[]);
    a.ports.kv_yields.set(true);
    let mut q = ports(|_| None);
    q.kv = a.ports.kv.clone();
    q.seed.set(0x5eed);
    q.kv_yields.set(true);
    let b = app(q, &[]);
    let body = inventory(1, 5);
    let (ra, rb) = block_on(futures::future::join(
        a.handle(signed("inventory", "one", &body, NOW)),
        b.handle(signed("inventory", "two", &body, NOW)),
    ));
    assert_eq!((ra.status, rb.status), (200, 200));
    assert_eq!(record_keys(&a.ports).len(), 2);
    // A day and a bit later, other deliveries sweep as they finish.
    a.ports.now.set(NOW + REMEMBER_MS + 2 * HOUR_MS);
    a.ports.kv_yields.set(false);
    for i in 0..4 {
        let id = format!("later-{i}");
        assert_eq!(deliver(&a, "inventory", &id, &body).status, 200);
    }
    let left = record_keys(&a.ports);
    assert_eq!(left.len(), 4, "only the later records are left: {left:?}");
    let l = a.edge.as_ref().unwrap().ledger().unwrap();
    for id in ["one", "two"] {
        assert!(
            !left.contains(&l.record_name("inventory", id)),
            "{id} was never swept"
        );
    }
}
