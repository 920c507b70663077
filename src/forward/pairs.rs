//! The per-target states of one event, as its record in the events ledger
//! holds them (in the record's `summary`, which the ledger seals and MACs
//! with the rest): one record per event, whatever the number of targets,
//! so a delivery costs the same ledger writes for one target or sixteen.

use super::outcome::Attempt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// A 2xx: never sent again.
    #[serde(rename = "d")]
    Delivered,
    /// In the dead letters: never sent again by a delivery (a replay may).
    #[serde(rename = "x")]
    DeadLettered,
    /// The echo of the target's own write: not sent (docs/FORWARDING.md).
    #[serde(rename = "e")]
    Echo,
    /// Not taken yet: the next delivery tries again.
    #[serde(rename = "p")]
    Pending,
    /// Done trying, its dead letter not written yet (the store failed):
    /// the next delivery writes it without sending again.
    #[serde(rename = "o")]
    Owed,
}

impl Status {
    pub fn settled(self) -> bool {
        !matches!(self, Status::Pending | Status::Owed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Delivered => "delivered",
            Status::DeadLettered => "dead_lettered",
            Status::Echo => "echo_suppressed",
            Status::Pending | Status::Owed => "pending",
        }
    }
}

/// One (event, target) pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    #[serde(rename = "s")]
    pub status: Status,
    /// Attempts sent so far (an echo or a skipped attempt is none).
    #[serde(rename = "a", default)]
    pub attempts: u32,
    /// The first and the last attempt's times (ms), 0 before any.
    #[serde(rename = "f", default)]
    pub first_ms: u64,
    #[serde(rename = "l", default)]
    pub last_ms: u64,
    /// The last answer's status; 0 for none (a timeout, no connection).
    #[serde(rename = "c", default)]
    pub last_status: u16,
}

impl Pair {
    pub fn new() -> Pair {
        Pair {
            status: Status::Pending,
            attempts: 0,
            first_ms: 0,
            last_ms: 0,
            last_status: 0,
        }
    }

    /// This pair after an attempt at `now_ms` whose meaning is `attempt`,
    /// with `max` attempts allowed, and why it is to be dead-lettered, if
    /// it is.
    pub fn after(&self, attempt: &Attempt, now_ms: u64, max: u32) -> (Pair, Option<String>) {
        let mut next = self.clone();
        next.attempts = next.attempts.saturating_add(1);
        if next.first_ms == 0 {
            next.first_ms = now_ms;
        }
        next.last_ms = now_ms;
        let why = match attempt {
            Attempt::Delivered(s) => {
                next.last_status = *s;
                next.status = Status::Delivered;
                None
            }
            Attempt::Refused(s) => {
                next.last_status = *s;
                Some(format!(
                    "the target refused it with {s}, which a retry would not change"
                ))
            }
            Attempt::Transient { status, reason, .. } => {
                next.last_status = status.unwrap_or(0);
                (next.attempts >= max).then(|| {
                    format!(
                        "{reason} on the last of {} attempts (`forward_max_attempts`)",
                        next.attempts
                    )
                })
            }
        };
        if why.is_some() {
            next.status = Status::DeadLettered;
        }
        (next, why)
    }
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

/// Every target's pair of one event, by target name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pairs(pub BTreeMap<String, Pair>);

impl Pairs {
    /// From a record's summary; a record without one (or not ours: the
    /// ledger has authenticated it already, so only an older shape) knows
    /// no pair yet.
    pub fn from_summary(summary: Option<&str>) -> Pairs {
        summary
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    pub fn to_summary(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn get(&self, target: &str) -> Pair {
        self.0.get(target).cloned().unwrap_or_default()
    }

    pub fn set(&mut self, target: &str, pair: Pair) {
        self.0.insert(target.to_owned(), pair);
    }

    /// Whether every one of `targets` is done with.
    pub fn all_settled<'a>(&self, mut targets: impl Iterator<Item = &'a str>) -> bool {
        targets.all(|t| self.get(t).status.settled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> Attempt {
        Attempt::Transient {
            status: Some(503),
            reason: "the target answered 503".into(),
            retry_after_s: None,
        }
    }

    #[test]
    fn attempts_count_up_to_the_limit_then_dead_letter() {
        let mut p = Pair::new();
        for n in 1..5 {
            let (next, why) = p.after(&transient(), 1_000 * n as u64, 5);
            assert_eq!(
                (next.status, next.attempts, why),
                (Status::Pending, n, None)
            );
            p = next;
        }
        assert_eq!((p.first_ms, p.last_ms, p.last_status), (1_000, 4_000, 503));
        let (last, why) = p.after(&transient(), 9_000, 5);
        assert_eq!((last.status, last.attempts), (Status::DeadLettered, 5));
        assert!(why.unwrap().contains("last of 5 attempts"));
        // One attempt allowed: the first failure is the last.
        let (one, why) = Pair::new().after(&transient(), 1, 1);
        assert_eq!((one.status, why.is_some()), (Status::DeadLettered, true));
    }

    #[test]
    fn a_refusal_dead_letters_at_once_and_a_2xx_delivers() {
        let (p, why) = Pair::new().after(&Attempt::Refused(404), 5, 5);
        assert_eq!(
            (p.status, p.attempts, p.last_status),
            (Status::DeadLettered, 1, 404)
        );
        assert!(why.unwrap().contains("404"));
        let (p, why) = Pair::new().after(&Attempt::Delivered(204), 5, 5);
        assert_eq!((p.status, why), (Status::Delivered, None));
    }

    #[test]
    fn pairs_round_trip_through_the_summary() {
        let mut pairs = Pairs::default();
        pairs.set("erp", Pair::new().after(&Attempt::Delivered(200), 7, 5).0);
        pairs.set("wms", Pair::new().after(&transient(), 7, 5).0);
        let back = Pairs::from_summary(Some(&pairs.to_summary()));
        assert_eq!(back, pairs);
        assert!(!back.all_settled(["erp", "wms"].into_iter()));
        assert!(back.all_settled(["erp"].into_iter()));
        assert_eq!(Pairs::from_summary(None).get("erp"), Pair::new());
        assert_eq!(
            Pairs::from_summary(Some("{\"summary\":1}")),
            Pairs::default()
        );
        // 16 targets of 32-character names stay far under the ledger's 4 KiB.
        let mut full = Pairs::default();
        for i in 0..16 {
            let p = Pair::new().after(&transient(), 1_700_000_000_000, 50).0;
            full.set(&format!("{i:0>32}"), p);
        }
        assert!(
            full.to_summary().len() < 2_000,
            "{}",
            full.to_summary().len()
        );
    }
}
