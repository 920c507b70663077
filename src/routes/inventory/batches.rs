//! The plan of a sync (which entries are sent, which were superseded or
//! landed before) and the body of each batch it sends.

use super::duplicates::last_wins;
use super::item::Item;
use crate::json_write::{put_str, put_uint};

/// What one sync does with each entry: superseded by a later entry of its
/// key (`(index, by)`), landed by an earlier delivery (`done`), or sent
/// (`todo`, to be cut into batches); each in item order.
pub struct Plan {
    pub superseded: Vec<(usize, usize)>,
    pub done: Vec<usize>,
    pub todo: Vec<usize>,
}

/// The plan for `items` when those in `landed` (ascending) landed before.
pub fn plan(items: &[Item<'_>], landed: &[usize]) -> Plan {
    let (send, superseded) = last_wins(items);
    let (done, todo): (Vec<usize>, Vec<usize>) = send
        .into_iter()
        .partition(|i| landed.binary_search(i).is_ok());
    Plan {
        superseded,
        done,
        todo,
    }
}

/// `{"sourceItems":[...]}` with the items of `group`, written from the
/// items in place. Byte for byte what serializing them through a
/// `serde_json::Value` gave before: members in that map's (sorted) order,
/// the quantity as written.
pub(super) fn batch_body(items: &[Item<'_>], group: &[usize]) -> Vec<u8> {
    const OPEN: &[u8] = br#"{"sourceItems":["#;
    // Member names, punctuation and numbers: under 80 bytes an item.
    let size = OPEN.len()
        + 2
        + group
            .iter()
            .map(|&i| 80 + items[i].sku.len() + items[i].source_code.len())
            .sum::<usize>();
    let mut buf = Vec::with_capacity(size);
    buf.extend_from_slice(OPEN);
    for (n, &i) in group.iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        let item = &items[i];
        buf.extend_from_slice(br#"{"quantity":"#);
        match item.quantity.as_u64() {
            Some(q) => put_uint(&mut buf, q),
            None => {
                let _ = serde_json::to_writer(&mut buf, &item.quantity);
            }
        }
        buf.extend_from_slice(br#","sku":"#);
        put_str(&mut buf, &item.sku);
        buf.extend_from_slice(br#","source_code":"#);
        put_str(&mut buf, &item.source_code);
        buf.extend_from_slice(br#","status":"#);
        put_uint(&mut buf, u64::from(item.status));
        buf.push(b'}');
    }
    buf.extend_from_slice(b"]}");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::inventory::tests::awkward_items;

    #[test]
    fn batch_bodies_are_what_serializing_through_a_value_gave() {
        let items = awkward_items();
        for group in [&[0usize][..], &[0, 1, 2, 3], &[3, 1]] {
            let before = serde_json::to_vec(&serde_json::json!({
                "sourceItems": group.iter().map(|&i| &items[i]).collect::<Vec<_>>()
            }))
            .unwrap();
            assert_eq!(
                String::from_utf8(batch_body(&items, group)).unwrap(),
                String::from_utf8(before).unwrap()
            );
        }
    }
}
