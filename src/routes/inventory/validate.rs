//! A sync's body checked whole before anything is sent: every bad item is
//! named, and one bad item sends nothing.

use super::item::{Item, STATUS_RULE};
use super::read;
use crate::problem::Problem;
use crate::wire::MAX_ITEMS;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

const MAX_LISTED_ERRORS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    #[serde(rename = "sourceItems", borrow)]
    source_items: Option<Vec<&'a RawValue>>,
}

/// The same document with every item parsed as an `Item` in one pass.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Items<'a> {
    #[serde(rename = "sourceItems", borrow)]
    source_items: Option<Vec<Item<'a>>>,
}

/// Parses `{"sourceItems":[...]}` and checks every item; nothing is sent if
/// any item is malformed, and the 400 lists each bad index. A body that is
/// in order (the usual case) is read once, straight into `Item`s; any other
/// is read again item by item (no JSON tree per item), and only a bad item
/// is looked at a third time, to say what is wrong with it.
pub fn validate(body: &[u8]) -> Result<Vec<Item<'_>>, Problem> {
    // What these accept, the item-by-item reading below accepts too, with
    // the same items: `read::items` reads a subset of what serde_json does,
    // the same way, and serde's one pass parses each item's text by the same
    // `Item` rules.
    let whole = read::items(body).or_else(|| match serde_json::from_slice(body) {
        Ok(Items { source_items }) => source_items,
        Err(_) => None,
    });
    if let Some(items) = whole
        && (1..=MAX_ITEMS).contains(&items.len())
        && items.iter().all(|item| item.check().is_ok())
    {
        return Ok(items);
    }
    let doc: Body = serde_json::from_slice(body).map_err(|_| {
        Problem::bad_request(
            "the body must be a JSON object `{\"sourceItems\":[...]}` with no other member",
        )
    })?;
    let Some(items) = doc.source_items else {
        return Err(Problem::bad_request(
            "the body must hold a `sourceItems` array",
        ));
    };
    if items.is_empty() {
        return Err(Problem::bad_request("`sourceItems` is empty"));
    }
    if items.len() > MAX_ITEMS {
        return Err(Problem::bad_request(format!(
            "`sourceItems` holds {} items; at most {MAX_ITEMS} are accepted per request",
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, raw) in items.into_iter().enumerate() {
        let checked = match serde_json::from_str::<Item>(raw.get()) {
            Ok(item) => item.check().map(|()| item),
            Err(_) => Err(explain(raw.get())),
        };
        match checked {
            Ok(item) => out.push(item),
            Err(reason) => errors.push((index, reason)),
        }
    }
    if errors.is_empty() {
        return Ok(out);
    }
    let listed: Vec<Value> = errors
        .iter()
        .take(MAX_LISTED_ERRORS)
        .map(|(i, r)| serde_json::json!({"index": i, "reason": r}))
        .collect();
    let first = errors
        .iter()
        .take(5)
        .map(|(i, r)| format!("[{i}] {r}"))
        .collect::<Vec<_>>();
    let mut p = Problem::bad_request(format!(
        "{} of the source items are invalid, nothing was sent: {}{}",
        errors.len(),
        first.join("; "),
        if errors.len() > 5 { "; ..." } else { "" }
    ));
    p.errors = Some(Box::new(Value::Array(listed)));
    Err(p)
}

/// Why an item did not parse as an `Item`, member by member.
fn explain(raw: &str) -> String {
    match mismatch(raw) {
        Err(reason) => reason,
        Ok(()) => "is not a source item".into(),
    }
}

fn mismatch(raw: &str) -> Result<(), String> {
    let Ok(Value::Object(item)) = serde_json::from_str::<Value>(raw) else {
        return Err("must be an object".into());
    };
    let text = |k: &str, max: usize| match item.get(k) {
        Some(Value::String(_)) => Ok(()),
        _ => Err(format!("`{k}` must be a string of 1 to {max} characters")),
    };
    text("sku", 64)?;
    text("source_code", 255)?;
    if !matches!(item.get("quantity"), Some(Value::Number(_))) {
        return Err("`quantity` must be a number >= 0".into());
    }
    if !matches!(item.get("status"), Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s <= 1)) {
        return Err(STATUS_RULE.into());
    }
    match item
        .keys()
        .find(|k| !matches!(k.as_str(), "sku" | "source_code" | "quantity" | "status"))
    {
        Some(other) => Err(format!(
            "unknown member `{}`",
            crate::routes::search::printable(other)
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_item_is_named_and_nothing_passes() {
        let body = br#"{"sourceItems":[
            {"sku":"A","source_code":"default","quantity":1,"status":1},
            {"sku":"","source_code":"default","quantity":1,"status":1},
            {"sku":"B","source_code":"default","quantity":-1,"status":1},
            {"sku":"C","source_code":"default","quantity":1,"status":2},
            {"sku":"D","quantity":1,"status":1},
            {"sku":"E","source_code":"default","quantity":1,"status":1,"x":1},
            "F"
        ]}"#;
        let p = validate(body).unwrap_err();
        assert_eq!(p.status, 400);
        let idx = crate::testing::bad_indexes(&p);
        assert_eq!(idx, [1, 2, 3, 4, 5, 6]);
        assert!(p.detail.starts_with("6 of the source items are invalid"));
    }

    #[test]
    fn shapes_and_limits() {
        for bad in [
            &b"[]"[..],
            b"{}",
            br#"{"sourceItems":[]}"#,
            br#"{"sourceItems":{}}"#,
            b"nope",
            br#"{"sourceItems":[{"sku":"A","source_code":"s","quantity":0,"status":0}],"x":1}"#,
        ] {
            assert_eq!(validate(bad).unwrap_err().status, 400);
        }
        let item = r#"{"sku":"A","source_code":"s","quantity":0,"status":0}"#;
        let many = format!(
            r#"{{"sourceItems":[{}]}}"#,
            vec![item; MAX_ITEMS + 1].join(",")
        );
        assert!(
            validate(many.as_bytes())
                .unwrap_err()
                .detail
                .contains("at most 10000")
        );
        let max = format!(r#"{{"sourceItems":[{}]}}"#, vec![item; MAX_ITEMS].join(","));
        assert_eq!(validate(max.as_bytes()).unwrap().len(), MAX_ITEMS);
    }
}
