//! How `searchCriteria` sees a JSON item's field: as text, compared numerically when both
//! sides are plain decimals, with SQL `LIKE` semantics for patterns.

use std::cmp::Ordering;

use serde_json::Value;

/// The field's value as text: top level first, then `custom_attributes`.
pub(super) fn text(item: &Value, field: &str) -> Option<String> {
    // Magento's entity tables key every row by `entity_id`, which a
    // product's REST answer names `id`: a filter on either finds it.
    let direct = item
        .get(field)
        .or_else(|| (field == "entity_id").then(|| item.get("id")).flatten())
        .filter(|v| !v.is_null());
    let custom = || {
        item.get("custom_attributes")?
            .as_array()?
            .iter()
            .find(|a| a["attribute_code"] == field)
            .map(|a| &a["value"])
    };
    scalar_text(direct.or_else(custom)?)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(scalar_text)
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Null | Value::Object(_) => None,
    }
}

/// Strictly decimal, so SKUs like `inf` or `1e5` stay strings.
fn numeric(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let plain = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1;
    plain.then(|| s.parse().ok()).flatten()
}

pub(super) fn compare(a: &str, b: &str) -> Ordering {
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        // MySQL compares text under the column's collation, Magento's
        // `utf8_general_ci`: without case (`WHERE sku = 'sku-0001'` finds
        // `SKU-0001`), and sorts that way too.
        _ => a
            .chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase)),
    }
}

pub(super) fn same(a: &str, b: &str) -> bool {
    compare(a, b).is_eq()
}

/// Missing values sort first, like SQL NULLs in ascending order.
pub(super) fn compare_opt(a: Option<String>, b: Option<String>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => compare(&a, &b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// SQL `LIKE`: `%` any run, `_` one character, `\` escapes; case-insensitive.
pub(super) fn like(pattern: &str, text: &str) -> bool {
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars().flat_map(char::to_lowercase);
    while let Some(c) = chars.next() {
        toks.push(match c {
            '%' => Tok::Any,
            '_' => Tok::One,
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // reach[j]: the tokens so far can consume exactly text[..j].
    let mut reach = vec![false; text.len() + 1];
    reach[0] = true;
    for tok in &toks {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match tok {
                Tok::Any => reach[j] || (j > 0 && next[j - 1]),
                Tok::One => j > 0 && reach[j - 1],
                Tok::Lit(c) => j > 0 && reach[j - 1] && text[j - 1] == *c,
            };
        }
        reach = next;
    }
    reach[text.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_handles_wildcards_and_case() {
        assert!(like("sku-00%", "SKU-0012"));
        assert!(like("%0_2", "SKU-0012"));
        assert!(!like("%0_2", "SKU-0021"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("%", ""));
    }

    #[test]
    fn numbers_compare_numerically() {
        assert!(compare("9.5", "10").is_lt());
        assert!(compare("SKU-9", "SKU-10").is_gt());
        assert!(same("5", "5.0"));
        assert!(numeric("inf").is_none());
    }
}
