//! `POST /v1/webhooks/{topic}`: a signed delivery from an ERP, PIM or
//! scheduler that syncs a change into ACCS.
//!
//! Order of work: topic (404), configuration (503 when no secret is set),
//! signature over the raw body (401), ledger (replay, busy or resume), then
//! parsing and the sync. Only after the signature holds is anything parsed.

use super::inventory::{self, ItemResult, Outcome};
use super::{InRequest, InResponse, json, products};
use crate::accs::{Ctx, path};
use crate::host::{Ports, Swap};
use crate::problem::{Code, Problem};
use crate::webhook::ledger::{self, Record, State, Verdict};
use crate::webhook::signature;
use serde_json::{Map, Value};
use std::time::Duration;

pub const TOPICS: &[&str] = &["inventory", "products"];
pub const MAX_PRODUCTS: usize = 1_000;
/// Between writing a claim and reading it back: another instance's claim
/// written in this gap wins, and ours backs off.
const CLAIM_SETTLE: Duration = Duration::from_millis(50);

pub async fn post<P: Ports>(
    ctx: &Ctx<'_, P>,
    req: &InRequest,
    topic: &str,
) -> Result<InResponse, Problem> {
    let secrets: Vec<Vec<u8>> = ctx
        .settings
        .webhook_secrets
        .iter()
        .filter_map(|s| signature::key(s.expose()))
        .collect();
    if secrets.is_empty() {
        return Err(Problem::new(
            Code::WebhookNotConfigured,
            "set `webhook_secrets` to receive webhooks",
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

    let key = ledger::key(topic, id);
    let digest = ledger::body_digest(&req.body);
    // Without the store there is no replay protection, but the syncs are
    // idempotent (set quantity, upsert product): process anyway.
    let stored = ctx.ports.kv_get(&key).await.ok().flatten();
    let record = stored.as_deref().and_then(ledger::parse);
    let landed = match ledger::verdict(record, ctx.ports.now_ms(), &digest) {
        Verdict::Replay {
            status,
            body,
            problem,
        } => {
            let mut resp = json(status, body.into_bytes());
            if problem {
                resp.headers[0].1 = "application/problem+json".into();
            }
            resp.headers.push(("webhook-replayed", "true".into()));
            return Ok(resp);
        }
        Verdict::Busy { retry_after_s } => return Err(busy(retry_after_s)),
        Verdict::Mismatch => {
            return Err(Problem::new(
                Code::Conflict,
                "this webhook-id was already used for a different body: a webhook-id names one message, send a new message under a new id",
            ));
        }
        Verdict::Process { landed } => landed,
    };
    let owner = claim(ctx, &key, stored.as_deref(), &landed, &digest).await?;

    let result = match topic {
        "inventory" => sync_inventory(ctx, &req.body, &landed).await,
        _ => sync_products(ctx, &req.body, &landed).await,
    };
    let (resp, mut record) = match result {
        Ok(outcome) => {
            let (sent, done_now) = outcome.counts();
            ctx.trace.items(sent, done_now);
            finish(outcome, owner, &landed, ctx.ports.now_ms())
        }
        Err(p) => {
            // A malformed payload stays malformed: repeats get the same 400.
            let resp = super::problem_response(&p, &ctx.trace.request_id);
            let mut record = done(owner, resp.status, &resp.body, ctx.ports.now_ms());
            record.problem = true;
            (resp, record)
        }
    };
    record.body_sha256 = digest;
    let _ = ctx.ports.kv_set(&key, ledger::encode(&record)).await;
    Ok(resp)
}

fn busy(retry_after_s: u64) -> Problem {
    Problem::new(
        Code::Conflict,
        "another delivery with this webhook-id is being processed",
    )
    .with_retry_after(retry_after_s)
}

/// Claims the delivery. Where the host has a compare-and-swap (Spin's
/// `wasi:keyvalue/atomics`), the claim replaces exactly the record that was
/// read, so of two racing instances exactly one wins. Elsewhere: write,
/// wait, read back; the last writer wins, so two instances racing see the
/// same owner and (barring a store slower than the wait) only one proceeds.
async fn claim<P: Ports>(
    ctx: &Ctx<'_, P>,
    key: &str,
    stored: Option<&[u8]>,
    landed: &[usize],
    digest: &str,
) -> Result<String, Problem> {
    let mut b = [0u8; 12];
    ctx.ports.fill_random(&mut b);
    let owner = crate::config::hex(&b);
    let record = Record {
        state: State::Processing,
        owner: owner.clone(),
        until_ms: ctx.ports.now_ms() + ledger::claim_ms(ctx.settings.accs_timeout_ms),
        landed: landed.to_vec(),
        status: 0,
        body: String::new(),
        problem: false,
        body_sha256: digest.to_owned(),
    };
    match ctx
        .ports
        .kv_swap(key, stored, ledger::encode(&record))
        .await
    {
        Ok(Swap::Done) => return Ok(owner),
        Ok(Swap::Changed) => return Err(busy(1)),
        Ok(Swap::Unsupported) => {}
        Err(_) => return Ok(owner),
    }
    if ctx
        .ports
        .kv_set(key, ledger::encode(&record))
        .await
        .is_err()
    {
        return Ok(owner);
    }
    ctx.ports.sleep(CLAIM_SETTLE).await;
    match ctx.ports.kv_get(key).await {
        Ok(Some(v)) => match ledger::parse(&v) {
            Some(r) if r.owner != owner => Err(busy(1)),
            _ => Ok(owner),
        },
        _ => Ok(owner),
    }
}

fn done(owner: String, status: u16, body: &[u8], now_ms: u64) -> Record {
    Record {
        state: State::Done,
        owner,
        until_ms: now_ms + ledger::REMEMBER_MS,
        landed: vec![],
        status,
        body: String::from_utf8_lossy(body).into_owned(),
        problem: false,
        body_sha256: String::new(),
    }
}

/// 200 only when every item landed (now or in an earlier delivery). Else
/// the sender must retry: 429 or 503 with `Retry-After` while ACCS is
/// throttling or failing, 422 when ACCS refused items outright.
fn finish(
    outcome: Outcome<'_>,
    owner: String,
    before: &[usize],
    now_ms: u64,
) -> (InResponse, Record) {
    let Some(first_retry_after) = outcome.first_problem.as_ref().map(|p| p.retry_after) else {
        let resp = inventory::report(outcome, 200);
        let record = done(owner, 200, &resp.body, now_ms);
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
    let record = Record {
        state: State::Partial,
        owner,
        until_ms: now_ms + ledger::REMEMBER_MS,
        landed,
        status,
        body: String::new(),
        problem: false,
        body_sha256: String::new(),
    };
    (inventory::report(outcome, status), record)
}

async fn sync_inventory<'b, P: Ports>(
    ctx: &Ctx<'_, P>,
    body: &'b [u8],
    landed: &[usize],
) -> Result<Outcome<'b>, Problem> {
    let items = inventory::validate(body)?;
    Ok(inventory::sync(ctx, &items, landed).await)
}

/// `{"products":[{"sku":...,...}]}`: every product checked before any is sent.
/// A product to upsert: its SKU and the object sent as `product`.
type Upsert = (String, Map<String, Value>);

fn validate_products(body: &[u8]) -> Result<Vec<Upsert>, Problem> {
    let mut doc: Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
        Problem::bad_request("the body must be a JSON object `{\"products\":[...]}`")
    })?;
    let Some(Value::Array(list)) = doc.remove("products") else {
        return Err(Problem::bad_request(
            "the body must hold a `products` array",
        ));
    };
    if let Some(other) = doc.keys().next() {
        return Err(Problem::bad_request(format!(
            "unexpected member `{}`; the body holds only `products`",
            super::search::printable(other)
        )));
    }
    if list.is_empty() || list.len() > MAX_PRODUCTS {
        return Err(Problem::bad_request(format!(
            "`products` must hold 1 to {MAX_PRODUCTS} products"
        )));
    }
    let mut out = Vec::with_capacity(list.len());
    let mut errors = Vec::new();
    for (index, p) in list.into_iter().enumerate() {
        let checked = match p {
            // Taken as written: a JSON string is not a URL segment, so
            // `BOX%2012` is that SKU, not `BOX 12` (encoded once, into the path).
            Value::Object(p) => match p.get("sku").and_then(Value::as_str).map(path::json_sku) {
                Some(Ok(sku)) => Ok((sku, p)),
                _ => Err("`sku` must be a string of 1 to 64 characters without controls"),
            },
            _ => Err("must be an object"),
        };
        match checked {
            Ok(v) => out.push(v),
            Err(reason) => errors.push(serde_json::json!({"index": index, "reason": reason})),
        }
    }
    if errors.is_empty() {
        return Ok(out);
    }
    let mut p = Problem::bad_request(format!(
        "{} of the products are invalid, nothing was sent",
        errors.len()
    ));
    p.errors = Some(Box::new(Value::Array(errors)));
    Err(p)
}

async fn sync_products<P: Ports>(
    ctx: &Ctx<'_, P>,
    body: &[u8],
    landed: &[usize],
) -> Result<Outcome<'static>, Problem> {
    let list = validate_products(body)?;
    let calls = list
        .iter()
        .enumerate()
        .map(|(index, (sku, product))| async move {
            if landed.contains(&index) {
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
    Ok(outcome)
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
