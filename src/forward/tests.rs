//! One event to its targets over FakePorts: what a target receives, which
//! targets a redelivery sends to, when a pair is dead-lettered, what the
//! store is written.

use super::dead::DeadLetters;
use super::deliver::{Forwarded, forward_event};
use super::pairs::Status;
use crate::accs::Ctx;
use crate::accs::retry::Budget;
use crate::events::delivery::{self, Event};
use crate::ims::Tokens;
use crate::ports::{OutResponse, Ports, SendError};
use crate::testing::{FakePorts, KvOp, respond, settings};
use crate::trace::{Trace, TraceContext};
use crate::webhook::ledger::Ledger;
use futures::executor::block_on;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

const S1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const S2: &str = "whsec_b3RoZXIta2V5LTAxMjM0NTY3ODlhYmNkZWY=";
const ORDER: &str = "com.adobe.commerce.observer.sales_order_save_commit_after";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Statuses each target answers, in turn (the last one repeats); 0 is a
/// timeout.
type Script = Rc<RefCell<HashMap<&'static str, Vec<u16>>>>;

fn ports(script: &Script) -> FakePorts {
    let script = script.clone();
    FakePorts::new(move |req, _| {
        let host = if req.url.contains("erp.example") {
            "erp"
        } else {
            "wms"
        };
        let mut s = script.borrow_mut();
        let list = s.entry(host).or_insert_with(|| vec![200]);
        let status = if list.len() > 1 {
            list.remove(0)
        } else {
            list[0]
        };
        match status {
            0 => Err(SendError::Timeout),
            s => respond(s, "{}"),
        }
    })
}

fn vars(extra: &[(&'static str, &'static str)]) -> crate::config::Settings {
    let targets: &'static str = Box::leak(
        format!("erp=https://erp.example/in?x=1,2 {S1} {S2} wms=https://wms.example/hook {S2}")
            .into_boxed_str(),
    );
    let mut v = vec![
        ("forward_targets", targets),
        (
            "forward_rules",
            "com.adobe.commerce.observer.sales_order_*=erp+wms",
        ),
    ];
    v.extend_from_slice(extra);
    settings(&v).unwrap()
}

fn event(id: &str, data: &str) -> Event {
    let body = format!(
        r#"{{"specversion":"1.0","type":"{ORDER}","eventid":"{id}","recipientclientid":"client-1","time":"2026-01-01T00:00:00Z","data":{data}}}"#
    );
    delivery::parse(body.as_bytes(), None).unwrap().remove(0)
}

/// Forwards `e` once, as a delivery would: a fresh request context with
/// an 8 s budget.
fn run(ports: &FakePorts, s: &crate::config::Settings, e: &Event) -> Forwarded {
    let tokens = Tokens::new(s);
    let trace = Trace {
        context: TraceContext::start(Some(TRACEPARENT), None, ports),
        ..Trace::new("req-1".into())
    };
    let now = ports.now_ms();
    let mut ctx = Ctx::new(s, ports, &tokens, &trace, "/v1/events", now);
    ctx.budget = Budget::new(now, 8_000);
    let ledger = Ledger::for_events(s, ports.kv_shared()).unwrap();
    let targets = s.forward.targets_for(&e.event_type);
    block_on(forward_event(&ctx, &ledger, e, &targets))
}

fn sent_to(ports: &FakePorts, host: &str) -> usize {
    ports.sent_to(host)
}

fn statuses(f: &Forwarded) -> Vec<(String, Status)> {
    f.pairs
        .iter()
        .map(|p| (p.target.clone(), p.status))
        .collect()
}

#[test]
fn a_target_gets_the_event_as_received_signed_with_each_secret() {
    let script = Script::default();
    let ports = ports(&script);
    let s = vars(&[]);
    let e = event(
        "ev-1",
        r#"{"value":{"increment_id":"100001", "grand_total": 42.5}}"#,
    );
    let f = run(&ports, &s, &e);
    assert!(!f.pending, "{f:?}");
    let sent = ports.sent.borrow();
    let erp = sent.iter().find(|r| r.url.contains("erp.example")).unwrap();
    assert_eq!(erp.method, "POST");
    assert_eq!(erp.url, "https://erp.example/in?x=1,2");
    assert_eq!(erp.body, e.raw);
    let h = |n: &str| {
        erp.headers
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(h("content-type"), "application/json");
    assert_eq!(h("user-agent"), "accs-edge");
    assert_eq!(h("webhook-id"), "ev-1");
    assert_eq!(h("webhook-timestamp"), (ports.now_ms() / 1000).to_string());
    // A new span of the request's trace.
    let tp = h("traceparent");
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && tp != TRACEPARENT,
        "{tp}"
    );
    // Two `v1,` entries, one per secret; each verifies on its own.
    let sig = h("webhook-signature");
    assert_eq!(sig.matches("v1,").count(), 2, "{sig}");
    for secret in [S1, S2] {
        let key = crate::webhook::signature::key(secret).unwrap();
        let ok = crate::webhook::signature::verify(
            Some("ev-1"),
            Some(&h("webhook-timestamp")),
            Some(&sig),
            &erp.body,
            &[key],
            (ports.now_ms() / 1000) as i64,
        );
        assert_eq!(ok, Ok("ev-1"), "{secret}");
    }
    // The other target: its own URL and its one secret.
    let wms = sent.iter().find(|r| r.url.contains("wms.example")).unwrap();
    assert_eq!(wms.url, "https://wms.example/hook");
    let sig = wms
        .headers
        .iter()
        .find(|(k, _)| *k == "webhook-signature")
        .unwrap();
    assert_eq!(sig.1.matches("v1,").count(), 1);
}

#[test]
fn a_redelivery_sends_only_to_the_target_that_failed() {
    let script = Script::default();
    script.borrow_mut().insert("wms", vec![503, 0, 200]);
    let ports = ports(&script);
    let s = vars(&[]);
    let e = event("ev-2", r#"{"value":{"increment_id":"100002"}}"#);
    let f = run(&ports, &s, &e);
    assert!(f.pending);
    assert_eq!(
        statuses(&f),
        [
            ("erp".into(), Status::Delivered),
            ("wms".into(), Status::Pending)
        ]
    );
    assert_eq!((sent_to(&ports, "erp."), sent_to(&ports, "wms.")), (1, 1));
    // The retry (a timeout this time): wms only.
    ports.advance(60_000);
    let f = run(&ports, &s, &e);
    assert!(f.pending);
    assert_eq!((sent_to(&ports, "erp."), sent_to(&ports, "wms.")), (1, 2));
    ports.advance(120_000);
    let f = run(&ports, &s, &e);
    assert!(!f.pending, "{f:?}");
    assert_eq!((sent_to(&ports, "erp."), sent_to(&ports, "wms.")), (1, 3));
    assert_eq!(f.pairs[1].attempts, 3);
    assert!(f.pairs[0].before && !f.pairs[1].before);
    // Everything settled: a further copy sends nothing and writes nothing.
    let writes = ports.kv_sets.get();
    let f = run(&ports, &s, &e);
    assert!(!f.pending && f.pairs.iter().all(|p| p.before));
    assert_eq!((sent_to(&ports, "erp."), sent_to(&ports, "wms.")), (1, 3));
    assert_eq!(ports.kv_sets.get(), writes);
}

#[test]
fn another_4xx_is_dead_lettered_at_once_and_acknowledged() {
    let script = Script::default();
    script.borrow_mut().insert("wms", vec![422]);
    let ports = ports(&script);
    let s = vars(&[]);
    let e = event("ev-3", r#"{"value":{"increment_id":"100003"}}"#);
    let f = run(&ports, &s, &e);
    assert!(!f.pending, "{f:?}");
    assert_eq!(f.pairs[1].status, Status::DeadLettered);
    let id = f.pairs[1].dead_letter.clone().unwrap();
    let dead = DeadLetters::new(&s, true);
    let page = block_on(dead.list(&ports, None, 10)).unwrap();
    assert_eq!(page.letters.len(), 1);
    let l = &page.letters[0];
    assert_eq!(
        (l.id.as_str(), l.event_id.as_str(), l.target.as_str()),
        (id.as_str(), "ev-3", "wms")
    );
    assert_eq!((l.attempts, l.last_status), (1, Some(422)));
    assert!(l.reason.contains("422"), "{}", l.reason);
    assert_eq!(block_on(dead.body(&ports, l)).unwrap().unwrap(), e.raw);
    assert!(
        ports
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("forward_dead_lettered"))
    );
    // Not sent again.
    run(&ports, &s, &e);
    assert_eq!(sent_to(&ports, "wms."), 1);
}

#[test]
fn max_attempts_dead_letters_the_pair() {
    let script = Script::default();
    script.borrow_mut().insert("wms", vec![503]);
    let ports = ports(&script);
    let s = vars(&[("forward_max_attempts", "3")]);
    let e = event("ev-4", r#"{"value":{"increment_id":"100004"}}"#);
    for n in 1..3 {
        let f = run(&ports, &s, &e);
        assert!(f.pending, "attempt {n}");
        ports.advance(60_000);
    }
    let f = run(&ports, &s, &e);
    assert!(!f.pending, "{f:?}");
    assert_eq!(
        (f.pairs[1].status, f.pairs[1].attempts),
        (Status::DeadLettered, 3)
    );
    let dead = DeadLetters::new(&s, true);
    let l = block_on(dead.list(&ports, None, 10))
        .unwrap()
        .letters
        .remove(0);
    assert_eq!((l.attempts, l.last_status), (3, Some(503)));
    assert!(l.first_attempt_ms < l.last_attempt_ms);
    assert!(l.reason.contains("last of 3 attempts"), "{}", l.reason);
    assert_eq!(sent_to(&ports, "wms."), 3);
    assert_eq!(sent_to(&ports, "erp."), 1);
}

#[test]
fn a_dead_letter_that_cannot_be_written_keeps_the_pair_pending() {
    let script = Script::default();
    script.borrow_mut().insert("wms", vec![410]);
    let ports = ports(&script);
    let s = vars(&[]);
    let e = event("ev-5", r#"{"value":{}}"#);
    *ports.kv_fault.borrow_mut() = Some(Box::new(|op, key: &str, _| {
        op == KvOp::Set && key.contains("accs-edge/dead/")
    }));
    let f = run(&ports, &s, &e);
    assert!(f.pending, "no letter, no acknowledgement: {f:?}");
    assert!(
        ports
            .logs
            .borrow()
            .iter()
            .any(|l| l.contains("dead letter could not be written"))
    );
    // Back: the letter is written without sending again.
    *ports.kv_fault.borrow_mut() = None;
    let f = run(&ports, &s, &e);
    assert!(!f.pending, "{f:?}");
    assert_eq!(sent_to(&ports, "wms."), 1);
    assert_eq!(
        block_on(DeadLetters::new(&s, true).list(&ports, None, 10))
            .unwrap()
            .total,
        1
    );
}

#[test]
fn the_store_writes_per_event_do_not_grow_with_the_targets() {
    let writes = |rules: &'static str| {
        let script = Script::default();
        let ports = ports(&script);
        let s = vars(&[("forward_rules", rules)]);
        run(&ports, &s, &event("ev-w", r#"{"value":{}}"#));
        ports.kv_sets.get() + ports.kv_swaps.get()
    };
    let one = writes("com.adobe.commerce.observer.sales_order_save_commit_after=erp");
    let two = writes("com.adobe.commerce.observer.sales_order_save_commit_after=erp+wms");
    assert_eq!(one, two);
    // docs/FORWARDING.md: the ledger's 4 to 6 writes per event.
    assert!((3..=6).contains(&one), "{one} writes");
}

#[test]
fn no_budget_left_sends_nothing_and_stays_pending() {
    let script = Script::default();
    let ports = ports(&script);
    let s = vars(&[]);
    let tokens = Tokens::new(&s);
    let trace = Trace::new("r".into());
    let now = ports.now_ms();
    let mut ctx = Ctx::new(&s, &ports, &tokens, &trace, "/v1/events", now);
    ctx.budget = Budget::new(now - 7_600, 8_000);
    let ledger = Ledger::for_events(&s, true).unwrap();
    let e = event("ev-6", "{}");
    let targets = s.forward.targets_for(ORDER);
    let f = block_on(forward_event(&ctx, &ledger, &e, &targets));
    assert!(f.pending);
    assert_eq!(ports.sent.borrow().len(), 0);
    assert!(f.pairs.iter().all(|p| p.attempts == 0));
}

#[test]
fn the_attempt_never_outlasts_the_budget() {
    let script = Script::default();
    let ports = ports(&script);
    let s = vars(&[("forward_timeout_ms", "9000")]);
    run(&ports, &s, &event("ev-7", "{}"));
    let t = ports.timeouts.borrow();
    assert!(
        !t.is_empty() && t.iter().all(|d| d.as_millis() <= 7_500),
        "{t:?}"
    );
    drop(t);
    let ports2 = self::ports(&script);
    let s = vars(&[("forward_timeout_ms", "600")]);
    run(&ports2, &s, &event("ev-8", "{}"));
    assert!(
        ports2
            .timeouts
            .borrow()
            .iter()
            .all(|d| d.as_millis() == 600)
    );
}

#[test]
fn the_same_id_with_other_data_is_refused() {
    let script = Script::default();
    let ports = ports(&script);
    let s = vars(&[]);
    run(&ports, &s, &event("ev-9", r#"{"a":1}"#));
    let f = run(&ports, &s, &event("ev-9", r#"{"a":2}"#));
    assert!(!f.pending && f.refused.is_some(), "{f:?}");
    assert_eq!(ports.sent.borrow().len(), 2);
}

#[test]
fn the_files_ledger_under_wasmtime_serve_holds_the_pairs_too() {
    let script = Script::default();
    script.borrow_mut().insert("erp", vec![500, 200]);
    let ports = ports(&script);
    ports.kv_shared.set(false);
    let s = vars(&[("token_cache_dir", "/cache")]);
    let e = event("ev-10", "{}");
    assert!(run(&ports, &s, &e).pending);
    assert!(!run(&ports, &s, &e).pending);
    assert_eq!((sent_to(&ports, "erp."), sent_to(&ports, "wms.")), (2, 1));
    assert!(ports.kv.borrow().is_empty());
}

#[test]
fn a_target_answer_without_a_status_is_not_taken_for_one() {
    // A timeout counts an attempt, with no status recorded.
    let script = Script::default();
    script.borrow_mut().insert("erp", vec![0]);
    let ports = ports(&script);
    let s = vars(&[]);
    let f = run(&ports, &s, &event("ev-11", "{}"));
    assert!(f.pending);
    assert_eq!((f.pairs[0].attempts, f.pairs[0].last_status), (1, None));
    let _ = OutResponse::default();
}
