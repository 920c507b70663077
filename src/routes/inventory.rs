//! `POST /v1/inventory/source-items`: validate everything, then send in
//! batches with bounded concurrency, and answer one result per item so that
//! nothing is lost silently. The inventory webhook reuses `validate` and `sync`.

use super::{InResponse, json};
use crate::accs::{Call, Ctx};
use crate::host::Ports;
use crate::problem::Problem;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

pub const MAX_ITEMS: usize = 10_000;
const MAX_LISTED_ERRORS: usize = 100;

/// One validated source item, exactly the members Magento takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub sku: String,
    pub source_code: String,
    /// Kept as written: `5` goes out as `5`, not `5.0`.
    pub quantity: Number,
    pub status: u8,
}

impl Item {
    fn check(&self) -> Result<(), String> {
        let text = |k: &str, v: &str, max: usize| {
            if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
                Err(format!("`{k}` must be a string of 1 to {max} characters"))
            } else {
                Ok(())
            }
        };
        text("sku", &self.sku, 64)?;
        text("source_code", &self.source_code, 255)?;
        if !self
            .quantity
            .as_f64()
            .is_some_and(|q| q.is_finite() && q >= 0.0)
        {
            return Err("`quantity` must be a number >= 0".into());
        }
        if self.status > 1 {
            return Err(STATUS_RULE.into());
        }
        Ok(())
    }
}

const STATUS_RULE: &str = "`status` must be 0 (out of stock) or 1 (in stock)";

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(rename = "sourceItems", borrow)]
    source_items: Option<Vec<&'a RawValue>>,
}

/// Parses `{"sourceItems":[...]}` and checks every item; nothing is sent if
/// any item is malformed, and the 400 lists each bad index. Items are parsed
/// straight into `Item` (no JSON tree per item); only a bad one is looked at
/// again, to say what is wrong with it.
pub fn validate(body: &[u8]) -> Result<Vec<Item>, Problem> {
    let doc: Body = serde_json::from_slice(body).map_err(|_| {
        Problem::bad_request("the body must be a JSON object `{\"sourceItems\":[...]}`")
    })?;
    let Some(items) = doc.source_items else {
        return Err(Problem::bad_request(
            "the body must hold a `sourceItems` array",
        ));
    };
    if items.is_empty() {
        return Err(Problem::bad_request("`sourceItems` is empty"));
    }
    if items.len() > MAX_ITEMS {
        return Err(Problem::bad_request(format!(
            "`sourceItems` holds {} items; at most {MAX_ITEMS} are accepted per request",
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, raw) in items.into_iter().enumerate() {
        let checked = match serde_json::from_str::<Item>(raw.get()) {
            Ok(item) => item.check().map(|()| item),
            Err(_) => Err(explain(raw.get())),
        };
        match checked {
            Ok(item) => out.push(item),
            Err(reason) => errors.push((index, reason)),
        }
    }
    if errors.is_empty() {
        return Ok(out);
    }
    let listed: Vec<Value> = errors
        .iter()
        .take(MAX_LISTED_ERRORS)
        .map(|(i, r)| serde_json::json!({"index": i, "reason": r}))
        .collect();
    let first = errors
        .iter()
        .take(5)
        .map(|(i, r)| format!("[{i}] {r}"))
        .collect::<Vec<_>>();
    let mut p = Problem::bad_request(format!(
        "{} of the source items are invalid, nothing was sent: {}{}",
        errors.len(),
        first.join("; "),
        if errors.len() > 5 { "; ..." } else { "" }
    ));
    p.errors = Some(Box::new(Value::Array(listed)));
    Err(p)
}

/// Why an item did not parse as an `Item`, member by member.
fn explain(raw: &str) -> String {
    match mismatch(raw) {
        Err(reason) => reason,
        Ok(()) => "is not a source item".into(),
    }
}

fn mismatch(raw: &str) -> Result<(), String> {
    let Ok(Value::Object(item)) = serde_json::from_str::<Value>(raw) else {
        return Err("must be an object".into());
    };
    let text = |k: &str, max: usize| match item.get(k) {
        Some(Value::String(_)) => Ok(()),
        _ => Err(format!("`{k}` must be a string of 1 to {max} characters")),
    };
    text("sku", 64)?;
    text("source_code", 255)?;
    if !matches!(item.get("quantity"), Some(Value::Number(_))) {
        return Err("`quantity` must be a number >= 0".into());
    }
    if !matches!(item.get("status"), Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s <= 1)) {
        return Err(STATUS_RULE.into());
    }
    match item
        .keys()
        .find(|k| !matches!(k.as_str(), "sku" | "source_code" | "quantity" | "status"))
    {
        Some(other) => Err(format!(
            "unknown member `{}`",
            super::search::printable(other)
        )),
        None => Ok(()),
    }
}

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct ItemResult {
    pub index: usize,
    pub sku: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_code: Option<String>,
    /// `ok` or `failed`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct BatchError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub code: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Value>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub results: Vec<ItemResult>,
    pub errors: Vec<BatchError>,
    /// The first failure, which decides the status when nothing landed.
    pub first_problem: Option<Problem>,
    pub retry_after: Option<u64>,
}

impl Outcome {
    /// Records one failed call (a batch, or one product's upsert).
    pub fn fail(&mut self, batch: Option<usize>, sku: Option<String>, p: Problem) {
        self.retry_after = self.retry_after.max(p.retry_after);
        self.errors.push(BatchError {
            batch,
            sku,
            code: p.code.as_str(),
            status: p.status,
            detail: p.detail.clone(),
            upstream: p.upstream.as_deref().cloned(),
        });
        self.first_problem.get_or_insert(p);
    }

    pub fn ok(&self) -> usize {
        self.results.iter().filter(|r| r.result == "ok").count()
    }
}

/// Sends `items` (each with its index in the caller's list) in batches of
/// `sync_batch_size`, `sync_concurrency` at a time.
pub async fn sync<P: Ports>(ctx: &Ctx<'_, P>, items: &[(usize, Item)]) -> Outcome {
    let size = ctx.settings.sync_batch_size.max(1);
    let calls = items
        .chunks(size)
        .enumerate()
        .map(|(batch, chunk)| async move {
            let body = serde_json::json!({
                "sourceItems": chunk.iter().map(|(_, item)| item).collect::<Vec<_>>()
            });
            let call = Call {
                method: "POST",
                path_and_query: "/V1/inventory/source-items".to_owned(),
                body: Some(serde_json::to_vec(&body).unwrap_or_default()),
            };
            (batch, chunk, ctx.call(&call).await)
        });
    let done = bounded(ctx, calls).await;
    let mut outcome = Outcome::default();
    for (batch, chunk, result) in done {
        let error = result.as_ref().err().map(|p| p.code.as_str());
        outcome
            .results
            .extend(chunk.iter().map(|(index, item)| ItemResult {
                index: *index,
                sku: item.sku.clone(),
                source_code: Some(item.source_code.clone()),
                result: if error.is_none() { "ok" } else { "failed" },
                batch: Some(batch),
                error,
            }));
        if let Err(p) = result {
            outcome.fail(Some(batch), None, p);
        }
    }
    outcome
}

/// Runs `calls` with at most `sync_concurrency` in flight; results in input
/// order. Unordered underneath: a slow or retrying call does not hold back
/// the start of the next ones, as `buffered` would.
pub async fn bounded<P: Ports, F: Future>(
    ctx: &Ctx<'_, P>,
    calls: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut done: Vec<(usize, F::Output)> = futures::stream::iter(
        calls
            .enumerate()
            .map(|(i, call)| async move { (i, call.await) }),
    )
    .buffer_unordered(ctx.settings.sync_concurrency.max(1))
    .collect()
    .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, output)| output).collect()
}

/// 200 when every item landed, 207 when some did, and the first failure's
/// status (with `Retry-After` where ACCS gave one) when none did: a sender
/// that retries on 429/5xx then does the right thing.
pub fn respond(outcome: &Outcome) -> InResponse {
    let status = match (&outcome.first_problem, outcome.ok()) {
        (None, _) => 200,
        (Some(_), n) if n > 0 => 207,
        (Some(p), _) => p.status,
    };
    report(outcome, status)
}

/// The JSON report with `status`, and `Retry-After` where ACCS asked for one.
pub fn report(outcome: &Outcome, status: u16) -> InResponse {
    #[derive(Serialize)]
    struct Summary {
        items: usize,
        ok: usize,
        failed: usize,
        failed_batches: usize,
    }
    #[derive(Serialize)]
    struct Report<'a> {
        summary: Summary,
        results: &'a [ItemResult],
        errors: &'a [BatchError],
    }
    let (items, ok) = (outcome.results.len(), outcome.ok());
    let body = Report {
        summary: Summary {
            items,
            ok,
            failed: items - ok,
            failed_batches: outcome.errors.len(),
        },
        results: &outcome.results,
        errors: &outcome.errors,
    };
    let mut resp = json(status, serde_json::to_vec(&body).unwrap_or_default());
    if let Some(s) = outcome.retry_after.filter(|_| status != 200) {
        resp.headers.push(("retry-after", s.to_string()));
    }
    resp
}

pub async fn post<P: Ports>(ctx: &Ctx<'_, P>, body: &[u8]) -> Result<InResponse, Problem> {
    let items: Vec<(usize, Item)> = validate(body)?.into_iter().enumerate().collect();
    Ok(respond(&sync(ctx, &items).await))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_item_is_named_and_nothing_passes() {
        let body = br#"{"sourceItems":[
            {"sku":"A","source_code":"default","quantity":1,"status":1},
            {"sku":"","source_code":"default","quantity":1,"status":1},
            {"sku":"B","source_code":"default","quantity":-1,"status":1},
            {"sku":"C","source_code":"default","quantity":1,"status":2},
            {"sku":"D","quantity":1,"status":1},
            {"sku":"E","source_code":"default","quantity":1,"status":1,"x":1},
            "F"
        ]}"#;
        let p = validate(body).unwrap_err();
        assert_eq!(p.status, 400);
        let idx = crate::testing::bad_indexes(&p);
        assert_eq!(idx, [1, 2, 3, 4, 5, 6]);
        assert!(p.detail.starts_with("6 of the source items are invalid"));
    }

    #[test]
    fn shapes_and_limits() {
        for bad in [
            &b"[]"[..],
            b"{}",
            br#"{"sourceItems":[]}"#,
            br#"{"sourceItems":{}}"#,
            b"nope",
        ] {
            assert_eq!(validate(bad).unwrap_err().status, 400);
        }
        let item = r#"{"sku":"A","source_code":"s","quantity":0,"status":0}"#;
        let many = format!(
            r#"{{"sourceItems":[{}]}}"#,
            vec![item; MAX_ITEMS + 1].join(",")
        );
        assert!(
            validate(many.as_bytes())
                .unwrap_err()
                .detail
                .contains("at most 10000")
        );
        let max = format!(r#"{{"sourceItems":[{}]}}"#, vec![item; MAX_ITEMS].join(","));
        assert_eq!(validate(max.as_bytes()).unwrap().len(), MAX_ITEMS);
    }
}

#[cfg(test)]
mod cost {
    //! Not a timed test: prints the CPU cost of a 10,000-item sync's own work
    //! (run with `--ignored --nocapture`), for docs/BENCHMARKS.md.
    use super::*;
    use crate::testing::{FakePorts, respond, settings};
    use futures::executor::block_on;

    #[test]
    #[ignore]
    fn print_sync_cpu_cost() {
        let items: Vec<String> = (0..MAX_ITEMS)
            .map(|i| {
                format!(
                    r#"{{"sku":"INV-{i:05}","source_code":"default","quantity":{},"status":1}}"#,
                    i % 100
                )
            })
            .collect();
        let body = format!(r#"{{"sourceItems":[{}]}}"#, items.join(","));
        let settings = settings(&[]).unwrap();
        let tokens = crate::ims::Tokens::new(&settings);
        let ports = FakePorts::new(|req, _| {
            if req.url.contains("/ims/") {
                respond(200, r#"{"access_token":"t","expires_in":86399}"#)
            } else {
                respond(200, "[]")
            }
        });
        let trace = crate::trace::Trace::new("r".into());
        let denials = crate::accs::denials::Denials::default();
        let ctx = Ctx {
            settings: &settings,
            ports: &ports,
            tokens: &tokens,
            trace: &trace,
            denials: &denials,
            route: "/v1/inventory/source-items",
            budget: crate::accs::retry::Budget::new(ports.now_ms(), settings.accs_timeout_ms),
        };
        let runs = 20;
        let t = std::time::Instant::now();
        for _ in 0..runs {
            let resp = block_on(post(&ctx, body.as_bytes())).unwrap();
            assert_eq!(resp.status, 200);
        }
        eprintln!(
            "sync of {MAX_ITEMS} items, own CPU: {:.1} ms per request",
            t.elapsed().as_secs_f64() * 1000.0 / runs as f64
        );
    }
}
