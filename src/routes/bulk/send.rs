//! Products sent to ACCS's bulk route in chunks of `bulk_chunk_size`,
//! `sync_concurrency` chunks at a time, and a chunk ACCS refuses split until
//! the products it refuses stand alone.
//!
//! Magento's asynchronous route resolves every item of a request before it
//! schedules any (`Magento\WebapiAsync\Controller\Rest\Asynchronous\InputParamsResolver::resolve`
//! converts each entity, and only then does `MassSchedule::publishMass` run),
//! so one product it cannot read refuses the whole request with 400, as
//! does a request over the store's "Maximum Entities per Bulk Request"
//! (AdobeDocs/commerce-webapi `src/pages/rest/use-rest/bulk-endpoints.md`).
//! Halves of a refused chunk are sent again, as the inventory sync splits a
//! refused batch (`routes/inventory/send.rs`), so a good product is never
//! failed because of a neighbour, within [`MAX_SPLIT_CALLS`] extra calls.
//! A chunk refused for Magento's input limit ("Maximum items of type ... is
//! %max", [`limits`]) is cut at `max` instead, as is every chunk not yet
//! sent, and the limit is remembered for the deployment, so the next request
//! chunks at `max` from the start.

use crate::accs::bulk;
use crate::accs::limits::{self, Kind};
use crate::accs::{Call, Ctx};
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::routes::inventory::{MAX_SPLIT_CALLS, bounded, refused_as_a_whole};
use crate::routes::products::Upsert;
use std::cell::Cell;
use std::ops::Range;

/// One bulk ACCS accepted: its uuid and the products it holds, the request's
/// `first..first + count` (a chunk is always a run of consecutive products),
/// and `from`, the position of `first`'s operation in the bulk. A chunk
/// whose products ACCS partly rejected (`accs::bulk::accepted`) is one bulk
/// holding several runs, one `Bulk` each: the later ones start past 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bulk {
    pub uuid: String,
    pub first: usize,
    pub count: usize,
    pub from: usize,
}

/// Products ACCS did not accept: the run, the chunk it was part of, and why.
#[derive(Debug)]
pub struct Refused {
    pub items: Range<usize>,
    pub chunk: usize,
    pub problem: Problem,
}

/// What sending came to: accepted bulks and refused runs, each ascending.
#[derive(Debug, Default)]
pub struct Sent {
    pub bulks: Vec<Bulk>,
    pub refused: Vec<Refused>,
    /// Extra calls spent splitting refused chunks.
    pub split_calls: usize,
    /// Products sent by this request.
    pub sent: usize,
}

impl Sent {
    pub fn accepted(&self) -> usize {
        self.bulks.iter().map(|b| b.count).sum()
    }
}

/// The chunks of `runs` (ascending, disjoint ranges of `list`'s indexes):
/// each run cut into `size` products at most, so no chunk spans a gap and
/// every bulk is a run of consecutive products.
pub fn chunks(runs: &[Range<usize>], size: usize) -> Vec<Range<usize>> {
    let size = size.max(1);
    let mut out = Vec::new();
    for run in runs {
        let mut at = run.start;
        while at < run.end {
            let end = (at + size).min(run.end);
            out.push(at..end);
            at = end;
        }
    }
    out
}

/// Sends the products of `runs` in chunks, all within the request's budget:
/// of `bulk_chunk_size`, or the input limit learned for this deployment
/// (one `get`; a `set` only when this request learned one).
pub async fn send<P: Ports>(ctx: &Ctx<'_, P>, list: &[Upsert], runs: &[Range<usize>]) -> Sent {
    let known = limits::learned(ctx, Kind::BulkProducts).await;
    let size = ctx
        .settings
        .bulk_chunk_size
        .min(known.unwrap_or(usize::MAX));
    let planned = chunks(runs, size);
    let splits = Cell::new(0usize);
    let input_limit = Cell::new(known);
    let (splits, input_limit) = (&splits, &input_limit);
    let calls = planned
        .iter()
        .enumerate()
        .map(|(chunk, range)| send_chunk(ctx, list, chunk, range.clone(), splits, input_limit));
    let mut sent = Sent {
        sent: planned.iter().map(|r| r.len()).sum(),
        ..Sent::default()
    };
    for parts in bounded(ctx, calls).await {
        for (items, chunk, result) in parts {
            match result {
                Ok((uuid, from)) => sent.bulks.push(Bulk {
                    uuid,
                    first: items.start,
                    count: items.len(),
                    from,
                }),
                Err(problem) => sent.refused.push(Refused {
                    items,
                    chunk,
                    problem,
                }),
            }
        }
    }
    sent.bulks.sort_by_key(|b| b.first);
    sent.refused.sort_by_key(|r| r.items.start);
    sent.split_calls = splits.get();
    // The products ACCS accepted, for echoes (webhook deliveries: no writer).
    let writer = ctx.trace.key.borrow().clone();
    let accepted =
        (sent.bulks.iter()).flat_map(|b| list.get(b.first..b.first + b.count).unwrap_or(&[]));
    let accepted = accepted.map(|(sku, product)| (sku.as_str(), product));
    crate::echo::note_products(ctx.ports, ctx.settings, writer.as_deref(), accepted).await;
    if let Some(max) = input_limit.get().filter(|_| input_limit.get() != known) {
        limits::learn(ctx, Kind::BulkProducts, max).await;
    }
    sent
}

/// A run of products, its chunk, and the bulk (uuid, `from`) ACCS put it in
/// or why it did not.
type Part = (Range<usize>, usize, Result<(String, usize), Problem>);

/// One chunk: sent whole, and on a 400/413 split in halves, depth first
/// (the good half is accepted before the bad one is split further). Runs
/// longer than the input limit are cut at it without a call (the plan's
/// calls, not splits).
async fn send_chunk<P: Ports>(
    ctx: &Ctx<'_, P>,
    list: &[Upsert],
    chunk: usize,
    range: Range<usize>,
    splits: &Cell<usize>,
    input_limit: &Cell<Option<usize>>,
) -> Vec<Part> {
    let mut out = Vec::new();
    let mut stack = vec![range];
    while let Some(items) = stack.pop() {
        if let Some(max) = input_limit.get().filter(|&max| items.len() > max) {
            let runs = chunks(std::slice::from_ref(&items), max);
            stack.extend(runs.into_iter().rev());
            continue;
        }
        let body = bulk::request_body(list[items.clone()].iter().map(|(_, p)| p));
        let call = Call::post(bulk::PRODUCTS.to_owned(), body);
        match ctx.call(&call).await {
            Ok(r) => match bulk::accepted(&r.body, items.len()) {
                Some(accepted) => out.extend(runs_of(items, chunk, accepted)),
                // ACCS may have scheduled it: never sent again, never
                // reported accepted without an id to look it up by.
                None => out.push((items, chunk, Err(no_uuid(r.status)))),
            },
            // Over the input limit: this run and every later one at `max`.
            Err(p) if limits::list_limit(&p).is_some_and(|max| max < items.len()) => {
                let max = limits::list_limit(&p).unwrap_or(1);
                input_limit.set(Some(input_limit.get().map_or(max, |m| m.min(max))));
                // Cut at the limit when it is taken again.
                stack.push(items);
            }
            Err(p)
                if refused_as_a_whole(&p)
                    && items.len() > 1
                    && splits.get() + 2 <= MAX_SPLIT_CALLS =>
            {
                // Counted as planned: chunks splitting at once cannot pass
                // the bound between one's check and its calls.
                splits.set(splits.get() + 2);
                let mid = items.start + items.len() / 2;
                stack.push(mid..items.end);
                stack.push(items.start..mid);
            }
            Err(p) => out.push((items, chunk, Err(p))),
        }
    }
    out
}

/// The parts of a chunk ACCS answered with a bulk: the runs it queued, each
/// with the position of its first operation, and each product it rejected,
/// failed with ACCS's message and never sent again (the others are queued:
/// a resend would queue them twice).
fn runs_of(items: Range<usize>, chunk: usize, accepted: bulk::Accepted) -> Vec<Part> {
    let mut out = Vec::with_capacity(1 + 2 * accepted.rejected.len());
    let (mut at, mut from) = (items.start, 0);
    for (offset, reason) in accepted.rejected {
        let index = items.start + offset;
        if index > at {
            out.push((at..index, chunk, Ok((accepted.uuid.clone(), from))));
            from += index - at;
        }
        let problem = Problem::new(Code::AccsError, reason).with_status(422);
        out.push((index..index + 1, chunk, Err(problem)));
        at = index + 1;
    }
    if at < items.end {
        out.push((at..items.end, chunk, Ok((accepted.uuid, from))));
    }
    out
}

fn no_uuid(status: u16) -> Problem {
    Problem::new(
        Code::AccsUnavailable,
        format!(
            "ACCS answered {status} to a bulk request without a bulk_uuid; its products may or may not be scheduled, and are not sent again by this request"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one run is the usual case
    fn chunks_never_span_a_gap() {
        assert_eq!(chunks(&[0..5], 2), [0..2, 2..4, 4..5]);
        assert_eq!(chunks(&[0..3, 5..9], 3), [0..3, 5..8, 8..9]);
        assert_eq!(chunks(&[0..10_000], 500).len(), 20);
        assert_eq!(chunks(&[], 5), Vec::<Range<usize>>::new());
        assert_eq!(chunks(&[0..2], 0), [0..1, 1..2]);
    }

    /// A chunk of products 10..16 whose 2nd and 3rd (12, 13) and last (15)
    /// ACCS rejected: queued runs 10..12 (operations from 0) and 14..15
    /// (from 2), each rejected product failed alone.
    #[test]
    fn a_partly_rejected_chunk_is_runs_and_single_failures() {
        let accepted = bulk::Accepted {
            uuid: "u".into(),
            rejected: vec![(2, "a".into()), (3, "b".into()), (5, "c".into())],
        };
        let parts = runs_of(10..16, 4, accepted);
        let shape: Vec<(Range<usize>, Result<usize, String>)> = parts
            .into_iter()
            .map(|(r, chunk, res)| {
                assert_eq!(chunk, 4);
                (r, res.map(|(_, from)| from).map_err(|p| p.detail))
            })
            .collect();
        assert_eq!(
            shape,
            [
                (10..12, Ok(0)),
                (12..13, Err("a".into())),
                (13..14, Err("b".into())),
                (14..15, Ok(2)),
                (15..16, Err("c".into())),
            ]
        );
        let none = bulk::Accepted {
            uuid: "u".into(),
            rejected: vec![],
        };
        assert_eq!(runs_of(0..3, 0, none).len(), 1);
    }
}
