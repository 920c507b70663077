//! `GET /v1/bulk/{uuid}?first=N`: how the products of one accepted bulk
//! ended, from ACCS's `GET /V1/bulk/{uuid}/detailed-status`
//! (AdobeDocs/commerce-webapi `src/pages/rest/use-rest/operation-status-endpoints.md`).

use crate::accs::bulk::{self, Operation};
use crate::accs::{Call, Ctx};
use crate::json_write::{put_str, put_uint};
use crate::ports::Ports;
use crate::problem::{Code, Problem};
use crate::routes::search::printable;
use crate::wire::MAX_ITEMS;

/// The answer's body: `{"bulk_uuid","summary","results"}`.
pub async fn get<P: Ports>(
    ctx: &Ctx<'_, P>,
    raw_uuid: &str,
    query: Option<&str>,
) -> Result<Vec<u8>, Problem> {
    // The raw path segment: a uuid has nothing to decode, and anything
    // else is refused before a call is made.
    if !bulk::is_uuid(raw_uuid) {
        return Err(Problem::bad_request(
            "the bulk uuid must be 8-4-4-4-12 hexadecimal digits, as `bulks[].bulk_uuid` of the upsert's answer",
        ));
    }
    let Window { first, from, count } = window(query)?;
    let r = ctx
        .call(&Call::get(bulk::detailed_status_path(raw_uuid)))
        .await
        .map_err(|p| match p.status {
            // Magento's "Bulk uuid %bulkUuid not exist"
            // (`Magento\AsynchronousOperations\Model\BulkStatus`).
            404 if p.code == Code::AccsError => {
                Problem::new(Code::BulkNotFound, "ACCS knows no bulk by this uuid")
            }
            _ => p,
        })?;
    let ops = bulk::operations(&r.body).ok_or_else(|| {
        Problem::new(
            Code::AccsUnavailable,
            "ACCS's detailed bulk status is not the documented shape (`operations_list` with `id` and `status`)",
        )
    })?;
    let end = count.map_or(ops.len(), |c| from.saturating_add(c).min(ops.len()));
    let ops = ops.get(from..end).unwrap_or(&[]);
    Ok(body(raw_uuid, first, ops))
}

/// Which operations a status URL reads and how it numbers them.
#[derive(Debug, PartialEq, Eq)]
struct Window {
    /// The request index of the first product read (0 when absent).
    first: usize,
    /// The position of its operation in the bulk (0 when absent).
    from: usize,
    /// How many operations, when the bulk holds other runs after this one.
    count: Option<usize>,
}

/// `first`, `from` and `count` as the upsert's status URL carries them, each
/// a whole number up to 10,000 (`count` from 1), each at most once; nothing
/// else is taken.
fn window(query: Option<&str>) -> Result<Window, Problem> {
    let mut seen: [Option<usize>; 3] = [None; 3];
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (slot, least) = match key {
            "first" => (0, 0),
            "from" => (1, 0),
            "count" => (2, 1),
            other => {
                return Err(Problem::bad_request(format!(
                    "unknown query parameter `{}`; this route takes `first`, `from` and `count`",
                    printable(other)
                )));
            }
        };
        if seen[slot].is_some() {
            return Err(Problem::bad_request(format!("`{key}` is given twice")));
        }
        match value.parse::<usize>() {
            Ok(n) if (least..=MAX_ITEMS).contains(&n) => seen[slot] = Some(n),
            _ => {
                return Err(Problem::bad_request(format!(
                    "`{key}` must be a whole number from {least} to {MAX_ITEMS}"
                )));
            }
        }
    }
    Ok(Window {
        first: seen[0].unwrap_or(0),
        from: seen[1].unwrap_or(0),
        count: seen[2],
    })
}

/// The summary and one result per operation, in `id` order: `index` is
/// `first` plus the operation's position, `reason` ACCS's `result_message`
/// for a failed or rejected one, `status` ACCS's own number (2 says a retry
/// may succeed, 3 that the product must change).
fn body(uuid: &str, first: usize, ops: &[Operation]) -> Vec<u8> {
    let count = |r: &str| ops.iter().filter(|o| o.result() == r).count();
    let (ok, failed, pending) = (count("ok"), count("failed"), count("pending"));
    let mut buf = Vec::with_capacity(128 + ops.len() * 80);
    buf.extend_from_slice(br#"{"bulk_uuid":"#);
    put_str(&mut buf, uuid);
    buf.extend_from_slice(br#","summary":{"operations":"#);
    put_uint(&mut buf, ops.len());
    buf.extend_from_slice(br#","ok":"#);
    put_uint(&mut buf, ok);
    buf.extend_from_slice(br#","failed":"#);
    put_uint(&mut buf, failed);
    buf.extend_from_slice(br#","pending":"#);
    put_uint(&mut buf, pending);
    buf.extend_from_slice(br#","complete":"#);
    buf.extend_from_slice(if pending == 0 { b"true" } else { b"false" });
    buf.extend_from_slice(br#"},"results":["#);
    for (n, op) in ops.iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(br#"{"index":"#);
        put_uint(&mut buf, first + n);
        buf.extend_from_slice(br#","sku":"#);
        match &op.sku {
            Some(sku) => put_str(&mut buf, sku),
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(br#","result":"#);
        put_str(&mut buf, op.result());
        if let Some(reason) = &op.reason {
            buf.extend_from_slice(br#","reason":"#);
            put_str(&mut buf, reason);
        }
        buf.extend_from_slice(br#","status":"#);
        // Magento's statuses are small; a negative one is written as 0.
        put_uint(&mut buf, u64::try_from(op.status).unwrap_or(0));
        buf.push(b'}');
    }
    buf.extend_from_slice(b"]}");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_from_and_count_are_the_only_parameters() {
        let w = |first, from, count| Window { first, from, count };
        assert_eq!(window(None).unwrap(), w(0, 0, None));
        assert_eq!(window(Some("")).unwrap(), w(0, 0, None));
        assert_eq!(window(Some("first=500")).unwrap(), w(500, 0, None));
        assert_eq!(window(Some("first=10000")).unwrap(), w(10_000, 0, None));
        assert_eq!(
            window(Some("first=7&from=2&count=3")).unwrap(),
            w(7, 2, Some(3))
        );
        for bad in [
            "first=10001",
            "first=-1",
            "first=x",
            "first=",
            "first=1&first=2",
            "page=2",
            "first=1&x=1",
            "count=0",
            "from=10001",
            "from=1&from=1",
        ] {
            assert_eq!(window(Some(bad)).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn the_body_is_json_with_indexes_from_first() {
        let ops = [
            Operation {
                id: 7,
                status: 1,
                reason: None,
                sku: Some("A\"1".into()),
            },
            Operation {
                id: 8,
                status: 3,
                reason: Some("bad \"x\"".into()),
                sku: None,
            },
        ];
        let v: serde_json::Value = serde_json::from_slice(&body("u", 500, &ops)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "bulk_uuid": "u",
                "summary": {"operations": 2, "ok": 1, "failed": 1, "pending": 0, "complete": true},
                "results": [
                    {"index": 500, "sku": "A\"1", "result": "ok", "status": 1},
                    {"index": 501, "sku": null, "result": "failed", "reason": "bad \"x\"", "status": 3},
                ]
            })
        );
    }
}
