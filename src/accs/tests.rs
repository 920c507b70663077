//! `Ctx::call` over fake ports: exact attempt counts and waits per retry
//! rule, with the fake clock and the fakes' seeded randomness; and the
//! URL guard, which must let nothing out.

use super::*;
use crate::ims::validate::Verdict;
use crate::problem::Code;
use crate::testing::FakePorts;
use futures::executor::block_on;
use std::cell::Cell;
use std::rc::{Rc, Weak};

const NOW: u64 = 1_700_000_000_000;
const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

type Answer = Result<OutResponse, SendError>;

fn status(status: u16) -> Answer {
    with_header(status, None)
}

fn with_header(status: u16, retry_after: Option<&str>) -> Answer {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(v) = retry_after {
        headers.push(("retry-after".to_owned(), v.to_owned()));
    }
    Ok(OutResponse {
        status,
        headers,
        body: format!(r#"{{"message":"answer {status}","parameters":[]}}"#).into_bytes(),
    })
}

/// IMS issues tok-1, tok-2, ...; ACCS call k gets `script[k]`, the last
/// entry repeating forever, and takes `send_ms` of fake time. IMS validates
/// as `valid` says (`None`: a 503).
struct Harness {
    settings: Settings,
    tokens: Tokens,
    ports: Rc<FakePorts>,
    send_ms: Rc<Cell<u64>>,
    valid: Rc<Cell<Option<bool>>>,
}

impl Harness {
    fn new(script: Vec<Answer>) -> Self {
        Harness::with(script, &[])
    }

    fn with(script: Vec<Answer>, extra: &[(&'static str, &str)]) -> Self {
        let settings = crate::testing::settings(extra).expect("valid settings");
        let issued = Cell::new(0);
        let accs_calls = Cell::new(0usize);
        let send_ms = Rc::new(Cell::new(0));
        let valid = Rc::new(Cell::new(Some(true)));
        let verdict = valid.clone();
        let ports = Rc::new(FakePorts::new(|_, _| Err(SendError::Other("unset".into()))));
        // The upstream advances the fakes' own clock, so it holds them weakly.
        let clock: Weak<FakePorts> = Rc::downgrade(&ports);
        let took = send_ms.clone();
        *ports.upstream.borrow_mut() = Box::new(move |req, _| {
            if req.url.contains("/ims/validate_token/v1") {
                return match verdict.get() {
                    Some(v) => crate::testing::respond(200, &format!(r#"{{"valid":{v}}}"#)),
                    None => crate::testing::respond(503, r#"{"error":"server_error"}"#),
                };
            }
            if req.url.contains("/ims/") {
                issued.set(issued.get() + 1);
                return crate::testing::respond(
                    200,
                    &format!(
                        r#"{{"access_token":"tok-{}","expires_in":86399}}"#,
                        issued.get()
                    ),
                );
            }
            if let Some(ports) = clock.upgrade() {
                ports.advance(took.get());
            }
            let k = accs_calls.get();
            accs_calls.set(k + 1);
            script[k.min(script.len() - 1)].clone()
        });
        ports.now.set(NOW);
        Harness {
            tokens: Tokens::new(&settings),
            settings,
            ports,
            send_ms,
            valid,
        }
    }

    fn call(&self, call: Call) -> Result<OutResponse, Problem> {
        let trace = Trace::new("req-1".into());
        let ctx = Ctx::new(
            &self.settings,
            &*self.ports,
            &self.tokens,
            &trace,
            "/v1/products/{sku}",
            self.ports.now_ms(),
        );
        block_on(ctx.call(&call))
    }

    /// Fetches tok-1 and lets two minutes pass: the token is no longer young.
    fn age_token(&self) {
        let trace = Trace::new("warm".into());
        block_on(self.tokens.get(&self.settings, &*self.ports, &trace)).unwrap();
        self.ports.advance(120_000);
    }

    fn accs_sent(&self) -> usize {
        self.ports.sent_to("/V1/")
    }

    /// IMS token requests (validations are counted apart).
    fn ims_sent(&self) -> usize {
        self.ports.sent_to("/ims/token")
    }

    fn validations(&self) -> usize {
        self.ports.sent_to("/ims/validate_token/v1")
    }

    fn slept(&self) -> Vec<Duration> {
        self.ports.slept.borrow().clone()
    }
}

fn get() -> Call {
    Call::get("/V1/products/SKU-1".into())
}

fn put() -> Call {
    Call::put("/V1/products/SKU-1".into(), br#"{"product":{}}"#.to_vec())
}

fn post() -> Call {
    Call::post(
        "/V1/inventory/source-items".into(),
        br#"{"sourceItems":[]}"#.to_vec(),
    )
}

fn code(r: Result<OutResponse, Problem>) -> (Code, u16) {
    let p = r.expect_err("a problem");
    (p.code, p.status)
}

#[test]
fn post_with_500_is_sent_once() {
    let h = Harness::new(vec![status(500), status(200)]);
    assert_eq!(code(h.call(post())), (Code::AccsUnavailable, 502));
    assert_eq!(h.accs_sent(), 1);
    assert!(h.slept().is_empty());
}

#[test]
fn put_with_500_is_retried() {
    let h = Harness::new(vec![status(500), status(500), status(200)]);
    let r = h.call(put()).expect("the third attempt succeeds");
    assert_eq!(r.status, 200);
    assert_eq!(h.accs_sent(), 3);
    let sent = h.ports.sent.borrow();
    assert!(sent.iter().filter(|r| r.url.contains("/V1/")).all(|r| {
        r.method == "PUT"
            && r.body == br#"{"product":{}}"#
            && r.headers
                .contains(&("content-type", "application/json".into()))
    }));
}

#[test]
fn put_with_500_forever_is_three_attempts_then_502() {
    let h = Harness::new(vec![status(500)]);
    assert_eq!(code(h.call(put())), (Code::AccsUnavailable, 502));
    assert_eq!(h.accs_sent(), 3);
    assert_eq!(h.slept().len(), 2);
}

#[test]
fn get_with_500_is_retried() {
    let h = Harness::new(vec![status(500), status(200)]);
    assert_eq!(h.call(get()).unwrap().status, 200);
    assert_eq!(h.accs_sent(), 2);
}

#[test]
fn post_is_retried_when_nothing_was_sent() {
    let refused = || Err(SendError::Connect("ConnectionRefused".into()));
    let h = Harness::new(vec![refused(), refused(), status(200)]);
    assert_eq!(h.call(post()).unwrap().status, 200);
    assert_eq!(h.accs_sent(), 3);

    let h = Harness::new(vec![refused()]);
    assert_eq!(code(h.call(post())), (Code::AccsUnavailable, 502));
    assert_eq!(h.accs_sent(), 3);
}

#[test]
fn post_is_never_retried_after_a_5xx_a_timeout_or_a_broken_exchange() {
    for (answer, want) in [
        (status(502), 502),
        (status(503), 502),
        (status(504), 502),
        (Err(SendError::Timeout), 504),
        (Err(SendError::Other("reset".into())), 502),
    ] {
        let h = Harness::new(vec![answer.clone(), status(200)]);
        assert_eq!(
            code(h.call(post())),
            (Code::AccsUnavailable, want),
            "{answer:?}"
        );
        assert_eq!(h.accs_sent(), 1, "{answer:?}");
    }
}

#[test]
fn post_is_retried_after_a_429_which_acts_on_nothing() {
    let h = Harness::new(vec![with_header(429, Some("1")), status(200)]);
    assert_eq!(h.call(post()).unwrap().status, 200);
    assert_eq!(h.accs_sent(), 2);
    assert_eq!(h.slept(), [SECS(1)]);
}

#[test]
fn gateway_errors_and_timeouts_are_retried_for_get() {
    for answer in [
        status(502),
        status(503),
        status(504),
        Err(SendError::Timeout),
        Err(SendError::Other("reset".into())),
    ] {
        let h = Harness::new(vec![answer.clone(), answer.clone(), status(200)]);
        assert_eq!(h.call(get()).unwrap().status, 200, "{answer:?}");
        assert_eq!(h.accs_sent(), 3, "{answer:?}");
    }
}

#[test]
fn get_503_forever_is_three_attempts_then_502() {
    let h = Harness::new(vec![status(503)]);
    assert_eq!(code(h.call(get())), (Code::AccsUnavailable, 502));
    assert_eq!(h.accs_sent(), 3);
}

#[test]
fn get_timeouts_forever_are_three_attempts_then_504() {
    let h = Harness::new(vec![Err(SendError::Timeout)]);
    assert_eq!(code(h.call(get())), (Code::AccsUnavailable, 504));
    assert_eq!(h.accs_sent(), 3);
}

#[test]
fn final_answers_are_not_retried() {
    for (answer, want) in [
        (status(400), (Code::AccsError, 400)),
        (status(403), (Code::AccsError, 403)),
        (status(404), (Code::AccsError, 404)),
        (status(409), (Code::AccsError, 409)),
        (status(501), (Code::AccsUnavailable, 502)),
        (status(301), (Code::AccsUnavailable, 502)),
        (status(302), (Code::AccsUnavailable, 502)),
        (status(307), (Code::AccsUnavailable, 502)),
        (
            Err(SendError::TooLarge(crate::wire::MAX_UPSTREAM_BODY)),
            (Code::AccsUnavailable, 502),
        ),
    ] {
        let h = Harness::new(vec![answer.clone(), status(200)]);
        assert_eq!(code(h.call(get())), want, "{answer:?}");
        assert_eq!(h.accs_sent(), 1, "{answer:?}");
        assert!(h.slept().is_empty());
    }
}

#[test]
fn accs_error_keeps_magentos_message() {
    let h = Harness::new(vec![status(404)]);
    let p = h.call(get()).unwrap_err();
    assert_eq!(
        p.upstream.as_deref(),
        Some(&serde_json::json!({"message":"answer 404","parameters":[]}))
    );
}

#[test]
fn backoff_waits_follow_the_full_jitter_schedule() {
    let h = Harness::new(vec![status(503)]);
    h.call(get()).unwrap_err();
    let slept = h.slept();
    assert_eq!(slept.len(), 2);
    assert!(slept[0] <= MS(200), "{slept:?}");
    assert!(slept[1] <= MS(400), "{slept:?}");
    // The fakes' randomness is seeded: the same run waits the same.
    let again = Harness::new(vec![status(503)]);
    again.call(get()).unwrap_err();
    assert_eq!(again.slept(), slept);
}

#[test]
fn retry_after_seconds_replace_the_backoff() {
    let h = Harness::new(vec![with_header(429, Some("2")), status(200)]);
    assert_eq!(h.call(get()).unwrap().status, 200);
    assert_eq!(h.slept(), [SECS(2)]);
    assert_eq!(h.accs_sent(), 2);
}

#[test]
fn retry_after_http_date_is_relative_to_the_clock() {
    let at = std::time::UNIX_EPOCH + MS(NOW + 3_000);
    let date = httpdate::fmt_http_date(at);
    let h = Harness::new(vec![with_header(429, Some(&date)), status(200)]);
    assert_eq!(h.call(get()).unwrap().status, 200);
    assert_eq!(h.slept(), [SECS(3)]);
}

#[test]
fn retry_after_on_a_503_is_honoured_too() {
    let h = Harness::new(vec![with_header(503, Some("4")), status(200)]);
    assert_eq!(h.call(get()).unwrap().status, 200);
    assert_eq!(h.slept(), [SECS(4)]);
}

#[test]
fn a_retry_after_over_twenty_seconds_is_not_waited_but_handed_back() {
    let h = Harness::with(
        vec![with_header(429, Some("45")), status(200)],
        &[("accs_timeout_ms", "60000")],
    );
    let p = h.call(get()).unwrap_err();
    assert_eq!(
        (p.code, p.status, p.retry_after),
        (Code::AccsRateLimited, 429, Some(45))
    );
    assert_eq!(h.slept(), [], "nothing slept");
    assert_eq!(h.accs_sent(), 1);
    // Twenty seconds within the budget is still honoured.
    let h = Harness::with(
        vec![with_header(429, Some("20")), status(200)],
        &[("accs_timeout_ms", "60000")],
    );
    assert_eq!(h.call(get()).unwrap().status, 200);
    assert_eq!(h.slept(), [SECS(20)]);
}

#[test]
fn an_invalid_retry_after_falls_back_to_the_backoff() {
    for bad in ["soon", "-3", "1.5", "Sun, 32 Nov 1994 08:49:37 GMT"] {
        let h = Harness::new(vec![with_header(429, Some(bad)), status(200)]);
        assert_eq!(h.call(get()).unwrap().status, 200, "{bad}");
        let slept = h.slept();
        assert_eq!(slept.len(), 1);
        assert!(slept[0] <= MS(200), "{bad}: {slept:?}");
    }
}

#[test]
fn a_retry_after_beyond_the_budget_fails_fast_with_429() {
    let h = Harness::with(
        vec![with_header(429, Some("120")), status(200)],
        &[("accs_timeout_ms", "5000")],
    );
    let p = h.call(get()).unwrap_err();
    assert_eq!((p.code, p.status), (Code::AccsRateLimited, 429));
    assert_eq!(
        p.retry_after,
        Some(120),
        "the caller hears ACCS's full wait"
    );
    assert_eq!(h.accs_sent(), 1);
    assert!(h.slept().is_empty());
}

#[test]
fn exhausted_429s_pass_retry_after_on() {
    let h = Harness::new(vec![with_header(429, Some("1"))]);
    let p = h.call(get()).unwrap_err();
    assert_eq!((p.code, p.retry_after), (Code::AccsRateLimited, Some(1)));
    assert_eq!(h.accs_sent(), 3);
    assert_eq!(h.slept(), [SECS(1), SECS(1)]);
}

#[test]
fn slow_attempts_spend_the_budget_from_the_first_attempt() {
    // 45 s budget, 20 s per attempt: the third attempt still starts (about
    // 4.6 s left), and the call ends after it.
    let h = Harness::with(vec![status(503)], &[("accs_timeout_ms", "45000")]);
    h.send_ms.set(20_000);
    assert_eq!(code(h.call(get())), (Code::AccsUnavailable, 502));
    assert_eq!(h.accs_sent(), 3);
    // 25 s per attempt: after two the budget is spent, so no third.
    let h = Harness::with(vec![status(503)], &[("accs_timeout_ms", "45000")]);
    h.send_ms.set(25_000);
    assert_eq!(code(h.call(get())), (Code::AccsUnavailable, 502));
    assert_eq!(h.accs_sent(), 2);
}

#[test]
fn no_retry_when_the_backoff_does_not_fit_the_budget() {
    let h = Harness::with(vec![status(503)], &[("accs_timeout_ms", "1000")]);
    h.send_ms.set(950);
    assert_eq!(code(h.call(get())), (Code::AccsUnavailable, 502));
    assert_eq!(h.accs_sent(), 1);
    assert!(h.slept().is_empty());

    // A 429 without Retry-After tells the caller at least a second.
    let h = Harness::with(vec![status(429)], &[("accs_timeout_ms", "1000")]);
    h.send_ms.set(950);
    let p = h.call(get()).unwrap_err();
    assert_eq!((p.code, p.retry_after), (Code::AccsRateLimited, Some(1)));
    assert_eq!(h.accs_sent(), 1);
}

#[test]
fn a_401_repair_is_not_an_attempt_and_happens_once() {
    // 503 (attempt 1), 401 (repair: new token), 503 (attempt 2), 200 (attempt 3).
    let h = Harness::new(vec![status(503), status(401), status(503), status(200)]);
    h.age_token();
    assert_eq!(h.call(get()).unwrap().status, 200);
    assert_eq!((h.accs_sent(), h.ims_sent()), (4, 2));
    let auth: Vec<String> = h
        .ports
        .sent
        .borrow()
        .iter()
        .filter(|r| r.url.contains("/V1/"))
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(n, _)| *n == "authorization")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(
        auth,
        [
            "Bearer tok-1",
            "Bearer tok-1",
            "Bearer tok-2",
            "Bearer tok-2"
        ]
    );

    // A second 401 in the same call is final, whatever attempts are left;
    // without Magento's ACL message it is the credential that is refused.
    let h = Harness::new(vec![status(503), status(401), status(401), status(200)]);
    h.age_token();
    assert_eq!(code(h.call(get())), (Code::AccsAuthFailed, 502));
    assert_eq!((h.accs_sent(), h.ims_sent()), (3, 2));
}

/// Magento's answer when the integration's role lacks a resource.
fn acl_denied() -> Answer {
    Ok(OutResponse {
        status: 401,
        headers: vec![],
        body: br#"{"message":"The consumer isn't authorized to access %resources.","parameters":{"resources":"Magento_Catalog::products"}}"#.to_vec(),
    })
}

#[test]
fn an_acl_401_to_a_young_token_is_403_at_once_and_remembered() {
    let h = Harness::new(vec![acl_denied()]);
    let p = h.call(get()).unwrap_err();
    assert_eq!((p.code, p.status), (Code::AccsForbidden, 403));
    assert!(
        p.detail.contains("Magento_Catalog::products"),
        "{}",
        p.detail
    );
    assert_eq!((h.accs_sent(), h.ims_sent()), (1, 1), "no renewal");
    assert_eq!(h.validations(), 1, "IMS was asked, and said valid");
    // Repeats within 30 s: nothing goes out at all.
    for _ in 0..4 {
        assert_eq!(code(h.call(get())), (Code::AccsForbidden, 403));
    }
    assert_eq!((h.accs_sent(), h.ims_sent()), (1, 1));
    assert_eq!(h.validations(), 1);
    // After 30 s ACCS is asked again, and the same token refused again on
    // the same route is not renewed either (it is old by now).
    h.ports.advance(90_000);
    assert_eq!(code(h.call(get())), (Code::AccsForbidden, 403));
    assert_eq!((h.accs_sent(), h.ims_sent()), (2, 1));
    assert_eq!(h.validations(), 1, "one validation per token and route");
    // The token was kept: another route uses it without IMS.
    assert!(h.tokens.status(h.ports.now_ms()).cached);
}

#[test]
fn an_acl_401_to_an_old_token_renews_it_once_then_is_403() {
    let h = Harness::new(vec![acl_denied()]);
    h.age_token();
    assert_eq!(code(h.call(get())), (Code::AccsForbidden, 403));
    assert_eq!(
        (h.accs_sent(), h.ims_sent()),
        (2, 2),
        "one renewal, one retry"
    );
    assert_eq!(h.validations(), 1, "the renewed token, once");
    for _ in 0..4 {
        assert_eq!(code(h.call(get())), (Code::AccsForbidden, 403));
    }
    assert_eq!((h.accs_sent(), h.ims_sent()), (2, 2));
    assert_eq!(h.validations(), 1);
}

#[test]
fn a_renewal_that_fails_keeps_the_old_token_for_everyone_else() {
    let h = Harness::new(vec![acl_denied(), status(200)]);
    h.age_token();
    // IMS goes down: the renewal fails, this call gets IMS's problem...
    let ims_down = Rc::new(Cell::new(true));
    let down = ims_down.clone();
    let inner = std::mem::replace(
        &mut *h.ports.upstream.borrow_mut(),
        Box::new(|_, _| Err(SendError::Other("unset".into()))),
    );
    *h.ports.upstream.borrow_mut() = Box::new(move |req, t| {
        if down.get() && req.url.contains("/ims/") {
            return crate::testing::respond(503, r#"{"error":"server_error"}"#);
        }
        inner(req, t)
    });
    assert_eq!(code(h.call(get())), (Code::ImsUnavailable, 503));
    // ...and the next call still sends tok-1, which ACCS accepts.
    assert_eq!(h.call(put()).unwrap().status, 200);
    let last = h.ports.sent.borrow().last().unwrap().clone();
    assert!(
        last.headers
            .contains(&("authorization", "Bearer tok-1".into()))
    );
}

/// Issue 22: a young token ACCS refuses because IMS revoked it. The old rule
/// took it for the role (403 for 90 s, every route); IMS now says it is not
/// valid, so it is renewed once and the call succeeds.
#[test]
fn a_young_token_ims_disowns_is_renewed_once_and_the_call_succeeds() {
    let h = Harness::new(vec![status(200), status(401), status(200)]);
    assert_eq!(h.call(get()).unwrap().status, 200);
    h.valid.set(Some(false));
    assert_eq!(h.call(get()).unwrap().status, 200);
    assert_eq!((h.accs_sent(), h.ims_sent(), h.validations()), (3, 2, 1));
    let last = h.ports.sent.borrow().last().unwrap().clone();
    assert!(
        last.headers
            .contains(&("authorization", "Bearer tok-2".into()))
    );
    // The question IMS got: its origin, the token as bearer, the form.
    let sent = h.ports.sent.borrow();
    let v = sent
        .iter()
        .find(|r| r.url.contains("validate_token"))
        .unwrap();
    assert_eq!(
        (v.method, v.url.as_str()),
        ("POST", "https://ims.example/ims/validate_token/v1")
    );
    assert!(
        v.headers
            .contains(&("authorization", "Bearer tok-1".into()))
    );
    assert_eq!(v.body, b"type=access_token&client_id=client-1");
}

/// Renewed and still refused, with IMS disowning the new token too: no
/// loop, the credential is refused.
#[test]
fn a_renewed_token_ims_disowns_is_a_502_and_nothing_loops() {
    let h = Harness::new(vec![status(401)]);
    h.valid.set(Some(false));
    assert_eq!(code(h.call(get())), (Code::AccsAuthFailed, 502));
    assert_eq!((h.accs_sent(), h.ims_sent(), h.validations()), (2, 2, 2));
}

/// IMS cannot answer the question: 503 with Retry-After, and for 10 s no
/// call asks it again (the short negative result), here or in another
/// instance that reads the record.
#[test]
fn ims_unable_to_validate_is_a_503_and_is_not_asked_again_for_ten_seconds() {
    let h = Harness::new(vec![status(200), acl_denied()]);
    assert_eq!(h.call(get()).unwrap().status, 200);
    h.valid.set(None);
    for _ in 0..3 {
        let p = h.call(get()).unwrap_err();
        assert_eq!((p.code, p.status), (Code::ImsUnavailable, 503));
        // docs/RETRIES.md: "IMS is not asked again for 10 s"; the clock
        // stands still, so all 10 s are left.
        assert_eq!(p.retry_after, Some(10));
    }
    assert_eq!(h.validations(), 1);
    assert_eq!(h.ims_sent(), 1, "no renewal on a guess");
    // Another instance on the same store learns it from the record.
    let other = Tokens::new(&h.settings);
    let trace = Trace::new("r".into());
    block_on(other.get(&h.settings, &*h.ports, &trace)).unwrap();
    let verdict = block_on(other.validate(
        "tok-1",
        &h.settings,
        &*h.ports,
        &trace,
        Duration::from_secs(5),
    ));
    assert_eq!(verdict, Verdict::Unknown);
    assert_eq!(h.validations(), 1);
    // Past it, IMS is asked again and the denial is established.
    h.ports.advance(11_000);
    h.valid.set(Some(true));
    assert_eq!(code(h.call(get())), (Code::AccsForbidden, 403));
    assert_eq!(h.validations(), 2);
}

/// Another instance of the component beside `first`: the same upstream
/// (and script), clock and key-value store, its own memory.
fn beside(first: &Harness) -> Harness {
    let h = Harness::new(vec![status(200)]);
    *h.ports.upstream.borrow_mut() = {
        let shared = first.ports.clone();
        Box::new(move |req, n| (shared.upstream.borrow())(req, n))
    };
    h.ports.now.set(first.ports.now_ms());
    let kv = first.ports.kv.clone();
    let mut ports = Rc::try_unwrap(h.ports).ok().unwrap();
    ports.kv = kv;
    Harness {
        ports: Rc::new(ports),
        ..h
    }
}

/// Two instances on one store, as a host runs them side by side: B renews
/// after ACCS refused the token both hold; A, refused the same token next
/// while IMS cannot validate anything, takes B's token from the store and
/// the call succeeds, instead of a 503 about a token already replaced.
#[test]
fn a_token_another_instance_replaced_is_taken_from_the_store_not_put_to_ims() {
    let a = Harness::new(vec![
        status(200),
        status(401),
        status(200),
        status(401),
        status(200),
    ]);
    assert_eq!(a.call(get()).unwrap().status, 200);
    let b = beside(&a);
    a.valid.set(Some(false));
    assert_eq!(b.call(get()).unwrap().status, 200, "B renewed");
    a.valid.set(None);
    let r = a.call(get());
    assert_eq!(r.map(|r| r.status).map_err(|p| p.code), Ok(200));
    assert_eq!((b.ims_sent(), b.validations()), (1, 1), "B's renewal");
    assert_eq!(
        (a.ims_sent(), a.validations()),
        (1, 0),
        "A asked IMS nothing after its first token"
    );
    let last = a.ports.sent.borrow().last().unwrap().clone();
    assert!(
        last.headers
            .contains(&("authorization", "Bearer tok-2".into()))
    );
}

/// The default build: every request a new instance over one store. A role
/// lacking the resource costs one ACCS call and one validation, then
/// nothing for 30 s: each repeat makes one `get` (the token's record) and
/// no `set`.
#[test]
fn a_denial_is_remembered_in_the_store_for_instances_that_live_one_request() {
    let first = Harness::new(vec![acl_denied()]);
    let instance = || beside(&first);
    assert_eq!(code(first.call(get())), (Code::AccsForbidden, 403));
    for _ in 0..4 {
        let h = instance();
        assert_eq!(code(h.call(get())), (Code::AccsForbidden, 403));
        assert_eq!(h.ports.sent.borrow().len(), 0, "neither ACCS nor IMS");
        assert_eq!((h.ports.kv_gets.get(), h.ports.kv_sets.get()), (1, 0));
    }
    assert_eq!(
        (first.accs_sent(), first.ims_sent(), first.validations()),
        (1, 1, 1)
    );
    // Past the 30 s, the same token refused again on the route is the
    // role, without asking IMS again (the record remembers the verdict).
    let h = instance();
    h.ports.advance(31_000);
    assert_eq!(code(h.call(get())), (Code::AccsForbidden, 403));
    assert_eq!(h.ports.sent_to("/V1/"), 1);
    assert_eq!(h.ports.sent_to("/ims/"), 0);
}

#[test]
fn waiting_for_the_single_flight_ends_with_the_budget() {
    let h = Harness::with(vec![status(200)], &[("accs_timeout_ms", "2000")]);
    // Another caller holds the flight (a cold fetch that does not return).
    let trace = Trace::new("r".into());
    let holder = h.tokens.hold_flight_for_test();
    let started = h.ports.now_ms();
    let p = block_on(
        h.tokens
            .get_within(&h.settings, &*h.ports, &trace, started, started + 2_000),
    )
    .unwrap_err();
    assert_eq!((p.code, p.status), (Code::AccsTimeout, 504));
    let waited = h.ports.now_ms() - started;
    assert!((2_000..2_100).contains(&waited), "{waited} ms");
    drop(holder);
    assert!(h.call(get()).is_ok(), "the flight is free again");
}

#[test]
fn path_escape_attempts_send_nothing_at_all() {
    for pq in [
        "",
        "/",
        "V1/products",
        "/v1/products",
        "/V2/products",
        "/V1",
        "//evil.example/V1/products",
        "/V1/../admin",
        "/V1/products/..",
        "/V1/products/../../admin",
        "/V1/./products",
        "/V1/products/.",
        "/V1/%2e%2e/admin",
        "/V1/%2E%2E/admin",
        "/V1/.%2e/admin",
        "/V1/%2e./admin",
        "/V1/%2e/products",
        "/V1/products/%2e%2e",
        "/V1//evil.example/x",
        "/V1/products//",
        "/V1/products/a@evil.example",
        "/V1/@evil.example",
        "/V1/products\\..\\admin",
        "/V1/products/%5c..%5c/../x",
        "/V1/products/a b",
        "/V1/products/a\tb",
        "/V1/products/a\nb",
        "/V1/products/a\r\nHost: evil.example",
        "/V1/products/\u{7f}",
        "/V1/products/\u{0}",
        "/V1/products/é",
        "/V1/products/%00",
        "/V1/products/%0d%0aHost:%20evil.example",
        "/V1/products/%zz",
        "/V1/products/%",
        "/V1/products/x#fragment",
        "/V1/products?x=1#y",
        "/V1/products/{sku}",
        "/V1/products/<x>",
        "/V1/products?q=a b",
        "@evil.example/V1/products",
        "http://evil.example/V1/products",
        "https://na1.api.commerce.adobe.com/T2/V1/products",
        "/V1:443@evil.example/",
    ] {
        let h = Harness::new(vec![status(200)]);
        let p = h.call(Call::get(pq.to_owned())).unwrap_err();
        assert_eq!((p.code, p.status), (Code::InvalidRequest, 400), "{pq:?}");
        assert!(h.ports.sent.borrow().is_empty(), "{pq:?} sent something");
    }
}

#[test]
fn allowed_paths_reach_exactly_the_tenant_url() {
    for pq in [
        "/V1/products/SKU-1",
        "/V1/products/a%2Fb%20c",
        "/V1/products/..%2Fadmin",
        "/V1/products?searchCriteria%5BpageSize%5D=20",
        "/V1/products?q=a@b.example&u=https://x.example/",
    ] {
        let h = Harness::new(vec![status(200)]);
        assert_eq!(
            h.call(Call::get(pq.to_owned())).unwrap().status,
            200,
            "{pq}"
        );
        let sent = h.ports.sent.borrow();
        let accs: Vec<&str> = sent
            .iter()
            .filter(|r| !r.url.contains("/ims/"))
            .map(|r| r.url.as_str())
            .collect();
        assert_eq!(
            accs,
            [format!("https://na1.api.commerce.adobe.com/T1{pq}")],
            "{pq}"
        );
    }
}

/// Another deployment (`extra` settings) on `first`'s store: the same
/// upstream, clock and key-value store, its own memory.
fn beside_with(first: &Harness, extra: &[(&'static str, &str)]) -> Harness {
    let h = beside(first);
    Harness {
        tokens: Tokens::new(&crate::testing::settings(extra).unwrap()),
        settings: crate::testing::settings(extra).unwrap(),
        ..h
    }
}

/// Issue 31 item 2: two deployments (staging and production) share the
/// store and the IMS credential, so the token record and its notes. A
/// denial tenant A noted never answers for tenant B: B's call goes to B's
/// ACCS and lands.
#[test]
fn a_denial_of_one_deployment_never_answers_for_another_on_the_same_store() {
    let a = Harness::new(vec![acl_denied(), status(200)]);
    assert_eq!(code(a.call(get())), (Code::AccsForbidden, 403));
    let b = beside_with(
        &a,
        &[("accs_base_url", "https://na1.api.commerce.adobe.com/T2")],
    );
    assert_eq!(b.tokens.kv_key(), a.tokens.kv_key(), "one record");
    assert_eq!(b.call(get()).map(|r| r.status).map_err(|p| p.code), Ok(200));
    let sent = b.ports.sent.borrow();
    assert_eq!(sent.len(), 1, "B's own ACCS, with A's token");
    assert_eq!(
        sent[0].url,
        "https://na1.api.commerce.adobe.com/T2/V1/products/SKU-1"
    );
    drop(sent);
    // A itself still answers from memory.
    let again = beside(&a);
    let p = again.call(get()).unwrap_err();
    assert!(answered_from_memory(&p), "{}", p.detail);
    assert_eq!(again.ports.sent.borrow().len(), 0);
}

/// One inbound request (a webhook delivery, an I/O Events event) whose role
/// lacks the catalog ACL: the products call (`POST /V1/async/bulk/products`)
/// is refused, the inventory call (`POST /V1/inventory/source-items`) in the
/// same request still lands, and on the repeat only the products call is
/// answered from memory, marked so.
#[test]
fn a_denied_products_call_does_not_deny_the_inventory_call_of_the_same_request() {
    let h = Harness::new(vec![acl_denied(), status(200)]);
    let trace = Trace::new("delivery".into());
    let ctx = Ctx::new(
        &h.settings,
        &*h.ports,
        &h.tokens,
        &trace,
        "/v1/webhooks/accs/{topic}",
        h.ports.now_ms(),
    );
    let products = || Call::post(bulk::PRODUCTS.into(), br#"[{"product":{}}]"#.to_vec());
    let landed = |r: Result<OutResponse, Problem>| r.map(|r| r.status).map_err(|p| p.code);
    let p = block_on(ctx.call(&products())).unwrap_err();
    assert_eq!((p.code, p.status), (Code::AccsForbidden, 403));
    assert!(!answered_from_memory(&p), "ACCS produced this one");
    assert_eq!(landed(block_on(ctx.call(&post()))), Ok(200));
    let p = block_on(ctx.call(&products())).unwrap_err();
    assert!(answered_from_memory(&p), "{}", p.detail);
    assert!(
        p.detail.contains("Magento_Catalog::products"),
        "{}",
        p.detail
    );
    assert_eq!(landed(block_on(ctx.call(&post()))), Ok(200));
    assert_eq!((h.accs_sent(), h.validations()), (3, 1));
    // `PUT /V1/products/{sku}` is another operation, not remembered (this
    // script's ACCS lets it through).
    assert_eq!(landed(block_on(ctx.call(&put()))), Ok(200));
}

/// The passthrough remembers a denial per `passthrough_allow` rule: every
/// path a `*` lets through shares it (one scope, not one per path).
#[test]
fn a_passthrough_denial_is_keyed_by_the_rule_not_the_path() {
    let h = Harness::new(vec![acl_denied()]);
    let trace = Trace::new("p".into());
    let ctx = Ctx::new(
        &h.settings,
        &*h.ports,
        &h.tokens,
        &trace,
        "/v1/accs/{path}",
        h.ports.now_ms(),
    );
    let rule = "GET /V1/categories/*";
    for id in 1..=50 {
        let call = Call::get(format!("/V1/categories/{id}"));
        let p = block_on(ctx.call_as(&call, rule)).unwrap_err();
        assert_eq!(p.code, Code::AccsForbidden);
        assert_eq!(answered_from_memory(&p), id > 1, "{id}");
    }
    assert_eq!((h.accs_sent(), h.validations()), (1, 1));
    assert_eq!(h.tokens.denials.export().len(), 1, "one scope");
}

/// The default build: an instance per request. IMS called the token valid
/// once; a 401 on another operation in a later request (another instance)
/// is the role at once: the verdict rides in the record, IMS is not asked
/// again for the same token.
#[test]
fn the_valid_verdict_rides_in_the_record_so_a_new_operation_asks_ims_nothing() {
    let first = Harness::new(vec![acl_denied()]);
    assert_eq!(code(first.call(get())), (Code::AccsForbidden, 403));
    assert_eq!(first.validations(), 1);
    let h = beside(&first);
    let p = h.call(Call::get("/V1/orders/7".into())).unwrap_err();
    assert_eq!((p.code, p.status), (Code::AccsForbidden, 403));
    assert!(!answered_from_memory(&p), "ACCS refused this one");
    assert_eq!(
        (h.accs_sent(), h.ports.sent_to("/ims/")),
        (1, 0),
        "no validation"
    );
    // The new denial is written once; a repeat reads and writes nothing more.
    assert_eq!(h.ports.kv_sets.get(), 1);
    let again = beside(&first);
    assert_eq!(
        code(again.call(Call::get("/V1/orders/7".into()))),
        (Code::AccsForbidden, 403)
    );
    assert_eq!(again.ports.sent.borrow().len(), 0);
    assert_eq!(
        (again.ports.kv_gets.get(), again.ports.kv_sets.get()),
        (1, 0)
    );
}
