//! `POST /v1/inventory/source-items`: validate everything, then send in
//! batches with bounded concurrency, and answer one result per item so that
//! nothing is lost silently. The inventory webhook reuses `validate` and `sync`.

use crate::wire::InResponse;

use super::json;
use crate::accs::{Call, Ctx};
use crate::json_write::{put_str, put_uint};
use crate::ports::Ports;
use crate::problem::Problem;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::cell::Cell;
use std::task::Poll;

mod read;

use crate::wire::MAX_ITEMS;
const MAX_LISTED_ERRORS: usize = 100;

/// One validated source item, exactly the members Magento takes. Text
/// without escapes is borrowed from the request body, not copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item<'a> {
    #[serde(borrow)]
    pub sku: Cow<'a, str>,
    #[serde(borrow)]
    pub source_code: Cow<'a, str>,
    /// Kept as written: `5` goes out as `5`, not `5.0`.
    pub quantity: Number,
    pub status: u8,
}

impl Item<'_> {
    fn check(&self) -> Result<(), String> {
        for (k, v, max) in [
            ("sku", &self.sku, 64),
            ("source_code", &self.source_code, 255),
        ] {
            if !text_ok(v, max) {
                return Err(format!("`{k}` must be a string of 1 to {max} characters"));
            }
        }
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

/// 1 to `max` characters, not all whitespace, no control character. Plain
/// printable ASCII (the usual SKU) is decided byte by byte: there a
/// character is a byte, and the only whitespace that is not a control is
/// the space.
fn text_ok(v: &str, max: usize) -> bool {
    let bytes = v.as_bytes();
    if bytes.len() <= max && bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        return bytes.iter().any(|&b| b != b' ');
    }
    !(v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    #[serde(rename = "sourceItems", borrow)]
    source_items: Option<Vec<&'a RawValue>>,
}

/// The same document with every item parsed as an `Item` in one pass.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Items<'a> {
    #[serde(rename = "sourceItems", borrow)]
    source_items: Option<Vec<Item<'a>>>,
}

/// Parses `{"sourceItems":[...]}` and checks every item; nothing is sent if
/// any item is malformed, and the 400 lists each bad index. A body that is
/// in order (the usual case) is read once, straight into `Item`s; any other
/// is read again item by item (no JSON tree per item), and only a bad item
/// is looked at a third time, to say what is wrong with it.
pub fn validate(body: &[u8]) -> Result<Vec<Item<'_>>, Problem> {
    // What these accept, the item-by-item reading below accepts too, with
    // the same items: `read::items` reads a subset of what serde_json does,
    // the same way, and serde's one pass parses each item's text by the same
    // `Item` rules.
    let whole = read::items(body).or_else(|| match serde_json::from_slice(body) {
        Ok(Items { source_items }) => source_items,
        Err(_) => None,
    });
    if let Some(items) = whole
        && (1..=MAX_ITEMS).contains(&items.len())
        && items.iter().all(|item| item.check().is_ok())
    {
        return Ok(items);
    }
    let doc: Body = serde_json::from_slice(body).map_err(|_| {
        Problem::bad_request(
            "the body must be a JSON object `{\"sourceItems\":[...]}` with no other member",
        )
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

/// One entry's result. Its text is the item's own (borrowed from the request
/// body where the item's is).
#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct ItemResult<'a> {
    pub index: usize,
    pub sku: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_code: Option<Cow<'a, str>>,
    /// `ok`, `failed` or `superseded`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// ACCS's own message for a failed item, or why it was not sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `superseded`: the later entry that replaced this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<usize>,
}

impl<'a> ItemResult<'a> {
    pub fn ok(
        index: usize,
        sku: Cow<'a, str>,
        source_code: Option<Cow<'a, str>>,
        batch: Option<usize>,
    ) -> Self {
        ItemResult {
            index,
            sku,
            source_code,
            result: "ok",
            batch,
            error: None,
            reason: None,
            superseded_by: None,
        }
    }

    pub fn failed(
        index: usize,
        sku: Cow<'a, str>,
        source_code: Option<Cow<'a, str>>,
        batch: Option<usize>,
        p: &Problem,
    ) -> Self {
        ItemResult {
            result: "failed",
            error: Some(p.code.as_str()),
            reason: upstream_message(p),
            ..ItemResult::ok(index, sku, source_code, batch)
        }
    }
}

/// ACCS's `message`, with Magento's `%1`/`%name` placeholders filled from
/// its `parameters` the way Magento renders a phrase: one pass over the
/// original text, at each `%` the longest placeholder that matches, and a
/// substituted value is never looked at again (`Magento\Framework\Phrase\Renderer\Placeholder::render`
/// builds `%1`.. and `%name` keys and calls PHP's `strtr`). Bounded on every
/// side: replacing one placeholder after another, each in the output of the
/// last, let `{"message":"%3","parameters":["x"*2000,"%1"*2000,"%2"*2000]}`
/// grow to 8 GB.
fn upstream_message(p: &Problem) -> Option<String> {
    let up = p.upstream.as_deref()?;
    let message = up.get("message")?.as_str()?;
    let text = |v: &Value| -> String {
        let t = match v {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(other.to_string()),
        };
        t.chars().take(MAX_REASON_CHARS).collect()
    };
    let pairs: Vec<(String, String)> = match up.get("parameters") {
        Some(Value::Array(list)) => list
            .iter()
            .take(MAX_PARAMETERS)
            .enumerate()
            .map(|(i, v)| (format!("%{}", i + 1), text(v)))
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .filter(|(k, _)| !k.is_empty() && k.len() <= MAX_NAME_BYTES)
            .take(MAX_PARAMETERS)
            .map(|(k, v)| (format!("%{k}"), text(v)))
            .collect(),
        _ => Vec::new(),
    };
    Some(render(message, &pairs, MAX_REASON_CHARS))
}

/// A reason is at most this many characters, and so is each parameter.
const MAX_REASON_CHARS: usize = 500;
/// Parameters looked at, and the longest `%name` taken.
const MAX_PARAMETERS: usize = 64;
const MAX_NAME_BYTES: usize = 64;

/// `template` with each placeholder of `pairs` (`%1`, `%name`) replaced in
/// one pass, longest match first, as PHP's `strtr`; at most `max_chars`
/// characters come out, so the work is bounded by the output too.
fn render(template: &str, pairs: &[(String, String)], max_chars: usize) -> String {
    let mut out = String::new();
    let mut written = 0;
    let mut rest = template;
    while written < max_chars {
        let Some(c) = rest.chars().next() else { break };
        let matched = (c == '%')
            .then(|| {
                pairs
                    .iter()
                    .filter(|(k, _)| rest.starts_with(k.as_str()))
                    .max_by_key(|(k, _)| k.len())
            })
            .flatten();
        match matched {
            Some((key, value)) => {
                for ch in value.chars().take(max_chars - written) {
                    out.push(ch);
                    written += 1;
                }
                rest = &rest[key.len()..];
            }
            None => {
                out.push(c);
                written += 1;
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
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
pub struct Outcome<'a> {
    pub results: Vec<ItemResult<'a>>,
    pub errors: Vec<BatchError>,
    /// The first failure, which decides the status when nothing landed.
    pub first_problem: Option<Problem>,
    pub retry_after: Option<u64>,
    /// Extra calls spent splitting batches ACCS refused with 400/413.
    pub split_calls: usize,
    /// The report as [`sync`] wrote it while its batches were in flight,
    /// for every batch landing, so that [`report`] has nothing left to
    /// write; `None` where a result was corrected after it was written. Set
    /// on an outcome whose results nothing changes afterwards.
    written: Option<Written>,
}

/// A report written ahead: `body` is `{"summary":` `summary`
/// `,"results":[`, then from `results_at` the JSON of `count` results
/// ([`put_result`]), comma-separated.
#[derive(Debug)]
struct Written {
    body: Vec<u8>,
    results_at: usize,
    summary: Summary,
    count: usize,
}

impl Outcome<'_> {
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

    /// For the log line: items this request tried to write (each ended `ok`
    /// or `failed`; superseded entries are not counted) and those that landed.
    pub fn counts(&self) -> (usize, usize) {
        let tried = self
            .results
            .iter()
            .filter(|r| r.result != "superseded")
            .count();
        (tried, self.ok())
    }

    pub fn superseded(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.result == "superseded")
            .count()
    }
}

/// At most this many extra calls per sync go to splitting refused batches;
/// past it, a refused group fails as a whole with ACCS's message. One bad
/// item in a batch of 500 costs 18; the cap bounds a sync where most items
/// are bad (which would otherwise cost about two calls per item).
pub const MAX_SPLIT_CALLS: usize = 1_000;

/// Which entries of one sync are sent: for each `(sku, source_code)` the last
/// entry wins and the earlier ones are superseded by it (never two writes of
/// one key in one sync, so no race decides which value stays). Returns the
/// indexes to send, in order, and `(index, by)` for each superseded one.
pub fn last_wins(items: &[Item<'_>]) -> (Vec<usize>, Vec<(usize, usize)>) {
    // A list in key order, as exports usually are, cannot hold a key twice
    // when each key is greater than the one before: nothing to hash then.
    if items
        .windows(2)
        .all(|w| (&*w[0].sku, &*w[0].source_code) < (&*w[1].sku, &*w[1].source_code))
    {
        return ((0..items.len()).collect(), Vec::new());
    }
    // Each key is hashed once: it gets a number in order of first sight,
    // and `last[number]` follows its latest entry.
    let mut number: std::collections::HashMap<(&str, &str), usize> =
        std::collections::HashMap::with_capacity(items.len());
    let mut last: Vec<usize> = Vec::with_capacity(items.len());
    let mut key_of: Vec<usize> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let k = *number
            .entry((&*item.sku, &*item.source_code))
            .or_insert(last.len());
        if k == last.len() {
            last.push(i);
        } else {
            last[k] = i;
        }
        key_of.push(k);
    }
    if last.len() == items.len() {
        return ((0..items.len()).collect(), Vec::new());
    }
    let mut send = Vec::with_capacity(last.len());
    let mut superseded = Vec::new();
    for (i, &k) in key_of.iter().enumerate() {
        let by = last[k];
        if by == i {
            send.push(i);
        } else {
            superseded.push((i, by));
        }
    }
    (send, superseded)
}

/// `{"sourceItems":[...]}` with the items of `group`, written from the
/// items in place. Byte for byte what serializing them through a
/// `serde_json::Value` gave before: members in that map's (sorted) order,
/// the quantity as written.
fn batch_body(items: &[Item<'_>], group: &[usize]) -> Vec<u8> {
    const OPEN: &[u8] = br#"{"sourceItems":["#;
    // Member names, punctuation and numbers: under 80 bytes an item.
    let size = OPEN.len()
        + 2
        + group
            .iter()
            .map(|&i| 80 + items[i].sku.len() + items[i].source_code.len())
            .sum::<usize>();
    let mut buf = Vec::with_capacity(size);
    buf.extend_from_slice(OPEN);
    for (n, &i) in group.iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        let item = &items[i];
        buf.extend_from_slice(br#"{"quantity":"#);
        match item.quantity.as_u64() {
            Some(q) => put_uint(&mut buf, q),
            None => {
                let _ = serde_json::to_writer(&mut buf, &item.quantity);
            }
        }
        buf.extend_from_slice(br#","sku":"#);
        put_str(&mut buf, &item.sku);
        buf.extend_from_slice(br#","source_code":"#);
        put_str(&mut buf, &item.source_code);
        buf.extend_from_slice(br#","status":"#);
        put_uint(&mut buf, u64::from(item.status));
        buf.push(b'}');
    }
    buf.extend_from_slice(b"]}");
    buf
}

/// Sends `items` (the caller's whole list) but those in `landed` (an earlier
/// delivery's, ascending), last entry per key winning, in batches of `sync_batch_size`,
/// `sync_concurrency` at a time, all within the request's budget. A batch
/// ACCS refuses with 400 or 413 (Magento saves a batch all or nothing) is
/// split in halves until the bad items stand alone. Every item ends `ok`,
/// `failed` (with ACCS's reason, or `accs_timeout` when the budget ended
/// first) or `superseded`.
pub async fn sync<'a, P: Ports>(
    ctx: &Ctx<'_, P>,
    items: &[Item<'a>],
    landed: &[usize],
) -> Outcome<'a> {
    let (send, superseded) = last_wins(items);
    let (done, todo): (Vec<usize>, Vec<usize>) = send
        .into_iter()
        .partition(|i| landed.binary_search(i).is_ok());
    let size = ctx.settings.sync_batch_size.max(1);
    let limit = ctx.settings.sync_concurrency.max(1);
    let chunks: Vec<&[usize]> = todo.chunks(size).collect();
    let splits = Cell::new(0usize);
    let sources = Sources::default();
    // The guest has one thread, idle while batches are in flight. What
    // nothing waits for is done then, one piece between two looks at the
    // calls, rather than before the first batch leaves or after the last
    // answer: the bodies of the batches to come (each starts as soon as a
    // slot frees), and the results as they will be if every batch lands,
    // which an answer then corrects only where it failed (`Recorder`).
    let mut bodies: Vec<Option<Vec<u8>>> = vec![None; chunks.len()];
    let mut encoded = limit;
    let mut results = Recorder::new(items, &superseded, &done, &todo, size);
    let mut answered = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut started = 0;
    loop {
        while in_flight.len() < limit && started < chunks.len() {
            let (batch, chunk) = (started, chunks[started]);
            let body = bodies[batch]
                .take()
                .unwrap_or_else(|| batch_body(items, chunk));
            let (splits, sources) = (&splits, &sources);
            in_flight.push(async move {
                let parts = send_batch(ctx, items, chunk, body, splits, sources).await;
                (batch, parts)
            });
            started += 1;
        }
        encoded = encoded.max(started);
        let idle_work = encoded < chunks.len() || !results.complete() || !answered.is_empty();
        let next = std::future::poll_fn(|cx| match in_flight.poll_next_unpin(cx) {
            Poll::Ready(answer) => Poll::Ready(Some(answer)),
            Poll::Pending if idle_work => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await;
        match next {
            Some(Some(answer)) => {
                answered.push(answer);
            }
            // Nothing in flight and nothing left to start.
            Some(None) => break,
            None => {
                if encoded < chunks.len() {
                    bodies[encoded] = Some(batch_body(items, chunks[encoded]));
                    encoded += 1;
                } else if !results.complete() {
                    results.expect(EXPECT_AT_ONCE);
                } else if let Some((batch, parts)) = answered.pop() {
                    results.answered(batch, parts);
                }
                yield_now().await;
            }
        }
    }
    for (batch, parts) in answered {
        results.answered(batch, parts);
    }
    results.finish(splits.get())
}

/// The outcome of [`sync`] had every batch landed, without sending anything:
/// what a replay of a finished webhook delivery answers. `before` holds the
/// items an earlier delivery had landed (ascending), reported without a
/// batch as [`sync`] reports them; the others are numbered in batches of
/// `batch_size` as they were sent.
pub fn all_landed<'a>(items: &[Item<'a>], before: &[usize], batch_size: usize) -> Outcome<'a> {
    let (send, superseded) = last_wins(items);
    let (done, todo): (Vec<usize>, Vec<usize>) = send
        .into_iter()
        .partition(|i| before.binary_search(i).is_ok());
    let mut results = Recorder::new(items, &superseded, &done, &todo, batch_size.max(1));
    results.expect(items.len());
    results.finish(0)
}

/// Results [`Recorder::expect`] writes between two looks at the calls in
/// flight: a tenth of a millisecond or so in wasm.
const EXPECT_AT_ONCE: usize = 500;

/// A sync's results, in item order: first as they will be if every batch
/// lands, each written as JSON at once (see [`Outcome::written`]), then
/// corrected where an answer says otherwise.
struct Recorder<'s, 'a> {
    items: &'s [Item<'a>],
    /// Superseded entries, entries landed before, entries sent: each in item
    /// order, together every item once; with a cursor into each.
    superseded: &'s [(usize, usize)],
    done: &'s [usize],
    todo: &'s [usize],
    at: (usize, usize, usize),
    /// Batch size: `todo[k]` goes in batch `k / size`.
    size: usize,
    outcome: Outcome<'a>,
    /// Failed calls, to be recorded in batch order.
    failures: Vec<(usize, Problem)>,
    /// The report so far, the summary and results as they will be if
    /// every batch lands; `None` once a result was corrected.
    written: Option<Written>,
}

impl<'s, 'a> Recorder<'s, 'a> {
    fn new(
        items: &'s [Item<'a>],
        superseded: &'s [(usize, usize)],
        done: &'s [usize],
        todo: &'s [usize],
        size: usize,
    ) -> Self {
        Recorder {
            items,
            superseded,
            done,
            todo,
            at: (0, 0, 0),
            size,
            outcome: Outcome::default(),
            failures: Vec::new(),
            written: None,
        }
    }

    fn complete(&self) -> bool {
        self.outcome.results.len() == self.items.len()
    }

    /// The next `n` results (fewer at the end), as they will be if every
    /// batch lands.
    fn expect(&mut self, n: usize) {
        let from = self.outcome.results.len();
        let to = from.saturating_add(n).min(self.items.len());
        if from == 0 {
            self.outcome.results.reserve_exact(self.items.len());
            let n = self.items.len();
            let summary = Summary {
                items: n,
                ok: n - self.superseded.len(),
                failed: 0,
                failed_batches: 0,
                superseded: self.superseded.len(),
                split_calls: 0,
            };
            let body = open_report(&summary, n * 96);
            self.written = Some(Written {
                results_at: body.len(),
                body,
                summary,
                count: 0,
            });
        }
        for index in from..to {
            let item = &self.items[index];
            let (sku, sc) = (item.sku.clone(), Some(item.source_code.clone()));
            let (s, d, t) = &mut self.at;
            let result = match self.superseded.get(*s) {
                Some(&(i, by)) if i == index => {
                    *s += 1;
                    ItemResult {
                        result: "superseded",
                        superseded_by: Some(by),
                        reason: Some(format!(
                            "a later entry (index {by}) sets this sku and source_code"
                        )),
                        ..ItemResult::ok(index, sku, sc, None)
                    }
                }
                _ if self.done.get(*d) == Some(&index) => {
                    *d += 1;
                    ItemResult::ok(index, sku, sc, None)
                }
                _ => {
                    debug_assert_eq!(self.todo.get(*t), Some(&index));
                    let batch = *t / self.size;
                    *t += 1;
                    ItemResult::ok(index, sku, sc, Some(batch))
                }
            };
            if let Some(w) = &mut self.written {
                if index > 0 {
                    w.body.push(b',');
                }
                put_result(&mut w.body, &result);
                w.count += 1;
            }
            self.outcome.results.push(result);
        }
        if self.complete()
            && let Some(w) = &mut self.written
        {
            // Room for the end, `],"errors":[]}`.
            w.body.reserve(16);
        }
    }

    /// One answered batch: what failed in it is no longer `ok`.
    fn answered(&mut self, batch: usize, parts: Parts<'_>) {
        self.expect(usize::MAX);
        for (group, result) in parts {
            let Err(p) = result else { continue };
            for &index in group.iter() {
                let item = &self.items[index];
                let (sku, sc) = (item.sku.clone(), Some(item.source_code.clone()));
                self.outcome.results[index] = ItemResult::failed(index, sku, sc, Some(batch), &p);
            }
            self.written = None;
            self.failures.push((batch, p));
        }
    }

    fn finish(mut self, split_calls: usize) -> Outcome<'a> {
        self.expect(usize::MAX);
        let mut outcome = self.outcome;
        // Failures in batch order, as the report has always listed them
        // (the first one decides the status when nothing landed).
        self.failures.sort_by_key(|(batch, _)| *batch);
        for (batch, p) in self.failures {
            outcome.fail(Some(batch), None, p);
        }
        outcome.split_calls = split_calls;
        outcome.written = self.written;
        outcome
    }
}

/// Returns once the host has had a turn: the answers that came in meanwhile
/// are seen before the next piece of work.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// A batch's outcome: each group of item indexes and what ACCS said of it.
type Parts<'i> = Vec<(Cow<'i, [usize]>, Result<(), Problem>)>;

/// What ACCS said of a sync's source codes. Magento saves a batch with one
/// multi-row insert, and an unknown `source_code` breaks its foreign key:
/// 400 "Could not save Source Item", naming nothing
/// (`Magento\Inventory\Model\SourceItem\Command\SourceItemsSave`; Magento's
/// own `InventoryApi` `SourceItemsSave\ValidationTest` expects exactly that
/// for a source that does not exist). Splitting alone would spend about two
/// calls per item of such a source against the tenant's rate limit, so a
/// source is taken as unknown once two of its items were each refused alone
/// with that answer and none of its items landed in this sync; its other
/// items then fail with the same reason, unsent.
///
/// Plain sorted vectors rather than hash sets: the sources of a sync are
/// few, and each new hash map type costs the `.wasm` a few KB.
#[derive(Default)]
struct Sources<'s> {
    /// Lone refusals per source, with the problem ACCS answered.
    refused: std::cell::RefCell<Vec<(&'s str, u8, Problem)>>,
    /// Sources of items that landed, sorted.
    landed: std::cell::RefCell<Vec<&'s str>>,
}

/// Magento's answer to a batch naming a source that does not exist.
const UNKNOWN_SOURCE: &str = "Could not save Source Item";

impl<'s> Sources<'s> {
    fn landed(&self, items: &'s [Item<'_>], group: &[usize]) {
        let mut landed = self.landed.borrow_mut();
        let mut last: Option<&str> = None;
        for &i in group {
            let sc: &'s str = &items[i].source_code;
            // Batches mostly name one source: looked up once per run.
            if last != Some(sc) {
                if let Err(at) = landed.binary_search(&sc) {
                    landed.insert(at, sc);
                }
                last = Some(sc);
            }
        }
    }

    fn has_landed(&self, source: &str) -> bool {
        self.landed.borrow().binary_search(&source).is_ok()
    }

    /// `item` was refused alone with `p`.
    fn refused_alone(&self, item: &'s Item<'_>, p: &Problem) {
        if !is_unknown_source(p) {
            return;
        }
        let mut refused = self.refused.borrow_mut();
        match refused
            .iter_mut()
            .find(|(sc, _, _)| *sc == item.source_code)
        {
            Some(entry) => entry.1 = entry.1.saturating_add(1),
            None => refused.push((&item.source_code, 1, p.clone())),
        }
    }

    /// How often items of `source` were refused alone, while none landed.
    fn strikes(&self, source: &str) -> u8 {
        if self.has_landed(source) {
            return 0;
        }
        self.refused
            .borrow()
            .iter()
            .find(|(sc, _, _)| *sc == source)
            .map_or(0, |(_, n, _)| *n)
    }

    /// The problem for an item of a source taken as unknown.
    fn unknown(&self, source: &str) -> Option<Problem> {
        if self.strikes(source) < 2 {
            return None;
        }
        let refused = self.refused.borrow();
        let (_, _, p) = refused.iter().find(|(sc, _, _)| *sc == source)?;
        let mut p = p.clone();
        p.detail = "not sent: ACCS refused two items of this source_code alone in this sync (Magento's answer to a source that does not exist)".into();
        Some(p)
    }
}

fn is_unknown_source(p: &Problem) -> bool {
    refused_as_a_whole(p)
        && p.upstream
            .as_deref()
            .and_then(|u| u.get("message"))
            .and_then(Value::as_str)
            == Some(UNKNOWN_SOURCE)
}

/// One batch (`body` is its encoding): sent whole, and on a 400/413 split in
/// halves (depth first, so the good half of a split lands before the bad one
/// is split further). A refused group that names a single source not known
/// to exist sends one item alone first, so a source ACCS does not know is
/// found in two calls instead of a split down to every item; items of a
/// source taken as unknown ([`Sources`]) are not sent again.
async fn send_batch<'i, 's, P: Ports>(
    ctx: &Ctx<'_, P>,
    items: &'s [Item<'_>],
    chunk: &'i [usize],
    body: Vec<u8>,
    splits: &Cell<usize>,
    sources: &Sources<'s>,
) -> Parts<'i> {
    let mut out: Parts<'i> = Vec::new();
    let mut whole = Some(body);
    let mut stack: Vec<(Cow<'i, [usize]>, bool)> = vec![(Cow::Borrowed(chunk), false)];
    while let Some((mut group, split)) = stack.pop() {
        if !sources.refused.borrow().is_empty() {
            let (skip, keep): (Vec<usize>, Vec<usize>) = group
                .iter()
                .partition(|&&i| sources.unknown(&items[i].source_code).is_some());
            for i in skip {
                let p = sources.unknown(&items[i].source_code);
                out.extend(p.map(|p| (Cow::Owned(vec![i]), Err(p))));
            }
            if keep.len() < group.len() {
                whole = None;
                group = Cow::Owned(keep);
            }
            if group.is_empty() {
                continue;
            }
        }
        let single = single_source(items, &group);
        // A source already refused once alone: its next item goes alone too,
        // before the whole group.
        if group.len() > 1
            && single.is_some_and(|sc| sources.strikes(sc) == 1)
            && splits.get() + 2 <= MAX_SPLIT_CALLS
        {
            let (a, b) = split_cow(group, 1);
            stack.push((b, true));
            stack.push((a, true));
            whole = None;
            continue;
        }
        if split {
            splits.set(splits.get() + 1);
        }
        let body = whole.take().unwrap_or_else(|| batch_body(items, &group));
        let call = Call::post("/V1/inventory/source-items".to_owned(), body);
        match ctx.call(&call).await {
            Err(p)
                if refused_as_a_whole(&p)
                    && group.len() > 1
                    && splits.get() + 2 <= MAX_SPLIT_CALLS =>
            {
                // One source refused as a whole: one of its items alone
                // says whether it is the source; else halves.
                let at =
                    if is_unknown_source(&p) && single.is_some_and(|sc| !sources.has_landed(sc)) {
                        1
                    } else {
                        group.len() / 2
                    };
                let (a, b) = split_cow(group, at);
                stack.push((b, true));
                stack.push((a, true));
            }
            Err(p) => {
                if group.len() == 1 {
                    sources.refused_alone(&items[group[0]], &p);
                }
                out.push((group, Err(p)));
            }
            Ok(_) => {
                sources.landed(items, &group);
                out.push((group, Ok(())));
            }
        }
    }
    out
}

/// The source code every item of `group` names, if they all name one.
fn single_source<'s>(items: &'s [Item<'_>], group: &[usize]) -> Option<&'s str> {
    let first: &'s str = &items[*group.first()?].source_code;
    group
        .iter()
        .all(|&i| items[i].source_code == first)
        .then_some(first)
}

/// `group` cut at `at`, borrowing where it was borrowed.
fn split_cow(group: Cow<'_, [usize]>, at: usize) -> (Cow<'_, [usize]>, Cow<'_, [usize]>) {
    match group {
        Cow::Borrowed(g) => {
            let (a, b) = g.split_at(at);
            (Cow::Borrowed(a), Cow::Borrowed(b))
        }
        Cow::Owned(g) => {
            let (a, b) = g.split_at(at);
            (Cow::Owned(a.to_vec()), Cow::Owned(b.to_vec()))
        }
    }
}

/// ACCS refused the batch's content (Magento's all-or-nothing 400, or a 413
/// for its size): smaller parts may pass.
fn refused_as_a_whole(p: &Problem) -> bool {
    p.code == crate::problem::Code::AccsError && matches!(p.status, 400 | 413)
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

/// 200 when every item landed (or was superseded), 207 when some did, and
/// when none did the first failure's status (with `Retry-After` where ACCS
/// gave one), so a sender that retries on 429/5xx does the right thing;
/// but ACCS's 400/413 is 422 with the report: our 400 and 413 keep meaning
/// "nothing was sent".
pub fn respond(outcome: Outcome<'_>) -> InResponse {
    let status = match (&outcome.first_problem, outcome.ok()) {
        (None, _) => 200,
        (Some(_), n) if n > 0 => 207,
        (Some(p), _) if refused_as_a_whole(p) => 422,
        (Some(p), _) => p.status,
    };
    report(outcome, status)
}

#[derive(Debug, PartialEq, Serialize)]
struct Summary {
    items: usize,
    ok: usize,
    failed: usize,
    failed_batches: usize,
    #[serde(skip_serializing_if = "is_zero")]
    superseded: usize,
    #[serde(skip_serializing_if = "is_zero")]
    split_calls: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    fn of(outcome: &Outcome<'_>) -> Self {
        let (items, ok, superseded) = (outcome.results.len(), outcome.ok(), outcome.superseded());
        Summary {
            items,
            ok,
            failed: items - ok - superseded,
            failed_batches: outcome.errors.len(),
            superseded,
            split_calls: outcome.split_calls,
        }
    }
}

/// `{"summary":…,"results":[`, in a buffer of `capacity` bytes.
fn open_report(summary: &Summary, capacity: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(capacity);
    body.extend_from_slice(br#"{"summary":"#);
    let _ = serde_json::to_writer(&mut body, summary);
    body.extend_from_slice(br#","results":["#);
    body
}

/// The JSON report with `status`, and `Retry-After` where ACCS asked for one:
/// `{"summary":…,"results":[…],"errors":[…]}`. Where [`sync`] wrote it
/// ahead, its text is taken as it is (or its results, when the summary came
/// out otherwise); else the results are written here ([`put_result`]:
/// serde's bytes, a fraction of its calls).
pub fn report(mut outcome: Outcome<'_>, status: u16) -> InResponse {
    let summary = Summary::of(&outcome);
    let written = outcome
        .written
        .take()
        .filter(|w| w.count == outcome.results.len());
    let mut body = match written {
        Some(w) if w.summary == summary => w.body,
        Some(w) => {
            let mut body = open_report(&summary, w.body.len() + 256);
            body.extend_from_slice(&w.body[w.results_at..]);
            body
        }
        None => {
            let size = 256
                + outcome
                    .results
                    .iter()
                    .map(|r| {
                        96 + r.sku.len()
                            + r.source_code.as_ref().map_or(0, |s| s.len())
                            + r.reason.as_ref().map_or(0, String::len)
                    })
                    .sum::<usize>();
            let mut body = open_report(&summary, size);
            for (n, r) in outcome.results.iter().enumerate() {
                if n > 0 {
                    body.push(b',');
                }
                put_result(&mut body, r);
            }
            body
        }
    };
    body.extend_from_slice(br#"],"errors":"#);
    let _ = serde_json::to_writer(&mut body, &outcome.errors);
    body.push(b'}');
    let mut resp = json(status, body);
    if let Some(s) = outcome.retry_after.filter(|_| status != 200) {
        resp.headers.push(("retry-after", s.to_string()));
    }
    resp
}

/// `r` as serde_json writes it (`#[derive(Serialize)]` on [`ItemResult`]):
/// members in declaration order, `None`s left out, no whitespace.
fn put_result(buf: &mut Vec<u8>, r: &ItemResult<'_>) {
    buf.extend_from_slice(br#"{"index":"#);
    put_uint(buf, r.index);
    buf.extend_from_slice(br#","sku":"#);
    put_str(buf, &r.sku);
    if let Some(sc) = &r.source_code {
        buf.extend_from_slice(br#","source_code":"#);
        put_str(buf, sc);
    }
    buf.extend_from_slice(br#","result":"#);
    put_str(buf, r.result);
    if let Some(batch) = r.batch {
        buf.extend_from_slice(br#","batch":"#);
        put_uint(buf, batch);
    }
    if let Some(error) = r.error {
        buf.extend_from_slice(br#","error":"#);
        put_str(buf, error);
    }
    if let Some(reason) = &r.reason {
        buf.extend_from_slice(br#","reason":"#);
        put_str(buf, reason);
    }
    if let Some(by) = r.superseded_by {
        buf.extend_from_slice(br#","superseded_by":"#);
        put_uint(buf, by);
    }
    buf.push(b'}');
}

pub async fn post<P: Ports>(ctx: &Ctx<'_, P>, body: &[u8]) -> Result<InResponse, Problem> {
    let items = validate(body)?;
    let outcome = sync(ctx, &items, &[]).await;
    let (sent, landed) = outcome.counts();
    ctx.trace.items(sent, landed);
    Ok(respond(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item<'a>(sku: &'a str, source: &'a str, q: u32) -> Item<'a> {
        Item {
            sku: sku.into(),
            source_code: source.into(),
            quantity: q.into(),
            status: 1,
        }
    }

    #[test]
    fn the_last_entry_of_a_key_wins_and_the_earlier_are_superseded() {
        let items = [
            item("A", "default", 1),
            item("B", "default", 2),
            item("A", "wh-1", 3),
            item("A", "default", 4),
            item("B", "default", 5),
            item("A", "default", 6),
        ];
        let (send, superseded) = last_wins(&items);
        assert_eq!(send, [2, 4, 5]);
        assert_eq!(superseded, [(0, 5), (1, 4), (3, 5)]);
        // Distinct keys, in key order or not.
        let (send, superseded) = last_wins(&items[3..5]);
        assert_eq!((send, superseded), (vec![0, 1], vec![]));
        let (send, superseded) = last_wins(&[items[4].clone(), items[2].clone()]);
        assert_eq!((send, superseded), (vec![0, 1], vec![]));
        // In key order but for one repeat.
        let sorted = [item("A", "a", 1), item("A", "b", 2), item("A", "b", 3)];
        assert_eq!(last_wins(&sorted), (vec![0, 2], vec![(1, 2)]));
    }

    /// ACCS as Magento: a batch naming a source other than `default` and
    /// `wh-1` fails whole with "Could not save Source Item", else lands.
    /// Counts the calls and records which (sku, source) landed.
    fn magento_accs(
        calls: std::rc::Rc<Cell<usize>>,
        landed: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    ) -> impl Fn(&crate::ports::OutRequest) -> Result<crate::ports::OutResponse, crate::ports::SendError>
    {
        move |req| {
            calls.set(calls.get() + 1);
            let v: Value = serde_json::from_slice(&req.body).unwrap();
            let list = v["sourceItems"].as_array().unwrap();
            if list
                .iter()
                .any(|i| !matches!(i["source_code"].as_str(), Some("default" | "wh-1")))
            {
                return crate::testing::respond(400, r#"{"message":"Could not save Source Item"}"#);
            }
            landed
                .borrow_mut()
                .extend(list.iter().map(|i| i["sku"].as_str().unwrap().to_owned()));
            crate::testing::respond(200, "[]")
        }
    }

    fn skus(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("SKU-{i:05}")).collect()
    }

    /// Issue 22 (review): a 10,000-item sync where every item names a
    /// source ACCS does not know: splitting each refused batch down to its
    /// items spent about two calls per item of the tenant's rate limit; now
    /// two items refused alone settle it, at most 25 calls in all, and every
    /// item fails with ACCS's reason.
    #[test]
    fn a_sync_naming_only_an_unknown_source_costs_at_most_25_calls() {
        let names = skus(10_000);
        let items: Vec<Item> = names.iter().map(|s| item(s, "nowhere", 1)).collect();
        let calls = std::rc::Rc::new(Cell::new(0));
        let landed = std::rc::Rc::default();
        let outcome = with_sync_ctx(&[], magento_accs(calls.clone(), landed), |ctx| {
            futures::executor::block_on(sync(ctx, &items, &[]))
        });
        assert!(calls.get() <= 25, "{} ACCS calls", calls.get());
        assert_eq!(outcome.ok(), 0);
        assert!(
            outcome.results.iter().all(|r| r.result == "failed"
                && r.reason.as_deref() == Some("Could not save Source Item"))
        );
        assert_eq!(respond(outcome).status, 422);
    }

    /// One unknown source among good ones: exactly its items fail (each
    /// with ACCS's reason), every other item lands once, and once two of
    /// them were refused alone the rest are not sent.
    #[test]
    fn one_unknown_source_among_good_ones_isolates_exactly_its_items() {
        let names = skus(2_000);
        let bad: Vec<usize> = (0..2_000).filter(|i| i % 97 == 5).collect();
        let items: Vec<Item> = names
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let source = if bad.contains(&i) {
                    "nowhere"
                } else if i % 2 == 0 {
                    "default"
                } else {
                    "wh-1"
                };
                item(s, source, 1)
            })
            .collect();
        let calls = std::rc::Rc::new(Cell::new(0));
        let landed: std::rc::Rc<std::cell::RefCell<Vec<String>>> = std::rc::Rc::default();
        let outcome = with_sync_ctx(&[], magento_accs(calls.clone(), landed.clone()), |ctx| {
            futures::executor::block_on(sync(ctx, &items, &[]))
        });
        let failed: Vec<usize> = outcome
            .results
            .iter()
            .filter(|r| r.result == "failed")
            .map(|r| r.index)
            .collect();
        assert_eq!(failed, bad);
        let mut got = landed.borrow().clone();
        got.sort();
        let want: Vec<String> = (0..2_000)
            .filter(|i| !bad.contains(i))
            .map(|i| names[i].clone())
            .collect();
        assert_eq!(got, want, "every good item once");
        assert!(
            outcome
                .results
                .iter()
                .filter(|r| r.result == "failed")
                .all(|r| r.reason.as_deref() == Some("Could not save Source Item"))
        );
        // Splitting each of the 21 bad items out alone costs about 18
        // calls apiece (over 350); two strikes end it far sooner.
        assert!(calls.get() < 120, "{} ACCS calls", calls.get());
    }

    /// Items whose text needs escaping or is not ASCII, and quantities
    /// serde_json writes in each of its ways.
    fn awkward_items() -> Vec<Item<'static>> {
        let q = |v: Value| match v {
            Value::Number(n) => n,
            _ => unreachable!(),
        };
        let mut items = vec![
            item("A", "default", 0),
            item("quote\"back\\slash", "t\u{7f}ab", 7),
            item("ünï/çødé ✓", "wh-1", 4_000_000),
            item("line\u{2028}sep", "x\u{1}y", 1),
        ];
        items[0].quantity = q(serde_json::json!(2.5));
        items[1].quantity = q(serde_json::json!(1e300));
        items[2].quantity = q(serde_json::json!(u64::MAX));
        items[3].status = 0;
        items
    }

    #[test]
    fn batch_bodies_are_what_serializing_through_a_value_gave() {
        let items = awkward_items();
        for group in [&[0usize][..], &[0, 1, 2, 3], &[3, 1]] {
            let before = serde_json::to_vec(&serde_json::json!({
                "sourceItems": group.iter().map(|&i| &items[i]).collect::<Vec<_>>()
            }))
            .unwrap();
            assert_eq!(
                String::from_utf8(batch_body(&items, group)).unwrap(),
                String::from_utf8(before).unwrap()
            );
        }
    }

    #[test]
    fn the_report_is_what_serde_wrote() {
        #[derive(Serialize)]
        struct Summary {
            items: usize,
            ok: usize,
            failed: usize,
            failed_batches: usize,
            #[serde(skip_serializing_if = "is_zero")]
            superseded: usize,
            #[serde(skip_serializing_if = "is_zero")]
            split_calls: usize,
        }
        fn is_zero(n: &usize) -> bool {
            *n == 0
        }
        #[derive(Serialize)]
        struct Report<'a> {
            summary: Summary,
            results: &'a [ItemResult<'a>],
            errors: &'a [BatchError],
        }
        let items = awkward_items();
        let refused = Problem::new(crate::problem::Code::AccsError, "refused \"x\"")
            .with_upstream(serde_json::json!({"message": "Bad %1\n", "parameters": ["sku\u{0}"]}));
        let mut outcome = Outcome::default();
        for (index, item) in items.iter().enumerate() {
            let (sku, sc) = (item.sku.clone(), Some(item.source_code.clone()));
            outcome.results.push(match index {
                0 => ItemResult::ok(index, sku, sc, Some(0)),
                1 => ItemResult::failed(index, sku, sc, Some(12_345), &refused),
                2 => ItemResult {
                    result: "superseded",
                    superseded_by: Some(3),
                    reason: Some("a later entry (index 3) sets this sku and source_code".into()),
                    ..ItemResult::ok(index, sku, sc, None)
                },
                _ => ItemResult::ok(index, sku, None, None),
            });
        }
        outcome.fail(Some(12_345), None, refused);
        outcome.split_calls = 3;
        let (n, ok, superseded) = (outcome.results.len(), outcome.ok(), outcome.superseded());
        let before = serde_json::to_vec(&Report {
            summary: Summary {
                items: n,
                ok,
                failed: n - ok - superseded,
                failed_batches: outcome.errors.len(),
                superseded,
                split_calls: outcome.split_calls,
            },
            results: &outcome.results,
            errors: &outcome.errors,
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(report(outcome, 207).body).unwrap(),
            String::from_utf8(before).unwrap()
        );
    }

    #[test]
    fn accs_messages_get_their_parameters() {
        let p = |up: Value| Problem::new(crate::problem::Code::AccsError, "x").with_upstream(up);
        let m = upstream_message(&p(
            serde_json::json!({"message": "Source %1 of %2.", "parameters": ["s", 7]}),
        ));
        assert_eq!(m.as_deref(), Some("Source s of 7."));
        let m = upstream_message(&p(
            serde_json::json!({"message": "\"%field\" is bad.", "parameters": {"field": "sku"}}),
        ));
        assert_eq!(m.as_deref(), Some("\"sku\" is bad."));
        let m = upstream_message(&p(
            serde_json::json!({"message": "Could not save Source Item"}),
        ));
        assert_eq!(m.as_deref(), Some("Could not save Source Item"));
    }

    /// Issue 22 (review): one pass over the original text, as Magento's
    /// `strtr`: a value is never substituted again, the longest placeholder
    /// wins, and input and output are capped. Replacing placeholder after
    /// placeholder made this message 8 GB (a 500 after 12 to 17 s).
    #[test]
    fn placeholders_are_filled_in_one_bounded_pass() {
        let p = |up: Value| Problem::new(crate::problem::Code::AccsError, "x").with_upstream(up);
        let started = std::time::Instant::now();
        let bomb = serde_json::json!({
            "message": "%3",
            "parameters": ["x".repeat(2000), "%1".repeat(2000), "%2".repeat(2000)],
        });
        let m = upstream_message(&p(bomb)).unwrap();
        assert_eq!(m, "%2".repeat(250), "the value as written, capped");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let params: Vec<String> = (1..=10).map(|i| format!("p{i}")).collect();
        let m = upstream_message(&p(serde_json::json!({
            "message": "%10 %1 %% %11 100%", "parameters": params,
        })));
        // `%11` with ten parameters is `%1` then `1`, as strtr reads it.
        assert_eq!(m.as_deref(), Some("p10 p1 %% p11 100%"));
        let m = upstream_message(&p(serde_json::json!({
            "message": "%field and %fieldName", "parameters": {"field": "%fieldName", "fieldName": "sku"},
        })));
        assert_eq!(m.as_deref(), Some("%fieldName and sku"));
        let m = upstream_message(&p(serde_json::json!({
            "message": "ü%1ü", "parameters": [{"a": [1, 2]}],
        })));
        assert_eq!(m.as_deref(), Some(r#"ü{"a":[1,2]}ü"#));
        let long =
            upstream_message(&p(serde_json::json!({"message": "é".repeat(10_000)}))).unwrap();
        assert_eq!(long.chars().count(), 500);
    }

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
            br#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":0,"status":0}],"x":1}"#,
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

/// Runs `f` with the context of a request to the sync route, under the
/// test settings with `extra` over them, on fake ports that give IMS a token
/// and ACCS to `accs`.
#[cfg(test)]
fn with_sync_ctx<R>(
    extra: &[(&'static str, &str)],
    accs: impl Fn(
        &crate::ports::OutRequest,
    ) -> Result<crate::ports::OutResponse, crate::ports::SendError>
    + 'static,
    f: impl FnOnce(&Ctx<'_, crate::testing::FakePorts>) -> R,
) -> R {
    use crate::testing::{FakePorts, respond, settings};
    let settings = settings(extra).unwrap();
    let tokens = crate::ims::Tokens::new(&settings);
    let ports = FakePorts::new(move |req, _| {
        if req.url.contains("/ims/") {
            respond(200, r#"{"access_token":"t","expires_in":86399}"#)
        } else {
            accs(req)
        }
    });
    let trace = crate::trace::Trace::new("r".into());
    let ctx = Ctx::new(
        &settings,
        &ports,
        &tokens,
        &trace,
        "/v1/inventory/source-items",
        ports.now_ms(),
    );
    f(&ctx)
}

#[cfg(test)]
mod written {
    //! The report of a sync, written while its batches were in flight, is
    //! the one written from its results at the end.
    use super::*;
    use crate::testing::respond;
    use futures::executor::block_on;

    #[test]
    fn a_sync_reports_what_its_results_say() {
        // Superseded entries, entries landed before, batches of several
        // sizes, answers in any order; the same with a refused batch split
        // down to its bad item; and with every batch of 8 refused as too
        // large, all of whose halves land.
        for (bad, most) in [(None, 8), (Some(13), 8), (None, 4)] {
            let body = body_of(57, bad);
            let outcome = sync_of(&body, most);
            assert_eq!(outcome.written.is_some(), bad.is_none());
            assert_eq!(outcome.superseded(), 1);
            assert_eq!(outcome.split_calls > 0, bad.is_some() || most < 8);
            // In item order, each as the batch it went in says.
            let mut sent = 0;
            for (index, r) in outcome.results.iter().enumerate() {
                assert_eq!(r.index, index);
                let expected = match index {
                    20 => ("superseded", None),
                    3 | 4 => ("ok", None),
                    _ if Some(index) == bad => ("failed", Some(sent / 8)),
                    _ => ("ok", Some(sent / 8)),
                };
                assert_eq!((r.result, r.batch), expected, "{index}");
                if r.batch.is_some() {
                    sent += 1;
                }
            }
            let mut again = sync_of(&body, most);
            again.written = None;
            assert_eq!(respond_with(outcome), respond_with(again));
        }
    }

    /// `n` items, `DUP` at 20 and 41, `BAD-…` at `bad`.
    fn body_of(n: usize, bad: Option<usize>) -> String {
        let items: Vec<String> = (0..n)
            .map(|i| {
                let sku = match i {
                    20 | 41 => "DUP".to_owned(),
                    _ if Some(i) == bad => format!("BAD-{i}"),
                    _ => format!("S\"{i}"),
                };
                format!(
                    r#"{{"sku":{},"source_code":"default","quantity":{i},"status":1}}"#,
                    serde_json::to_string(&sku).unwrap()
                )
            })
            .collect();
        format!(r#"{{"sourceItems":[{}]}}"#, items.join(","))
    }

    /// A sync of `body` (3 and 4 landed before) in batches of 8, 3 at a
    /// time; ACCS refuses any batch holding a `BAD-` SKU, and any of more
    /// than `most` items as too large.
    fn sync_of(body: &str, most: usize) -> Outcome<'_> {
        let items = validate(body.as_bytes()).unwrap();
        let accs = move |req: &crate::ports::OutRequest| {
            if String::from_utf8_lossy(&req.body).contains("BAD-") {
                respond(400, r#"{"message":"Invalid %1","parameters":["sku"]}"#)
            } else if String::from_utf8_lossy(&req.body)
                .matches("quantity")
                .count()
                > most
            {
                respond(413, r#"{"message":"Request Entity Too Large"}"#)
            } else {
                respond(200, "[]")
            }
        };
        let batches = [("sync_batch_size", "8"), ("sync_concurrency", "3")];
        with_sync_ctx(&batches, accs, |ctx| block_on(sync(ctx, &items, &[3, 4])))
    }

    fn respond_with(outcome: Outcome<'_>) -> (u16, String) {
        let resp = super::respond(outcome);
        (resp.status, String::from_utf8(resp.body).unwrap())
    }
}

#[cfg(test)]
mod cost {
    //! Not a timed test: prints the CPU cost of a 10,000-item sync's own work
    //! (run with `--ignored --nocapture`), for docs/BENCHMARKS.md.
    use super::*;
    use crate::testing::respond;
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
        let runs = 20;
        let took = with_sync_ctx(
            &[],
            |_| respond(200, "[]"),
            |ctx| {
                let t = std::time::Instant::now();
                for _ in 0..runs {
                    let resp = block_on(post(ctx, body.as_bytes())).unwrap();
                    assert_eq!(resp.status, 200);
                }
                t.elapsed()
            },
        );
        eprintln!(
            "sync of {MAX_ITEMS} items, own CPU: {:.1} ms per request",
            took.as_secs_f64() * 1000.0 / runs as f64
        );
    }
}
