//! What the component remembers of each delivery, in the key-value store:
//! a repeat of a finished delivery gets the same answer without touching
//! ACCS, a retry after a partial success re-sends only what did not land, and
//! a delivery racing another one on a second instance backs off.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a finished delivery is remembered.
pub const REMEMBER_MS: u64 = 24 * 60 * 60 * 1000;
/// How long a claim holds while its delivery is processed, at least: never
/// less than the request's ACCS budget ([`claim_ms`]), so a second delivery
/// cannot start while the first may still be sending.
pub const CLAIM_MS: u64 = 60_000;
/// What a claim holds beyond the budget: the ledger writes and the answer.
const CLAIM_MARGIN_MS: u64 = 10_000;

/// The claim's length for a request whose ACCS budget is `budget_ms`.
pub fn claim_ms(budget_ms: u64) -> u64 {
    CLAIM_MS.max(budget_ms.saturating_add(CLAIM_MARGIN_MS))
}

/// The SHA-256 of a delivery's body, hex: a `webhook-id` names one message,
/// and the ledger binds its record to this.
pub fn body_digest(body: &[u8]) -> String {
    crate::config::hex(&Sha256::digest(body))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Claimed by `owner` until `until_ms`.
    Processing,
    /// Some items landed (`landed`); a retry sends the rest.
    Partial,
    /// Answered `status` with `body`; repeats get the same.
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub state: State,
    pub owner: String,
    /// Claim expiry for `processing`, forgetting time otherwise.
    pub until_ms: u64,
    #[serde(default)]
    pub landed: Vec<usize>,
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub body: String,
    /// Of `body`: a stored problem replays as `application/problem+json`.
    #[serde(default)]
    pub problem: bool,
    /// [`body_digest`] of the delivery this record is about (empty in
    /// records written before it was kept: those match any body).
    #[serde(default)]
    pub body_sha256: String,
}

/// The store key of one delivery of one topic; the id is hashed so any
/// sender id makes a safe key.
pub fn key(topic: &str, id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(topic)
        .chain_update([0])
        .chain_update(id)
        .finalize();
    format!("accs-edge/webhook/v1/{}", crate::config::hex(&digest[..16]))
}

/// What to do with a delivery, given what the store holds for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answer this again.
    Replay {
        status: u16,
        body: String,
        problem: bool,
    },
    /// Someone else is on it.
    Busy { retry_after_s: u64 },
    /// Process; these item indexes already landed.
    Process { landed: Vec<usize> },
    /// The id was used for a different body: never a replay, never a resume.
    Mismatch,
}

/// `digest` is the [`body_digest`] of the delivery at hand.
pub fn verdict(record: Option<Record>, now_ms: u64, digest: &str) -> Verdict {
    let forgotten = |r: &Record| r.state == State::Done && r.until_ms <= now_ms;
    if let Some(r) = &record
        && !r.body_sha256.is_empty()
        && r.body_sha256 != digest
        && !forgotten(r)
    {
        return Verdict::Mismatch;
    }
    match record {
        Some(r) if r.until_ms > now_ms => match r.state {
            State::Done => Verdict::Replay {
                status: r.status,
                body: r.body,
                problem: r.problem,
            },
            State::Processing => Verdict::Busy {
                retry_after_s: (r.until_ms - now_ms).div_ceil(1000).clamp(1, 310),
            },
            State::Partial => Verdict::Process { landed: r.landed },
        },
        // Expired (a crashed claim or an old delivery): start over, but keep
        // what an expired claim knew had landed.
        Some(r) if r.state != State::Done => Verdict::Process { landed: r.landed },
        _ => Verdict::Process { landed: vec![] },
    }
}

pub fn parse(value: &[u8]) -> Option<Record> {
    serde_json::from_slice(value).ok()
}

pub fn encode(record: &Record) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: State, until_ms: u64) -> Record {
        Record {
            state,
            owner: "a".into(),
            until_ms,
            landed: vec![1, 2],
            status: 200,
            body: "{}".into(),
            problem: false,
            body_sha256: String::new(),
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(None, 5, ""), Verdict::Process { landed: vec![] });
        assert_eq!(
            verdict(Some(rec(State::Done, 10)), 5, ""),
            Verdict::Replay {
                status: 200,
                body: "{}".into(),
                problem: false,
            }
        );
        assert_eq!(
            verdict(Some(rec(State::Done, 10)), 10, ""),
            Verdict::Process { landed: vec![] }
        );
        assert_eq!(
            verdict(Some(rec(State::Processing, 30_000)), 5, ""),
            Verdict::Busy { retry_after_s: 30 }
        );
        assert_eq!(
            verdict(Some(rec(State::Processing, 10)), 11, ""),
            Verdict::Process { landed: vec![1, 2] }
        );
        assert_eq!(
            verdict(Some(rec(State::Partial, 10)), 5, ""),
            Verdict::Process { landed: vec![1, 2] }
        );
    }

    #[test]
    fn a_record_is_bound_to_its_body() {
        let mut r = rec(State::Done, 10);
        r.body_sha256 = body_digest(b"one");
        let d1 = body_digest(b"one");
        let d2 = body_digest(b"two");
        assert!(matches!(
            verdict(Some(r.clone()), 5, &d1),
            Verdict::Replay { .. }
        ));
        assert_eq!(verdict(Some(r.clone()), 5, &d2), Verdict::Mismatch);
        for state in [State::Processing, State::Partial] {
            r.state = state;
            assert_eq!(verdict(Some(r.clone()), 5, &d2), Verdict::Mismatch);
            assert_eq!(
                verdict(Some(r.clone()), 50, &d2),
                Verdict::Mismatch,
                "expired"
            );
        }
        // A finished delivery forgotten after 24 h: the id is free again.
        r.state = State::Done;
        assert_eq!(
            verdict(Some(r), 50, &d2),
            Verdict::Process { landed: vec![] }
        );
        assert_eq!(claim_ms(30_000), 60_000);
        assert_eq!(claim_ms(300_000), 310_000);
    }

    #[test]
    fn keys_are_per_topic_and_opaque() {
        assert_ne!(key("inventory", "m1"), key("products", "m1"));
        assert!(!key("inventory", "msg/../x").contains(".."));
        assert!(parse(b"garbage").is_none());
        let r = rec(State::Partial, 9);
        assert_eq!(parse(&encode(&r)), Some(r));
    }
}
