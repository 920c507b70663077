//! The sweep's index: how expired records are found in a store that cannot
//! list its keys, with bytes written per delivery that do not grow.
//!
//! A claim lists its record as one small key of the current hour,
//! `…/i/<hour>/<position>` (the record's name, about 35 bytes), at the first
//! free position from the hour's hint `…/i/<hour>/n`; nothing that grows is
//! ever rewritten. The sweep starts at `…/i/p`, the oldest hour it has not
//! finished, and walks each hour's positions in order (`…/i/<hour>/s`, a
//! lagging mark of where it got to), deleting expired records and then
//! their entries. Positions are taken without gaps, so the first empty one
//! at or past the hint ends an hour.
//!
//! Taking a position is exact with compare-and-swap (`kv-cas`: a swap from
//! nothing) and with files (an exclusive hard link). The default build
//! writes after seeing the position empty, so two instances may take one
//! position and one entry is lost: the claim reads its entry back after its
//! 50 ms settle and the finished delivery reads it again, and either lists
//! the record anew if another name is there ([`Ledger::relist_lost`]).

use super::*;

/// The old index's buckets per hour.
const LEGACY_SLOTS: u8 = 4;
/// Positions tried past the hint: more than instances racing on one hour.
const PROBES: u64 = 16;
/// The sweep's mark is written when it passes a multiple of this, so a
/// sweep writes it once in this many entries (a lagging mark costs a few
/// reads of emptied positions, never a missed entry).
const MARK_EVERY: u64 = 16;
/// Empty or finished hours one sweep walks past at most (after a long
/// quiet spell the next sweeps go on from there).
const HOURS_PER_SWEEP: u64 = 30;

/// Where a claim listed one name: its hour and position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Listed {
    pub hour: u64,
    pub at: u64,
    pub entry: String,
}

fn parse_u64(value: Option<&[u8]>) -> Option<u64> {
    std::str::from_utf8(value?).ok()?.parse().ok()
}

impl Ledger {
    fn index_name(&self, hour: u64, what: &str) -> String {
        format!("{}i/{hour}/{what}", self.prefix())
    }

    fn pointer_name(&self) -> String {
        format!("{}i/p", self.prefix())
    }

    /// Lists each of `entries` (names under the prefix) at its own position
    /// of the current hour. Writes per entry: the entry (about 35 bytes)
    /// and the hint (a few bytes); the first claim ever also writes the
    /// sweep's pointer.
    pub(super) async fn list<P: Ports>(
        &self,
        ports: &P,
        entries: &[String],
    ) -> Result<Vec<Listed>, LedgerError> {
        let hour = ports.now_ms() / HOUR_MS;
        let pointer = self.pointer_name();
        if self.get(ports, &pointer).await?.is_none() {
            self.put(ports, &pointer, hour.to_string().into_bytes())
                .await?;
        }
        let hint = self.index_name(hour, "n");
        let mut out = Vec::new();
        for entry in entries {
            let start = parse_u64(self.get(ports, &hint).await?.as_deref()).unwrap_or(0);
            let at = self.take_position(ports, hour, start, entry).await?;
            self.put(ports, &hint, (at + 1).to_string().into_bytes())
                .await?;
            out.push(Listed {
                hour,
                at,
                entry: entry.clone(),
            });
        }
        Ok(out)
    }

    /// The first free position from `start`, taken for `entry`.
    async fn take_position<P: Ports>(
        &self,
        ports: &P,
        hour: u64,
        start: u64,
        entry: &str,
    ) -> Result<u64, LedgerError> {
        let failed = |e: String| LedgerError::Store("list", e);
        for at in start..start + PROBES {
            let name = self.index_name(hour, &at.to_string());
            let value = entry.as_bytes().to_vec();
            match &self.place {
                Where::Kv => match ports.kv_swap(&name, None, value.clone()).await {
                    Ok(Swap::Done) => return Ok(at),
                    Ok(Swap::Changed) => continue,
                    Ok(Swap::Unsupported) => {
                        if self.get(ports, &name).await?.is_some() {
                            continue;
                        }
                        self.put(ports, &name, value).await?;
                        return Ok(at);
                    }
                    Err(e) => return Err(failed(e.0)),
                },
                Where::Dir(dir) => {
                    let tmp = temp_path(ports, dir);
                    let linked = match ports.file_write(&tmp, &value).await {
                        Ok(()) => ports.file_link(&tmp, &self.path(dir, &name)).await,
                        Err(e) => Err(e),
                    };
                    let _ = ports.file_remove(&tmp).await;
                    if linked.map_err(|e| failed(e.0))? {
                        return Ok(at);
                    }
                }
                Where::Missing => return Err(failed("no store".into())),
            }
        }
        Err(failed("no free index position".into()))
    }

    /// Reads each listed entry back and lists anew, in the current hour,
    /// any that another instance overwrote (the default build's race). A
    /// record listed later is swept later, never earlier than its expiry.
    pub(super) async fn relist_lost<P: Ports>(
        &self,
        ports: &P,
        listed: &mut [Listed],
    ) -> Result<(), LedgerError> {
        for l in listed.iter_mut() {
            let name = self.index_name(l.hour, &l.at.to_string());
            let seen = self.get(ports, &name).await?;
            if seen.as_deref() != Some(l.entry.as_bytes()) {
                let again = self.list(ports, std::slice::from_ref(&l.entry)).await?;
                *l = again.into_iter().next().unwrap_or_else(|| l.clone());
            }
        }
        Ok(())
    }

    /// Examines up to `budget` entries, oldest hour first: an expired record
    /// (or one that does not authenticate, which no one can use) is deleted
    /// with its bulk pages, then its entry; an hour whose entries are all
    /// gone loses its hint and mark, and the pointer moves past it. A record
    /// still remembered stops its hour until every record listed there must
    /// have expired or been listed again later (a retry lists it in its own
    /// hour); the sweep goes on with the next hour meanwhile.
    pub async fn sweep<P: Ports>(&self, ports: &P, budget: usize) -> Result<(), LedgerError> {
        let now = ports.now_ms();
        let pointer = self.pointer_name();
        let Some(first) = parse_u64(self.get(ports, &pointer).await?.as_deref()) else {
            return self.sweep_legacy(ports, budget).await;
        };
        let mut spent = 0;
        let mut finished_to = first;
        let mut hour = first;
        while spent < budget
            && hour < first + HOURS_PER_SWEEP
            && now >= hour * HOUR_MS + REMEMBER_MS
        {
            // Every record listed here was last claimed in this hour, so is
            // forgotten by then unless it was claimed (and listed) again.
            let all_due = now >= (hour + 1) * HOUR_MS + MAX_CLAIM_MS + REMEMBER_MS;
            let hint_name = self.index_name(hour, "n");
            let mark_name = self.index_name(hour, "s");
            let hinted = parse_u64(self.get(ports, &hint_name).await?.as_deref());
            let hint = hinted.unwrap_or(0);
            let mark = parse_u64(self.get(ports, &mark_name).await?.as_deref()).unwrap_or(0);
            let mut at = mark;
            let mut finished = false;
            loop {
                if spent >= budget {
                    break;
                }
                let name = self.index_name(hour, &at.to_string());
                let Some(entry) = self.get(ports, &name).await? else {
                    if at >= hint {
                        finished = true;
                        break;
                    }
                    // Emptied before the mark caught up.
                    at += 1;
                    continue;
                };
                spent += 1;
                if !self.sweep_entry(ports, &entry, now, all_due).await? {
                    break;
                }
                self.delete(ports, &name).await?;
                at += 1;
            }
            if finished {
                // Deleted only if there: an hour walked again (behind an
                // hour still held) costs reads, not writes.
                if hinted.is_some() {
                    self.delete(ports, &hint_name).await?;
                }
                if mark > 0 {
                    self.delete(ports, &mark_name).await?;
                }
                if finished_to == hour {
                    finished_to = hour + 1;
                }
            } else if at / MARK_EVERY > mark / MARK_EVERY {
                self.put(ports, &mark_name, at.to_string().into_bytes())
                    .await?;
            }
            hour += 1;
        }
        if finished_to != first {
            self.put(ports, &pointer, finished_to.to_string().into_bytes())
                .await?;
        }
        if spent < budget {
            self.sweep_legacy(ports, budget - spent).await?;
        }
        Ok(())
    }

    /// One entry: `false` when its record is still remembered and its hour
    /// not yet all due (the entry stays), else the record is dealt with.
    async fn sweep_entry<P: Ports>(
        &self,
        ports: &P,
        entry: &[u8],
        now: u64,
        all_due: bool,
    ) -> Result<bool, LedgerError> {
        // Anything but a name of this ledger (a torn write) is dropped.
        let Some(entry) = parse_lines(Some(entry)).into_iter().next() else {
            return Ok(true);
        };
        let record = format!("{}{entry}", self.prefix());
        if entry.contains(".c") {
            // The claim files of one generation: none is needed after a day.
            for k in 0..CLAIM_FILES {
                self.delete(ports, &format!("{record}-{k}")).await?;
            }
            return Ok(true);
        }
        let Some(bytes) = self.get(ports, &record).await? else {
            return Ok(true);
        };
        match self.open_stored(&record, &bytes) {
            Ok(s) if s.record.forget_ms > now && !all_due => Ok(false),
            Ok(s) if s.record.forget_ms > now => Ok(true),
            Ok(s) => {
                self.delete_pages(ports, &record, 0, s.pages).await?;
                self.delete(ports, &record).await?;
                Ok(true)
            }
            Err(_) => {
                self.delete(ports, &record).await?;
                Ok(true)
            }
        }
    }

    /// The index before this one (`…/head` listing `…/h/<hour>.<slot>`
    /// buckets, each a list of names): only swept, never written to, so
    /// its buckets shrink and go; the head goes with the last of them.
    async fn sweep_legacy<P: Ports>(&self, ports: &P, budget: usize) -> Result<(), LedgerError> {
        let now = ports.now_ms();
        let head_name = format!("{}head", self.prefix());
        let Some(head) = self.get(ports, &head_name).await? else {
            return Ok(());
        };
        let mut buckets = parse_buckets(Some(&head));
        let mut emptied = Vec::new();
        let mut spent = 0;
        for &bucket in &buckets {
            let hour = bucket.0;
            if spent >= budget || now < hour * HOUR_MS + REMEMBER_MS {
                break;
            }
            let all_due = now >= (hour + 1) * HOUR_MS + MAX_CLAIM_MS + REMEMBER_MS;
            let name = format!("{}h/{}.{}", self.prefix(), bucket.0, bucket.1);
            let stored = self.get(ports, &name).await?;
            let lines = parse_lines(stored.as_deref());
            let mut done = 0;
            while done < lines.len() && spent < budget {
                spent += 1;
                if !self
                    .sweep_entry(ports, lines[done].as_bytes(), now, all_due)
                    .await?
                {
                    break;
                }
                done += 1;
            }
            if done == lines.len() {
                self.delete(ports, &name).await?;
                emptied.push(bucket);
            } else if done > 0 {
                self.put(ports, &name, lines[done..].join("\n").into_bytes())
                    .await?;
            }
        }
        buckets.retain(|b| !emptied.contains(b));
        if buckets.is_empty() {
            self.delete(ports, &head_name).await?;
        } else if !emptied.is_empty() {
            self.put(ports, &head_name, join_buckets(&buckets)).await?;
        }
        Ok(())
    }
}

/// One bucket: its hour and slot.
pub(super) type Bucket = (u64, u8);

/// The head: `<hour>.<slot>` entries, comma-separated, oldest first.
pub(super) fn parse_buckets(value: Option<&[u8]>) -> Vec<Bucket> {
    let text = value
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("");
    let mut buckets: Vec<Bucket> = text
        .split(',')
        .filter_map(|b| {
            let (hour, slot) = b.split_once('.')?;
            Some((
                hour.parse().ok()?,
                slot.parse().ok().filter(|&s: &u8| s < LEGACY_SLOTS)?,
            ))
        })
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    buckets
}

pub(super) fn join_buckets(buckets: &[Bucket]) -> Vec<u8> {
    buckets
        .iter()
        .map(|(hour, slot)| format!("{hour}.{slot}"))
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}

/// A bucket's entries: names under the ledger's prefix, one a line; anything
/// else (a stray or torn write) is dropped, so a sweep only ever deletes
/// names of this ledger.
pub(super) fn parse_lines(value: Option<&[u8]>) -> Vec<String> {
    let text = value
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("");
    text.lines()
        .filter(|l| {
            l.starts_with("r/")
                && l.len() <= 64
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'.' || b == b'-')
                && !l.contains("..")
        })
        .map(str::to_owned)
        .collect()
}
