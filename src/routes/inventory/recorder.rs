//! A sync's results recorded in item order while its batches are in flight,
//! and written as the report's JSON as they come.

use super::batches::{Plan, plan};
use super::item::Item;
use super::outcome::{ItemResult, Outcome, Parts, Summary, Written};
use super::report::{open_report, put_result};
use crate::problem::Problem;

/// The outcome of [`super::sync`] had every batch landed, without sending anything:
/// what a replay of a finished webhook delivery answers. `before` holds the
/// items an earlier delivery had landed (ascending), reported without a
/// batch as [`super::sync`] reports them; the others are numbered in batches of
/// `batch_size` as they were sent.
pub fn all_landed<'a>(items: &[Item<'a>], before: &[usize], batch_size: usize) -> Outcome<'a> {
    let Plan {
        superseded,
        done,
        todo,
    } = plan(items, before);
    let mut results = Recorder::new(items, &superseded, &done, &todo, batch_size.max(1));
    results.expect(items.len());
    results.finish(0)
}

/// Results [`Recorder::expect`] writes between two looks at the calls in
/// flight: a tenth of a millisecond or so in wasm.
pub(super) const EXPECT_AT_ONCE: usize = 500;

/// A sync's results, in item order: first as they will be if every batch
/// lands, each written as JSON at once (see [`Outcome::written`]), then
/// corrected where an answer says otherwise.
pub(super) struct Recorder<'s, 'a> {
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
    pub(super) fn new(
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

    pub(super) fn complete(&self) -> bool {
        self.outcome.results.len() == self.items.len()
    }

    /// The next `n` results (fewer at the end), as they will be if every
    /// batch lands.
    pub(super) fn expect(&mut self, n: usize) {
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
    pub(super) fn answered(&mut self, batch: usize, parts: Parts<'_>) {
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

    pub(super) fn finish(mut self, split_calls: usize) -> Outcome<'a> {
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

#[cfg(test)]
mod tests {
    //! The report of a sync, written while its batches were in flight, is
    //! the one written from its results at the end.
    use super::*;
    use crate::routes::inventory::tests::with_sync_ctx;
    use crate::routes::inventory::{sync, validate};
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
        let resp = crate::routes::inventory::respond(outcome);
        (resp.status, String::from_utf8(resp.body).unwrap())
    }
}
