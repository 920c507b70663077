//! Checking one (event, target) pair against the target's notes.

use super::EchoError;
use super::fields::{self, Kind};
use super::note;
use super::store::Store;
use crate::config::Settings;
use crate::place::Where;
use crate::ports::Ports;
use serde_json::{Map, Value};

/// How an event compares with what a note holds for its entity.
enum Verdict {
    /// No compared field in common: nothing can be told, the note stays.
    Unknown,
    /// Every common field agrees and nothing else changed.
    Echo,
    /// A value differs, or another field changed: a real change.
    Differs,
}

pub async fn is_echo<P: Ports>(
    ports: &P,
    settings: &Settings,
    window_ms: u64,
    event_type: &str,
    data: Option<&Value>,
    target: &str,
) -> Result<bool, EchoError> {
    if window_ms == 0 {
        return Ok(false);
    }
    let Some(kind) = fields::kind_of(event_type) else {
        return Ok(false);
    };
    let Some(value) = data.and_then(|d| d.get("value")).and_then(Value::as_object) else {
        return Ok(false);
    };
    let Some(parts) = fields::event_entity(kind, value) else {
        return Ok(false);
    };
    let Some(store) = Store::new(settings, ports.kv_shared()) else {
        return Ok(false);
    };
    if store.place == Where::Missing {
        return Ok(false);
    }
    let now = ports.now_ms();
    let writer = store.writer(target);
    let mut live: Vec<note::Listed> = store
        .index(ports)
        .await?
        .into_iter()
        .filter(|l| l.writer == writer && l.expires_ms > now)
        .collect();
    if live.is_empty() {
        return Ok(false);
    }
    live.sort_by_key(|l| std::cmp::Reverse(l.created_ms));
    let entity = store.entity(kind, &parts);
    // The newest of the target's live notes that holds the entity.
    let mut found = None;
    for l in &live {
        let name = store.note_name(&l.id);
        let Some(bytes) = store.get(ports, &name).await? else {
            continue;
        };
        // A note that does not authenticate suppresses nothing.
        let Some(body) = store.open(&name, &bytes) else {
            continue;
        };
        let Some(head) = note::note_head(body) else {
            continue;
        };
        if head.kind != kind || head.writer != writer || head.expires_ms <= now {
            continue;
        }
        if let Some(held) = note::find(body, &entity) {
            found = Some((head.created_ms, held));
            break;
        }
    }
    let Some((created_ms, (mask, values))) = found else {
        return Ok(false);
    };
    let marker = store.marker_name(&writer, &entity);
    let spent = store
        .get(ports, &marker)
        .await?
        .and_then(|b| store.open(&marker, &b).and_then(note::decode_marker));
    if spent.is_some_and(|t| t >= created_ms) {
        return Ok(false);
    }
    let verdict = compare(&store, kind, value, mask, &values);
    if matches!(verdict, Verdict::Unknown) {
        return Ok(false);
    }
    // Met: the note is spent for this entity, matched (consumed) or not
    // (voided). Written before answering, or the pair is not settled.
    store
        .put(
            ports,
            &marker,
            store.seal(&marker, note::encode_marker(now)),
        )
        .await?;
    Ok(matches!(verdict, Verdict::Echo))
}

fn compare(
    store: &Store,
    kind: Kind,
    value: &Map<String, Value>,
    mask: u16,
    values: &[[u8; 4]],
) -> Verdict {
    let mut common = 0;
    let mut written = values.iter();
    for (i, field) in kind.fields().iter().enumerate() {
        if mask & (1 << i) == 0 {
            continue;
        }
        let Some(ours) = written.next() else {
            return Verdict::Differs;
        };
        let Some(theirs) =
            fields::event_value(field, value).and_then(|v| fields::canon(field.ty, v))
        else {
            continue;
        };
        common += 1;
        if store.value(kind, i, &theirs) != *ours {
            return Verdict::Differs;
        }
    }
    if common == 0 {
        return Verdict::Unknown;
    }
    match fields::changed_only(kind, value, mask) {
        Some(false) => Verdict::Differs,
        _ => Verdict::Echo,
    }
}
