//! `GET /v1/events?challenge=…` and `POST /v1/events`: Adobe I/O Events
//! deliveries that trigger the webhook syncs (`inventory`, `products`).
//!
//! Order of work for a delivery: configuration (503 without
//! `io_events_actions` or `forward_rules`, or without a store for the
//! ledger), the signatures over the raw body (401; 503 when a key cannot be
//! fetched), then parsing (400), the recipient (403), and for each event its
//! type (neither mapped nor matched by a forward rule: acknowledged, nothing
//! sent), its age (outside [`MAX_AGE_MS`], or no signed `time`: acknowledged
//! as `expired`, nothing sent), its ledger entry on the signed body's event
//! id, its sync and the ledger's record of it, then its forwarding to each
//! target its rules name (`crate::forward`, docs/FORWARDING.md), remembered
//! per (event, target) in a record of its own. Nothing is parsed before a
//! signature holds.
//!
//! Replays: Adobe's signatures cover the body only, with no timestamp and
//! no nonce, so a captured delivery verifies forever. The ledger keeps a
//! delivered event id out for [`ledger::REMEMBER_MS`] (24 h) after it was
//! first claimed; the event's signed `time` keeps it out after that: an
//! event is applied only while `now - time <= MAX_AGE_MS` and `time` is at
//! most [`AHEAD_MS`] in this clock's future. First applied at `a >= time -
//! AHEAD_MS`, it is remembered until `a + REMEMBER_MS >= time + MAX_AGE_MS`
//! at least, when it is already too old: no replay falls between the two.
//!
//! I/O Events retries only 429 and 5xx (but 505), for 24 h, and disables a
//! registration that fails 80 % of 10 attempts (AdobeDocs/adobe-io-events
//! `src/pages/common/retry-doc.md`). So an event that cannot land (a
//! malformed `data`, a 4xx from ACCS) is reported in a 200 and logged, never
//! retried, and an event that may still land (throttling, an outage, the
//! route's budget spent) makes the answer 503 with `Retry-After`: the retry
//! carries the same event id and resumes from the ledger.

use super::webhooks;
use crate::accs::Ctx;
use crate::config::io_events::Action;
use crate::events::delivery::{self, Event};
use crate::events::keys::{Keys, Refusals};
use crate::events::verify::{self, VerifyError};
use crate::events::{challenge, signature};
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::webhook::ledger::{self, Ledger, Record, State, Verdict, Where};
use crate::wire::{InRequest, InResponse};
use serde_json::{Value, json};

/// The ledger's topic for event ids: apart from any webhook topic.
const TOPIC: &str = "io-events";
/// When I/O Events should come back for what did not land: its own first
/// retry is after a minute anyway.
const DEFAULT_RETRY_AFTER_S: u64 = 60;
/// How far an event's `time` may be ahead of this clock: publishers' and
/// our clocks disagree by seconds under NTP, and 5 minutes is the tolerance
/// the webhooks' signed timestamps get (Standard Webhooks' 300 s).
pub const AHEAD_MS: u64 = 5 * 60 * 1000;
/// The oldest event applied: the ledger's memory less [`AHEAD_MS`], so a
/// replay is either still remembered or already too old (see the module's
/// comment). I/O Events retries for 24 h (`src/pages/common/retry-doc.md`),
/// so the last 5 minutes of a day of failed attempts are acknowledged as
/// `expired` instead of applied: closing the gap costs that, the other way
/// (24 h plus a margin) would let a replay in after the ledger forgot.
pub const MAX_AGE_MS: u64 = ledger::REMEMBER_MS - AHEAD_MS;
const _: () = assert!(MAX_AGE_MS + AHEAD_MS <= ledger::REMEMBER_MS);

/// The route's budget: `io_events_timeout_ms` (8 s by default, at most 9 s,
/// under I/O Events' 10 s delivery timeout), or `accs_timeout_ms` when that
/// is shorter. Every wait of a delivery fits in it: key fetches, the IMS
/// token, ACCS calls; and the ledger's claim is sized from it.
pub fn budget_ms(settings: &crate::config::Settings) -> u64 {
    settings.accs_timeout_ms.min(settings.io_events.timeout_ms)
}

/// How long an event's claim holds: the route's budget and a second for
/// the ledger's last write, never past I/O Events' own 10 s timeout
/// ([`IO_EVENTS_TIMEOUT_MS`]). Nothing of the attempt outlives its budget,
/// so a redelivery I/O Events sends after giving up on an attempt never
/// finds the claim still held (the webhooks' claim, sized for
/// `accs_timeout_ms` and at least a minute, would refuse it 409).
pub fn claim_ms(settings: &crate::config::Settings) -> u64 {
    budget_ms(settings)
        .saturating_add(CLAIM_MARGIN_MS)
        .min(IO_EVENTS_TIMEOUT_MS)
}

/// I/O Events waits this long for an answer before it counts a failure
/// (AdobeDocs/adobe-io-events `src/pages/common/retry-doc.md`).
pub const IO_EVENTS_TIMEOUT_MS: u64 = 10_000;
/// The ledger's final write after the budget's last call.
const CLAIM_MARGIN_MS: u64 = 1_000;

/// Why this deployment cannot take deliveries, if it cannot.
pub fn not_configured(
    ctx_settings: &crate::config::Settings,
    ledger: Option<&Ledger>,
) -> Option<Problem> {
    if ctx_settings.io_events.actions.is_empty() && !ctx_settings.forward.is_configured() {
        return Some(Problem::new(
            Code::WebhookNotConfigured,
            "set `io_events_actions` (event.type=inventory;other.type=products) or `forward_rules` (event.type=target, with `forward_targets`) to receive Adobe I/O Events",
        ));
    }
    match ledger.map(Ledger::place) {
        Some(Where::Kv | Where::Dir(_)) => None,
        _ => Some(Problem::new(
            Code::WebhookNotConfigured,
            "set `token_cache_dir` to receive Adobe I/O Events here: this host's key-value store keeps nothing beyond one instance, and the event ledger (deduplication) lives in that directory",
        )),
    }
}

/// The registration challenge.
pub fn get<P: Ports>(
    ctx: &Ctx<'_, P>,
    ledger: Option<&Ledger>,
    req: &InRequest,
) -> Result<InResponse, Problem> {
    if let Some(p) = not_configured(ctx.settings, ledger) {
        return Err(p);
    }
    let value = challenge::value(req.query.as_deref()).ok_or_else(|| {
        Problem::bad_request(format!(
            "send `?challenge=<value>` with 1 to {} letters, digits or `-._~`",
            challenge::MAX_LEN
        ))
    })?;
    let (content_type, body) = if challenge::wants_json(req.header("accept")) {
        ("application/json", challenge::json_body(value))
    } else {
        ("text/plain; charset=utf-8", value.as_bytes().to_vec())
    };
    Ok(InResponse {
        status: 200,
        headers: vec![
            ("content-type", content_type.to_owned()),
            ("x-content-type-options", "nosniff".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ],
        body,
    })
}

/// The refusal a delivery's head earns before its body is read: no
/// configuration, or no usable signature header.
pub fn head_refusal(
    settings: &crate::config::Settings,
    ledger: Option<&Ledger>,
    req: &InRequest,
) -> Option<Problem> {
    if let Some(p) = not_configured(settings, ledger) {
        return Some(p);
    }
    if req.method == "POST"
        && let Err(e) = signature::pairs(|n| req.header(n))
    {
        return Some(Problem::new(Code::Unauthorized, e.to_string()));
    }
    None
}

pub async fn post<P: Ports>(
    ctx: &Ctx<'_, P>,
    ledger: Option<&Ledger>,
    refusals: &Refusals,
    req: &InRequest,
) -> Result<InResponse, Problem> {
    if let Some(p) = not_configured(ctx.settings, ledger) {
        return Err(p);
    }
    // `not_configured` refuses a missing ledger; this only keeps it a value.
    let Some(ledger) = ledger else {
        return Err(Problem::new(
            Code::WebhookNotConfigured,
            "no event ledger on this deployment",
        ));
    };
    let pairs = signature::pairs(|n| req.header(n))
        .map_err(|e| Problem::new(Code::Unauthorized, e.to_string()))?;
    let keys = Keys::new(ctx.settings, ctx.ports, refusals);
    let left = ctx.budget.remaining(ctx.ports.now_ms());
    verify::verify(&keys, &pairs, &req.body, left)
        .await
        .map_err(|e| match e {
            VerifyError::Unauthorized(e) => Problem::new(Code::Unauthorized, e.to_string()),
            VerifyError::KeyUnavailable(e) => Problem::new(
                Code::EventsKeyUnavailable,
                format!(
                    "{e}: the delivery's signature cannot be checked now; nothing was sent to ACCS"
                ),
            )
            .with_retry_after(DEFAULT_RETRY_AFTER_S),
        })?;

    let events = delivery::parse(&req.body, req.header("x-adobe-event-id"))
        .map_err(|e| Problem::bad_request(e.to_string()))?;
    let now = ctx.ports.now_ms();
    if !delivery::all_for(&events, &ctx.settings.ims_client_id) {
        return Err(Problem::new(
            Code::Forbidden,
            "an event of this delivery is not addressed to this deployment's ims_client_id (recipientclientid); nothing was sent to ACCS",
        ));
    }

    let fates = apply(ctx, ledger, &events, Source::Pushed, now).await;
    Ok(answer(ctx, &events, fates))
}

/// How verified events reached the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A signed push delivery to `POST /v1/events`.
    Pushed,
    /// Pulled from the registration's journal by the edge itself (the TLS
    /// call it made authenticates them).
    Pulled,
}

/// Applies verified events one by one, in order, through the same actions
/// and the same ledger whichever way they came ([`Source`]), so an event
/// both pushed and pulled is applied once. `now` is the clock the events'
/// windows are judged by.
pub async fn apply<P: Ports>(
    ctx: &Ctx<'_, P>,
    ledger: &Ledger,
    events: &[Event],
    source: Source,
    now: u64,
) -> Vec<Fate> {
    // A pushed event's claim fits I/O Events' 10 s ([`claim_ms`]); a pulled
    // one runs in a job's longer budget, and its claim covers what is left
    // of it, so a pushed redelivery never takes an event a job is syncing.
    let hold_ms = match source {
        Source::Pushed => claim_ms(ctx.settings),
        Source::Pulled => (ctx.budget.remaining(now).as_millis() as u64)
            .saturating_add(CLAIM_MARGIN_MS)
            .max(claim_ms(ctx.settings)),
    };
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let action = ctx.settings.io_events.action(&event.event_type);
        let targets = ctx.settings.forward.targets_for(&event.event_type);
        let fate = if action.is_none() && targets.is_empty() {
            Fate::ignored()
        } else if let Some(why) = expired(event, now) {
            Fate::expired(why)
        } else {
            // Its sync action, if mapped, then its forward rules: each
            // remembered apart, so one failing does not redo the other.
            let mut fate = match action {
                None => Fate::forward_only(),
                Some(_) if !ctx.budget_left() => Fate::pending(None, None),
                Some(action) => one(ctx, ledger, event, action, hold_ms).await,
            };
            if !targets.is_empty() {
                let forwarded = if ctx.budget_left() {
                    crate::forward::forward_event(ctx, ledger, event, &targets).await
                } else {
                    crate::forward::Forwarded {
                        pending: true,
                        ..Default::default()
                    }
                };
                fate.add_forward(forwarded);
            }
            fate
        };
        log_fate(ctx, event, &fate);
        outcomes.push(fate);
    }
    outcomes
}

/// Why `event` is not applied at `now`, if it is outside the window.
fn expired(event: &Event, now: u64) -> Option<&'static str> {
    match event.time_ms {
        None => Some(
            "the event has no signed `time` (RFC 3339): its age cannot be told, so neither can a replay from it; nothing was sent",
        ),
        Some(t) if t > now.saturating_add(AHEAD_MS) => {
            Some("the event's `time` is more than 5 minutes ahead of this clock; nothing was sent")
        }
        Some(t) if now.saturating_sub(t) > MAX_AGE_MS => Some(
            "the event's `time` is older than 23 h 55 min (I/O Events retries for 24 h, and the ledger remembers an event that long); nothing was sent",
        ),
        Some(_) => None,
    }
}

/// What became of one event.
pub struct Fate {
    result: &'static str,
    status: Option<u16>,
    report: Option<Value>,
    retry_after: Option<u64>,
    /// Its forwarding, when a `forward_rules` entry matched it.
    forward: Option<crate::forward::Forwarded>,
}

impl Fate {
    /// The sync action's result: `landed`, `accepted`, `refused`, `ignored`,
    /// `duplicate`, `expired` or `pending`; for an event that is only
    /// forwarded, `forwarded` (or `pending`).
    pub fn result(&self) -> &'static str {
        self.result
    }

    /// Done with, for good: neither its action nor any of its targets is
    /// `pending` (which I/O Events, or the next journal run, must bring
    /// again).
    pub fn settled(&self) -> bool {
        self.result != "pending" && !self.forward.as_ref().is_some_and(|f| f.pending)
    }

    /// When to come back for a pending event, in seconds, if known.
    pub fn retry_after(&self) -> Option<u64> {
        match (
            self.retry_after,
            self.forward.as_ref().and_then(|f| f.retry_after),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Its forwarding, if it was forwarded.
    pub fn forward(&self) -> Option<&crate::forward::Forwarded> {
        self.forward.as_ref()
    }

    /// An event no sync action maps, that forward rules do.
    fn forward_only() -> Fate {
        Fate {
            result: "forwarded",
            status: None,
            report: None,
            retry_after: None,
            forward: None,
        }
    }

    fn add_forward(&mut self, forwarded: crate::forward::Forwarded) {
        if self.result == "forwarded" {
            if forwarded.pending {
                self.result = "pending";
            } else if forwarded.refused.is_some() {
                self.result = "refused";
                self.status = Some(409);
                self.report = forwarded.refused.map(|d| json!({ "detail": d }));
            }
        }
        self.forward = Some(forwarded);
    }

    fn ignored() -> Fate {
        Fate {
            result: "ignored",
            status: None,
            report: None,
            retry_after: None,
            forward: None,
        }
    }

    fn expired(why: &str) -> Fate {
        Fate {
            result: "expired",
            status: None,
            report: Some(json!({ "detail": why })),
            retry_after: None,
            forward: None,
        }
    }

    fn pending(status: Option<u16>, retry_after: Option<u64>) -> Fate {
        Fate {
            result: "pending",
            status,
            report: None,
            retry_after,
            forward: None,
        }
    }

    fn ledger_failed(ledger: &Ledger, ctx_ports: &impl Ports, e: &ledger::LedgerError) -> Fate {
        ledger.warn(ctx_ports, e);
        Fate::pending(Some(503), Some(webhooks::LEDGER_RETRY_AFTER_S))
    }
}

/// One mapped event: the webhook's ledger steps and sync, on its event id.
async fn one<P: Ports>(
    ctx: &Ctx<'_, P>,
    ledger: &Ledger,
    event: &Event,
    action: Action,
    hold_ms: u64,
) -> Fate {
    // `data` is the sync's body; its digest binds the event id to it.
    let body = serde_json::to_vec(event.data.as_ref().unwrap_or(&Value::Null)).unwrap_or_default();
    let digest = ledger::body_digest(&body);
    let entry = match ledger.read(ctx.ports, TOPIC, &event.id).await {
        Ok(entry) => entry,
        Err(e) => return Fate::ledger_failed(ledger, ctx.ports, &e),
    };
    let prior = match action {
        Action::Products => ledger::bulks_of(entry.record.as_ref(), ctx.ports.now_ms(), &digest),
        Action::Inventory => Vec::new(),
    };
    let landed = match ledger::verdict(entry.record.as_ref(), ctx.ports.now_ms(), &digest) {
        Verdict::Replay { status, .. } => {
            return Fate {
                result: "duplicate",
                status: Some(status),
                report: None,
                retry_after: None,
                forward: None,
            };
        }
        Verdict::Busy { retry_after_s } => return Fate::pending(Some(409), Some(retry_after_s)),
        Verdict::Mismatch => {
            return Fate {
                result: "refused",
                status: Some(409),
                report: Some(
                    json!({"detail": "this event id was already delivered with different data; nothing was sent"}),
                ),
                retry_after: None,
                forward: None,
            };
        }
        Verdict::Process { landed } => landed,
    };
    let processing = Record::processing(
        ctx.ports,
        hold_ms,
        digest.clone(),
        landed.clone(),
        prior.clone(),
    );
    let claim = match ledger.claim(ctx.ports, &entry, processing).await {
        Ok(Ok(claim)) => claim,
        Ok(Err(retry_after_s)) => return Fate::pending(Some(409), Some(retry_after_s)),
        Err(e) => return Fate::ledger_failed(ledger, ctx.ports, &e),
    };
    let remembered_before = ctx.denied_from_memory.get();
    let result = match action {
        Action::Inventory => webhooks::sync_inventory(ctx, &body, &landed)
            .await
            .map(webhooks::Synced::Items),
        Action::Products => webhooks::sync_products_delivery(ctx, &body, &landed, &prior).await,
    };
    let now = ctx.ports.now_ms();
    let (resp, mut record) = match result {
        Ok(synced) => webhooks::settle(ctx, synced, claim.owner.clone(), &landed, now),
        Err(p) => {
            let resp = super::problem_response(&p, &ctx.trace.request_id);
            let mut record = webhooks::done(claim.owner.clone(), resp.status, None, now);
            record.problem = true;
            (resp, record)
        }
    };
    // A denial remembered from an earlier call refused part of this event
    // without ACCS seeing it: not final. The event stays open (what landed
    // is kept) and I/O Events comes back once the denial is forgotten, when
    // ACCS itself is asked again.
    let unseen = ctx.denied_from_memory.get() > remembered_before && resp.status >= 400;
    let transient = resp.status == 429 || resp.status >= 500 || unseen;
    if unseen {
        record.state = State::Partial;
        record.problem = false;
        record.landed.extend_from_slice(&landed);
        record.landed.sort_unstable();
        record.landed.dedup();
    }
    // A 4xx from ACCS is final here: I/O Events would never retry it, and a
    // retry of this batch for another event must not send it again.
    if record.state == State::Partial && !transient {
        record.state = State::Done;
    }
    record.body_sha256 = digest;
    if let Err(e) = ledger.finish(ctx.ports, &claim, record).await {
        // ACCS may have acted and the ledger does not know it: a retry
        // resumes from the claim, which holds what had landed before.
        return Fate::ledger_failed(ledger, ctx.ports, &e);
    }
    let retry_after = resp
        .headers
        .iter()
        .find(|(n, _)| *n == "retry-after")
        .and_then(|(_, v)| v.parse().ok())
        .or(unseen.then_some(crate::denials::REMEMBER_MS / 1000));
    let report = serde_json::from_slice(&resp.body).ok();
    let result = match resp.status {
        200 => "landed",
        // The bulk path: ACCS took the products, to apply later.
        202 => "accepted",
        _ if transient => "pending",
        _ => "refused",
    };
    Fate {
        result,
        status: Some(resp.status),
        report,
        retry_after,
        forward: None,
    }
}

fn log_fate<P: Ports>(ctx: &Ctx<'_, P>, event: &Event, fate: &Fate) {
    let (level, message) = match fate.result {
        "ignored" => (
            "info",
            "I/O Events event type not mapped in io_events_actions nor matched by forward_rules: acknowledged, nothing sent",
        ),
        "refused" => (
            "warn",
            "I/O Events event refused for good (ACCS refused it, or its data is malformed); it is not retried",
        ),
        _ if !fate.settled() => (
            "warn",
            "I/O Events event not finished; the delivery is answered 503 so I/O Events retries it",
        ),
        "expired" => (
            "warn",
            "I/O Events event outside its window (too old, dated ahead, or without a signed time): acknowledged, nothing sent, as a replay would be",
        ),
        _ => return,
    };
    let event_type = if crate::config::forward::is_event_type(&event.event_type) {
        event.event_type.as_str()
    } else {
        "(not a plain type)"
    };
    let line = json!({
        "level": level,
        "message": message,
        "request_id": ctx.trace.request_id,
        "event_id": event.id.chars().take(128).collect::<String>(),
        "event_type": event_type,
        "status": fate.status,
    });
    ctx.ports.log(&line.to_string());
}

/// 200 when every event is settled (landed, accepted into bulks, refused
/// for good, ignored, expired or a duplicate); else 503 with `Retry-After`, so I/O Events comes back.
fn answer<P: Ports>(ctx: &Ctx<'_, P>, events: &[Event], fates: Vec<Fate>) -> InResponse {
    let count = |r: &str| fates.iter().filter(|f| f.result == r).count();
    let unsettled = fates.iter().filter(|f| !f.settled()).count();
    let summary = json!({
        "events": fates.len(),
        "landed": count("landed"),
        "accepted": count("accepted"),
        "refused": count("refused"),
        "ignored": count("ignored"),
        "duplicates": count("duplicate"),
        "expired": count("expired"),
        "forwarded": fates.iter().filter(|f| f.forward.as_ref().is_some_and(|x| !x.pending && x.refused.is_none())).count(),
        "pending": unsettled,
    });
    let pending = unsettled > 0;
    let retry_after = fates
        .iter()
        .filter(|f| !f.settled())
        .filter_map(Fate::retry_after)
        .max()
        .unwrap_or(DEFAULT_RETRY_AFTER_S)
        .clamp(1, 900);
    let list: Vec<Value> = events
        .iter()
        .zip(fates)
        .enumerate()
        .map(|(index, (e, f))| {
            let mut v = json!({
                "index": index,
                "id": e.id,
                "type": e.event_type,
                "action": ctx.settings.io_events.action(&e.event_type).map(Action::as_str),
                "result": f.result,
            });
            if let Some(s) = f.status {
                v["status"] = s.into();
            }
            if let Some(r) = f.report {
                v["report"] = r;
            }
            if let Some(fw) = &f.forward {
                v["forward"] = fw
                    .pairs
                    .iter()
                    .map(crate::forward::PairReport::to_json)
                    .collect();
            }
            v
        })
        .collect();
    let body = serde_json::to_vec(&json!({"summary": summary, "events": list})).unwrap_or_default();
    let mut resp = super::json(if pending { 503 } else { 200 }, body);
    if pending {
        resp.headers.push(("retry-after", retry_after.to_string()));
    }
    resp
}

#[cfg(test)]
mod tests {
    //! `apply` and the answer for forwarded events (the signature and the
    //! sync paths are `events/tests.rs`'s).
    use super::*;
    use crate::ims::Tokens;
    use crate::testing::{FakePorts, respond, settings};
    use crate::trace::Trace;
    use futures::executor::block_on;

    const S1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn batch(ids: &[&str], event_type: &str) -> Vec<Event> {
        let list: Vec<Value> = ids
            .iter()
            .map(|id| {
                json!({"type": event_type, "eventid": id, "recipientclientid": "client-1",
                       "time": "2026-01-01T00:00:00Z", "data": {"value": {"id": id}}})
            })
            .collect();
        delivery::parse(&serde_json::to_vec(&list).unwrap(), None).unwrap()
    }

    /// A batch through `apply`, and the answer it gets.
    fn deliver(ports: &FakePorts, s: &crate::config::Settings, events: &[Event]) -> InResponse {
        let tokens = Tokens::new(s);
        let trace = Trace::new("r".into());
        let now = ports.now_ms();
        let mut ctx = Ctx::new(s, ports, &tokens, &trace, "/v1/events", now);
        ctx.budget = crate::accs::retry::Budget::new(now, budget_ms(s));
        let ledger = Ledger::for_events(s, true).unwrap();
        let fates = block_on(apply(&ctx, &ledger, events, Source::Pushed, now));
        answer(&ctx, events, fates)
    }

    fn settings_with_rules(rules: &str) -> crate::config::Settings {
        let targets = format!("erp=https://erp.example/in {S1}");
        settings(&[("forward_targets", &targets), ("forward_rules", rules)]).unwrap()
    }

    #[test]
    fn forward_rules_alone_configure_the_route() {
        let s = settings_with_rules("a.b=erp");
        let ledger = Ledger::for_events(&s, true).unwrap();
        assert!(not_configured(&s, Some(&ledger)).is_none());
        let bare = settings(&[]).unwrap();
        let p = not_configured(&bare, Some(&ledger)).unwrap();
        assert!(p.detail.contains("forward_rules"), "{}", p.detail);
    }

    #[test]
    fn a_batch_is_forwarded_event_by_event_and_a_pending_one_makes_it_503() {
        let ports = FakePorts::new(|req, _| {
            // The second event's target fails; the first's takes it.
            if String::from_utf8_lossy(&req.body).contains("ev-b") {
                respond(503, "")
            } else {
                respond(200, "")
            }
        });
        ports
            .now
            .set(crate::events::delivery::rfc3339_ms("2026-01-01T00:00:10Z").unwrap());
        let s = settings_with_rules("com.adobe.commerce.observer.*=erp");
        let events = batch(
            &["ev-a", "ev-b"],
            "com.adobe.commerce.observer.sales_order_save_commit_after",
        );
        let r = deliver(&ports, &s, &events);
        assert_eq!(r.status, 503);
        assert!(r.headers.iter().any(|(n, _)| *n == "retry-after"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["summary"]["forwarded"], 1);
        assert_eq!(v["summary"]["pending"], 1);
        assert_eq!(v["events"][0]["result"], "forwarded");
        assert_eq!(v["events"][0]["forward"][0]["result"], "delivered");
        assert_eq!(v["events"][1]["result"], "pending");
        assert_eq!(v["events"][1]["forward"][0]["status"], 503);
        // Each event its own send: the first is not sent again.
        assert_eq!(ports.sent.borrow().len(), 2);
        let r = deliver(&ports, &s, &events);
        assert_eq!(r.status, 503);
        let bodies: Vec<String> = ports
            .sent
            .borrow()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        assert_eq!(bodies.len(), 3);
        assert!(bodies[2].contains("ev-b"), "{bodies:?}");
    }

    #[test]
    fn an_event_with_a_sync_action_and_a_forward_rule_does_both() {
        let ports = FakePorts::new(|req, _| {
            if req.url.contains("/ims/token") {
                respond(200, r#"{"access_token":"tok-1","expires_in":86399}"#)
            } else if req.url.contains("erp.example") {
                respond(200, "")
            } else {
                respond(200, "[]")
            }
        });
        ports
            .now
            .set(crate::events::delivery::rfc3339_ms("2026-01-01T00:00:10Z").unwrap());
        let targets = format!("erp=https://erp.example/in {S1}");
        let s = settings(&[
            ("forward_targets", &targets),
            ("forward_rules", "com.acme.stock.updated=erp"),
            ("io_events_actions", "com.acme.stock.updated=inventory"),
        ])
        .unwrap();
        let body = json!({"type": "com.acme.stock.updated", "eventid": "ev-s", "recipientclientid": "client-1",
            "time": "2026-01-01T00:00:00Z",
            "data": {"sourceItems": [{"sku": "SKU-1", "source_code": "default", "quantity": 3, "status": 1}]}});
        let events = delivery::parse(&serde_json::to_vec(&body).unwrap(), None).unwrap();
        let r = deliver(&ports, &s, &events);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(r.status, 200, "{v}");
        assert_eq!(v["events"][0]["result"], "landed");
        assert_eq!(v["events"][0]["forward"][0]["result"], "delivered");
        assert_eq!(ports.sent_to("/V1/inventory/source-items"), 1);
        assert_eq!(ports.sent_to("erp.example"), 1);
        // Again: neither is done twice.
        let r = deliver(&ports, &s, &events);
        assert_eq!(r.status, 200);
        assert_eq!(ports.sent_to("/V1/inventory/source-items"), 1);
        assert_eq!(ports.sent_to("erp.example"), 1);
    }

    #[test]
    fn an_unmatched_event_is_ignored_and_an_old_one_expired_not_forwarded() {
        let ports = FakePorts::new(|_, _| respond(200, ""));
        ports
            .now
            .set(crate::events::delivery::rfc3339_ms("2026-01-03T00:00:00Z").unwrap());
        let s = settings_with_rules("a.b=erp");
        let r = deliver(&ports, &s, &batch(&["ev-x"], "other.type"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            (r.status, v["events"][0]["result"].as_str()),
            (200, Some("ignored"))
        );
        let r = deliver(&ports, &s, &batch(&["ev-y"], "a.b"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            (r.status, v["events"][0]["result"].as_str()),
            (200, Some("expired"))
        );
        assert!(ports.sent.borrow().is_empty());
    }
}
