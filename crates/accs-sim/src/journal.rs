//! The I/O Events journal of one registration: an ordered list of events,
//! each at an opaque position, paged as the Journaling API pages it
//! (AdobeDocs/adobe-io-events `src/pages/guides/api/journaling-api.md`):
//! - no query: the oldest available events; `latest=true`: the end (nothing
//!   yet, 204); `seek=<ISO 8601 duration>` (`-PT2H`, `-P1D`, `-P5DT2H`):
//!   from that long ago; `since=<position>`: the events after it
//!   (**exclusive**); `seek` with `since` is refused;
//! - `limit`: a positive integer, at most that many events (exactly that
//!   many when there are), and whatever the limit, a response of at most
//!   1.5 MB;
//! - events are kept 7 days ([`DEFAULT_RETENTION`]); a `since` at an expired
//!   position is 410 Gone.
//!
//! Pure paging; the HTTP answer (status, `Link`, `retry-after`, auth) is
//! `journal_http.rs`.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

/// Events stay in the journal this long (journaling-api.md, "Event expiry").
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The most a response body may weigh (journaling-api.md, "Limiting the
/// size of the batch": "capped at a maximum of 1.5 MB"), counted here as
/// 1,500,000 bytes, the smaller reading of "MB".
pub const PAGE_CAP_BYTES: usize = 1_500_000;

/// Events per page when the request names no `limit` (Adobe: "a default
/// number of events per request", not stated).
pub const DEFAULT_PAGE_EVENTS: usize = 100;

/// The `retry-after` seconds of a 204, as Adobe's examples show.
pub const RETRY_AFTER_SECS: u64 = 10;

struct Entry {
    seq: u64,
    at_ms: u64,
    event: Value,
}

/// The journal and its settings.
pub(crate) struct Journal {
    /// Ties positions to this journal: a position from another one is
    /// refused, not read as a sequence number here.
    tag: String,
    entries: VecDeque<Entry>,
    /// The sequence number the next event gets; the first is 1.
    next_seq: u64,
    /// Events before this sequence number have expired.
    first_live: u64,
    pub retention: Duration,
    pub page_cap_bytes: usize,
    pub default_page_events: usize,
    pub retry_after_secs: u64,
}

/// Where a request starts reading.
#[derive(Debug, PartialEq)]
pub(crate) enum Start {
    Oldest,
    Latest,
    /// After this position (exclusive).
    Since(String),
    /// From this long ago.
    Seek(Duration),
}

/// What a request gets.
#[derive(Debug, PartialEq)]
pub(crate) enum Page {
    /// 200: the body, the position of its last event.
    Events {
        body: Value,
        last: String,
        count: usize,
    },
    /// 204: nothing after `next_since` (`None`: the journal never had an
    /// event). `empty_journal`: asked for the oldest and there is none, which
    /// Adobe answers without `retry-after`.
    Nothing {
        next_since: Option<String>,
        empty_journal: bool,
    },
    /// 410: the position's events have expired.
    Gone(String),
    /// 400: a position this journal never gave out.
    BadPosition,
}

/// One event as a page lists it.
#[derive(Serialize)]
struct Listed<'a> {
    position: String,
    event: &'a Value,
}

impl Journal {
    pub fn new(tag: String) -> Self {
        Journal {
            tag,
            entries: VecDeque::new(),
            next_seq: 1,
            first_live: 1,
            retention: DEFAULT_RETENTION,
            page_cap_bytes: PAGE_CAP_BYTES,
            default_page_events: DEFAULT_PAGE_EVENTS,
            retry_after_secs: RETRY_AFTER_SECS,
        }
    }

    fn position(&self, seq: u64) -> String {
        format!("sim:{seq:012}:{}", self.tag)
    }

    /// The sequence number of a position this journal gave out.
    fn seq_of(&self, position: &str) -> Option<u64> {
        let rest = position.strip_prefix("sim:")?;
        let (seq, tag) = rest.split_once(':')?;
        let seq: u64 = seq.parse().ok()?;
        (tag == self.tag && seq > 0 && seq < self.next_seq).then_some(seq)
    }

    /// Appends `event` written at `at_ms`; returns its position.
    pub fn push(&mut self, event: Value, at_ms: u64) -> String {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push_back(Entry { seq, at_ms, event });
        self.position(seq)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every live event's position, oldest first.
    pub fn positions(&self) -> Vec<String> {
        self.entries.iter().map(|e| self.position(e.seq)).collect()
    }

    /// Expires the oldest `n` events now (a test's way to reach 410).
    pub fn expire_oldest(&mut self, n: usize) {
        for _ in 0..n.min(self.entries.len()) {
            if let Some(e) = self.entries.pop_front() {
                self.first_live = e.seq + 1;
            }
        }
        if self.entries.is_empty() {
            self.first_live = self.next_seq;
        }
    }

    /// Drops what is older than the retention at `now_ms`.
    pub fn expire(&mut self, now_ms: u64) {
        let keep = self.retention.as_millis() as u64;
        let old = self
            .entries
            .iter()
            .take_while(|e| e.at_ms.saturating_add(keep) <= now_ms)
            .count();
        self.expire_oldest(old);
    }

    /// The page for a request starting at `start`, at most `limit` events
    /// (the default when `None`).
    pub fn page(&mut self, start: &Start, limit: Option<usize>, now_ms: u64) -> Page {
        self.expire(now_ms);
        // The first sequence number to list.
        let from = match start {
            Start::Oldest => self.first_live,
            Start::Latest => self.next_seq,
            Start::Since(p) => match self.seq_of(p) {
                None => return Page::BadPosition,
                Some(seq) if seq < self.first_live => return Page::Gone(p.clone()),
                Some(seq) => seq + 1,
            },
            Start::Seek(ago) => {
                let cutoff = now_ms.saturating_sub(ago.as_millis() as u64);
                self.entries
                    .iter()
                    .find(|e| e.at_ms >= cutoff)
                    .map_or(self.next_seq, |e| e.seq)
            }
        };
        let limit = limit.unwrap_or(self.default_page_events).max(1);
        // `{"events":[...],"_page":{"last":"...","count":N}}` around the list.
        let mut size = 64 + self.position(self.next_seq).len();
        let mut listed = Vec::new();
        for e in self.entries.iter().filter(|e| e.seq >= from) {
            if listed.len() == limit {
                break;
            }
            let item = Listed {
                position: self.position(e.seq),
                event: &e.event,
            };
            let weight = serde_json::to_vec(&item).map_or(0, |v| v.len()) + 1;
            // At least one event, however big, so the reader moves on.
            if !listed.is_empty() && size + weight > self.page_cap_bytes {
                break;
            }
            size += weight;
            listed.push(item);
        }
        let Some(last) = listed.last().map(|l| l.position.clone()) else {
            let before = from.saturating_sub(1);
            return Page::Nothing {
                next_since: (before > 0).then(|| self.position(before)),
                empty_journal: *start == Start::Oldest && self.entries.is_empty(),
            };
        };
        let count = listed.len();
        let body = json!({
            "events": listed,
            "_page": { "last": last, "count": count },
        });
        Page::Events { body, last, count }
    }
}

/// An ISO 8601 duration as `seek` takes it: an optional `-` (back from now;
/// a forward one means the same here, nothing is in the future), then
/// `P[nW][nD][T[nH][nM][nS]]`, whole numbers. `None` when it is not one.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let body = text.strip_prefix('-').unwrap_or(text);
    let body = body.strip_prefix('P')?;
    let (date, time) = match body.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (body, None),
    };
    let mut secs: u64 = 0;
    let mut any = false;
    let mut add = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut num = String::new();
        let mut order = 0;
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let at = units.iter().position(|(u, _)| *u == c)?;
            if at < order || num.is_empty() {
                return None;
            }
            order = at + 1;
            let n: u64 = num.parse().ok()?;
            secs = secs.checked_add(n.checked_mul(units[at].1)?)?;
            num.clear();
            any = true;
        }
        num.is_empty().then_some(())
    };
    add(date, &[('W', 7 * 86_400), ('D', 86_400)])?;
    if let Some(t) = time {
        add(t, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    any.then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_adobe_writes_them() {
        assert_eq!(parse_duration("-PT2H"), Some(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("-P1D"), Some(Duration::from_secs(86_400)));
        assert_eq!(
            parse_duration("-P5DT2H"),
            Some(Duration::from_secs(5 * 86_400 + 7_200))
        );
        assert_eq!(parse_duration("PT90S"), Some(Duration::from_secs(90)));
        for bad in [
            "", "-P", "PT", "-PT2", "2H", "-PTH", "-PT2H1D", "-P1H", "-PT1M2H",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn since_is_exclusive_and_expired_is_gone() {
        let mut j = Journal::new("t".into());
        let p: Vec<String> = (0..3).map(|i| j.push(json!({ "n": i }), 1_000)).collect();
        let Page::Events { body, count, .. } = j.page(&Start::Since(p[0].clone()), None, 1_000)
        else {
            panic!("events")
        };
        assert_eq!(count, 2);
        assert_eq!(body["events"][0]["event"]["n"], 1);
        j.expire_oldest(1);
        assert_eq!(
            j.page(&Start::Since(p[0].clone()), None, 1_000),
            Page::Gone(p[0].clone())
        );
        assert_eq!(
            j.page(&Start::Since("sim:000000000001:other".into()), None, 1_000),
            Page::BadPosition
        );
    }
}
