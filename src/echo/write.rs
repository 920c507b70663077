//! Noting a write: called by the routes after ACCS took it (source items
//! that landed, a product upsert ACCS answered 2xx, bulk products ACCS
//! accepted). One note per request and one index update, whatever the
//! number of items; a failure is a warn line, never the request's failure.

use super::fields::{self, Kind};
use super::note::{self, Listed, MAX_NOTES, NoteHead, Written};
use super::store::Store;
use super::{EchoError, window_ms};
use crate::config::Settings;
use crate::place::Where;
use crate::ports::Ports;
use serde_json::{Map, Number, Value};

/// One source item that landed, as the sync sent it.
pub struct Stock<'a> {
    pub sku: &'a str,
    pub source_code: &'a str,
    pub quantity: &'a Number,
    pub status: u8,
}

/// Notes the source items `items` that the request's `writer` (its
/// `api_keys` entry; `None`: a webhook delivery, not noted) wrote.
pub async fn note_stock<'a, P: Ports>(
    ports: &P,
    settings: &Settings,
    writer: Option<&str>,
    items: impl Iterator<Item = Stock<'a>>,
) {
    let Some((store, writer)) = ready(ports, settings, writer) else {
        return;
    };
    let written = items
        .map(|s| {
            let entity = store.entity(
                Kind::Stock,
                &[fields::folded(s.sku), fields::folded(s.source_code)],
            );
            let q = fields::canon(fields::Type::Num, &Value::Number(s.quantity.clone()));
            let st = fields::canon(fields::Type::Num, &Value::from(s.status));
            entry(&store, Kind::Stock, entity, [q, st].into_iter())
        })
        .collect();
    noted(ports, settings, &store, writer, Kind::Stock, written).await;
}

/// Notes the products `(sku, product)` that the request's `writer` wrote
/// (the product object as sent to ACCS).
pub async fn note_products<'a, P: Ports>(
    ports: &P,
    settings: &Settings,
    writer: Option<&str>,
    products: impl Iterator<Item = (&'a str, &'a Map<String, Value>)>,
) {
    let Some((store, writer)) = ready(ports, settings, writer) else {
        return;
    };
    let written = products
        .map(|(sku, product)| {
            let entity = store.entity(Kind::Product, &[fields::folded(sku)]);
            let values = Kind::Product.fields().iter().map(|f| {
                fields::product_value(product, f.name).and_then(|v| fields::canon(f.ty, v))
            });
            entry(&store, Kind::Product, entity, values)
        })
        .collect();
    noted(ports, settings, &store, writer, Kind::Product, written).await;
}

fn ready<'w, P: Ports>(
    ports: &P,
    settings: &Settings,
    writer: Option<&'w str>,
) -> Option<(Store, &'w str)> {
    let writer = writer?;
    if window_ms(settings) == 0 {
        return None;
    }
    let store = Store::new(settings, ports.kv_shared())?;
    (store.place != Where::Missing).then_some((store, writer))
}

/// An entity's mask and value digests from its fields' canonical values
/// (`None`: not written, or not comparable).
fn entry(
    store: &Store,
    kind: Kind,
    entity: [u8; 8],
    values: impl Iterator<Item = Option<String>>,
) -> Written {
    let mut mask = 0u16;
    let mut digests = Vec::new();
    for (i, v) in values.enumerate() {
        if let Some(v) = v {
            mask |= 1 << i;
            digests.push(store.value(kind, i, &v));
        }
    }
    Written {
        entity,
        mask,
        values: digests,
    }
}

async fn noted<P: Ports>(
    ports: &P,
    settings: &Settings,
    store: &Store,
    writer: &str,
    kind: Kind,
    mut written: Vec<Written>,
) {
    written.retain(|w| w.mask != 0);
    if written.is_empty() {
        return;
    }
    if let Err(e) = write_note(ports, settings, store, writer, kind, &written).await {
        let line = serde_json::json!({
            "level": "warn",
            "message": "echo note not written: Commerce's event for this write may be forwarded back to its writer",
            "reason": e.to_string(),
        });
        ports.log(&line.to_string());
    }
}

/// The note (1 write), then the index (1 read, 1 write), then the notes
/// that left the index deleted (best effort: a note left behind is never
/// listed again).
async fn write_note<P: Ports>(
    ports: &P,
    settings: &Settings,
    store: &Store,
    writer: &str,
    kind: Kind,
    written: &[Written],
) -> Result<(), EchoError> {
    let now = ports.now_ms();
    let mut id = [0u8; 8];
    ports.fill_random(&mut id);
    let head = NoteHead {
        kind,
        created_ms: now,
        expires_ms: now.saturating_add(window_ms(settings)),
        writer: store.writer(writer),
    };
    let name = store.note_name(&id);
    let body = store.seal(&name, note::encode_note(&head, written));
    store.put(ports, &name, body).await?;
    let mut list = store.index(ports).await?;
    list.push(Listed {
        id,
        writer: head.writer,
        created_ms: head.created_ms,
        expires_ms: head.expires_ms,
    });
    // Newest first; the expired and those past MAX_NOTES leave.
    list.sort_by_key(|l| std::cmp::Reverse(l.created_ms));
    let (mut keep, mut gone) = (Vec::new(), Vec::new());
    for l in list {
        if keep.len() < MAX_NOTES && l.expires_ms > now {
            keep.push(l);
        } else {
            gone.push(l);
        }
    }
    let index = store.index_name();
    store
        .put(ports, &index, store.seal(&index, note::encode_index(&keep)))
        .await?;
    for l in gone {
        let _ = store.delete(ports, &store.note_name(&l.id)).await;
    }
    Ok(())
}
