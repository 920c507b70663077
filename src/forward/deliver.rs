//! One verified event to the targets its rules name, each (event, target)
//! pair remembered.
//!
//! The pairs live in one record per event in the events ledger (topic
//! `forward`, keyed on the event id), the states in its sealed summary
//! ([`super::pairs`]): a delivery reads it, claims it (exact with `kv-cas`
//! and with files, best effort in the default Spin build: the ledger's
//! claim), sends to the targets not done yet, all at once, writes the dead
//! letters of those that failed for good, and finishes the record. Store
//! writes per event and delivery: the ledger's 4 (index entry, hint,
//! claim, outcome; 6 with its share of the sweep) whatever the number of
//! targets, plus 2 per new dead letter; none when every pair was already
//! settled. A record per pair would cost those 4 to 6 per target.

use super::dead::{DeadLetters, NewLetter};
use super::outcome::{Attempt, classify};
use super::pairs::{Pair, Pairs, Status};
use crate::accs::Ctx;
use crate::config::forward::Target;
use crate::events::delivery::Event;
use crate::ports::Ports;
use crate::webhook::ledger::{self, Ledger, Record, State, Verdict};
use serde_json::{Value, json};
use std::time::Duration;

/// The ledger's topic for forwarded events: apart from the sync's.
pub const TOPIC: &str = "forward";
/// What an attempt leaves of the route's budget for the dead letters and
/// the record's last write.
const RESERVE_MS: u64 = 500;
/// No attempt is started with less than this: it would only time out.
const MIN_ATTEMPT_MS: u64 = 200;
/// A claim's hold past the budget: the dead letters and the record's write.
const CLAIM_MARGIN_MS: u64 = 1_000;
/// When I/O Events should come back after a store failure (the ledger's).
const STORE_RETRY_AFTER_S: u64 = 30;

/// One pair's outcome in this delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairReport {
    pub target: String,
    pub status: Status,
    /// Settled by an earlier delivery: nothing was done now.
    pub before: bool,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub dead_letter: Option<String>,
}

impl PairReport {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "target": self.target,
            "result": self.status.as_str(),
            "attempts": self.attempts,
        });
        if self.before {
            v["earlier"] = true.into();
        }
        if let Some(s) = self.last_status {
            v["status"] = s.into();
        }
        if let Some(id) = &self.dead_letter {
            v["dead_letter"] = id.clone().into();
        }
        v
    }
}

/// What became of one event's forwarding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub pairs: Vec<PairReport>,
    /// Some target still owes it: the delivery answers 503.
    pub pending: bool,
    /// When to come back, in seconds, if known.
    pub retry_after: Option<u64>,
    /// Why nothing was sent for good (the event id came with other data).
    pub refused: Option<&'static str>,
}

impl Forwarded {
    fn all_pending(targets: &[&Target], retry_after: Option<u64>) -> Forwarded {
        Forwarded {
            pairs: targets
                .iter()
                .map(|t| PairReport {
                    target: t.name.clone(),
                    status: Status::Pending,
                    before: false,
                    attempts: 0,
                    last_status: None,
                    dead_letter: None,
                })
                .collect(),
            pending: true,
            retry_after,
            refused: None,
        }
    }
}

/// Forwards `event` to `targets` (those its rules name, in order).
pub async fn forward_event<P: Ports>(
    ctx: &Ctx<'_, P>,
    ledger: &Ledger,
    event: &Event,
    targets: &[&Target],
) -> Forwarded {
    // The same digest the sync's record takes: `data` as parsed, so a pulled
    // copy of a pushed event (other spacing) is the same event.
    let data = serde_json::to_vec(event.data.as_ref().unwrap_or(&Value::Null)).unwrap_or_default();
    let digest = ledger::body_digest(&data);
    let entry = match ledger.read(ctx.ports, TOPIC, &event.id).await {
        Ok(entry) => entry,
        Err(e) => {
            ledger.warn(ctx.ports, &e);
            return Forwarded::all_pending(targets, Some(STORE_RETRY_AFTER_S));
        }
    };
    let now = ctx.ports.now_ms();
    match ledger::verdict(entry.record.as_ref(), now, &digest) {
        Verdict::Mismatch => {
            return Forwarded {
                refused: Some(
                    "this event id was already forwarded with different data; nothing was sent",
                ),
                ..Forwarded::default()
            };
        }
        Verdict::Busy { retry_after_s } => {
            return Forwarded::all_pending(targets, Some(retry_after_s));
        }
        Verdict::Replay { .. } | Verdict::Process { .. } => {}
    }
    let live = entry.record.as_ref().filter(|r| r.forget_ms > now);
    let mut pairs = Pairs::from_summary(live.and_then(|r| r.summary.as_deref()));
    let todo: Vec<&Target> = targets
        .iter()
        .copied()
        .filter(|t| !pairs.get(&t.name).status.settled())
        .collect();
    if todo.is_empty() {
        return report(&pairs, targets, &[], &[], None);
    }
    // The claim holds for what is left of this request's budget and a
    // second for the last writes: nothing of this attempt outlives it.
    let hold_ms = (ctx.budget.remaining(now).as_millis() as u64).saturating_add(CLAIM_MARGIN_MS);
    let mut processing =
        Record::processing(ctx.ports, hold_ms, digest.clone(), Vec::new(), Vec::new());
    processing.summary = Some(pairs.to_summary());
    let claim = match ledger.claim(ctx.ports, &entry, processing).await {
        Ok(Ok(claim)) => claim,
        Ok(Err(retry_after_s)) => return Forwarded::all_pending(targets, Some(retry_after_s)),
        Err(e) => {
            ledger.warn(ctx.ports, &e);
            return Forwarded::all_pending(targets, Some(STORE_RETRY_AFTER_S));
        }
    };

    // Every target not done yet, at once: one slow target does not eat the
    // others' share of the budget.
    let max = ctx.settings.forward.max_attempts;
    // What the echo checks compare: the event, its product named if it
    // came by id only (one ACCS read for the event, not per target).
    let named = super::named::with_sku(ctx, &event.event_type, event.data.as_ref()).await;
    let echo_data = named.as_ref().or(event.data.as_ref());
    let steps = futures::future::join_all(todo.iter().map(|t| {
        let prior = pairs.get(&t.name);
        step(ctx, event, echo_data, t, prior, max)
    }))
    .await;

    let dead = DeadLetters::new(ctx.settings, ctx.ports.kv_shared());
    let mut retry_after: Option<u64> = None;
    let mut letters: Vec<(String, String)> = Vec::new();
    let mut done_now: Vec<String> = Vec::new();
    for (target, (mut pair, why, wait)) in todo.iter().zip(steps) {
        retry_after = match (retry_after, wait) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(why) = why {
            let put = dead
                .put(
                    ctx.ports,
                    NewLetter {
                        event_id: &event.id,
                        event_type: &event.event_type,
                        target: &target.name,
                        attempts: pair.attempts,
                        first_attempt_ms: pair.first_ms,
                        last_attempt_ms: pair.last_ms,
                        last_status: (pair.last_status != 0).then_some(pair.last_status),
                        reason: &why,
                        body: &event.raw,
                    },
                )
                .await;
            match put {
                Ok(id) => {
                    log_pair(
                        ctx,
                        event,
                        target,
                        "warn",
                        "forward_dead_lettered",
                        Some(&why),
                    );
                    letters.push((target.name.clone(), id));
                }
                Err(e) => {
                    // Not acknowledged without its letter: the next delivery
                    // writes it then, without sending again.
                    pair.status = Status::Owed;
                    let line = json!({
                        "level": "warn",
                        "message": "a dead letter could not be written: the event stays pending and I/O Events retries it",
                        "request_id": ctx.trace.request_id,
                        "event_id": event.id.chars().take(128).collect::<String>(),
                        "target": target.name,
                        "reason": e.to_string(),
                    });
                    ctx.ports.log(&line.to_string());
                    retry_after = Some(retry_after.unwrap_or(0).max(STORE_RETRY_AFTER_S));
                }
            }
        }
        if pair.status.settled() {
            done_now.push(target.name.clone());
        }
        pairs.set(&target.name, pair);
    }

    let settled = pairs.all_settled(targets.iter().map(|t| t.name.as_str()));
    let finished = ctx.ports.now_ms();
    let record = Record {
        state: if settled { State::Done } else { State::Partial },
        owner: claim.owner.clone(),
        claim_until_ms: 0,
        forget_ms: finished + ledger::REMEMBER_MS,
        generation: claim.generation,
        body_sha256: digest,
        status: if settled { 200 } else { 503 },
        problem: false,
        summary: Some(pairs.to_summary()),
        landed: Vec::new(),
        bulks: Vec::new(),
    };
    if let Err(e) = ledger.finish(ctx.ports, &claim, record).await {
        // What was sent is not recorded: the next delivery sends it again,
        // and the target deduplicates on `webhook-id`.
        ledger.warn(ctx.ports, &e);
        let mut f = report(&pairs, targets, &done_now, &letters, retry_after);
        f.pending = true;
        f.retry_after = Some(STORE_RETRY_AFTER_S);
        return f;
    }
    report(&pairs, targets, &done_now, &letters, retry_after)
}

/// One pair in this delivery: its state after it, why it is to be
/// dead-lettered (if it is), and the target's `Retry-After`.
async fn step<P: Ports>(
    ctx: &Ctx<'_, P>,
    event: &Event,
    echo_data: Option<&Value>,
    target: &Target,
    prior: Pair,
    max: u32,
) -> (Pair, Option<String>, Option<u64>) {
    if prior.status == Status::Owed || prior.attempts >= max {
        // Done trying, its letter not written yet (a store failure, or a
        // lower `forward_max_attempts` since): written now, nothing sent.
        let mut pair = prior.clone();
        pair.status = Status::DeadLettered;
        let s = prior.last_status;
        let refused = s != 0 && !matches!(s, 200..=299 | 408 | 429 | 500..);
        let why = if refused {
            format!("the target refused it with {s}, which a retry would not change")
        } else {
            format!(
                "{} attempts failed (`forward_max_attempts`), the last answered {}",
                prior.attempts,
                if s == 0 {
                    "nothing".to_owned()
                } else {
                    s.to_string()
                }
            )
        };
        return (pair, Some(why), None);
    }
    if !super::request::id_fits(&event.id) {
        let mut pair = prior.clone();
        pair.status = Status::DeadLettered;
        return (
            pair,
            Some("the event id is not 1 to 256 visible ASCII characters, so it cannot be sent as `webhook-id`".into()),
            None,
        );
    }
    match crate::echo::is_echo(
        ctx.ports,
        ctx.settings,
        &event.event_type,
        echo_data,
        &target.name,
    )
    .await
    {
        Ok(true) => {
            log_pair(ctx, event, target, "info", "echo_suppressed", None);
            let mut pair = prior;
            pair.status = Status::Echo;
            return (pair, None, None);
        }
        Ok(false) => {}
        Err(e) => {
            // Fail closed: not sent, not settled; I/O Events comes back.
            let line = json!({
                "level": "warn",
                "message": "echo notes unavailable: the event is not forwarded to this target now, and stays pending",
                "request_id": ctx.trace.request_id,
                "event_id": event.id.chars().take(128).collect::<String>(),
                "target": target.name,
                "reason": e.to_string(),
            });
            ctx.ports.log(&line.to_string());
            return (prior, None, Some(STORE_RETRY_AFTER_S));
        }
    }
    let now = ctx.ports.now_ms();
    let Some(attempt) = send_once(ctx, target, &event.id, &event.raw).await else {
        // No time left for an attempt: pending, no attempt counted.
        return (prior, None, None);
    };
    let wait = match &attempt {
        Attempt::Transient { retry_after_s, .. } => *retry_after_s,
        _ => None,
    };
    let (pair, why) = prior.after(&attempt, now, ctx.settings.forward.max_attempts);
    if pair.status == Status::Pending {
        log_pair(
            ctx,
            event,
            target,
            "warn",
            "forward_failed",
            match &attempt {
                Attempt::Transient { reason, .. } => Some(reason.as_str()),
                _ => None,
            },
        );
    }
    (pair, why, wait)
}

/// Sends `raw` to `target` once, signed, with what is left of the budget
/// (at most `forward_timeout_ms`); `None` when too little is left to try.
pub async fn send_once<P: Ports>(
    ctx: &Ctx<'_, P>,
    target: &Target,
    event_id: &str,
    raw: &[u8],
) -> Option<Attempt> {
    let started = ctx.ports.now_ms();
    let left = ctx.budget.remaining(started).as_millis() as u64;
    let timeout = ctx
        .settings
        .forward
        .timeout_ms
        .min(left.saturating_sub(RESERVE_MS));
    if timeout < MIN_ATTEMPT_MS {
        return None;
    }
    let req = super::request::build(
        target,
        event_id,
        raw,
        started / 1000,
        ctx.trace.upstream_headers(ctx.ports),
    );
    let result = ctx.ports.send(req, Duration::from_millis(timeout)).await;
    let ended = ctx.ports.now_ms();
    ctx.trace.upstream(
        "forward",
        result.as_ref().map_or(0, |r| r.status),
        ended.saturating_sub(started),
    );
    Some(classify(&result, ended))
}

fn report(
    pairs: &Pairs,
    targets: &[&Target],
    done_now: &[String],
    letters: &[(String, String)],
    retry_after: Option<u64>,
) -> Forwarded {
    let list: Vec<PairReport> = targets
        .iter()
        .map(|t| {
            let p = pairs.get(&t.name);
            PairReport {
                target: t.name.clone(),
                status: p.status,
                before: p.status.settled() && !done_now.contains(&t.name),
                attempts: p.attempts,
                last_status: (p.last_status != 0).then_some(p.last_status),
                dead_letter: letters
                    .iter()
                    .find(|(n, _)| *n == t.name)
                    .map(|(_, id)| id.clone()),
            }
        })
        .collect();
    let pending = list.iter().any(|p| !p.status.settled());
    Forwarded {
        pairs: list,
        pending,
        retry_after: if pending { retry_after } else { None },
        refused: None,
    }
}

fn log_pair<P: Ports>(
    ctx: &Ctx<'_, P>,
    event: &Event,
    target: &Target,
    level: &str,
    message: &str,
    reason: Option<&str>,
) {
    let event_type = if crate::config::forward::is_event_type(&event.event_type) {
        event.event_type.as_str()
    } else {
        "(not a plain type)"
    };
    let mut line = json!({
        "level": level,
        "message": message,
        "request_id": ctx.trace.request_id,
        "event_id": event.id.chars().take(128).collect::<String>(),
        "event_type": event_type,
        "target": target.name,
    });
    if let Some(r) = reason {
        line["reason"] = r.into();
    }
    ctx.ports.log(&line.to_string());
}
