//! A verified delivery's events, pure: one CloudEvents 1.0 JSON object, or
//! a JSON array of them for a batch registration (at most 20 events:
//! AdobeDocs/adobe-io-events `src/pages/support/faq.md`, "Batch: ... a
//! maximum of 20 events"). Each event names its recipient (`recipientclientid`,
//! `src/pages/guides/index.md`; aio-lib-events' `isTargetRecipient` reads
//! `recipient_client_id`, which Commerce payloads carry) and its id.
//!
//! The id is the signed body's own (`eventid`, else the CloudEvents `id`),
//! never the `x-adobe-event-id` header: Adobe's signatures cover the body
//! only, so a header id would let a captured delivery be posted again under
//! a fresh id and land again. "The same event id is used for all the
//! delivery attempts of a particular event"
//! (`src/pages/guides/runtime-webhooks/index.md`) and the payload's
//! `eventid` matches the header, so a single event whose header names
//! another id is refused. The CloudEvents `time` (RFC 3339) is read too: it
//! is the only signed sign of an event's age (`routes::events` decides).

use serde_json::{Map, Value};

pub const MAX_BATCH: usize = 20;
const MAX_ID: usize = 256;

/// One event of a delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What the ledger deduplicates on: the signed body's id.
    pub id: String,
    /// The signed CloudEvents `time`, in ms since the Unix epoch (`None`
    /// when absent or not an RFC 3339 date-time from 1970 on).
    pub time_ms: Option<u64>,
    /// The CloudEvent `type` (empty when absent or not a string).
    pub event_type: String,
    /// `data`, as the sync's body would be sent (`None` when absent).
    pub data: Option<Value>,
    /// The CloudEvent's JSON exactly as received: the whole body for a
    /// single event, the element's own text for a batch. What a forward
    /// target gets, unchanged (docs/FORWARDING.md), so it can verify and
    /// read the event as Adobe published it.
    pub raw: Vec<u8>,
    /// Every recipient the event names (both spellings).
    recipients: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the body must be a CloudEvents JSON object or an array of 1 to {MAX_BATCH} of them")]
    Shape,
    #[error(
        "event {0} has no id of its own: the body must carry an `eventid` (or CloudEvents `id`) of 1 to 256 characters; `x-adobe-event-id` alone is not signed, so it is not trusted"
    )]
    NoId(usize),
    /// The header and the signed body name different events.
    #[error(
        "`x-adobe-event-id` `{header}` names another event than the signed body's `{body}`; nothing was sent"
    )]
    HeaderMismatch { header: String, body: String },
}

/// Up to 64 characters of an id, for a message.
fn shown(id: &str) -> String {
    match id.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &id[..at]),
        None => id.to_owned(),
    }
}

/// The events of `body`; `header_id` is `x-adobe-event-id`, which a single
/// event's own id must equal when it is sent (a batch's events each carry
/// theirs, and the header is not read).
pub fn parse(body: &[u8], header_id: Option<&str>) -> Result<Vec<Event>, DeliveryError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    // A batch is read as its elements' raw texts first, so each event keeps
    // the bytes it came with; a single event is the whole body.
    let (list, single): (Vec<&[u8]>, bool) = if first == Some(&b'[') {
        let raws: Vec<&serde_json::value::RawValue> =
            serde_json::from_slice(body).map_err(|_| DeliveryError::Shape)?;
        if !(1..=MAX_BATCH).contains(&raws.len()) {
            return Err(DeliveryError::Shape);
        }
        (
            raws.into_iter().map(|r| r.get().as_bytes()).collect(),
            false,
        )
    } else {
        (vec![body], true)
    };
    list.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let Ok(Value::Object(mut e)) = serde_json::from_slice::<Value>(raw) else {
                return Err(DeliveryError::Shape);
            };
            let text = |e: &Map<String, Value>, k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| (1..=MAX_ID).contains(&s.len()))
                    .map(str::to_owned)
            };
            let id = text(&e, "eventid")
                .or_else(|| text(&e, "id"))
                .ok_or(DeliveryError::NoId(i))?;
            if let Some(header) = header_id.filter(|h| single && *h != id) {
                return Err(DeliveryError::HeaderMismatch {
                    header: shown(header),
                    body: shown(&id),
                });
            }
            let recipients = ["recipientclientid", "recipient_client_id"]
                .iter()
                .filter_map(|k| e.get(*k))
                .map(|v| v.as_str().unwrap_or("\0not a string").to_owned())
                .collect();
            Ok(Event {
                id,
                time_ms: e.get("time").and_then(Value::as_str).and_then(rfc3339_ms),
                event_type: text(&e, "type").unwrap_or_default(),
                data: e.remove("data"),
                raw: raw.to_vec(),
                recipients,
            })
        })
        .collect()
}

/// An RFC 3339 `date-time` (section 5.6: `2026-01-01T00:00:00Z`,
/// `…T00:00:00.123+02:00`; `t`/`z` in either case) as ms since the Unix
/// epoch; `None` for anything else, a date that does not exist or one
/// before 1970. A leap second (`:60`) counts as the second before it.
pub fn rfc3339_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u64> {
        let d = b.get(from..from + len)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0u64, |n, c| n * 10 + u64::from(c - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i).is_some_and(|x| x.eq_ignore_ascii_case(&c));
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year < 1970 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if at(i, b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for k in 0..3 {
            millis = millis * 10
                + if k < digits {
                    u64::from(b[i + 1 + k] - b'0')
                } else {
                    0
                };
        }
        i += 1 + digits;
    }
    let offset_s: i64 = if at(i, b'Z') && b.len() == i + 1 {
        0
    } else if matches!(b.get(i), Some(b'+' | b'-')) && at(i + 3, b':') && b.len() == i + 6 {
        let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
        if h > 23 || m > 59 {
            return None;
        }
        let v = (h * 3600 + m * 60) as i64;
        if b[i] == b'-' { -v } else { v }
    } else {
        return None;
    };
    // Days from 1970-01-01 (H. Hinnant's `days_from_civil`), for year >= 1970.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe) as i64 - 719_468;
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second.min(59)) as i64 - offset_s;
    u64::try_from(secs).ok().map(|s| s * 1_000 + millis)
}

/// Whether every event is addressed to `client_id` (and names a recipient).
pub fn all_for(events: &[Event], client_id: &str) -> bool {
    events
        .iter()
        .all(|e| !e.recipients.is_empty() && e.recipients.iter().all(|r| r == client_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_batch() {
        let one = br#"{"specversion":"1.0","type":"t.a","id":"ce-1","eventid":"ev-1","recipientclientid":"me","data":{"x":1}}"#;
        let e = parse(one, Some("ev-1")).unwrap();
        assert_eq!(e[0].id, "ev-1");
        assert_eq!(e[0].time_ms, None);
        assert_eq!(e[0].event_type, "t.a");
        assert_eq!(e[0].data, Some(serde_json::json!({"x":1})));
        assert!(all_for(&e, "me"));
        assert!(!all_for(&e, "you"));
        assert_eq!(parse(one, None).unwrap()[0].id, "ev-1");

        let batch = br#"[{"type":"t.a","id":"c1","recipient_client_id":"me"},{"type":"t.b","eventid":"e2","recipientclientid":"me","recipient_client_id":"me"}]"#;
        let e = parse(batch, Some("hdr")).unwrap();
        assert_eq!((e[0].id.as_str(), e[1].id.as_str()), ("c1", "e2"));
        assert!(all_for(&e, "me"));
    }

    /// The signed body's id is the event's, whatever the header says: a
    /// captured body posted again under a fresh header id is the same event.
    #[test]
    fn the_id_is_the_signed_bodys_and_a_header_naming_another_is_refused() {
        let one = br#"{"id":"ce-1","eventid":"ev-1","recipientclientid":"me"}"#;
        assert_eq!(
            parse(one, Some("fresh-id")),
            Err(DeliveryError::HeaderMismatch {
                header: "fresh-id".into(),
                body: "ev-1".into()
            })
        );
        assert_eq!(
            parse(br#"{"id":"ce-1"}"#, Some("ce-1")).unwrap()[0].id,
            "ce-1"
        );
        // A header alone is not an id any more.
        assert_eq!(
            parse(br#"{"type":"t"}"#, Some("h")),
            Err(DeliveryError::NoId(0))
        );
        // Long ids are cut in the message.
        let long = "x".repeat(300);
        let body = format!(r#"{{"eventid":"{}"}}"#, "é".repeat(100));
        let Err(DeliveryError::HeaderMismatch { header, body }) =
            parse(body.as_bytes(), Some(&long))
        else {
            panic!("a mismatch")
        };
        assert_eq!(header, format!("{}…", "x".repeat(64)));
        assert_eq!(body, format!("{}…", "é".repeat(64)));
        // A batch: each event's own id; the header is not read.
        let batch = br#"[{"eventid":"a"},{"eventid":"b"}]"#;
        assert_eq!(parse(batch, Some("other")).unwrap().len(), 2);
    }

    /// What a forward target gets is each event's text as it came: the
    /// body of a single event, an element's exact bytes in a batch
    /// (spacing, key order and escapes kept), never a re-serialization.
    #[test]
    fn each_event_keeps_its_raw_text() {
        let one = b" {\"eventid\":\"a\", \"data\" : {\"z\":1,\"a\":\"\\u00e9\"}}\n";
        assert_eq!(parse(one, None).unwrap()[0].raw, one.to_vec());
        let batch = b"[ {\"eventid\":\"a\",  \"x\":[1, 2]} ,{\"eventid\":\"b\",\"y\":\"\\/\"}]";
        let e = parse(batch, None).unwrap();
        assert_eq!(e[0].raw, br#"{"eventid":"a",  "x":[1, 2]}"#.to_vec());
        assert_eq!(e[1].raw, br#"{"eventid":"b","y":"\/"}"#.to_vec());
    }

    #[test]
    fn rfc3339_times() {
        for (text, ms) in [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2026-01-01T00:00:00Z", Some(1_767_225_600_000)),
            ("2026-01-01t00:00:00.1234z", Some(1_767_225_600_123)),
            ("2026-01-01T02:00:00.5+02:00", Some(1_767_225_600_500)),
            ("2025-12-31T23:00:00-01:00", Some(1_767_225_600_000)),
            ("2024-02-29T12:00:00Z", Some(1_709_208_000_000)),
            ("2016-12-31T23:59:60Z", Some(1_483_228_799_000)),
            ("2023-02-29T12:00:00Z", None),
            ("1969-12-31T23:59:59Z", None),
            ("1970-01-01T00:30:00+01:00", None),
            ("2026-13-01T00:00:00Z", None),
            ("2026-01-01T24:00:00Z", None),
            ("2026-01-01T00:00:00", None),
            ("2026-01-01T00:00:00.Z", None),
            ("2026-01-01T00:00:00Z ", None),
            ("2026-01-01T00:00:00+0200", None),
            ("2026-01-01T00:00:00+24:00", None),
            ("2026-1-01T00:00:00Z", None),
            ("+026-01-01T00:00:00Z", None),
            ("", None),
            ("2026-01-01", None),
        ] {
            assert_eq!(rfc3339_ms(text), ms, "{text}");
        }
        // Against httpdate's reading of the same instant.
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
        assert_eq!(
            httpdate::parse_http_date("Thu, 01 Jan 2026 00:00:00 GMT").unwrap(),
            t
        );
        let e = parse(br#"{"id":"a","time":"2026-01-01T00:00:00Z"}"#, None).unwrap();
        assert_eq!(e[0].time_ms, Some(1_767_225_600_000));
        let e = parse(br#"{"id":"a","time":7}"#, None).unwrap();
        assert_eq!(e[0].time_ms, None);
    }

    #[test]
    fn refused_shapes_and_recipients() {
        for bad in [&b"x"[..], b"[]", b"7", b"[1]", b"\"s\""] {
            assert_eq!(parse(bad, Some("h")), Err(DeliveryError::Shape), "{bad:?}");
        }
        let many = format!("[{}]", vec![r#"{"id":"a"}"#; MAX_BATCH + 1].join(","));
        assert_eq!(parse(many.as_bytes(), None), Err(DeliveryError::Shape));
        assert_eq!(
            parse(br#"[{"type":"t"}]"#, Some("h")),
            Err(DeliveryError::NoId(0))
        );
        // No recipient, a second spelling that disagrees, or not a string.
        for body in [
            &br#"{"id":"a"}"#[..],
            br#"{"id":"a","recipientclientid":"me","recipient_client_id":"you"}"#,
            br#"{"id":"a","recipientclientid":7}"#,
        ] {
            assert!(!all_for(&parse(body, None).unwrap(), "me"));
        }
        let mixed =
            br#"[{"id":"a","recipientclientid":"me"},{"id":"b","recipientclientid":"you"}]"#;
        assert!(!all_for(&parse(mixed, None).unwrap(), "me"));
    }
}
