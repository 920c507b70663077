//! A verified delivery's events, pure: one CloudEvents 1.0 JSON object, or
//! a JSON array of them for a batch registration (at most 20 events:
//! AdobeDocs/adobe-io-events `src/pages/support/faq.md`, "Batch: ... a
//! maximum of 20 events"). Each event names its recipient (`recipientclientid`,
//! `src/pages/guides/index.md`; aio-lib-events' `isTargetRecipient` reads
//! `recipient_client_id`, which Commerce payloads carry) and its id: the
//! `x-adobe-event-id` header, "the same event id is used for all the delivery
//! attempts of a particular event" (`src/pages/guides/runtime-webhooks/index.md`),
//! which the payload's `eventid` matches; in a batch each event's own.

use serde_json::{Map, Value};

pub const MAX_BATCH: usize = 20;
const MAX_ID: usize = 256;

/// One event of a delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What the ledger deduplicates on.
    pub id: String,
    /// The CloudEvent `type` (empty when absent or not a string).
    pub event_type: String,
    /// `data`, as the sync's body would be sent (`None` when absent).
    pub data: Option<Value>,
    /// Every recipient the event names (both spellings).
    recipients: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the body must be a CloudEvents JSON object or an array of 1 to {MAX_BATCH} of them")]
    Shape,
    #[error(
        "event {0} has no id: send `x-adobe-event-id` or an `eventid` (or CloudEvents `id`) of at most 256 characters"
    )]
    NoId(usize),
}

/// The events of `body`; `header_id` is `x-adobe-event-id`, used for a
/// single event.
pub fn parse(body: &[u8], header_id: Option<&str>) -> Result<Vec<Event>, DeliveryError> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| DeliveryError::Shape)?;
    let (list, single) = match doc {
        Value::Array(list) if (1..=MAX_BATCH).contains(&list.len()) => (list, false),
        Value::Object(_) => (vec![doc], true),
        _ => return Err(DeliveryError::Shape),
    };
    list.into_iter()
        .enumerate()
        .map(|(i, e)| {
            let Value::Object(mut e) = e else {
                return Err(DeliveryError::Shape);
            };
            let text = |e: &Map<String, Value>, k: &str| {
                e.get(k)
                    .and_then(Value::as_str)
                    .filter(|s| (1..=MAX_ID).contains(&s.len()))
                    .map(str::to_owned)
            };
            let id = header_id
                .filter(|h| single && (1..=MAX_ID).contains(&h.len()))
                .map(str::to_owned)
                .or_else(|| text(&e, "eventid"))
                .or_else(|| text(&e, "id"))
                .ok_or(DeliveryError::NoId(i))?;
            let recipients = ["recipientclientid", "recipient_client_id"]
                .iter()
                .filter_map(|k| e.get(*k))
                .map(|v| v.as_str().unwrap_or("\0not a string").to_owned())
                .collect();
            Ok(Event {
                id,
                event_type: text(&e, "type").unwrap_or_default(),
                data: e.remove("data"),
                recipients,
            })
        })
        .collect()
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
        let e = parse(one, Some("hdr-1")).unwrap();
        assert_eq!(e[0].id, "hdr-1");
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
