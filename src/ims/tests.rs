//! The token manager over fake ports and an injected clock: every boundary
//! of the lifecycle at ±1 s, the single flight, the lease, the shared stores.

use super::lease::Lease;
use super::shared::{Claim, Need};
use super::token::Token;
use super::*;
use crate::config::Settings;
use crate::testing::{FakePorts, respond};
use futures::executor::block_on;
use futures::future::join_all;

// The documented numbers, written out rather than read from the code
// (docs/OPERATIONS.md: the lease "at most 15 s", the others "wait up to
// 2 s"; docs/RETRIES.md: IMS down, "not asked again for 10 s").
const LEASE_MS: u64 = 15_000;
const COLD_WAIT_MS: u64 = 2_000;
const IMS_RETRY_AFTER_S: u64 = 10;
use std::rc::Rc;

const T0: u64 = 1_700_000_000_000;

/// A fake IMS that hands out `tok-1`, `tok-2`, ... with `expires_in` (or
/// none), and answers 503 while `down` is set.
struct World {
    ports: FakePorts,
    settings: Settings,
    down: Rc<Cell<bool>>,
}

fn settings(extra: &[(&'static str, &str)]) -> Settings {
    crate::testing::settings(extra).unwrap()
}

fn world(expires_in: Option<u64>, extra: &[(&'static str, &str)]) -> World {
    let down = Rc::new(Cell::new(false));
    let issued = Cell::new(0);
    let is_down = down.clone();
    let ports = FakePorts::new(move |req, _| {
        assert!(req.url.contains("/ims/token"), "only IMS is called here");
        if is_down.get() {
            return respond(503, r#"{"error":"server_error"}"#);
        }
        issued.set(issued.get() + 1);
        let n = issued.get();
        match expires_in {
            Some(s) => respond(
                200,
                &format!(r#"{{"access_token":"tok-{n}","expires_in":{s}}}"#),
            ),
            None => respond(200, &format!(r#"{{"access_token":"tok-{n}"}}"#)),
        }
    });
    ports.now.set(T0);
    World {
        ports,
        settings: settings(extra),
        down,
    }
}

impl World {
    fn tokens(&self) -> Tokens {
        Tokens::new(&self.settings)
    }

    fn get(&self, t: &Tokens) -> Result<String, Box<Problem>> {
        block_on(t.get(&self.settings, &self.ports, &Trace::default())).map_err(Box::new)
    }

    fn get_traced(&self, t: &Tokens) -> (Result<String, Box<Problem>>, Option<TokenSource>) {
        let trace = Trace::default();
        let r = block_on(t.get(&self.settings, &self.ports, &trace)).map_err(Box::new);
        let source = *trace.token_source.borrow();
        (r, source)
    }

    /// `n` callers at once on one instance.
    fn get_many(&self, t: &Tokens, n: usize) -> Vec<Result<String, Box<Problem>>> {
        let trace = Trace::default();
        let all = block_on(join_all(
            (0..n).map(|_| t.get(&self.settings, &self.ports, &trace)),
        ));
        all.into_iter().map(|r| r.map_err(Box::new)).collect()
    }

    fn ims_calls(&self) -> usize {
        self.ports.sent_to("/ims/token")
    }

    fn at(&self, ms: u64) {
        self.ports.now.set(ms);
    }

    fn sealed(&self, t: &Tokens, token: &Token, secret: &str) -> Vec<u8> {
        seal::seal(
            &seal::derive_key(secret, &self.settings.token_fingerprint()),
            t.kv_key(),
            token,
            [9; 12],
        )
    }

    fn warnings(&self) -> Vec<String> {
        self.ports
            .logs
            .borrow()
            .iter()
            .filter(|l| l.contains(r#""level":"warn""#))
            .cloned()
            .collect()
    }
}

fn ok<E: std::fmt::Debug>(r: &Result<String, E>) -> &str {
    match r {
        Ok(t) => t,
        Err(e) => panic!("expected a token, got {e:?}"),
    }
}

fn count<E>(results: &[Result<String, E>], token: &str) -> usize {
    results
        .iter()
        .filter(|r| r.as_deref().ok() == Some(token))
        .count()
}

// ---- single flight and the refresh window ----

#[test]
fn two_hundred_concurrent_cold_callers_cost_one_ims_call() {
    for dir in [None, Some("/cache")] {
        let w = match dir {
            Some(d) => world(Some(3_600), &[("token_cache_dir", d)]),
            None => world(Some(3_600), &[]),
        };
        let t = w.tokens();
        let all = w.get_many(&t, 200);
        assert_eq!(count(&all, "tok-1"), 200, "{dir:?}");
        assert_eq!(w.ims_calls(), 1, "{dir:?}");
    }
}

#[test]
fn fresh_then_window_then_exactly_one_refresher_while_the_others_keep_the_old_token() {
    let w = world(Some(3_600), &[]); // window 360 s, jitter up to 72 s
    let t = w.tokens();
    assert_eq!(ok(&w.get(&t)), "tok-1");
    let refresh_at = t.refresh_at_ms().unwrap();
    assert!((T0 + 3_168_000..=T0 + 3_240_000).contains(&refresh_at));

    // One second before the window: memory only, not even the store is read.
    w.at(refresh_at - 1_000);
    let gets = w.ports.kv_gets.get();
    let all = w.get_many(&t, 50);
    assert_eq!(count(&all, "tok-1"), 50);
    assert_eq!(w.ims_calls(), 1);
    assert_eq!(w.ports.kv_gets.get(), gets);
    assert!(!w.tokens().status(refresh_at - 1_000).refresh_due);

    // At the window: one caller refreshes, the 49 others keep the valid token.
    w.at(refresh_at);
    assert!(t.status(refresh_at).refresh_due);
    let all = w.get_many(&t, 50);
    assert_eq!(w.ims_calls(), 2);
    assert_eq!(count(&all, "tok-2"), 1, "the refresher gets the new token");
    assert_eq!(count(&all, "tok-1"), 49, "the others keep the old one");

    // One second in: the new token, from memory.
    w.at(refresh_at + 1_000);
    let (r, source) = w.get_traced(&t);
    assert_eq!((ok(&r), source), ("tok-2", Some(TokenSource::Memory)));
    assert_eq!(w.ims_calls(), 2);
}

#[test]
fn a_failed_refresh_serves_the_valid_token_and_retries_every_thirty_seconds() {
    let w = world(Some(3_600), &[]);
    let t = w.tokens();
    ok(&w.get(&t));
    let refresh_at = t.refresh_at_ms().unwrap();
    w.down.set(true);

    w.at(refresh_at);
    assert_eq!(ok(&w.get(&t)), "tok-1");
    assert_eq!(w.ims_calls(), 2, "the first attempt");
    let status = t.status(refresh_at);
    assert_eq!(
        status.last_refresh_error.as_deref(),
        Some("ims_unavailable")
    );
    assert!(status.cached && status.refresh_due);

    w.at(refresh_at + 29_000);
    assert_eq!(ok(&w.get(&t)), "tok-1");
    assert_eq!(w.ims_calls(), 2, "no retry before 30 s");
    w.at(refresh_at + 30_000);
    assert_eq!(ok(&w.get(&t)), "tok-1");
    assert_eq!(w.ims_calls(), 3, "one retry at 30 s");
    w.at(refresh_at + 31_000);
    assert_eq!(ok(&w.get(&t)), "tok-1");
    assert_eq!(w.ims_calls(), 3);

    w.down.set(false);
    w.at(refresh_at + 60_000);
    assert_eq!(ok(&w.get(&t)), "tok-2");
    assert_eq!(t.status(refresh_at + 60_000).last_refresh_error, None);
}

#[test]
fn a_token_with_under_sixty_seconds_left_is_never_sent() {
    let w = world(Some(3_600), &[]);
    let t = w.tokens();
    ok(&w.get(&t));
    let gone = t.unusable_at_ms().unwrap();
    assert_eq!(gone, T0 + 3_540_001);
    w.down.set(true);

    // 61 s left: still sent, IMS down or not.
    w.at(gone - 1_000);
    assert_eq!(ok(&w.get(&t)), "tok-1");
    // 59 s left: never sent; IMS is down and nothing else is held.
    w.at(gone + 1_000);
    let calls = w.ims_calls();
    let e = w.get(&t).unwrap_err();
    assert_eq!((e.code, e.status), (Code::ImsUnavailable, 503));
    assert_eq!(e.retry_after, Some(IMS_RETRY_AFTER_S));
    assert_eq!(w.ims_calls(), calls + 1);
    assert!(!t.status(gone + 1_000).cached);
    // Concurrent callers right after share that answer instead of calling again.
    let all = w.get_many(&t, 10);
    assert!(
        all.iter()
            .all(|r| r.as_ref().is_err_and(|e| e.status == 503))
    );
    assert_eq!(w.ims_calls(), calls + 1);

    w.down.set(false);
    w.at(gone + 3_000);
    assert_eq!(ok(&w.get(&t)), "tok-2");
}

#[test]
fn missing_expires_in_means_nine_hundred_seconds() {
    let w = world(None, &[]);
    let t = w.tokens();
    ok(&w.get(&t));
    assert_eq!(t.status(T0).seconds_left, 900);
    assert_eq!(t.unusable_at_ms(), Some(T0 + 840_001));
    let refresh_at = t.refresh_at_ms().unwrap();
    // Window 300 s, moved earlier by at most 60 s.
    assert!((T0 + 540_000..=T0 + 600_000).contains(&refresh_at));
    w.at(refresh_at - 1_000);
    ok(&w.get(&t));
    assert_eq!(w.ims_calls(), 1);
    w.at(refresh_at);
    assert_eq!(ok(&w.get(&t)), "tok-2");
    assert_eq!(w.ims_calls(), 2);
}

#[test]
fn an_ims_outage_through_the_whole_window_costs_callers_nothing() {
    let w = world(Some(3_600), &[]);
    let t = w.tokens();
    ok(&w.get(&t));
    let refresh_at = t.refresh_at_ms().unwrap();
    let gone = t.unusable_at_ms().unwrap();
    w.down.set(true);
    let mut errors = 0;
    let mut now = T0;
    while now < gone {
        w.at(now);
        for r in w.get_many(&t, 4) {
            errors += usize::from(r.is_err());
        }
        now += 1_000;
    }
    assert_eq!(errors, 0);
    // Attempts only inside the window, at most one per 30 s.
    let window_s = (gone - refresh_at) / 1_000;
    let attempts = w.ims_calls() - 1;
    assert!(attempts >= 1);
    assert!(
        attempts as u64 <= window_s / 30 + 1,
        "{attempts} in {window_s} s"
    );
}

// ---- the shared stores ----

#[test]
fn a_corrupted_truncated_or_foreign_kv_value_is_a_miss() {
    let w = world(Some(3_600), &[]);
    let first = w.tokens();
    ok(&w.get(&first));
    let key = first.kv_key().to_owned();
    let good = w.ports.kv.borrow()[&key].clone();
    let mut flipped = good.clone();
    flipped[20] ^= 1;
    let token = Token {
        access_token: "tok-foreign".into(),
        expires_at_ms: T0 + 3_600_000,
        lifetime_ms: 3_600_000,
    };
    let other_secret = w.sealed(&first, &token, "another-secret");
    for (what, value) in [
        ("garbage", b"not a token".to_vec()),
        ("empty", vec![]),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("flipped", flipped),
        (
            "plain json",
            br#"{"t":"tok-plain","e":9999999999999,"l":1}"#.to_vec(),
        ),
        ("another secret", other_secret),
    ] {
        w.ports.kv.borrow_mut().insert(key.clone(), value);
        let calls = w.ims_calls();
        let t = w.tokens();
        let (r, source) = w.get_traced(&t);
        assert_eq!(source, Some(TokenSource::Ims), "{what}");
        assert!(ok(&r).starts_with("tok-"), "{what}");
        assert_eq!(w.ims_calls(), calls + 1, "{what}: IMS is asked");
        assert!(w.warnings().is_empty(), "{what}: a miss, not a failure");
    }
}

#[test]
fn rotation_list_opens_entries_of_any_listed_secret_and_tries_them_in_order() {
    let w = world(Some(3_600), &[]);
    let writer = w.tokens();
    ok(&w.get(&writer));
    let kv = w.ports.kv.borrow().clone();

    // A new secret first in the list: the entry sealed under the old one opens.
    let rotated = world(Some(3_600), &[("ims_client_secret", "secret-new;secret-1")]);
    *rotated.ports.kv.borrow_mut() = kv.clone();
    let t = rotated.tokens();
    let (r, source) = rotated.get_traced(&t);
    assert_eq!((ok(&r), source), ("tok-1", Some(TokenSource::Kv)));
    assert_eq!(rotated.ims_calls(), 0);

    // Only the new secret: the old entry is a miss.
    let replaced = world(Some(3_600), &[("ims_client_secret", "secret-new")]);
    *replaced.ports.kv.borrow_mut() = kv;
    let t = replaced.tokens();
    assert_eq!(replaced.get_traced(&t).1, Some(TokenSource::Ims));
}

#[test]
fn a_kv_copy_of_the_token_accs_refused_is_not_reused() {
    let w = world(Some(3_600), &[]);
    let t = w.tokens();
    assert_eq!(ok(&w.get(&t)), "tok-1");
    t.invalidate("tok-1");
    assert_eq!(ok(&w.get(&t)), "tok-2");
    assert_eq!(w.ims_calls(), 2);
}

#[test]
fn a_failing_kv_store_warns_once_and_the_token_still_comes() {
    let w = world(Some(3_600), &[]);
    w.ports.kv_failing.set(true);
    let t = w.tokens();
    assert_eq!(ok(&w.get(&t)), "tok-1");
    t.invalidate("tok-1");
    assert_eq!(ok(&w.get(&t)), "tok-2");
    // Through the window too: no lease can be read or written, the refresh goes ahead.
    w.at(t.refresh_at_ms().unwrap());
    assert_eq!(ok(&w.get(&t)), "tok-3");
    let warnings = w.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("key-value store unavailable"));
}

// ---- the lease ----

#[test]
fn an_early_refresh_takes_a_short_lease_that_holds_no_token() {
    let w = world(Some(3_600), &[]);
    let t = w.tokens();
    ok(&w.get(&t));
    assert!(
        !w.ports.kv.borrow().contains_key(t.lease_key()),
        "no lease on a cold start"
    );
    let refresh_at = t.refresh_at_ms().unwrap();
    w.at(refresh_at);
    assert_eq!(ok(&w.get(&t)), "tok-2");
    let value = w.ports.kv.borrow()[t.lease_key()].clone();
    let lease = Lease::parse(&value).expect("a lease");
    assert_eq!(lease.expires_ms, refresh_at + LEASE_MS);
    assert!(t.lease_key().starts_with("accs-edge/ims-lease/v1/"));
    let text = String::from_utf8(value).unwrap();
    assert!(!text.contains("tok-") && !text.contains("secret"), "{text}");
}

#[test]
fn another_instances_live_lease_keeps_the_valid_token_until_it_expires() {
    let w = world(Some(3_600), &[]);
    let (a, b) = (w.tokens(), w.tokens());
    assert_eq!(ok(&w.get(&a)), "tok-1");
    let (r, source) = w.get_traced(&b);
    assert_eq!((ok(&r), source), ("tok-1", Some(TokenSource::Kv)));
    let both_due = a.refresh_at_ms().unwrap().max(b.refresh_at_ms().unwrap());
    w.at(both_due);

    // A and B reach the window together: A takes the lease and asks IMS,
    // B sees A's lease and keeps its valid token.
    let trace = Trace::default();
    let (ra, rb) = block_on(futures::future::join(
        a.get(&w.settings, &w.ports, &trace),
        b.get(&w.settings, &w.ports, &trace),
    ));
    assert_eq!((ok(&ra), ok(&rb)), ("tok-2", "tok-1"));
    assert_eq!(w.ims_calls(), 2);

    // Until the lease expires, B keeps the old token without touching the store.
    let gets = w.ports.kv_gets.get();
    w.at(both_due + LEASE_MS - 1_000);
    assert_eq!(ok(&w.get(&b)), "tok-1");
    assert_eq!(w.ports.kv_gets.get(), gets);
    // Then it looks again and picks up A's token from the store: no IMS call.
    w.at(both_due + LEASE_MS);
    let (r, source) = w.get_traced(&b);
    assert_eq!((ok(&r), source), ("tok-2", Some(TokenSource::Kv)));
    assert_eq!(w.ims_calls(), 2);
    assert_eq!(b.status(both_due + LEASE_MS).source, Some(TokenSource::Kv));
}

#[test]
fn an_expired_foreign_or_unbelievable_lease_does_not_hold_a_refresh_back() {
    type Make = fn(u64) -> Vec<u8>;
    let cases: [(&str, Make); 3] = [
        ("expired", |now| {
            Lease {
                expires_ms: now,
                owner: 7,
            }
            .encode()
        }),
        ("far ahead", |now| {
            Lease {
                expires_ms: now + 3_600_000,
                owner: 7,
            }
            .encode()
        }),
        ("garbage", |_| b"locked!".to_vec()),
    ];
    for (what, lease) in cases {
        let w = world(Some(3_600), &[]);
        let t = w.tokens();
        ok(&w.get(&t));
        let at = t.refresh_at_ms().unwrap();
        w.ports
            .kv
            .borrow_mut()
            .insert(t.lease_key().to_owned(), lease(at));
        w.at(at);
        assert_eq!(ok(&w.get(&t)), "tok-2", "{what}");
        let taken = Lease::parse(&w.ports.kv.borrow()[t.lease_key()]).unwrap();
        assert_eq!(taken.expires_ms, at + LEASE_MS, "{what}");
    }
}

#[test]
fn a_live_foreign_lease_seen_one_second_before_it_expires_still_holds() {
    let w = world(Some(3_600), &[]);
    let t = w.tokens();
    ok(&w.get(&t));
    let at = t.refresh_at_ms().unwrap();
    let foreign = Lease {
        expires_ms: at + 1_000,
        owner: 7,
    };
    w.ports
        .kv
        .borrow_mut()
        .insert(t.lease_key().to_owned(), foreign.encode());
    w.at(at);
    assert_eq!(ok(&w.get(&t)), "tok-1");
    assert_eq!(w.ims_calls(), 1);
    w.at(at + 1_000);
    assert_eq!(ok(&w.get(&t)), "tok-2");
    assert_eq!(w.ims_calls(), 2);
}

// ---- the token file ----

fn files_except(w: &World, keep: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = w
        .ports
        .files
        .borrow()
        .keys()
        .filter(|k| !keep.contains(&k.as_str()))
        .cloned()
        .collect();
    names.sort();
    names
}

#[test]
fn the_token_file_holds_the_kv_bytes_and_is_read_before_ims() {
    let w = world(Some(3_600), &[("token_cache_dir", "/cache/")]);
    let a = w.tokens();
    ok(&w.get(&a));
    let path = a.file_path().unwrap().to_owned();
    assert!(path.starts_with("/cache/accs-edge-ims-token-v2-"), "{path}");
    let file = w.ports.files.borrow()[&path].clone();
    assert_eq!(file, w.ports.kv.borrow()[a.kv_key()], "same sealed bytes");
    assert!(!String::from_utf8_lossy(&file).contains("tok-1"));
    assert_eq!(
        files_except(&w, &[&path]),
        Vec::<String>::new(),
        "no temp or lease left"
    );

    // A new instance whose key-value store kept nothing (wasmtime serve).
    w.ports.kv.borrow_mut().clear();
    let b = w.tokens();
    let (r, source) = w.get_traced(&b);
    assert_eq!((ok(&r), source), ("tok-1", Some(TokenSource::File)));
    assert_eq!(w.ims_calls(), 1);
    assert_eq!(b.status(T0).source, Some(TokenSource::File));
}

#[test]
fn a_torn_or_foreign_token_file_is_a_miss() {
    let w = world(Some(3_600), &[("token_cache_dir", "/cache")]);
    let first = w.tokens();
    ok(&w.get(&first));
    let path = first.file_path().unwrap().to_owned();
    let good = w.ports.files.borrow()[&path].clone();
    let token = Token {
        access_token: "tok-foreign".into(),
        expires_at_ms: T0 + 3_600_000,
        lifetime_ms: 3_600_000,
    };
    for (what, value) in [
        ("torn", good[..good.len() / 2].to_vec()),
        ("empty", vec![]),
        ("another secret", w.sealed(&first, &token, "another-secret")),
    ] {
        w.ports.kv.borrow_mut().clear();
        w.ports.files.borrow_mut().insert(path.clone(), value);
        let calls = w.ims_calls();
        let t = w.tokens();
        assert_eq!(w.get_traced(&t).1, Some(TokenSource::Ims), "{what}");
        assert_eq!(w.ims_calls(), calls + 1, "{what}");
        assert_ne!(ok(&w.get(&t)), "tok-foreign", "{what}");
    }
    assert!(w.warnings().is_empty());
}

#[test]
fn cold_instances_sharing_the_directory_wait_for_the_lease_holder() {
    let w = world(Some(3_600), &[("token_cache_dir", "/cache")]);
    let instances: Vec<Tokens> = (0..8).map(|_| w.tokens()).collect();
    let trace = Trace::default();
    let all = block_on(join_all(
        instances
            .iter()
            .map(|t| t.get(&w.settings, &w.ports, &trace)),
    ));
    assert_eq!(count(&all, "tok-1"), 8);
    assert_eq!(w.ims_calls(), 1, "one IMS call for eight cold instances");
    let sources: Vec<_> = instances
        .iter()
        .map(|t| t.status(w.ports.now_ms()).source)
        .collect();
    assert_eq!(
        sources
            .iter()
            .filter(|s| **s == Some(TokenSource::Ims))
            .count(),
        1
    );
    assert!(
        w.ports.now_ms() - T0 < COLD_WAIT_MS,
        "nobody waited out the lease"
    );
    let token = instances[0].file_path().unwrap();
    assert_eq!(files_except(&w, &[token]), Vec::<String>::new());
}

#[test]
fn a_cold_instance_waits_at_most_two_seconds_for_a_silent_lease_holder() {
    let w = world(Some(3_600), &[("token_cache_dir", "/cache")]);
    let t = w.tokens();
    let lease = t.lease_path().unwrap().to_owned();
    let foreign = Lease::new(T0, 7).encode();
    w.ports
        .files
        .borrow_mut()
        .insert(lease.clone(), foreign.clone());
    assert_eq!(ok(&w.get(&t)), "tok-1");
    let waited = w.ports.now_ms() - T0;
    assert!(
        (COLD_WAIT_MS..COLD_WAIT_MS + 100).contains(&waited),
        "{waited} ms"
    );
    assert_eq!(w.ims_calls(), 1);
    assert_eq!(
        w.ports.files.borrow()[&lease],
        foreign,
        "not ours to remove"
    );
}

#[test]
fn a_stale_or_garbage_lease_file_is_replaced() {
    for (what, value) in [
        (
            "expired",
            Lease {
                expires_ms: T0 - 1_000,
                owner: 7,
            }
            .encode(),
        ),
        ("garbage", b"\x00\x01".to_vec()),
    ] {
        let w = world(Some(3_600), &[("token_cache_dir", "/cache")]);
        let t = w.tokens();
        let lease = t.lease_path().unwrap().to_owned();
        w.ports.files.borrow_mut().insert(lease.clone(), value);
        assert_eq!(ok(&w.get(&t)), "tok-1", "{what}");
        assert_eq!(w.ports.now_ms(), T0, "{what}: no wait");
        assert!(
            !w.ports.files.borrow().contains_key(&lease),
            "{what}: released"
        );
    }
}

#[test]
fn an_early_refresh_defers_to_a_live_lease_file() {
    let w = world(Some(3_600), &[("token_cache_dir", "/cache")]);
    let t = w.tokens();
    ok(&w.get(&t));
    let at = t.refresh_at_ms().unwrap();
    let lease = t.lease_path().unwrap().to_owned();
    w.ports
        .files
        .borrow_mut()
        .insert(lease.clone(), Lease::new(at, 7).encode());
    w.at(at);
    assert_eq!(ok(&w.get(&t)), "tok-1");
    assert_eq!(w.ims_calls(), 1);
    // The holder wrote its token; after the lease it is picked up from the file.
    let newer = Token {
        access_token: "tok-other".into(),
        expires_at_ms: at + 3_600_000,
        lifetime_ms: 3_600_000,
    };
    let sealed = w.sealed(&t, &newer, "secret-1");
    let path = t.file_path().unwrap().to_owned();
    w.ports.files.borrow_mut().insert(path, sealed);
    w.at(at + LEASE_MS);
    let (r, source) = w.get_traced(&t);
    assert_eq!((ok(&r), source), ("tok-other", Some(TokenSource::File)));
    assert_eq!(w.ims_calls(), 1);
}

#[test]
fn an_unusable_token_directory_warns_once_and_changes_nothing_else() {
    for dir in ["/no-such-dir", "/cache"] {
        let w = world(Some(3_600), &[("token_cache_dir", dir)]);
        w.ports.files_failing.set(dir == "/cache");
        let t = w.tokens();
        assert_eq!(ok(&w.get(&t)), "tok-1");
        t.invalidate("tok-1");
        assert_eq!(ok(&w.get(&t)), "tok-2");
        w.at(t.refresh_at_ms().unwrap());
        assert_eq!(ok(&w.get(&t)), "tok-3");
        let warnings = w.warnings();
        assert_eq!(warnings.len(), 1, "{dir}: {warnings:?}");
        assert!(warnings[0].contains("token_cache_dir unavailable"));
        assert!(!warnings[0].contains("tok-"));
    }
}

// ---- status ----

#[test]
fn status_never_holds_the_token() {
    let w = world(Some(3_600), &[("token_cache_dir", "/cache")]);
    let t = w.tokens();
    ok(&w.get(&t));
    w.down.set(true);
    let at = t.refresh_at_ms().unwrap();
    w.at(at);
    ok(&w.get(&t));
    let json = serde_json::to_string(&t.status(at)).unwrap();
    assert!(!json.contains("tok-"), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["source"], "ims");
    assert_eq!(v["refresh_due"], true);
    assert_eq!(v["last_refresh_error"], "ims_unavailable");
}

#[test]
fn with_compare_and_swap_two_instances_never_both_take_the_kv_lease() {
    for cas in [true, false] {
        let a = FakePorts::new(|_, _| unreachable!("no upstream call"));
        let mut b = FakePorts::new(|_, _| unreachable!("no upstream call"));
        b.kv = a.kv.clone();
        for p in [&a, &b] {
            p.kv_yields.set(true); // both read "no lease" before either writes
            p.kv_cas.set(cas);
        }
        let shared = Shared::new("fp", None);
        let (ca, cb) = block_on(futures::future::join(
            shared.claim(&a, T0, 1, Need::Early),
            shared.claim(&b, T0, 2, Need::Early),
        ));
        let taken = [ca, cb].iter().filter(|c| **c == Claim::Taken).count();
        if cas {
            assert_eq!(taken, 1, "{ca:?} {cb:?}");
            assert!([ca, cb].contains(&Claim::HeldBy(T0 + LEASE_MS)));
        } else {
            // The fallback is a last-writer-wins set: both may think they won,
            // which costs one extra IMS call, never a wrong token.
            assert_eq!(taken, 2, "{ca:?} {cb:?}");
        }
    }
}

#[test]
fn a_cold_instance_refreshes_a_stored_token_inside_its_window() {
    // A WASI 0.2 instance lives for one request: it must still renew a
    // stored token ahead of expiry, or the token would only be renewed
    // once it can no longer be sent, by every instance at once.
    let w = world(Some(3600), &[]);
    let first = Tokens::new(&w.settings);
    assert_eq!(w.get(&first).as_deref(), Ok("tok-1"));
    w.ports.now.set(T0 + 3_400_000); // inside the window (≥ 5 min before expiry)
    let fresh_instance = Tokens::new(&w.settings);
    assert_eq!(w.get(&fresh_instance).as_deref(), Ok("tok-2"));
    assert_eq!(w.ports.sent_to("/ims/token"), 2);
    // The next fresh instance takes the renewed token from the store.
    let next = Tokens::new(&w.settings);
    assert_eq!(w.get(&next).as_deref(), Ok("tok-2"));
    assert_eq!(w.ports.sent_to("/ims/token"), 2);
    // IMS down inside the window: the stored token is still served, and the
    // lease the failed refresh took keeps other instances off IMS meanwhile.
    w.ports.now.set(T0 + 3_400_000 + 3_400_000);
    w.down.set(true);
    let during_outage = Tokens::new(&w.settings);
    assert_eq!(w.get(&during_outage).as_deref(), Ok("tok-2"));
    let another = Tokens::new(&w.settings);
    assert_eq!(w.get(&another).as_deref(), Ok("tok-2"));
    assert_eq!(
        w.ports.sent_to("/ims/token"),
        3,
        "one attempt while the lease holds"
    );
}

#[test]
fn a_token_issued_for_under_a_minute_is_used_for_half_its_life() {
    let w = world(Some(30), &[]);
    let t = w.tokens();
    let start = w.ports.now.get();
    assert_eq!(ok(&w.get(&t)), "tok-1");
    for after in [1_000, 5_000, 10_000] {
        w.at(start + after);
        assert_eq!(ok(&w.get(&t)), "tok-1", "not fetched on every request");
    }
    assert_eq!(w.ims_calls(), 1);
    w.at(start + 15_001);
    assert_eq!(
        ok(&w.get(&t)),
        "tok-2",
        "under half its life left: never sent"
    );
    assert_eq!(w.ims_calls(), 2);
}

#[test]
fn the_rotation_secret_that_worked_is_tried_first_next_time() {
    // IMS knows only secret-1: secret-new is refused with invalid_client.
    let issued = Cell::new(0);
    let ports = FakePorts::new(move |req, _| {
        let body = String::from_utf8_lossy(&req.body).into_owned();
        if body.contains("client_secret=secret-new") {
            return respond(401, r#"{"error":"invalid_client"}"#);
        }
        issued.set(issued.get() + 1);
        respond(
            200,
            &format!(
                r#"{{"access_token":"tok-{}","expires_in":3600}}"#,
                issued.get()
            ),
        )
    });
    ports.now.set(T0);
    let w = World {
        ports,
        settings: settings(&[("ims_client_secret", "secret-new;secret-1")]),
        down: Rc::default(),
    };
    let t = w.tokens();
    assert_eq!(ok(&w.get(&t)), "tok-1");
    t.invalidate("tok-1");
    assert_eq!(ok(&w.get(&t)), "tok-2");
    let secrets: Vec<bool> = w
        .ports
        .sent
        .borrow()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).contains("secret-new"))
        .collect();
    assert_eq!(
        secrets,
        [true, false, false],
        "new, old; then the old one first"
    );
}

/// Issue 31 item 8a: `{:?}` of what holds a token (a test's failure message,
/// a panic) prints no token; the record's notes are digests only.
#[test]
fn debug_output_of_a_token_and_what_holds_it_has_no_token() {
    let secret = "eyJhbGciOi-the-access-token";
    let token = Token {
        access_token: secret.into(),
        expires_at_ms: 5,
        lifetime_ms: 6,
    };
    let held = Held {
        token: token.clone(),
        jitter_ms: 1,
        source: TokenSource::Kv,
        notes: seal::Notes {
            valid: Some((crate::config::hex(&crate::denials::digest(secret)), 9)),
            ..Default::default()
        },
    };
    for text in [
        format!("{token:?}"),
        format!("{held:?}"),
        format!("{:#?}", Some(&held)),
    ] {
        assert!(!text.contains(secret) && !text.contains("eyJ"), "{text}");
        assert!(
            text.contains("expires_at_ms: 5"),
            "the rest is still shown: {text}"
        );
    }
}
