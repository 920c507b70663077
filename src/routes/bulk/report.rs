//! The answer to a bulk upsert: its status, and the report of what ACCS
//! accepted (bulk by bulk) and what it did not (product by product).
//!
//! Accepted is not landed: ACCS applies an accepted bulk's products later,
//! one operation each, and `GET /v1/bulk/{uuid}` says how each ended.

use super::send::{Bulk, Sent};
use crate::json_write::{put_str, put_uint};
use crate::routes::inventory::{ItemResult, Outcome};
use crate::routes::products::Upsert;
use crate::routes::responses::json;
use crate::wire::InResponse;
use serde::Serialize;

/// When a sender should come back after ACCS throttled or failed without
/// saying when.
const DEFAULT_RETRY_AFTER_S: u64 = 5;

/// 202 when every product was accepted (now or, for a webhook, before);
/// else, as the webhooks answer, 429 or 503 with `Retry-After` while ACCS
/// throttles or fails (a retry may succeed), 422 when ACCS refused products
/// outright. Our 400 keeps meaning "nothing was sent".
pub fn status(sent: &Sent) -> u16 {
    let statuses = || sent.refused.iter().map(|r| r.problem.status);
    if sent.refused.is_empty() {
        202
    } else if statuses().any(|s| s == 429) {
        429
    } else if statuses().any(|s| s >= 500) {
        503
    } else {
        422
    }
}

/// `Retry-After` for `status`, when it asks for one: the longest ACCS asked
/// for, or [`DEFAULT_RETRY_AFTER_S`].
fn retry_after(sent: &Sent, status: u16) -> Option<u64> {
    if !matches!(status, 429 | 503) {
        return None;
    }
    let asked = sent
        .refused
        .iter()
        .filter_map(|r| r.problem.retry_after)
        .max();
    Some(asked.unwrap_or(DEFAULT_RETRY_AFTER_S))
}

#[derive(Serialize)]
struct Summary {
    received: usize,
    accepted: usize,
    failed: usize,
    #[serde(skip_serializing_if = "is_zero")]
    split_calls: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One result: a product ACCS did not accept (the inventory report's
/// entry), or, where every product is listed (webhooks), one it accepted.
#[derive(Serialize)]
#[serde(untagged)]
enum Entry<'a> {
    Failed(ItemResult<'a>),
    Accepted {
        index: usize,
        sku: &'a str,
        result: &'static str,
        bulk_uuid: &'a str,
    },
}

/// `{"bulk_uuid","status_url","items":{"first","count"}}` for each bulk, the
/// status URL's `first` the index of its first product, so the status read
/// numbers results as this request did. A bulk ACCS holds in several runs
/// (it rejected products between them) has a status URL per run, whose
/// `from` and `count` pick the run's operations.
pub fn put_bulks(buf: &mut Vec<u8>, bulks: &[Bulk]) {
    let mut uuids: Vec<&str> = bulks.iter().map(|b| b.uuid.as_str()).collect();
    uuids.sort_unstable();
    let shared = |uuid: &str| {
        let at = uuids.partition_point(|u| *u < uuid);
        uuids.get(at + 1) == Some(&uuid)
    };
    buf.push(b'[');
    for (n, b) in bulks.iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(br#"{"bulk_uuid":"#);
        put_str(buf, &b.uuid);
        buf.extend_from_slice(br#","status_url":"#);
        let url = if shared(&b.uuid) {
            format!(
                "/v1/bulk/{}?first={}&from={}&count={}",
                b.uuid, b.first, b.from, b.count
            )
        } else {
            format!("/v1/bulk/{}?first={}", b.uuid, b.first)
        };
        put_str(buf, &url);
        buf.extend_from_slice(br#","items":{"first":"#);
        put_uint(buf, b.first);
        buf.extend_from_slice(br#","count":"#);
        put_uint(buf, b.count);
        buf.extend_from_slice(b"}}");
    }
    buf.push(b']');
}

/// The report: `{"summary","bulks","results","errors"}`. `results` lists
/// the products not accepted, or with `every_product` (webhooks) each
/// product, accepted ones with their `bulk_uuid`. `bulks` (ascending)
/// may include bulks accepted by an earlier delivery of the same webhook.
pub fn report(sent: Sent, list: &[Upsert], every_product: bool) -> InResponse {
    let status = status(&sent);
    let mut outcome = Outcome::default();
    let mut entries: Vec<(usize, Entry<'_>)> = Vec::new();
    let mut failed = 0;
    for r in sent.refused.iter() {
        for index in r.items.clone() {
            let sku = list.get(index).map_or("", |(sku, _)| sku.as_str());
            let result = ItemResult::failed(index, sku.into(), None, Some(r.chunk), &r.problem);
            entries.push((index, Entry::Failed(result)));
            failed += 1;
        }
        let single = (r.items.len() == 1)
            .then(|| list.get(r.items.start).map(|(sku, _)| sku.clone()))
            .flatten();
        outcome.fail(Some(r.chunk), single, r.problem.clone());
    }
    if every_product {
        for b in &sent.bulks {
            for index in b.first..b.first + b.count {
                let sku = list.get(index).map_or("", |(sku, _)| sku.as_str());
                entries.push((
                    index,
                    Entry::Accepted {
                        index,
                        sku,
                        result: "accepted",
                        bulk_uuid: &b.uuid,
                    },
                ));
            }
        }
    }
    entries.sort_by_key(|(i, _)| *i);
    let summary = Summary {
        received: list.len(),
        accepted: sent.accepted(),
        failed,
        split_calls: sent.split_calls,
    };
    let mut body = Vec::with_capacity(256 + entries.len() * 96);
    body.extend_from_slice(br#"{"summary":"#);
    let _ = serde_json::to_writer(&mut body, &summary);
    body.extend_from_slice(br#","bulks":"#);
    put_bulks(&mut body, &sent.bulks);
    body.extend_from_slice(br#","results":"#);
    let entries: Vec<&Entry<'_>> = entries.iter().map(|(_, e)| e).collect();
    let _ = serde_json::to_writer(&mut body, &entries);
    body.extend_from_slice(br#","errors":"#);
    let _ = serde_json::to_writer(&mut body, &outcome.errors);
    body.push(b'}');
    let mut resp = json(status, body);
    if let Some(s) = retry_after(&sent, status) {
        resp.headers.push(("retry-after", s.to_string()));
    }
    resp
}
