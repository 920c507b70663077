//! Entries of one sync that set the same `(sku, source_code)`: the last one
//! wins. Keys are compared without case, as ACCS compares them: Magento's
//! `inventory_source_item` holds `sku` and `source_code` as MySQL
//! `varchar`s under a case-insensitive (`_ci`) collation, unique together, so
//! `ab-1` and `AB-1` at one source are one row.

use super::item::Item;
use std::cmp::Ordering;

/// A key's text without case, char by char: the one folding both the
/// sorted check and the hash use, so the two never disagree on which keys
/// are one (`str::to_lowercase` would not: its final-sigma rule folds `Σ`
/// at a word's end to `ς`, where a char alone folds to `σ`).
fn folded(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// Case-folded order of two keys' text.
fn folded_cmp(a: &str, b: &str) -> Ordering {
    folded(a).cmp(folded(b))
}

/// Which entries of one sync are sent: for each `(sku, source_code)` the last
/// entry wins and the earlier ones are superseded by it (never two writes of
/// one key in one sync, so no race decides which value stays). Returns the
/// indexes to send, in order, and `(index, by)` for each superseded one.
pub fn last_wins(items: &[Item<'_>]) -> (Vec<usize>, Vec<(usize, usize)>) {
    // A list in key order, as exports usually are, cannot hold a key twice
    // when each key is greater than the one before: nothing to hash then.
    if items.windows(2).all(|w| {
        folded_cmp(&w[0].sku, &w[1].sku)
            .then_with(|| folded_cmp(&w[0].source_code, &w[1].source_code))
            .is_lt()
    }) {
        return ((0..items.len()).collect(), Vec::new());
    }
    // Each key is hashed once: it gets a number in order of first sight,
    // and `last[number]` follows its latest entry.
    let mut number: std::collections::HashMap<(String, String), usize> =
        std::collections::HashMap::with_capacity(items.len());
    let mut last: Vec<usize> = Vec::with_capacity(items.len());
    let mut key_of: Vec<usize> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let k = *number
            .entry((
                folded(&item.sku).collect(),
                folded(&item.source_code).collect(),
            ))
            .or_insert(last.len());
        if k == last.len() {
            last.push(i);
        } else {
            last[k] = i;
        }
        key_of.push(k);
    }
    if last.len() == items.len() {
        return ((0..items.len()).collect(), Vec::new());
    }
    let mut send = Vec::with_capacity(last.len());
    let mut superseded = Vec::new();
    for (i, &k) in key_of.iter().enumerate() {
        let by = last[k];
        if by == i {
            send.push(i);
        } else {
            superseded.push((i, by));
        }
    }
    (send, superseded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::inventory::tests::item;

    #[test]
    fn the_last_entry_of_a_key_wins_and_the_earlier_are_superseded() {
        let items = [
            item("A", "default", 1),
            item("B", "default", 2),
            item("A", "wh-1", 3),
            item("A", "default", 4),
            item("B", "default", 5),
            item("A", "default", 6),
        ];
        let (send, superseded) = last_wins(&items);
        assert_eq!(send, [2, 4, 5]);
        assert_eq!(superseded, [(0, 5), (1, 4), (3, 5)]);
        // Distinct keys, in key order or not.
        let (send, superseded) = last_wins(&items[3..5]);
        assert_eq!((send, superseded), (vec![0, 1], vec![]));
        let (send, superseded) = last_wins(&[items[4].clone(), items[2].clone()]);
        assert_eq!((send, superseded), (vec![0, 1], vec![]));
        // In key order but for one repeat.
        let sorted = [item("A", "a", 1), item("A", "b", 2), item("A", "b", 3)];
        assert_eq!(last_wins(&sorted), (vec![0, 2], vec![(1, 2)]));
    }

    #[test]
    fn keys_that_differ_only_in_case_are_one_row() {
        // Sorted by bytes ("AB-1" < "ab-1"), so the fast path must fold too.
        let items = [item("AB-1", "default", 5), item("ab-1", "DEFAULT", 7)];
        assert_eq!(last_wins(&items), (vec![1], vec![(0, 1)]));
        let items = [
            item("ab-1", "default", 7),
            item("X", "default", 1),
            item("AB-1", "default", 5),
        ];
        assert_eq!(last_wins(&items), (vec![1, 2], vec![(0, 2)]));
        // Whether a list looks sorted must not change which keys are one:
        // the same two keys, in either order, give the same answer.
        let (a, b) = (item("ΑΣ", "default", 1), item("ας", "default", 2));
        let one_way = last_wins(&[a.clone(), b.clone()]).1.len();
        let other_way = last_wins(&[b, a]).1.len();
        assert_eq!(one_way, other_way);
    }
}
