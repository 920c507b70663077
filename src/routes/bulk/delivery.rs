//! The bulk path of a products delivery (the products webhook, and I/O
//! Events' `products` action, which reuses it): above `products_bulk_above`
//! products, the delivery goes through ACCS's bulk API like
//! `POST /v1/products/bulk`, and its ledger record keeps the bulks ACCS
//! accepted, so a repeat answers the same bulk ids without sending anything
//! and a retry after a partial failure sends only the products no accepted
//! bulk holds.

use super::report::report;
use super::send::{Bulk, Sent, send};
use crate::accs::Ctx;
use crate::config::Settings;
use crate::ports::Ports;
use crate::routes::products::Upsert;
use crate::webhook::ledger::{BulkRef, Record, State};
use crate::wire::InResponse;
use std::ops::Range;

/// Whether a delivery of `count` products takes the bulk path: it did
/// before (its record holds bulks), or it is above `products_bulk_above`
/// and no product of it landed one by one in an earlier delivery (a delivery
/// never mixes the two paths).
pub fn takes_bulk(settings: &Settings, count: usize, landed: &[usize], prior: &[BulkRef]) -> bool {
    !prior.is_empty()
        || (landed.is_empty() && settings.products_bulk_above.is_some_and(|n| count > n))
}

/// What a bulk delivery came to: the products, every bulk accepted for
/// them (earlier deliveries' included), and how many products ACCS
/// accepted in this one.
pub struct Delivered {
    pub list: Vec<Upsert>,
    pub sent: Sent,
    pub accepted_now: usize,
}

/// Sends the products of `list` no bulk of `prior` holds.
pub async fn sync<P: Ports>(ctx: &Ctx<'_, P>, list: Vec<Upsert>, prior: &[BulkRef]) -> Delivered {
    let prior: Vec<Bulk> = prior
        .iter()
        .filter(|b| b.first.saturating_add(b.count) <= list.len())
        .map(|b| Bulk {
            uuid: b.uuid.clone(),
            first: b.first,
            count: b.count,
            from: b.from,
        })
        .collect();
    let runs = gaps(&prior, list.len());
    let mut sent = send(ctx, &list, &runs).await;
    let accepted_now = sent.accepted();
    sent.bulks.extend(prior);
    sent.bulks.sort_by_key(|b| b.first);
    Delivered {
        list,
        sent,
        accepted_now,
    }
}

/// The runs of `0..n` that no bulk holds, ascending.
fn gaps(bulks: &[Bulk], n: usize) -> Vec<Range<usize>> {
    let mut sorted: Vec<&Bulk> = bulks.iter().collect();
    sorted.sort_by_key(|b| b.first);
    let mut out = Vec::new();
    let mut at = 0;
    for b in sorted {
        if b.first > at {
            out.push(at..b.first.min(n));
        }
        at = at.max(b.first + b.count);
    }
    if at < n {
        out.push(at..n);
    }
    out.retain(|r| !r.is_empty());
    out
}

/// The answer (every product listed, accepted ones with their bulk) and the
/// record: done at 202, else partial, holding the bulks either way.
/// `done` builds a finished record as the webhooks do; `before` is what had
/// landed before this delivery (none on the bulk path).
pub fn finish(
    delivered: Delivered,
    done: impl FnOnce(u16, Option<String>) -> Record,
    summary_of: impl Fn(&[u8]) -> Option<String>,
) -> (InResponse, Record) {
    let Delivered { list, sent, .. } = delivered;
    let bulks: Vec<BulkRef> = sent
        .bulks
        .iter()
        .map(|b| BulkRef {
            uuid: b.uuid.clone(),
            first: b.first,
            count: b.count,
            from: b.from,
        })
        .collect();
    let resp = report(sent, &list, true);
    let mut record = done(resp.status, summary_of(&resp.body));
    if resp.status != 202 {
        record.state = State::Partial;
        let mut landed: Vec<usize> = bulks
            .iter()
            .flat_map(|b| b.first..b.first + b.count)
            .collect();
        landed.sort_unstable();
        landed.dedup();
        record.landed = landed;
    }
    record.bulks = bulks;
    (resp, record)
}

/// The answer of a finished bulk delivery again, from its record's bulks
/// and the identical body's products: nothing is sent.
pub fn replay(list: &[Upsert], status: u16, bulks: &[BulkRef]) -> InResponse {
    let sent = Sent {
        bulks: bulks
            .iter()
            .map(|b| Bulk {
                uuid: b.uuid.clone(),
                first: b.first,
                count: b.count,
                from: b.from,
            })
            .collect(),
        ..Sent::default()
    };
    let mut resp = report(sent, list, true);
    resp.status = status;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(first: usize, count: usize) -> Bulk {
        Bulk {
            uuid: "u".into(),
            first,
            count,
            from: 0,
        }
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn gaps_are_the_runs_no_bulk_holds() {
        assert_eq!(gaps(&[], 5), [0..5]);
        assert_eq!(gaps(&[b(0, 5)], 5), Vec::<Range<usize>>::new());
        assert_eq!(gaps(&[b(3, 2), b(0, 1)], 8), [1..3, 5..8]);
        assert_eq!(gaps(&[b(0, 2), b(2, 2)], 6), [4..6]);
    }
}
