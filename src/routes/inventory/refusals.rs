//! What ACCS's refusals of a sync's batches say: a batch refused for its
//! content, and source codes ACCS does not know.

use super::item::Item;
use crate::problem::Problem;
use serde_json::Value;

/// What ACCS said of a sync's source codes. Magento saves a batch with one
/// multi-row insert, and an unknown `source_code` breaks its foreign key:
/// 400 "Could not save Source Item", naming nothing
/// (`Magento\Inventory\Model\SourceItem\Command\SourceItemsSave`; Magento's
/// own `InventoryApi` `SourceItemsSave\ValidationTest` expects exactly that
/// for a source that does not exist). Splitting alone would spend about two
/// calls per item of such a source against the tenant's rate limit, so a
/// source is taken as unknown once two of its items were each refused alone
/// with that answer and none of its items landed in this sync; its other
/// items then fail with the same reason, unsent.
///
/// Plain sorted vectors rather than hash sets: the sources of a sync are
/// few, and each new hash map type costs the `.wasm` a few KB.
#[derive(Default)]
pub(super) struct Sources<'s> {
    /// Lone refusals per source, with the problem ACCS answered.
    pub(super) refused: std::cell::RefCell<Vec<(&'s str, u8, Problem)>>,
    /// Sources of items that landed, sorted.
    pub(super) landed: std::cell::RefCell<Vec<&'s str>>,
}

/// Magento's answer to a batch naming a source that does not exist.
const UNKNOWN_SOURCE: &str = "Could not save Source Item";

impl<'s> Sources<'s> {
    pub(super) fn landed(&self, items: &'s [Item<'_>], group: &[usize]) {
        let mut landed = self.landed.borrow_mut();
        let mut last: Option<&str> = None;
        for &i in group {
            let sc: &'s str = &items[i].source_code;
            // Batches mostly name one source: looked up once per run.
            if last != Some(sc) {
                if let Err(at) = landed.binary_search(&sc) {
                    landed.insert(at, sc);
                }
                last = Some(sc);
            }
        }
    }

    pub(super) fn has_landed(&self, source: &str) -> bool {
        self.landed.borrow().binary_search(&source).is_ok()
    }

    /// `item` was refused alone with `p`.
    pub(super) fn refused_alone(&self, item: &'s Item<'_>, p: &Problem) {
        if !is_unknown_source(p) {
            return;
        }
        let mut refused = self.refused.borrow_mut();
        match refused
            .iter_mut()
            .find(|(sc, _, _)| *sc == item.source_code)
        {
            Some(entry) => entry.1 = entry.1.saturating_add(1),
            None => refused.push((&item.source_code, 1, p.clone())),
        }
    }

    /// How often items of `source` were refused alone, while none landed.
    pub(super) fn strikes(&self, source: &str) -> u8 {
        if self.has_landed(source) {
            return 0;
        }
        self.refused
            .borrow()
            .iter()
            .find(|(sc, _, _)| *sc == source)
            .map_or(0, |(_, n, _)| *n)
    }

    /// The problem for an item of a source taken as unknown.
    pub(super) fn unknown(&self, source: &str) -> Option<Problem> {
        if self.strikes(source) < 2 {
            return None;
        }
        let refused = self.refused.borrow();
        let (_, _, p) = refused.iter().find(|(sc, _, _)| *sc == source)?;
        let mut p = p.clone();
        p.detail = "not sent: ACCS refused two items of this source_code alone in this sync (Magento's answer to a source that does not exist)".into();
        Some(p)
    }
}

pub(super) fn is_unknown_source(p: &Problem) -> bool {
    refused_as_a_whole(p)
        && p.upstream
            .as_deref()
            .and_then(|u| u.get("message"))
            .and_then(Value::as_str)
            == Some(UNKNOWN_SOURCE)
}

/// ACCS refused the batch's content (Magento's all-or-nothing 400, or a 413
/// for its size): smaller parts may pass.
pub fn refused_as_a_whole(p: &Problem) -> bool {
    p.code == crate::problem::Code::AccsError && matches!(p.status, 400 | 413)
}
