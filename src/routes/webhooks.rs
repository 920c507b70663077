//! `POST /v1/webhooks/{topic}`: a signed delivery from an ERP, PIM or
//! scheduler that syncs a change into ACCS.
//!
//! Order of work: topic (404), configuration (503 when no secret is set, or
//! no store can hold the ledger), signature over the raw body (401), ledger
//! (replay, busy or resume; 503 `ledger_unavailable` when it cannot be read),
//! claim, then parsing and the sync, then the ledger's record of it. Only
//! after the signature holds is anything parsed.

use super::bulk::delivery::{self, Delivered};
use super::inventory::{self, ItemResult, Outcome};
use super::products;
use super::responses::{json, problem_response};
use crate::accs::Ctx;
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::webhook::ledger::{self, BulkRef, Ledger, LedgerError, Record, State, Verdict, Where};
use crate::webhook::signature;
use crate::wire::{InRequest, InResponse};

pub const TOPICS: &[&str] = &["inventory", "products"];
pub const MAX_PRODUCTS: usize = 1_000;
// Every bulk a delivery can have (one product each at least) fits in its
// ledger record's pages, so a replay always answers every bulk id.
const _: () = assert!(crate::webhook::ledger::MAX_BULKS >= MAX_PRODUCTS);
/// When a sender should try again after the ledger failed.
pub(super) const LEDGER_RETRY_AFTER_S: u64 = 5;

pub async fn post<P: Ports>(
    ctx: &Ctx<'_, P>,
    ledger: Option<&Ledger>,
    req: &InRequest,
    topic: &str,
) -> Result<InResponse, Problem> {
    let secrets: Vec<Vec<u8>> = ctx
        .settings
        .webhook_secrets
        .iter()
        .filter_map(|s| signature::key(s.expose()))
        .collect();
    let Some(ledger) = ledger.filter(|_| !secrets.is_empty()) else {
        return Err(Problem::new(
            Code::WebhookNotConfigured,
            "set `webhook_secrets` to receive webhooks",
        ));
    };
    if *ledger.place() == Where::Missing {
        return Err(Problem::new(
            Code::WebhookNotConfigured,
            "set `token_cache_dir` to receive webhooks here: this host's key-value store keeps nothing beyond one instance, and the webhook ledger (replay protection) lives in that directory",
        ));
    }
    let now_s = (ctx.ports.now_ms() / 1000) as i64;
    let id = signature::verify(
        req.header("webhook-id"),
        req.header("webhook-timestamp"),
        req.header("webhook-signature"),
        &req.body,
        &secrets,
        now_s,
    )
    .map_err(|e| Problem::new(Code::Unauthorized, e.to_string()))?;

    let digest = ledger::body_digest(&req.body);
    // Fails closed: without the ledger a replay, or an older delivery
    // replayed after a newer one, would be sent again.
    let unavailable = |e: LedgerError| {
        ledger.warn(ctx.ports, &e);
        ledger_unavailable(
            "the webhook ledger could not be read or written; nothing was sent to ACCS",
        )
    };
    let entry = ledger
        .read(ctx.ports, topic, id)
        .await
        .map_err(unavailable)?;
    // The bulks an earlier delivery of this body had ACCS accept.
    let prior = match topic {
        "products" => ledger::bulks_of(entry.record.as_ref(), ctx.ports.now_ms(), &digest),
        _ => Vec::new(),
    };
    let landed = match ledger::verdict(entry.record.as_ref(), ctx.ports.now_ms(), &digest) {
        Verdict::Replay {
            status, summary, ..
        } if !prior.is_empty() => return replay_bulk(&req.body, status, summary, &prior),
        Verdict::Replay {
            status,
            summary,
            problem,
            before,
        } => return replay(ctx, topic, &req.body, status, summary, problem, &before).await,
        Verdict::Busy { retry_after_s } => return Err(busy(retry_after_s)),
        Verdict::Mismatch => {
            return Err(Problem::new(
                Code::Conflict,
                "this webhook-id was already used for a different body: a webhook-id names one message, send a new message under a new id",
            ));
        }
        Verdict::Process { landed } => landed,
    };
    let processing = Record::processing(
        ctx.ports,
        ledger::claim_ms(ctx.settings.accs_timeout_ms),
        digest.clone(),
        landed.clone(),
        prior.clone(),
    );
    let claim = match ledger.claim(ctx.ports, &entry, processing).await {
        Ok(Ok(claim)) => claim,
        Ok(Err(retry_after_s)) => return Err(busy(retry_after_s)),
        Err(e) => return Err(unavailable(e)),
    };

    let result = match topic {
        "inventory" => sync_inventory(ctx, &req.body, &landed)
            .await
            .map(Synced::Items),
        _ => sync_products_delivery(ctx, &req.body, &landed, &prior).await,
    };
    let now = ctx.ports.now_ms();
    // A malformed payload is refused before anything is sent.
    let acted = result.is_ok();
    let (resp, mut record) = match result {
        Ok(synced) => settle(ctx, synced, claim.owner.clone(), &landed, now),
        Err(p) => {
            // A malformed payload stays malformed: repeats get the same 400.
            let resp = problem_response(&p, &ctx.trace.request_id);
            let mut record = done(claim.owner.clone(), resp.status, None, now);
            record.problem = true;
            (resp, record)
        }
    };
    record.body_sha256 = digest;
    let landed_now = record.landed.len();
    match ledger.finish(ctx.ports, &claim, record).await {
        Ok(()) => Ok(resp),
        Err(e) => {
            // ACCS acted, the ledger does not know it: say so, and let the
            // sender retry. The retry resumes from the claim, which holds
            // what had landed before this delivery, never from nothing.
            ledger.warn(ctx.ports, &e);
            let line = serde_json::json!({
                "level": "warn",
                "message": "webhook outcome not recorded in the ledger; a retry resumes from its last record",
                "request_id": ctx.trace.request_id,
                "status": resp.status,
            });
            ctx.ports.log(&line.to_string());
            if !acted {
                return Err(ledger_unavailable(
                    "the webhook ledger could not record this delivery's answer; nothing was sent to ACCS",
                ));
            }
            let landed = if resp.status == 202 {
                "every product accepted into bulks, not".to_owned()
            } else if resp.status == 200 {
                "every item".to_owned()
            } else {
                format!("{landed_now} items")
            };
            Err(ledger_unavailable(&format!(
                "ACCS acted on this delivery ({landed} landed, answer {}) but the webhook ledger could not record it; the delivery may be retried: a retry resumes from what the ledger last recorded",
                resp.status
            )))
        }
    }
}

fn ledger_unavailable(detail: &str) -> Problem {
    Problem::new(Code::LedgerUnavailable, detail).with_retry_after(LEDGER_RETRY_AFTER_S)
}

/// The answer again, from the record and the identical body: the stored
/// status and summary, per-item results rebuilt (every item landed, or the
/// same validation problem), and `webhook-replayed: true`. Nothing is sent.
async fn replay<P: Ports>(
    ctx: &Ctx<'_, P>,
    topic: &str,
    body: &[u8],
    status: u16,
    summary: Option<String>,
    problem: bool,
    before: &[usize],
) -> Result<InResponse, Problem> {
    let rebuilt = if problem {
        let invalid = match topic {
            "inventory" => inventory::validate(body).err(),
            _ => validate_products(body).err(),
        };
        invalid.map(|p| problem_response(&p.with_status(status), &ctx.trace.request_id))
    } else {
        // Every item landed: the report as it was, nothing sent.
        let outcome = match topic {
            "inventory" => inventory::validate(body)
                .ok()
                .map(|items| inventory::all_landed(&items, before, ctx.settings.sync_batch_size)),
            _ => {
                let all: Vec<usize> = (0..MAX_PRODUCTS).collect();
                sync_products(ctx, body, &all).await.ok()
            }
        };
        outcome.map(|o| inventory::report(o, status))
    };
    let resp = match rebuilt {
        Some(resp) => resp,
        // Only if this build validates differently from the one that answered.
        None => json(
            status,
            format!(
                r#"{{"summary":{},"results":[],"errors":[]}}"#,
                summary.as_deref().unwrap_or("{}")
            )
            .into_bytes(),
        ),
    };
    Ok(replayed(resp, summary))
}

/// A finished bulk delivery's answer again: the same bulks and stored
/// summary, `webhook-replayed: true`, nothing sent.
fn replay_bulk(
    body: &[u8],
    status: u16,
    summary: Option<String>,
    bulks: &[BulkRef],
) -> Result<InResponse, Problem> {
    let list = validate_products(body).unwrap_or_default();
    let resp = delivery::replay(&list, status, bulks);
    Ok(replayed(resp, summary))
}

/// A rebuilt answer as it was first sent: its summary the stored one, and
/// `webhook-replayed: true`.
fn replayed(mut resp: InResponse, summary: Option<String>) -> InResponse {
    if let Some(summary) = summary
        && let Some(rest) = after_summary(&resp.body)
    {
        let mut body = Vec::with_capacity(resp.body.len() + summary.len());
        body.extend_from_slice(br#"{"summary":"#);
        body.extend_from_slice(summary.as_bytes());
        body.extend_from_slice(rest);
        resp.body = body;
    }
    resp.headers.push(("webhook-replayed", "true".into()));
    resp
}

/// A report's text after its summary: `,"results":…`. The summary is
/// numbers only, so its first `}` ends it.
fn after_summary(body: &[u8]) -> Option<&[u8]> {
    let rest = body.strip_prefix(br#"{"summary":{"#)?;
    let end = rest.iter().position(|&b| b == b'}')?;
    Some(&rest[end + 1..])
}

/// The summary object of a report, as text (at most 1 KiB).
fn summary_of(body: &[u8]) -> Option<String> {
    let rest = after_summary(body)?;
    let start = br#"{"summary":"#.len();
    let text = &body[start..body.len() - rest.len()];
    (text.len() <= 1024)
        .then(|| String::from_utf8(text.to_vec()).ok())
        .flatten()
}

fn busy(retry_after_s: u64) -> Problem {
    Problem::new(
        Code::Conflict,
        "another delivery with this webhook-id is being processed",
    )
    .with_retry_after(retry_after_s)
}

pub(super) fn done(owner: String, status: u16, summary: Option<String>, now_ms: u64) -> Record {
    Record {
        state: State::Done,
        owner,
        claim_until_ms: 0,
        forget_ms: now_ms + ledger::REMEMBER_MS,
        generation: 0,
        body_sha256: String::new(),
        status,
        problem: false,
        summary,
        landed: vec![],
        bulks: vec![],
    }
}

/// 200 only when every item landed (now or in an earlier delivery). Else
/// the sender must retry: 429 or 503 with `Retry-After` while ACCS is
/// throttling or failing, 422 when ACCS refused items outright.
pub(super) fn finish(
    outcome: Outcome<'_>,
    owner: String,
    before: &[usize],
    now_ms: u64,
) -> (InResponse, Record) {
    let Some(first_retry_after) = outcome.first_problem.as_ref().map(|p| p.retry_after) else {
        let resp = inventory::report(outcome, 200);
        let mut record = done(owner, 200, summary_of(&resp.body), now_ms);
        record.landed = before.to_vec();
        return (resp, record);
    };
    let transient = outcome
        .errors
        .iter()
        .any(|e| e.status == 429 || e.status >= 500);
    let status = if outcome.errors.iter().any(|e| e.status == 429) {
        429
    } else if transient {
        503
    } else {
        422
    };
    let mut outcome = outcome;
    if transient && outcome.retry_after.is_none() {
        outcome.retry_after = Some(first_retry_after.unwrap_or(5));
    }
    let mut landed: Vec<usize> = before.to_vec();
    landed.extend(
        outcome
            .results
            .iter()
            .filter(|r| r.result == "ok")
            .map(|r| r.index),
    );
    landed.sort_unstable();
    landed.dedup();
    let resp = inventory::report(outcome, status);
    let record = Record {
        state: State::Partial,
        owner,
        claim_until_ms: 0,
        forget_ms: now_ms + ledger::REMEMBER_MS,
        generation: 0,
        body_sha256: String::new(),
        status,
        problem: false,
        summary: summary_of(&resp.body),
        landed,
        bulks: vec![],
    };
    (resp, record)
}

pub(super) async fn sync_inventory<'b, P: Ports>(
    ctx: &Ctx<'_, P>,
    body: &'b [u8],
    landed: &[usize],
) -> Result<Outcome<'b>, Problem> {
    let items = inventory::validate(body)?;
    Ok(inventory::sync(ctx, &items, landed).await)
}

/// `{"products":[...]}` of a products delivery, every product checked.
fn validate_products(body: &[u8]) -> Result<Vec<products::Upsert>, Problem> {
    products::validate_list(body, MAX_PRODUCTS)
}

/// What one delivery's sync came to.
pub(super) enum Synced<'b> {
    /// Item by item: the inventory sync, or one `PUT` per product.
    Items(Outcome<'b>),
    /// Products through ACCS's bulk API, above `products_bulk_above`.
    Bulk(Delivered),
}

/// A products delivery: one `PUT` per product, or through the bulk API
/// when it takes the bulk path ([`delivery::takes_bulk`]); `prior` holds the
/// bulks an earlier delivery of this body had accepted.
pub(super) async fn sync_products_delivery<P: Ports>(
    ctx: &Ctx<'_, P>,
    body: &[u8],
    landed: &[usize],
    prior: &[BulkRef],
) -> Result<Synced<'static>, Problem> {
    let list = validate_products(body)?;
    if delivery::takes_bulk(ctx.settings, list.len(), landed, prior) {
        return Ok(Synced::Bulk(delivery::sync(ctx, list, prior).await));
    }
    Ok(Synced::Items(upsert_each(ctx, &list, landed).await))
}

/// The answer and the ledger record of a sync, its counts in the log line.
pub(super) fn settle<P: Ports>(
    ctx: &Ctx<'_, P>,
    synced: Synced<'_>,
    owner: String,
    before: &[usize],
    now_ms: u64,
) -> (InResponse, Record) {
    match synced {
        Synced::Items(outcome) => {
            let (sent, done_now) = outcome.counts();
            ctx.trace.items(sent, done_now);
            finish(outcome, owner, before, now_ms)
        }
        Synced::Bulk(delivered) => {
            ctx.trace.items(delivered.sent.sent, 0);
            ctx.trace.accepted(delivered.accepted_now);
            delivery::finish(
                delivered,
                |status, summary| done(owner, status, summary, now_ms),
                summary_of,
            )
        }
    }
}

pub(super) async fn sync_products<P: Ports>(
    ctx: &Ctx<'_, P>,
    body: &[u8],
    landed: &[usize],
) -> Result<Outcome<'static>, Problem> {
    let list = validate_products(body)?;
    Ok(upsert_each(ctx, &list, landed).await)
}

/// One `PUT` per product of `list` but those in `landed`.
async fn upsert_each<P: Ports>(
    ctx: &Ctx<'_, P>,
    list: &[products::Upsert],
    landed: &[usize],
) -> Outcome<'static> {
    let calls = list
        .iter()
        .enumerate()
        .map(|(index, (sku, product))| async move {
            if landed.binary_search(&index).is_ok() {
                return (index, sku, Ok(()));
            }
            let r = ctx
                .call(&products::upsert_call(sku, product))
                .await
                .map(|_| ());
            (index, sku, r)
        });
    // One product per call: an upsert ACCS refuses fails that product alone,
    // with ACCS's message; there is no batch to split.
    let mut outcome = Outcome::default();
    for (index, sku, result) in inventory::bounded(ctx, calls).await {
        outcome.results.push(match &result {
            Ok(()) => ItemResult::ok(index, sku.clone().into(), None, None),
            Err(p) => ItemResult::failed(index, sku.clone().into(), None, None, p),
        });
        if let Err(p) = result {
            outcome.fail(None, Some(sku.clone()), p);
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_checked_before_anything_is_sent() {
        let ok =
            validate_products(br#"{"products":[{"sku":"a/b","name":"x"},{"sku":"B"}]}"#).unwrap();
        assert_eq!(ok[0].0, "a/b");
        let p = validate_products(
            br#"{"products":[{"sku":"A"},{"name":"x"},{"sku":""},7,{"sku":".."}]}"#,
        )
        .unwrap_err();
        let idx = crate::testing::bad_indexes(&p);
        assert_eq!(idx, [1, 2, 3, 4]);
        for bad in [
            &b"{}"[..],
            br#"{"products":[]}"#,
            b"[]",
            b"x",
            br#"{"products":[{"sku":"A"}],"extra":1}"#,
        ] {
            assert_eq!(validate_products(bad).unwrap_err().status, 400);
        }
    }
}
