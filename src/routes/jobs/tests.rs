//! The job routes over fake ports, with a fake Journaling API that pages as
//! Adobe documents it (AdobeDocs/adobe-io-events
//! `src/pages/guides/api/journaling-api.md`): relative `next` links with
//! an exclusive `since`, `limit` kept in them, 204 with `retry-after` at the
//! end, 410 for an expired position, `latest=true` and `seek`.

use crate::ports::{OutRequest, OutResponse, SendError};
use crate::routes::App;
use crate::testing::{FakePorts, respond, settings};
use crate::wire::{InRequest, InResponse};
use futures::executor::block_on;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::rc::Rc;

const STOCK: &str = "com.acme.stock.updated";
const JOURNAL: &str = "https://events.example/events/organizations/1/integrations/2/reg-1";
const PATH: &str = "/events/organizations/1/integrations/2/reg-1";
/// A key marked for the query: usable as `?key=` on the job routes.
const CRON_KEY: &str = "cron-key-0123456789abcdef0123456789";
const KEY: &str = crate::testing::TEST_API_KEY;
/// When the tests' events are published, and the clock starts.
const T0: u64 = 1_767_225_600_000;

/// The fake journal: events at positions 1..; those before `first_live`
/// have expired.
#[derive(Default)]
struct Journal {
    events: Vec<Value>,
    first_live: usize,
    /// Query strings asked, in order.
    asked: Vec<String>,
    /// Make the `next` link point elsewhere.
    next_to: Option<String>,
}

fn event(n: usize) -> Value {
    json!({
        "specversion": "1.0",
        "type": STOCK,
        "source": "urn:uuid:commerce",
        "id": format!("ce-{n}"),
        "eventid": format!("ev-{n}"),
        "recipientclientid": "client-1",
        "time": "2026-01-01T00:00:00Z",
        "data": {"sourceItems": [{"sku": format!("SKU-{n}"), "source_code": "default", "quantity": 3, "status": 1}]},
    })
}

impl Journal {
    fn with(n: usize) -> Rc<RefCell<Journal>> {
        Rc::new(RefCell::new(Journal {
            events: (1..=n).map(event).collect(),
            first_live: 1,
            ..Journal::default()
        }))
    }

    /// Adobe's answer to `GET <journal>?<query>`.
    fn answer(&mut self, query: &str) -> OutResponse {
        self.asked.push(query.to_owned());
        let mut since = None;
        let mut limit = None;
        let mut latest = false;
        let mut seek = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "since" => since = Some(v.trim_start_matches('p').parse::<usize>().unwrap()),
                "limit" => limit = Some(v.parse::<usize>().unwrap()),
                "latest" => latest = v == "true",
                "seek" => seek = true,
                _ => {}
            }
        }
        let last = self.events.len();
        // The position the page starts after (exclusive).
        let after = match since {
            Some(p) if p + 1 < self.first_live => {
                return OutResponse {
                    status: 410,
                    headers: vec![],
                    body: format!("Events at position p{p} have expired.").into_bytes(),
                };
            }
            Some(p) => p,
            None if latest => last,
            // Every fake event is recent: a seek reads from the oldest live.
            None if seek => self.first_live - 1,
            None => self.first_live - 1,
        };
        let link = |p: usize| {
            let target = self.next_to.clone().unwrap_or_else(|| PATH.to_owned());
            let l = limit.map(|n| format!("&limit={n}")).unwrap_or_default();
            (
                "link".to_owned(),
                format!("<{target}?since=p{p}{l}>; rel=\"next\""),
            )
        };
        if after >= last {
            return OutResponse {
                status: 204,
                headers: vec![
                    ("retry-after".to_owned(), "10".to_owned()),
                    link(after),
                    (
                        "link".to_owned(),
                        format!("<{PATH}/validate?since=p{after}>; rel=\"validate\""),
                    ),
                ],
                body: vec![],
            };
        }
        let end = (after + limit.unwrap_or(100)).min(last);
        let events: Vec<Value> = (after + 1..=end)
            .map(|p| json!({"position": format!("p{p}"), "event": self.events[p - 1]}))
            .collect();
        let body =
            json!({"events": events, "_page": {"last": format!("p{end}"), "count": end - after}});
        OutResponse {
            status: 200,
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                link(end),
            ],
            body: body.to_string().into_bytes(),
        }
    }
}

/// Source items ACCS received, by SKU.
type Landed = Rc<RefCell<Vec<String>>>;

/// IMS, ACCS taking every source item, and the journal; `accs` may refuse.
fn ports(
    journal: &Rc<RefCell<Journal>>,
    landed: &Landed,
    accs: impl Fn(&str) -> u16 + 'static,
) -> FakePorts {
    let (journal, landed) = (journal.clone(), landed.clone());
    let ports = FakePorts::new({
        move |req: &OutRequest, _| -> Result<OutResponse, SendError> {
            if req.url.contains("/ims/token") {
                return respond(200, r#"{"access_token":"tok-1","expires_in":86399}"#);
            }
            if let Some(rest) = req.url.strip_prefix(JOURNAL) {
                let mut j = journal.borrow_mut();
                return Ok(j.answer(rest.trim_start_matches('?')));
            }
            if req.url.contains("/V1/inventory/source-items") {
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let sku = body["sourceItems"][0]["sku"].as_str().unwrap().to_owned();
                let status = accs(&sku);
                if status == 200 {
                    landed.borrow_mut().push(sku);
                    return respond(200, "[]");
                }
                return respond(status, r#"{"message":"busy"}"#);
            }
            respond(404, "{}")
        }
    });
    ports.now.set(T0 + 60_000);
    ports
}

fn vars(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = vec![
        ("io_events_actions", format!("{STOCK}=inventory")),
        ("journal_url", JOURNAL.to_owned()),
        (
            "api_keys",
            format!("erp:{KEY},cron:{CRON_KEY}:jobs.run+query"),
        ),
    ];
    for (k, val) in extra {
        v.retain(|(n, _)| n != k);
        v.push((k, (*val).to_owned()));
    }
    v
}

fn app_with(ports: FakePorts, extra: &[(&'static str, &'static str)]) -> App<FakePorts> {
    let v = vars(extra);
    let refs: Vec<(&'static str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    App::new(ports, settings(&refs))
}

fn job(path_and_query: &str, bearer: Option<&str>) -> InRequest {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (path_and_query.to_owned(), None),
    };
    let mut headers = vec![];
    if let Some(k) = bearer {
        headers.push(("authorization".to_owned(), format!("Bearer {k}")));
    }
    InRequest {
        method: "GET".into(),
        path,
        query,
        headers,
        body: vec![],
        ..Default::default()
    }
}

fn call(app: &App<FakePorts>, req: InRequest) -> (u16, Value, InResponse) {
    let r = match app.before_body(&req) {
        Some(r) => r,
        None => block_on(app.handle(req)),
    };
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v, r)
}

fn run_journal(app: &App<FakePorts>) -> (u16, Value) {
    let (s, v, _) = call(app, job(&format!("/v1/jobs/journal?key={CRON_KEY}"), None));
    (s, v)
}

/// The default build's store (no compare-and-swap) makes every ledger claim
/// wait 50 ms of this clock, so 25 events cost 1.25 s: with a 5 s budget and
/// 2 s kept for a page, a run reads 3 pages, 75 events.
#[test]
fn three_runs_apply_150_events_once_and_the_third_finds_nothing_new() {
    let journal = Journal::with(150);
    let landed = Landed::default();
    let app = app_with(
        ports(&journal, &landed, |_| 200),
        &[("journal_limit", "25"), ("jobs_timeout_ms", "5000")],
    );
    let mut runs = vec![];
    for _ in 0..3 {
        let (status, v) = run_journal(&app);
        assert_eq!(status, 200, "{v}");
        runs.push(v);
    }
    let landed_per_run: Vec<u64> = runs.iter().map(|v| v["landed"].as_u64().unwrap()).collect();
    assert_eq!(landed_per_run, [75, 75, 0], "{runs:?}");
    assert_eq!(runs[0]["result"], "more", "{}", runs[0]);
    assert_eq!(runs[0]["retry_after_s"], 0);
    assert_eq!(runs[2]["result"], "nothing_new", "{}", runs[2]);
    assert_eq!(runs[2]["retry_after_s"], 10, "the journal's retry-after");
    assert_eq!(runs[2]["events"], 0);
    let mut skus = landed.borrow().clone();
    assert_eq!(skus.len(), 150, "each event reached ACCS once");
    skus.sort();
    skus.dedup();
    assert_eq!(skus.len(), 150);
    // Positions were only ever Adobe's: the first request asked the oldest
    // with `limit`, every later one came from a `next` link.
    let asked = journal.borrow().asked.clone();
    assert_eq!(asked[0], "limit=25");
    assert!(
        asked[1..].iter().all(|q| q.starts_with("since=p")),
        "{asked:?}"
    );
    assert_eq!(asked.last().unwrap(), "since=p150&limit=25");
}

/// An event pushed to `/v1/events` (applied through the same `apply`) and
/// then read from the journal lands once: the same ledger, the same id.
#[test]
fn an_event_pushed_and_then_pulled_lands_once() {
    use crate::routes::events::{Source, apply};
    let journal = Journal::with(3);
    let landed = Landed::default();
    let app = app_with(ports(&journal, &landed, |_| 200), &[]);
    let edge = app.edge.as_ref().unwrap();
    let trace = crate::trace::Trace::new("push-1".into());
    let ctx = crate::accs::Ctx::new(
        &edge.settings,
        &app.ports,
        &edge.tokens,
        &trace,
        "/v1/events",
        app.ports.now_ms(),
    );
    let pushed = crate::events::delivery::parse(event(2).to_string().as_bytes(), None).unwrap();
    let ledger = edge.events_ledger().unwrap();
    let fates = block_on(apply(
        &ctx,
        ledger,
        &pushed,
        Source::Pushed,
        app.ports.now_ms(),
    ));
    assert_eq!(fates[0].result(), "landed");
    assert_eq!(landed.borrow().as_slice(), ["SKU-2"]);

    let (status, v) = run_journal(&app);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["landed"].as_u64(), v["duplicates"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    let mut skus = landed.borrow().clone();
    skus.sort();
    assert_eq!(skus, ["SKU-1", "SKU-2", "SKU-3"], "SKU-2 once");
}

use crate::ports::Ports as _;

/// Two instances on one store, both runs started at once.
fn race(flavour: &str) -> (Vec<(u16, Value)>, Vec<String>) {
    let journal = Journal::with(40);
    let landed = Landed::default();
    let a = ports(&journal, &landed, |_| 200);
    let mut b = ports(&journal, &landed, |_| 200);
    b.seed.set(99);
    b.kv = a.kv.clone();
    b.files = a.files.clone();
    let mut extra: Vec<(&'static str, &'static str)> = vec![("journal_limit", "10")];
    match flavour {
        "kv-cas" => {
            a.kv_cas.set(true);
            b.kv_cas.set(true);
            a.kv_yields.set(true);
            b.kv_yields.set(true);
        }
        "files" => {
            a.kv_shared.set(false);
            b.kv_shared.set(false);
            extra.push(("token_cache_dir", "/cache"));
        }
        _ => {
            a.kv_yields.set(true);
            b.kv_yields.set(true);
        }
    }
    let a = app_with(a, &extra);
    let b = app_with(b, &extra);
    let req = || job(&format!("/v1/jobs/journal?key={CRON_KEY}"), None);
    let (ra, rb) = block_on(futures::future::join(a.handle(req()), b.handle(req())));
    let out = [ra, rb]
        .iter()
        .map(|r| (r.status, serde_json::from_slice(&r.body).unwrap()))
        .collect();
    let skus = landed.borrow().clone();
    (out, skus)
}

fn once_each(mut skus: Vec<String>, n: usize) {
    assert_eq!(skus.len(), n, "{skus:?}");
    skus.sort();
    skus.dedup();
    assert_eq!(skus.len(), n, "an event applied twice");
}

#[test]
fn two_runs_at_once_on_kv_cas_one_runs_the_other_is_told_to_come_back() {
    let (runs, skus) = race("kv-cas");
    let statuses: Vec<u16> = runs.iter().map(|r| r.0).collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&409),
        "{runs:?}"
    );
    let busy = runs.iter().find(|r| r.0 == 409).unwrap();
    assert_eq!(busy.1["code"], "job_running");
    assert!(busy.1["retry_after_s"].as_u64().unwrap() >= 1);
    let ran = runs.iter().find(|r| r.0 == 200).unwrap();
    assert_eq!(ran.1["lease"], "exact");
    once_each(skus, 40);
}

#[test]
fn two_runs_at_once_on_files_one_runs_the_other_is_told_to_come_back() {
    let (runs, skus) = race("files");
    let statuses: Vec<u16> = runs.iter().map(|r| r.0).collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&409),
        "{runs:?}"
    );
    assert_eq!(
        runs.iter().find(|r| r.0 == 200).unwrap().1["lease"],
        "exact"
    );
    once_each(skus, 40);
}

/// The default build: write, wait, read back. Measured here on a store
/// that answers at once: one run wins, and even where both ran, each event
/// lands once (the ledger's claims).
#[test]
fn two_runs_at_once_on_the_default_build_apply_each_event_once() {
    let (runs, skus) = race("default");
    let ran: Vec<&(u16, Value)> = runs.iter().filter(|r| r.0 == 200).collect();
    assert!(!ran.is_empty(), "{runs:?}");
    assert!(
        ran.iter().all(|r| r.1["lease"] == "best_effort"),
        "{runs:?}"
    );
    assert_eq!(ran.len(), 1, "the read-back settled it: {runs:?}");
    once_each(skus, 40);
}

#[test]
fn an_expired_position_answers_journal_gone_and_resets_as_configured() {
    for (on_gone, next_query) in [
        ("seek", "seek=-PT23H&limit=20"),
        ("latest", "latest=true&limit=20"),
    ] {
        let journal = Journal::with(30);
        let landed = Landed::default();
        let app = app_with(
            ports(&journal, &landed, |_| 200),
            &[(
                "journal_on_gone",
                if on_gone == "seek" { "seek" } else { "latest" },
            )],
        );
        let (status, v) = run_journal(&app);
        assert_eq!((status, v["landed"].as_u64()), (200, Some(30)), "{v}");
        // A week without runs: the stored position's events expired.
        journal.borrow_mut().first_live = 40;
        journal.borrow_mut().events.extend((31..=45).map(event));
        let (status, v, r) = call(&app, job(&format!("/v1/jobs/journal?key={CRON_KEY}"), None));
        assert_eq!(status, 502, "{v}");
        assert_eq!(v["code"], "journal_gone");
        assert_eq!(v["result"], "journal_gone");
        assert!(v["detail"].as_str().unwrap().contains(on_gone), "{v}");
        assert!(
            r.headers
                .iter()
                .any(|(n, v)| *n == "content-type" && v == "application/problem+json")
        );
        let logs = app.ports.logs.borrow();
        assert!(
            logs.iter()
                .any(|l| l.contains("410 Gone") && l.contains(on_gone)),
            "{logs:?}"
        );
        drop(logs);
        let (status, v) = run_journal(&app);
        assert_eq!(status, 200, "{v}");
        let asked = journal.borrow().asked.clone();
        assert!(
            asked.contains(&next_query.to_owned()),
            "{on_gone}: {asked:?}"
        );
    }
}

/// The key in the query reaches no log line, no answer and no outbound
/// request (the journal's URL and headers, IMS's, ACCS's).
#[test]
fn the_query_key_never_reaches_a_log_line_an_answer_or_an_upstream() {
    let journal = Journal::with(5);
    let landed = Landed::default();
    let app = app_with(
        ports(
            &journal,
            &landed,
            |sku| if sku == "SKU-3" { 400 } else { 200 },
        ),
        &[],
    );
    let mut bodies = vec![];
    for q in [
        format!("/v1/jobs/journal?key={CRON_KEY}"),
        format!("/v1/jobs/journal?key={CRON_KEY}&x=1"),
        format!("/v1/jobs/nope?key={CRON_KEY}"),
        format!("/v1/products?key={CRON_KEY}"),
        format!("/v1/jobs/journal?key={CRON_KEY}x"),
    ] {
        let (_, _, r) = call(&app, job(&q, None));
        bodies.push(String::from_utf8_lossy(&r.body).into_owned());
        for (_, v) in &r.headers {
            assert!(!v.contains(CRON_KEY), "a header: {v}");
        }
    }
    let logs = app.ports.logs.borrow();
    assert!(!logs.is_empty());
    for line in logs.iter() {
        assert!(!line.contains(CRON_KEY), "a log line: {line}");
    }
    for b in &bodies {
        assert!(!b.contains(CRON_KEY), "an answer: {b}");
    }
    let sent = app.ports.sent.borrow();
    assert!(sent.iter().any(|r| r.url.starts_with(JOURNAL)));
    for r in sent.iter() {
        let text = format!(
            "{} {:?} {}",
            r.url,
            r.headers,
            String::from_utf8_lossy(&r.body)
        );
        assert!(!text.contains(CRON_KEY), "an upstream request: {text}");
    }
}

#[test]
fn the_query_key_opens_the_job_routes_alone_and_only_marked_entries() {
    let journal = Journal::with(1);
    let landed = Landed::default();
    let app = app_with(ports(&journal, &landed, |_| 200), &[]);
    // Marked, on a job route: in.
    let (s, v) = run_journal(&app);
    assert_eq!(s, 200, "{v}");
    // Marked, on another route: refused, whatever the route.
    for path in ["/v1/token", "/v1/products", "/v1/orders"] {
        let (s, v, _) = call(&app, job(&format!("{path}?key={CRON_KEY}"), None));
        assert_eq!(
            (s, v["code"].as_str()),
            (401, Some("unauthorized")),
            "{path}: {v}"
        );
    }
    // Even beside a good header key: a key in a URL is never ignored.
    let (s, _, _) = call(&app, job(&format!("/v1/token?key={CRON_KEY}"), Some(KEY)));
    assert_eq!(s, 401);
    // An unmarked entry's key in the query: refused on the job route too.
    let (s, v, _) = call(&app, job(&format!("/v1/jobs/journal?key={KEY}"), None));
    assert_eq!((s, v["code"].as_str()), (401, Some("unauthorized")), "{v}");
    // The marked key as a header elsewhere: it holds jobs.run alone.
    let (s, v, _) = call(&app, job("/v1/token", Some(CRON_KEY)));
    assert_eq!(
        (s, v["code"].as_str()),
        (403, Some("insufficient_scope")),
        "{v}"
    );
    // The unmarked full-access key as a header on the job route: in.
    let (s, v, _) = call(&app, job("/v1/jobs/journal", Some(KEY)));
    assert_eq!(s, 200, "{v}");
    // No key at all.
    let (s, _, _) = call(&app, job("/v1/jobs/journal", None));
    assert_eq!(s, 401);
}

#[test]
fn an_unknown_job_is_a_404_and_post_runs_like_get() {
    let journal = Journal::with(2);
    let landed = Landed::default();
    let app = app_with(ports(&journal, &landed, |_| 200), &[]);
    let (s, v, _) = call(&app, job("/v1/jobs/nope", Some(KEY)));
    assert_eq!((s, v["code"].as_str()), (404, Some("not_found")), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("journal"));
    let mut post = job("/v1/jobs/journal", Some(KEY));
    post.method = "POST".into();
    let (s, v, _) = call(&app, post);
    assert_eq!((s, v["landed"].as_u64()), (200, Some(2)), "{v}");
    let mut put = job("/v1/jobs/journal", Some(KEY));
    put.method = "PUT".into();
    assert_eq!(call(&app, put).0, 405);
}

/// An event ACCS cannot take now (503) keeps the position before its page:
/// the next run reads the page again, and only the pending event is sent.
#[test]
fn a_pending_event_holds_the_position_and_the_next_run_resumes() {
    let journal = Journal::with(6);
    let landed = Landed::default();
    let down = Rc::new(std::cell::Cell::new(true));
    let d = down.clone();
    let app = app_with(
        ports(&journal, &landed, move |sku| {
            if sku == "SKU-4" && d.get() { 503 } else { 200 }
        }),
        &[("journal_limit", "3"), ("accs_timeout_ms", "3000")],
    );
    let (s, v) = run_journal(&app);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"], "pending", "{v}");
    assert_eq!(v["pending"], 1);
    assert!(v["retry_after_s"].as_u64().unwrap() >= 1);
    down.set(false);
    app.ports.advance(120_000);
    let (s, v) = run_journal(&app);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"], "caught_up", "{v}");
    // Page 2 again: SKU-4 lands now; 5 and 6 land, or are known if they
    // landed in the first run.
    assert_eq!(v["events"], 3, "{v}");
    assert_eq!(
        v["landed"].as_u64().unwrap() + v["duplicates"].as_u64().unwrap(),
        3,
        "{v}"
    );
    once_each(landed.borrow().clone(), 6);
}

/// A `next` link to another origin is never followed: the token stays home.
#[test]
fn a_next_link_off_the_journal_origin_is_not_followed() {
    let journal = Journal::with(4);
    journal.borrow_mut().next_to = Some("https://evil.example/steal".into());
    let landed = Landed::default();
    let app = app_with(ports(&journal, &landed, |_| 200), &[]);
    let (s, v) = run_journal(&app);
    assert_eq!(
        (s, v["code"].as_str()),
        (502, Some("journal_link_refused")),
        "{v}"
    );
    assert!(
        app.ports
            .sent
            .borrow()
            .iter()
            .all(|r| !r.url.contains("evil"))
    );
    // The page's events landed; the position stayed: the next run reads the
    // page again and finds them known.
    journal.borrow_mut().next_to = None;
    let (s, v) = run_journal(&app);
    assert_eq!((s, v["duplicates"].as_u64()), (200, Some(4)), "{v}");
}

#[test]
fn the_journal_job_needs_its_url_and_a_store() {
    let journal = Journal::with(1);
    let landed = Landed::default();
    let mut v = vars(&[]);
    v.retain(|(k, _)| *k != "journal_url");
    let refs: Vec<(&'static str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = App::new(ports(&journal, &landed, |_| 200), settings(&refs));
    let (s, v) = run_journal(&app);
    assert_eq!(s, 503);
    assert!(v["detail"].as_str().unwrap().contains("journal_url"), "{v}");
    // wasmtime serve's store without token_cache_dir.
    let p = ports(&journal, &landed, |_| 200);
    p.kv_shared.set(false);
    let app = app_with(p, &[]);
    let (s, v) = run_journal(&app);
    assert_eq!(s, 503);
    assert!(
        v["detail"].as_str().unwrap().contains("token_cache_dir"),
        "{v}"
    );
}

#[test]
fn the_journal_request_carries_the_token_the_client_id_and_the_org() {
    let journal = Journal::with(1);
    let landed = Landed::default();
    let app = app_with(ports(&journal, &landed, |_| 200), &[]);
    run_journal(&app);
    let sent = app.ports.sent.borrow();
    let j = sent.iter().find(|r| r.url.starts_with(JOURNAL)).unwrap();
    let h = |n: &str| {
        j.headers
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("authorization"), Some("Bearer tok-1"));
    assert_eq!(h("x-api-key"), Some("client-1"));
    assert_eq!(h("x-ims-org-id"), Some("ORG@AdobeOrg"));
    assert!(h("traceparent").is_some());
}

/// A run already holding the job's lease (another instance, started
/// earlier) holds a new run back with 409 and nothing sent; once that lease
/// has expired (its run died), the next run takes it over. On each store.
#[test]
fn a_live_lease_holds_a_run_back_and_an_expired_one_is_taken_over() {
    use super::lease::Lease;
    use super::store::Store;
    use crate::place::Where;
    for flavour in ["default", "kv-cas", "files"] {
        let journal = Journal::with(3);
        let landed = Landed::default();
        let p = ports(&journal, &landed, |_| 200);
        let mut extra: Vec<(&'static str, &'static str)> = vec![];
        let place = match flavour {
            "kv-cas" => {
                p.kv_cas.set(true);
                Where::Kv
            }
            "files" => {
                p.kv_shared.set(false);
                extra.push(("token_cache_dir", "/cache"));
                Where::Dir("/cache/".into())
            }
            _ => Where::Kv,
        };
        let app = app_with(p, &extra);
        let edge = app.edge.as_ref().unwrap();
        let store = Store::new(&edge.settings, place.clone()).unwrap();
        let name = store.name("journal", "lease");
        let now = app.ports.now_ms();
        let other = Lease {
            expires_ms: now + 20_000,
            owner: 0xfeed,
        };
        let sealed = store.seal(&name, &other.encode());
        match &place {
            Where::Dir(dir) => {
                let path = format!("{dir}{}", name.replace('/', "-"));
                app.ports.files.borrow_mut().insert(path, sealed);
            }
            _ => {
                app.ports.kv.borrow_mut().insert(name.clone(), sealed);
            }
        }
        let (status, v) = run_journal(&app);
        assert_eq!(
            (status, v["code"].as_str()),
            (409, Some("job_running")),
            "{flavour}: {v}"
        );
        assert_eq!(v["retry_after_s"], 20, "{flavour}: {v}");
        assert!(
            app.ports
                .sent
                .borrow()
                .iter()
                .all(|r| !r.url.starts_with(JOURNAL)),
            "{flavour}: nothing read while held"
        );
        // The other run died: its lease runs out.
        app.ports.advance(21_000);
        let (status, v) = run_journal(&app);
        assert_eq!(
            (status, v["landed"].as_u64()),
            (200, Some(3)),
            "{flavour}: {v}"
        );
        assert_ne!(v["lease"], Value::Null);
    }
}
