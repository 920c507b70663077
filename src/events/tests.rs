//! Verification against keys this test generates, served by a fake origin:
//! what a signature needs, what is fetched, what is cached.

use super::keys::{self, Keys, Refusals};
use super::signature::{self, Pair, SignatureError};
use super::verify::{VerifyError, verify};
use crate::ports::SendError;
use crate::testing::{FakePorts, respond, settings};
use futures::executor::block_on;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use std::sync::OnceLock;
use std::time::Duration;

pub const P1: &str = "/prod/keys/pub-key-11111111-1111-4111-8111-111111111111.pem";
pub const P2: &str = "/prod/keys/pub-key-22222222-2222-4222-8222-222222222222.pem";

/// Two key pairs, generated once per test binary.
fn pair(n: usize) -> &'static (RsaPrivateKey, String) {
    static KEYS: OnceLock<Vec<(RsaPrivateKey, String)>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|_| {
                let k = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
                let pem = RsaPublicKey::from(&k)
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap();
                (k, pem)
            })
            .collect()
    })[n]
}

fn sign(n: usize, body: &[u8]) -> Vec<u8> {
    SigningKey::<Sha256>::new(pair(n).0.clone())
        .sign(body)
        .to_vec()
}

/// A pair as a delivery carries it: `body` signed by key `n`, naming `path`.
fn signed(n: usize, body: &[u8], path: &'static str) -> Pair<'static> {
    Pair {
        signature: sign(n, body),
        key_path: path,
    }
}

/// A fake origin serving key 0 at P1 and key 1 at P2.
fn origin() -> FakePorts {
    FakePorts::new(|req, _| {
        if req.url.ends_with(P1) {
            respond(200, &pair(0).1)
        } else if req.url.ends_with(P2) {
            respond(200, &pair(1).1)
        } else {
            respond(404, "")
        }
    })
}

/// One request, as a WASI 0.2 instance makes it: nothing in memory before.
fn run(ports: &FakePorts, pairs: &[Pair<'_>], body: &[u8]) -> Result<(), VerifyError> {
    run_in(ports, &Refusals::default(), pairs, body)
}

/// One request of an instance that remembers `refusals`.
fn run_in(
    ports: &FakePorts,
    refusals: &Refusals,
    pairs: &[Pair<'_>],
    body: &[u8],
) -> Result<(), VerifyError> {
    let s = settings(&[]).unwrap();
    let keys = Keys::new(&s, ports, refusals);
    block_on(verify(&keys, pairs, body, Duration::from_secs(5)))
}

#[test]
fn either_signature_verifies_and_its_key_is_cached_once() {
    let body = br#"{"id":"1"}"#;
    let ports = origin();
    let both = [signed(0, body, P1), signed(1, body, P2)];
    assert_eq!(run(&ports, &both, body), Ok(()));
    assert_eq!(ports.sent.borrow().len(), 1, "the first pair sufficed");
    assert_eq!(
        ports.sent.borrow()[0].url,
        format!("https://static.adobeioevents.com{P1}")
    );
    assert_eq!(run(&ports, &both, body), Ok(()));
    assert_eq!(ports.sent.borrow().len(), 1, "the key came from the store");

    // Only the second one good: the first is checked, the second decides.
    let ports = origin();
    let second = [signed(2, body, P1), signed(1, body, P2)];
    assert_eq!(run(&ports, &second, body), Ok(()));
    assert_eq!((ports.sent_to(P1), ports.sent_to(P2)), (1, 1));
    // Key 0 verified nothing, so it was not cached; key 1 was, and cached
    // keys are tried before any fetch: nothing is fetched again.
    assert_eq!(ports.kv.borrow().len(), 1);
    assert_eq!(run(&ports, &second, body), Ok(()));
    assert_eq!((ports.sent_to(P1), ports.sent_to(P2)), (1, 1));
}

#[test]
fn a_wrong_body_or_key_is_refused_and_nothing_cached() {
    let body = br#"{"id":"1"}"#;
    let ports = origin();
    let pairs = [signed(0, b"another body", P1), signed(2, body, P2)];
    assert_eq!(
        run(&ports, &pairs, body),
        Err(VerifyError::Unauthorized(SignatureError::NoMatch))
    );
    assert!(
        ports.kv.borrow().is_empty(),
        "a key that verified nothing is never cached"
    );
    // A served text that is no key: refused, not cached.
    let junk = FakePorts::new(|_, _| {
        respond(
            200,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
    });
    let one = [signed(0, body, P1)];
    assert_eq!(
        run(&junk, &one, body),
        Err(VerifyError::Unauthorized(SignatureError::NoMatch))
    );
    assert!(
        holds_no_key(&junk),
        "only the refusal is remembered, never the text"
    );
}

/// Whether the store holds no key, only refusals (`<at>\nrefused\n<mac>`).
fn holds_no_key(ports: &FakePorts) -> bool {
    ports.kv.borrow().values().all(|v| {
        let text = String::from_utf8_lossy(v);
        text.split('\n').nth(1) == Some("refused") && text.lines().count() == 3
    })
}

#[test]
fn an_origin_that_fails_is_a_503_never_a_401() {
    let body = b"{}";
    for fail in [
        respond(500, "oops"),
        respond(429, ""),
        Err(SendError::Timeout),
    ] {
        let fail = std::cell::RefCell::new(Some(fail));
        let ports =
            FakePorts::new(move |_, _| fail.borrow_mut().take().unwrap_or(respond(500, "")));
        let one = [signed(0, body, P1)];
        assert!(matches!(
            run(&ports, &one, body),
            Err(VerifyError::KeyUnavailable(_))
        ));
        assert!(ports.kv.borrow().is_empty());
    }
}

#[test]
fn a_cached_key_is_trusted_only_authentic_and_under_a_day() {
    let body = b"{}";
    let ports = origin();
    let one = [signed(0, body, P1)];
    assert_eq!(run(&ports, &one, body), Ok(()));
    assert_eq!(ports.sent_to(P1), 1);
    // docs/IO-EVENTS.md: a key is cached "for at most 24 h".
    ports.advance(24 * 3600 * 1000 - 1_000);
    assert_eq!(run(&ports, &one, body), Ok(()));
    assert_eq!(ports.sent_to(P1), 1, "still fresh");
    ports.advance(2_000);
    assert_eq!(run(&ports, &one, body), Ok(()));
    assert_eq!(ports.sent_to(P1), 2, "over 24 h: fetched again");

    // A key planted by someone who can write the store but lacks the MAC
    // key: not trusted, so the planted key's signature does not verify.
    let s = settings(&[]).unwrap();
    let ports = FakePorts::new(|_, _| respond(404, ""));
    let name = Keys::new(&s, &ports, &Refusals::default()).name(P1);
    let planted = format!(
        "{}\n{}\n{}",
        ports.now.get(),
        pair(2).1.trim(),
        "00".repeat(32)
    );
    ports.kv.borrow_mut().insert(name, planted.into_bytes());
    let forged = [signed(2, body, P1)];
    assert_eq!(
        run(&ports, &forged, body),
        Err(VerifyError::Unauthorized(SignatureError::NoMatch))
    );
}

#[test]
fn keys_of_other_sizes_are_refused() {
    let small = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let pem = RsaPublicKey::from(&small)
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    assert!(signature::parse_key(pem.as_bytes()).is_none());
    assert!(signature::parse_key(pair(0).1.as_bytes()).is_some());
}

#[test]
fn an_origin_without_the_key_makes_the_signature_bad_not_a_503() {
    let body = b"{}";
    for status in [404, 403] {
        let ports = FakePorts::new(move |_, _| respond(status, ""));
        let one = [signed(0, body, P1)];
        assert_eq!(
            run(&ports, &one, body),
            Err(VerifyError::Unauthorized(SignatureError::NoMatch)),
            "{status}"
        );
        assert!(holds_no_key(&ports), "{status}: no key, the refusal only");
    }
}

/// Well-formed key paths the origin has no key for, as a forger makes up.
const U1: &str = "/prod/keys/pub-key-33333333-3333-4333-8333-333333333333.pem";
const U2: &str = "/prod/keys/pub-key-44444444-4444-4444-8444-444444444444.pem";

#[test]
fn forged_deliveries_fetch_at_most_one_missing_key_and_it_is_remembered() {
    let body = br#"{"id":"forged"}"#;
    let forged = [signed(2, body, U1), signed(2, body, U2)];
    for memory in [false, true] {
        // WASI 0.2: an instance per request, the store only; WASI 0.3: memory too.
        let ports = origin();
        let kept = Refusals::default();
        let fresh = Refusals::default();
        let refusals = || if memory { &kept } else { &fresh };
        assert!(matches!(
            run_in(&ports, refusals(), &forged, body),
            Err(VerifyError::KeyUnavailable(_))
        ));
        assert_eq!(ports.sent.borrow().len(), 1, "one missing key per request");
        assert!(ports.timeouts.borrow()[0] <= keys::FETCH_TIMEOUT);
        assert_eq!(ports.kv_sets.get(), 1, "one store write: the refusal");
        // Again: the first path is remembered, the second is fetched.
        assert_eq!(
            run_in(&ports, refusals(), &forged, body),
            Err(VerifyError::Unauthorized(SignatureError::NoMatch))
        );
        assert_eq!((ports.sent_to(U1), ports.sent_to(U2)), (1, 1));
        assert_eq!(ports.kv_sets.get(), 2);
        // Both remembered: nothing fetched, nothing written.
        for _ in 0..3 {
            assert_eq!(
                run_in(&ports, refusals(), &forged, body),
                Err(VerifyError::Unauthorized(SignatureError::NoMatch))
            );
        }
        assert_eq!(ports.sent.borrow().len(), 2, "memory {memory}");
        assert_eq!(ports.kv_sets.get(), 2);
        assert!(holds_no_key(&ports));
        // Remembered 5 minutes only (docs/IO-EVENTS.md).
        ports.advance(5 * 60 * 1000 + 1);
        let _ = run_in(&ports, refusals(), &forged, body);
        assert_eq!(ports.sent_to(U1), 2, "memory {memory}");
    }
    // A refusal someone wrote to the store without the MAC key is no refusal.
    let ports = origin();
    let s = settings(&[]).unwrap();
    let name = Keys::new(&s, &ports, &Refusals::default()).name(P1);
    let planted = format!("{}\nrefused\n{}", ports.now.get(), "00".repeat(32));
    ports.kv.borrow_mut().insert(name, planted.into_bytes());
    let genuine = [signed(0, body, P1)];
    assert_eq!(run(&ports, &genuine, body), Ok(()));
}

#[test]
fn a_genuine_delivery_whose_first_key_is_missing_verifies_with_the_second_on_the_retry() {
    let body = br#"{"id":"genuine"}"#;
    // The origin lacks key 1 for now; key 2 is served.
    let ports = FakePorts::new(|req, _| {
        if req.url.ends_with(P2) {
            respond(200, &pair(1).1)
        } else {
            respond(404, "")
        }
    });
    let both = [signed(0, body, P1), signed(1, body, P2)];
    assert!(
        matches!(
            run(&ports, &both, body),
            Err(VerifyError::KeyUnavailable(_))
        ),
        "503: I/O Events retries"
    );
    assert_eq!(run(&ports, &both, body), Ok(()), "the retry verifies");
    assert_eq!((ports.sent_to(P1), ports.sent_to(P2)), (1, 1));
}

#[test]
fn an_origin_that_does_not_answer_is_waited_for_once() {
    let body = b"{}";
    let ports = FakePorts::new(|_, _| Err(SendError::Timeout));
    let both = [signed(0, body, P1), signed(1, body, P2)];
    assert!(matches!(
        run(&ports, &both, body),
        Err(VerifyError::KeyUnavailable(_))
    ));
    assert_eq!(ports.sent.borrow().len(), 1, "not a second 3 s wait");
    assert_eq!(ports.kv_sets.get(), 0, "a failure is not remembered");
}

/// The route over fake ports: what a delivery does with the events it
/// verified (replays, age, the claim, the IMS call's timeout).
mod route {
    use super::{P1, P2, pair, sign};
    use crate::events::delivery::rfc3339_ms;
    use crate::routes::App;
    /// docs/IO-EVENTS.md: an event applies when "at most 23 h 55 min old and
    /// at most 5 minutes ahead"; the ledger forgets it after 24 h.
    const MAX_AGE_MS: u64 = (23 * 3600 + 55 * 60) * 1000;
    const AHEAD_MS: u64 = 5 * 60 * 1000;
    const LEDGER_MS: u64 = 24 * 3600 * 1000;
    use crate::testing::{FakePorts, KvOp, respond, settings};
    use crate::wire::{InRequest, InResponse};
    use base64::Engine;
    use futures::executor::block_on;
    use serde_json::{Value, json};
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    const STOCK: &str = "com.acme.stock.updated";
    const T: &str = "2026-01-01T00:00:00Z";

    fn t() -> u64 {
        rfc3339_ms(T).unwrap()
    }

    /// Keys at P1 and P2, IMS, and ACCS taking every source item.
    fn app(extra: &[(&'static str, &str)]) -> App<FakePorts> {
        let ports = FakePorts::new(|req, _| {
            if req.url.ends_with(P1) {
                respond(200, &pair(0).1)
            } else if req.url.ends_with(P2) {
                respond(200, &pair(1).1)
            } else if req.url.contains("/ims/token") {
                respond(200, r#"{"access_token":"tok-1","expires_in":86399}"#)
            } else {
                respond(200, "[]")
            }
        });
        ports.now.set(t());
        let mut vars = vec![("io_events_actions", "com.acme.stock.updated=inventory")];
        vars.extend_from_slice(extra);
        App::new(ports, settings(&vars))
    }

    fn event(id: Option<&str>, time: Option<&str>) -> Vec<u8> {
        let mut e = json!({
            "specversion": "1.0",
            "type": STOCK,
            "source": "urn:uuid:erp",
            "recipientclientid": "client-1",
            "data": {"sourceItems": [{"sku": "SKU-1", "source_code": "default", "quantity": 3, "status": 1}]},
        });
        if let Some(id) = id {
            e["eventid"] = id.into();
        }
        if let Some(time) = time {
            e["time"] = time.into();
        }
        serde_json::to_vec(&e).unwrap()
    }

    /// `body` as I/O Events signs it, under `header_id`.
    fn post(body: &[u8], header_id: Option<&str>) -> InRequest {
        let b64 = |n| base64::engine::general_purpose::STANDARD.encode(sign(n, body));
        let mut headers = vec![
            ("x-adobe-digital-signature-1".to_owned(), b64(0)),
            ("x-adobe-public-key1-path".to_owned(), P1.to_owned()),
            ("x-adobe-digital-signature-2".to_owned(), b64(1)),
            ("x-adobe-public-key2-path".to_owned(), P2.to_owned()),
        ];
        if let Some(id) = header_id {
            headers.push(("x-adobe-event-id".to_owned(), id.to_owned()));
        }
        InRequest {
            method: "POST".into(),
            path: "/v1/events".into(),
            query: None,
            headers,
            body: body.to_vec(),
            ..Default::default()
        }
    }

    fn send(app: &App<FakePorts>, req: InRequest) -> (u16, Value) {
        let r: InResponse = block_on(app.handle(req));
        (r.status, serde_json::from_slice(&r.body).unwrap())
    }

    fn accs_calls(app: &App<FakePorts>) -> usize {
        app.ports.sent_to("/V1/inventory/source-items")
    }

    #[test]
    fn a_replay_under_a_fresh_header_id_is_refused_and_sends_nothing() {
        let app = app(&[]);
        let body = event(Some("ev-1"), Some(T));
        let (status, v) = send(&app, post(&body, Some("ev-1")));
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["events"][0]["result"], "landed");
        assert_eq!(accs_calls(&app), 1);

        // The captured body, posted again under a fresh header id.
        let (status, v) = send(&app, post(&body, Some("fresh-id-2")));
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["code"], "invalid_request");
        let detail = v["detail"].as_str().unwrap();
        assert!(
            detail.contains("fresh-id-2") && detail.contains("ev-1"),
            "{detail}"
        );
        assert_eq!(accs_calls(&app), 1, "nothing sent again");
        // Without a header it is the same event: a duplicate.
        let (status, v) = send(&app, post(&body, None));
        assert_eq!(
            (status, &v["events"][0]["result"]),
            (200, &json!("duplicate"))
        );
        assert_eq!(accs_calls(&app), 1);

        // A body without an id of its own: the header alone is not trusted.
        let (status, v) = send(&app, post(&event(None, Some(T)), Some("hdr-only")));
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["code"], "invalid_request");
        assert_eq!(accs_calls(&app), 1);
    }

    #[test]
    fn an_event_outside_its_window_is_acknowledged_expired_and_not_applied() {
        let app = app(&[]);
        let cases: [(&str, Option<&str>, i64, &str); 6] = [
            ("old", Some(T), (MAX_AGE_MS + 1) as i64, "expired"),
            ("young", Some(T), (MAX_AGE_MS - 1_000) as i64, "landed"),
            ("ahead", Some(T), -((AHEAD_MS + 1_000) as i64), "expired"),
            (
                "a little ahead",
                Some(T),
                -((AHEAD_MS - 1_000) as i64),
                "landed",
            ),
            ("timeless", None, 0, "expired"),
            ("unparsable", Some("yesterday"), 0, "expired"),
        ];
        for (id, time, age, result) in cases {
            app.ports.now.set(t().saturating_add_signed(age));
            let before = accs_calls(&app);
            let (status, v) = send(&app, post(&event(Some(id), time), Some(id)));
            assert_eq!(status, 200, "{id}: {v}");
            assert_eq!(v["events"][0]["result"], result, "{id}: {v}");
            let sent = accs_calls(&app) - before;
            assert_eq!(sent, usize::from(result == "landed"), "{id}");
            if result == "expired" {
                assert_eq!(v["summary"]["expired"], 1, "{id}");
                assert!(v["events"][0]["report"]["detail"].is_string());
            }
        }
        assert!(
            app.ports
                .logs
                .borrow()
                .iter()
                .any(|l| l.contains("outside its window"))
        );

        // The gap: landed at `time`, replayed once the ledger forgot it.
        let app = self::app(&[]);
        let body = event(Some("gap-1"), Some(T));
        assert_eq!(
            send(&app, post(&body, None)).1["events"][0]["result"],
            "landed"
        );
        app.ports.advance(LEDGER_MS + 1);
        let (status, v) = send(&app, post(&body, None));
        assert_eq!(status, 200);
        assert_eq!(v["events"][0]["result"], "expired", "{v}");
        assert_eq!(accs_calls(&app), 1, "the replay sent nothing");
    }

    /// The claim is sized from the route's budget (8 s), not from
    /// `accs_timeout_ms` (here 300 s): an attempt cut off after its claim
    /// keeps I/O Events' first retry (a minute later) out no longer.
    #[test]
    fn the_claim_lasts_the_routes_budget_not_accs_timeout_ms() {
        let app = app(&[("accs_timeout_ms", "300000")]);
        let claims = Rc::new(RefCell::new(Vec::new()));
        let seen = claims.clone();
        // The final write fails: the record stays a claim, as if the host
        // had cut the attempt off.
        app.ports
            .kv_fault
            .replace(Some(Box::new(move |op, key, value| {
                let v = value.unwrap_or_default();
                if op == KvOp::Set && key.contains("/r/") && v.starts_with(br#"{"s":"c""#) {
                    seen.borrow_mut().push(v.to_vec());
                }
                op == KvOp::Set && key.contains("/r/") && !v.starts_with(br#"{"s":"c""#)
            })));
        let body = event(Some("claim-1"), Some(T));
        let (status, v) = send(&app, post(&body, None));
        assert_eq!(status, 503, "{v}");
        let claim = claims.borrow()[0].clone();
        let json_end = claim.iter().rposition(|&b| b == b'.').unwrap();
        let record: Value = serde_json::from_slice(&claim[..json_end]).unwrap();
        let until = record["c"].as_u64().unwrap();
        // 8 s of budget and a second for the last write: under I/O Events' 10 s.
        assert_eq!(until - t(), 9_000, "{record}");

        app.ports.kv_fault.replace(None);
        app.ports.advance(9_000);
        let (status, v) = send(&app, post(&body, None));
        assert_eq!(status, 200, "{v}");
        assert_ne!(v["events"][0]["result"], "pending");
    }

    /// A cold token on this route is asked of IMS within the route's
    /// budget (8 s), not IMS's own 10 s: I/O Events gives up at 10 s.
    #[test]
    fn the_ims_call_fits_the_routes_budget() {
        let app = app(&[]);
        let (status, v) = send(&app, post(&event(Some("ims-1"), Some(T)), None));
        assert_eq!(status, 200, "{v}");
        let sent = app.ports.sent.borrow();
        let ims = sent
            .iter()
            .position(|r| r.url.contains("/ims/token"))
            .unwrap();
        let timeout = app.ports.timeouts.borrow()[ims];
        assert!(timeout <= Duration::from_millis(8_000), "{timeout:?}");
        assert!(
            app.ports
                .timeouts
                .borrow()
                .iter()
                .all(|t| *t <= Duration::from_millis(8_000))
        );
    }

    /// A role lacking the inventory resource: the first event's refusal is
    /// ACCS's own (IMS holds the token valid) and final. A second event
    /// inside the 30 s the denial is remembered is refused from memory,
    /// which ACCS never saw: not final, 503 so I/O Events comes back, and
    /// its retry once the denial is forgotten goes to ACCS again and lands
    /// when the role has been mended.
    #[test]
    fn an_event_refused_by_a_remembered_denial_is_not_final() {
        let allowed = Rc::new(std::cell::Cell::new(false));
        let gate = allowed.clone();
        let ports = FakePorts::new(move |req, _| {
            if req.url.ends_with(P1) {
                respond(200, &pair(0).1)
            } else if req.url.ends_with(P2) {
                respond(200, &pair(1).1)
            } else if req.url.contains("/ims/token") {
                respond(200, r#"{"access_token":"tok-1","expires_in":86399}"#)
            } else if req.url.contains("/ims/validate_token") {
                respond(200, r#"{"valid":true}"#)
            } else if gate.get() {
                respond(200, "[]")
            } else {
                respond(
                    401,
                    r#"{"message":"The consumer isn't authorized to access %resources.","parameters":{"resources":"Magento_InventoryApi::source_item"}}"#,
                )
            }
        });
        ports.now.set(t());
        let app = App::new(
            ports,
            settings(&[("io_events_actions", "com.acme.stock.updated=inventory")]),
        );
        let (status, v) = send(&app, post(&event(Some("role-1"), Some(T)), None));
        assert_eq!(status, 200, "ACCS refused it itself: final: {v}");
        assert_eq!(v["events"][0]["result"], "refused");
        assert_eq!(accs_calls(&app), 1);

        let second = event(Some("role-2"), Some(T));
        app.ports.advance(1_000);
        let (status, v) = send(&app, post(&second, None));
        assert_eq!(status, 503, "refused from memory: not final: {v}");
        assert_eq!(v["events"][0]["result"], "pending");
        assert_eq!(accs_calls(&app), 1, "ACCS never saw it");

        // The role is mended; the denial is forgotten after 30 s.
        allowed.set(true);
        app.ports.advance(30_000); // docs/RETRIES.md: "remembered for 30 s"
        let (status, v) = send(&app, post(&second, None));
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["events"][0]["result"], "landed", "{v}");
        assert_eq!(accs_calls(&app), 2);
    }
}
