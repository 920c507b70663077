//! What a sync came to: one result per entry, the failed calls, and the
//! report as far as it was written ahead.

use super::message::upstream_message;
use crate::problem::Problem;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;

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
    /// The report as [`super::sync`] wrote it while its batches were in flight,
    /// for every batch landing, so that [`super::report`] has nothing left to
    /// write; `None` where a result was corrected after it was written. Set
    /// on an outcome whose results nothing changes afterwards.
    pub(super) written: Option<Written>,
}

/// A report written ahead: `body` is `{"summary":` `summary`
/// `,"results":[`, then from `results_at` the JSON of `count` results
/// ([`super::report::put_result`]), comma-separated.
#[derive(Debug)]
pub(super) struct Written {
    pub(super) body: Vec<u8>,
    pub(super) results_at: usize,
    pub(super) summary: Summary,
    pub(super) count: usize,
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

/// A batch's outcome: each group of item indexes and what ACCS said of it.
pub(super) type Parts<'i> = Vec<(Cow<'i, [usize]>, Result<(), Problem>)>;

#[derive(Debug, PartialEq, Serialize)]
pub(super) struct Summary {
    pub(super) items: usize,
    pub(super) ok: usize,
    pub(super) failed: usize,
    pub(super) failed_batches: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) superseded: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) split_calls: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    pub(super) fn of(outcome: &Outcome<'_>) -> Self {
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
