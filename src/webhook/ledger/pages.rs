//! A bulk delivery's accepted bulks, in pages of their own beside its
//! record (`<record>.b<k>`), so the record stays under [`MAX_RECORD`]
//! whatever the bulks: up to [`MAX_BULK_PAGES`] pages of at most
//! [`MAX_RECORD`] bytes, at least [`MIN_BULKS_PER_PAGE`] bulks each (more
//! than a delivery can have: each bulk holds one product at least).
//!
//! Pages are append-only: the bulks keep the order they were first
//! recorded in, a later delivery's new bulks go after them, and packing is
//! greedy, so the pages a record names are never rewritten but the last
//! one (which only gains bulks). A record whose write failed after its
//! pages were written still reads a prefix of them that holds every bulk
//! it knew of. Only the pages that change are written.

use super::*;

/// Pages a record may have.
pub const MAX_BULK_PAGES: usize = 32;
/// A page's bulks as text, at most: its JSON, `.` and MAC stay in
/// [`MAX_RECORD`].
const PAGE_TEXT: usize = MAX_RECORD - 128;
/// The longest bulk as text ([`decode_bulks`] takes uuids up to 64
/// characters, indexes and `from` below [`MAX_INDEXES`]) and its comma.
const LONGEST_BULK: usize = 64 + 1 + 5 + 1 + 5 + 1 + 5 + 1;
/// Bulks a page holds however long their uuids (ACCS's take 36 characters:
/// about 88 a page).
pub const MIN_BULKS_PER_PAGE: usize = PAGE_TEXT / LONGEST_BULK;
/// The most bulks a record keeps: past this, see [`Ledger::write_pages`].
pub const MAX_BULKS: usize = MAX_BULK_PAGES * MIN_BULKS_PER_PAGE;

#[derive(Serialize, Deserialize)]
struct Page {
    #[serde(rename = "b", with = "bulks_text")]
    bulks: Vec<BulkRef>,
}

/// `bulks` in pages, greedily: a prefix of a list packs as a prefix of the
/// pages, the last one perhaps shorter.
pub(super) fn pack(bulks: &[BulkRef]) -> Vec<Vec<BulkRef>> {
    let mut pages: Vec<Vec<BulkRef>> = Vec::new();
    let mut used = PAGE_TEXT;
    for b in bulks {
        // Its text and a comma, exactly.
        let len = format!("{}:{}:{},", b.uuid, b.first, b.count).len();
        if used + len > PAGE_TEXT {
            pages.push(Vec::new());
            used = 0;
        }
        used += len;
        if let Some(page) = pages.last_mut() {
            page.push(b.clone());
        }
    }
    pages
}

/// The bulks in the order they are kept: `before`'s that `now` still holds,
/// then `now`'s new ones.
pub(super) fn appended(before: &[BulkRef], now: &[BulkRef]) -> Vec<BulkRef> {
    let mut out: Vec<BulkRef> = before.iter().filter(|b| now.contains(b)).cloned().collect();
    out.extend(now.iter().filter(|b| !before.contains(b)).cloned());
    out
}

impl Ledger {
    fn page_name(name: &str, k: usize) -> String {
        format!("{name}.b{k}")
    }

    /// Writes the pages of `record`'s bulks that differ from those of
    /// `before` (the bulks as the store holds them), and says how many
    /// pages the record names. Past [`MAX_BULKS`] (not reachable while a
    /// delivery holds at most [`MAX_BULKS`] products; `routes::bulk::delivery`
    /// asserts it at compile time) the record keeps the first pages, is
    /// marked as holding more, and is made final: a replay answers the bulks
    /// it has, a retry never sends again what an unkept bulk held.
    pub(super) async fn write_pages<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        before: &[BulkRef],
        record: &mut Record,
    ) -> Result<Written, LedgerError> {
        let kept = appended(before, &record.bulks);
        let mut pages = pack(&kept);
        let more = pages.len() > MAX_BULK_PAGES;
        if more {
            pages.truncate(MAX_BULK_PAGES);
            if record.state != State::Processing {
                record.state = State::Done;
            }
        }
        let old = pack(before);
        for (k, page) in pages.iter().enumerate() {
            if old.get(k) == Some(page) {
                continue;
            }
            let page_name = Self::page_name(name, k);
            let json = serde_json::to_vec(&Page {
                bulks: page.clone(),
            })
            .unwrap_or_default();
            self.put(ports, &page_name, self.seal_json(&page_name, json))
                .await?;
        }
        record.bulks = pages.concat();
        Ok(Written {
            pages: pages.len(),
            more,
        })
    }

    /// The bulks of a record that names `pages` pages, in their order.
    pub(super) async fn read_pages<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        pages: usize,
    ) -> Result<Vec<BulkRef>, LedgerError> {
        let mut out = Vec::new();
        for k in 0..pages.min(MAX_BULK_PAGES) {
            let page_name = Self::page_name(name, k);
            let Some(bytes) = self.get(ports, &page_name).await? else {
                return Err(LedgerError::Store("read", "a bulk page is missing".into()));
            };
            let json = self.unseal_json(&page_name, &bytes)?;
            let page: Page = serde_json::from_slice(json).map_err(|_| LedgerError::Unauthentic)?;
            out.extend(page.bulks);
        }
        Ok(out)
    }

    /// Deletes pages `from..to` of a record.
    pub(super) async fn delete_pages<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        from: usize,
        to: usize,
    ) -> Result<(), LedgerError> {
        for k in from..to.min(MAX_BULK_PAGES) {
            self.delete(ports, &Self::page_name(name, k)).await?;
        }
        Ok(())
    }
}

/// What [`Ledger::write_pages`] wrote: the pages the record names, and
/// whether more bulks were accepted than they hold.
pub(super) struct Written {
    pub pages: usize,
    pub more: bool,
}
