//! The three values the echo notes are made of, as bytes (each sealed by
//! [`super::store::Store::seal`]):
//!
//! - a **note**, one per write request: who wrote, when, until when, and per
//!   entity written its 8-byte keyed digest, a mask of the compared fields
//!   it set and a 4-byte keyed digest of each of their values (a source item
//!   18 bytes, a product at most 74: 10,000 items stay under 1 MB);
//! - the **index**, one small value: the [`MAX_NOTES`] newest notes;
//! - a **marker** per (writer, entity), written only when an event meets a
//!   noted entity: notes of that entity written up to then are spent.

use super::fields::Kind;

/// Notes the index lists. A note pushed out of it (17 writes within one
/// window) is no longer consulted: its echoes are forwarded, an extra
/// message, never a lost one.
pub const MAX_NOTES: usize = 16;
const VERSION: u8 = 1;
const NOTE_HEAD: usize = 1 + 1 + 8 + 8 + 8 + 4;
const INDEX_ENTRY: usize = 8 + 8 + 8 + 8;

/// One entity of a note, as written.
pub struct Written {
    pub entity: [u8; 8],
    pub mask: u16,
    /// One per bit of `mask`, in bit order.
    pub values: Vec<[u8; 4]>,
}

pub struct NoteHead {
    pub kind: Kind,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub writer: [u8; 8],
}

pub fn encode_note(head: &NoteHead, entries: &[Written]) -> Vec<u8> {
    let size: usize = entries.iter().map(|e| 10 + 4 * e.values.len()).sum();
    let mut out = Vec::with_capacity(NOTE_HEAD + size + 32);
    out.push(VERSION);
    out.push(head.kind as u8);
    out.extend_from_slice(&head.created_ms.to_be_bytes());
    out.extend_from_slice(&head.expires_ms.to_be_bytes());
    out.extend_from_slice(&head.writer);
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        out.extend_from_slice(&e.entity);
        out.extend_from_slice(&e.mask.to_be_bytes());
        for v in &e.values {
            out.extend_from_slice(v);
        }
    }
    out
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

pub fn note_head(body: &[u8]) -> Option<NoteHead> {
    if body.first() != Some(&VERSION) {
        return None;
    }
    Some(NoteHead {
        kind: Kind::from_byte(*body.get(1)?)?,
        created_ms: u64_at(body, 2)?,
        expires_ms: u64_at(body, 10)?,
        writer: body.get(18..26)?.try_into().ok()?,
    })
}

/// The mask and value digests `entity` has in the note `body`.
pub fn find(body: &[u8], entity: &[u8; 8]) -> Option<(u16, Vec<[u8; 4]>)> {
    let count = u32::from_be_bytes(body.get(26..30)?.try_into().ok()?) as usize;
    let mut at = NOTE_HEAD;
    for _ in 0..count {
        let e = body.get(at..at + 10)?;
        let mask = u16::from_be_bytes([e[8], e[9]]);
        let n = mask.count_ones() as usize;
        let values = body.get(at + 10..at + 10 + 4 * n)?;
        if e[..8] == entity[..] {
            let values = values
                .chunks_exact(4)
                .map(|c| c.try_into().expect("4 bytes"))
                .collect();
            return Some((mask, values));
        }
        at += 10 + 4 * n;
    }
    None
}

/// One note as the index lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub id: [u8; 8],
    pub writer: [u8; 8],
    pub created_ms: u64,
    pub expires_ms: u64,
}

pub fn encode_index(list: &[Listed]) -> Vec<u8> {
    let mut out = vec![VERSION, list.len() as u8];
    for l in list {
        out.extend_from_slice(&l.id);
        out.extend_from_slice(&l.writer);
        out.extend_from_slice(&l.created_ms.to_be_bytes());
        out.extend_from_slice(&l.expires_ms.to_be_bytes());
    }
    out
}

pub fn decode_index(body: &[u8]) -> Option<Vec<Listed>> {
    if body.first() != Some(&VERSION) {
        return None;
    }
    let count = *body.get(1)? as usize;
    (0..count)
        .map(|i| {
            let at = 2 + i * INDEX_ENTRY;
            let e = body.get(at..at + INDEX_ENTRY)?;
            Some(Listed {
                id: e[..8].try_into().ok()?,
                writer: e[8..16].try_into().ok()?,
                created_ms: u64_at(e, 16)?,
                expires_ms: u64_at(e, 24)?,
            })
        })
        .collect()
}

pub fn encode_marker(spent_ms: u64) -> Vec<u8> {
    let mut out = vec![VERSION];
    out.extend_from_slice(&spent_ms.to_be_bytes());
    out
}

pub fn decode_marker(body: &[u8]) -> Option<u64> {
    (body.len() == 9 && body[0] == VERSION)
        .then(|| u64_at(body, 1))
        .flatten()
}
