//! Magento `searchCriteria` from a raw query string, and its evaluation over JSON items.
//!
//! Keys may be snake_case or camelCase (`sort_orders` or `sortOrders`), as Magento accepts
//! both. Filters in one group are OR-ed, groups are AND-ed. Values compare numerically when
//! both sides are numbers, else as strings; `like` is case-insensitive like MySQL's default
//! collation, the other conditions are exact. A field is looked up at the top level, then in
//! `custom_attributes` (array values join with `,`, so `finset` works on `category_ids`).
//!
//! Paging follows Magento: a `currentPage` past the end answers the last page again (not an
//! empty list), so a client that pages until it sees no items never stops; `total_count` is
//! the way out. A missing or zero `pageSize` returns everything. Unlike Magento, a request
//! without any `searchCriteria` is accepted and lists everything.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Value, json};
use url::form_urlencoded;

use super::values::{compare, compare_opt, like, same, text};
use crate::magento;

pub(super) struct Criteria {
    groups: Vec<Vec<Filter>>,
    sort_orders: Vec<SortOrder>,
    page_size: Option<usize>,
    current_page: Option<usize>,
}

struct Filter {
    field: String,
    value: String,
    condition: Condition,
}

struct SortOrder {
    field: String,
    direction: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Condition {
    Eq,
    Neq,
    Like,
    Nlike,
    Gt,
    Gteq,
    Lt,
    Lteq,
    In,
    Nin,
    Finset,
    Null,
    Notnull,
    From,
    To,
    Moreq,
    Nfinset,
}

const CONDITIONS: [(&str, Condition); 17] = [
    ("eq", Condition::Eq),
    ("neq", Condition::Neq),
    ("like", Condition::Like),
    ("nlike", Condition::Nlike),
    ("gt", Condition::Gt),
    ("gteq", Condition::Gteq),
    ("lt", Condition::Lt),
    ("lteq", Condition::Lteq),
    ("in", Condition::In),
    ("nin", Condition::Nin),
    ("finset", Condition::Finset),
    ("null", Condition::Null),
    ("notnull", Condition::Notnull),
    ("from", Condition::From),
    ("to", Condition::To),
    ("moreq", Condition::Moreq),
    ("nfinset", Condition::Nfinset),
];

impl Condition {
    fn parse(name: &str) -> Option<Condition> {
        CONDITIONS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    fn name(self) -> &'static str {
        CONDITIONS
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("eq", |(n, _)| n)
    }
}

#[derive(Default)]
struct RawFilter {
    field: Option<String>,
    value: Option<String>,
    condition: Option<String>,
}

#[derive(Default)]
struct RawSort {
    field: Option<String>,
    direction: Option<String>,
}

impl Criteria {
    /// Parses the `searchCriteria[...]` keys of `query`; other keys are ignored.
    pub fn from_query(query: Option<&str>) -> magento::Result<Criteria> {
        let mut groups: BTreeMap<usize, BTreeMap<usize, RawFilter>> = BTreeMap::new();
        let mut sorts: BTreeMap<usize, RawSort> = BTreeMap::new();
        let mut page_size = None;
        let mut current_page = None;
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let Some(path) = bracket_path(&key) else {
                continue;
            };
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let value = value.into_owned();
            match path.as_slice() {
                ["filter_groups", g, "filters", f, attr] => {
                    let filter = groups
                        .entry(index(g, &key)?)
                        .or_default()
                        .entry(index(f, &key)?)
                        .or_default();
                    match *attr {
                        "field" => filter.field = Some(value),
                        "value" => filter.value = Some(value),
                        "condition_type" => filter.condition = Some(value),
                        _ => {}
                    }
                }
                ["sort_orders", n, attr] => {
                    let sort = sorts.entry(index(n, &key)?).or_default();
                    match *attr {
                        "field" => sort.field = Some(value),
                        "direction" => sort.direction = Some(value),
                        _ => {}
                    }
                }
                ["page_size"] => page_size = Some(number("pageSize", &value)?),
                ["current_page"] => current_page = Some(number("currentPage", &value)?),
                _ => {}
            }
        }
        Ok(Criteria {
            groups: groups
                .into_values()
                .map(|g| g.into_values().map(Filter::build).collect())
                .collect::<Result<_, _>>()?,
            sort_orders: sorts
                .into_values()
                .map(SortOrder::build)
                .collect::<Result<_, _>>()?,
            page_size,
            current_page,
        })
    }

    /// Magento's answer: the page of matching items, the criteria echoed back, the total.
    /// The `pageSize` asked for, if any.
    pub fn page_size(&self) -> Option<usize> {
        self.page_size
    }

    pub fn run<'a>(&self, items: impl Iterator<Item = &'a Value>) -> Value {
        let mut matched: Vec<&Value> = items
            .filter(|item| {
                self.groups
                    .iter()
                    .all(|g| g.iter().any(|f| f.matches(item)))
            })
            .collect();
        matched.sort_by(|a, b| self.compare(a, b));
        let total = matched.len();
        let page: Vec<Value> = self.page(&matched).iter().map(|v| (*v).clone()).collect();
        json!({ "items": page, "search_criteria": self.echo(), "total_count": total })
    }

    fn compare(&self, a: &Value, b: &Value) -> Ordering {
        self.sort_orders
            .iter()
            .map(|s| {
                let ord = compare_opt(text(a, &s.field), text(b, &s.field));
                if s.direction == "DESC" {
                    ord.reverse()
                } else {
                    ord
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    fn page<'a>(&self, items: &'a [&'a Value]) -> &'a [&'a Value] {
        let Some(size) = self.page_size.filter(|s| *s > 0) else {
            return items;
        };
        if items.is_empty() {
            return items;
        }
        let last = items.len().div_ceil(size);
        let page = self.current_page.unwrap_or(1).clamp(1, last);
        let start = (page - 1) * size;
        &items[start..(start + size).min(items.len())]
    }

    fn echo(&self) -> Value {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| {
                let filters: Vec<Value> = g
                    .iter()
                    .map(|f| {
                        json!({
                            "field": f.field,
                            "value": f.value,
                            "condition_type": f.condition.name(),
                        })
                    })
                    .collect();
                json!({ "filters": filters })
            })
            .collect();
        let mut echo = json!({ "filter_groups": groups });
        if !self.sort_orders.is_empty() {
            let sorts: Vec<Value> = self
                .sort_orders
                .iter()
                .map(|s| json!({ "field": s.field, "direction": s.direction }))
                .collect();
            echo["sort_orders"] = sorts.into();
        }
        if let Some(size) = self.page_size {
            echo["page_size"] = size.into();
        }
        if let Some(page) = self.current_page {
            echo["current_page"] = page.into();
        }
        echo
    }
}

impl Filter {
    fn build(raw: RawFilter) -> magento::Result<Filter> {
        let field = raw.field.ok_or_else(|| magento::required_field("field"))?;
        let name = raw.condition.unwrap_or_else(|| "eq".into());
        let condition = Condition::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
            magento::error(
                StatusCode::BAD_REQUEST,
                "Invalid condition type \"%1\".",
                json!([name]),
            )
        })?;
        Ok(Filter {
            field,
            value: raw.value.unwrap_or_default(),
            condition,
        })
    }

    fn matches(&self, item: &Value) -> bool {
        let Some(actual) = text(item, &self.field) else {
            // SQL: comparisons with NULL are never true.
            return self.condition == Condition::Null;
        };
        let list = || self.value.split(',').map(str::trim);
        match self.condition {
            Condition::Eq => same(&actual, &self.value),
            Condition::Neq => !same(&actual, &self.value),
            Condition::Like => like(&self.value, &actual),
            Condition::Nlike => !like(&self.value, &actual),
            Condition::Gt => compare(&actual, &self.value).is_gt(),
            Condition::Gteq => compare(&actual, &self.value).is_ge(),
            Condition::Lt => compare(&actual, &self.value).is_lt(),
            Condition::Lteq => compare(&actual, &self.value).is_le(),
            Condition::In => list().any(|v| same(&actual, v)),
            Condition::Nin => !list().any(|v| same(&actual, v)),
            Condition::Finset => in_set(&actual, &self.value),
            Condition::Null => false,
            Condition::Notnull => true,
            // `from` and `to` are `>=` and `<=` in Magento's MySQL adapter
            // (`Pdo\Mysql::prepareSqlCondition`'s `$conditionKeyMap`:
            // `'from' => "{{fieldName}} >= ?"`, `'to' => "{{fieldName}} <= ?"`;
            // a value is used as given unless the condition also names `date`
            // or `datetime`, which searchCriteria never does). A range is one
            // group each, ANDed (AdobeDocs commerce-webapi, performing-searches.md:
            // price `from` 40 in group 1, `to` 49.99 in group 2).
            Condition::From => compare(&actual, &self.value).is_ge(),
            Condition::To => compare(&actual, &self.value).is_le(),
            // "More or equal" (AdobeDocs, performing-searches.md; `["moreq" =>
            // $moreOrEqualValue]` in `Data\Collection\AbstractDb::addFieldToFilter`).
            Condition::Moreq => compare(&actual, &self.value).is_ge(),
            // `'nfinset' => "NOT FIND_IN_SET(?, {{fieldName}})"`: the negation
            // of `finset`; a missing field is SQL NULL and matches neither
            // (handled above).
            Condition::Nfinset => !in_set(&actual, &self.value),
        }
    }
}

/// `FIND_IN_SET(value, actual)`: `value` is one of `actual`'s comma-separated members.
fn in_set(actual: &str, value: &str) -> bool {
    actual.split(',').any(|v| v.trim() == value)
}

impl SortOrder {
    fn build(raw: RawSort) -> magento::Result<SortOrder> {
        let field = raw.field.ok_or_else(|| magento::required_field("field"))?;
        let direction = raw.direction.unwrap_or_else(|| "ASC".into()).to_uppercase();
        if direction != "ASC" && direction != "DESC" {
            return Err(magento::error(
                StatusCode::BAD_REQUEST,
                "Sort order \"%1\" is not supported.",
                json!([direction]),
            ));
        }
        Ok(SortOrder { field, direction })
    }
}

/// `searchCriteria[a][b]` -> `["a", "b"]`, camelCase names turned into snake_case.
fn bracket_path(key: &str) -> Option<Vec<String>> {
    let mut rest = key.strip_prefix("searchCriteria")?;
    let mut path = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let end = inner.find(']')?;
        path.push(snake_case(&inner[..end]));
        rest = &inner[end + 1..];
    }
    (rest.is_empty() && !path.is_empty()).then_some(path)
}

fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn index(segment: &str, key: &str) -> magento::Result<usize> {
    segment
        .parse()
        .map_err(|_| magento::invalid_value(key, segment))
}

fn number(field: &str, value: &str) -> magento::Result<usize> {
    value
        .trim()
        .parse()
        .map_err(|_| magento::invalid_value(field, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria(query: &str) -> Criteria {
        Criteria::from_query(Some(query)).unwrap_or_else(|_| panic!("bad query {query}"))
    }

    #[test]
    fn parses_camel_and_snake_keys() {
        let c = criteria(
            "searchCriteria[filterGroups][0][filters][0][field]=sku\
             &searchCriteria[filter_groups][0][filters][0][value]=x%2By\
             &searchCriteria[sortOrders][0][field]=price&searchCriteria[pageSize]=5",
        );
        assert_eq!(c.groups[0][0].value, "x+y");
        assert_eq!(c.sort_orders[0].direction, "ASC");
        assert_eq!(c.page_size, Some(5));
    }

    fn skus(query: &str) -> Vec<String> {
        let catalog = crate::seed::Catalog::default();
        let out = criteria(query).run(catalog.products.iter());
        out["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    }

    fn filter(group: usize, field: &str, value: &str, condition: &str) -> String {
        let f = format!("searchCriteria[filter_groups][{group}][filters][0]");
        format!("&{f}[field]={field}&{f}[value]={value}&{f}[condition_type]={condition}")
    }

    #[test]
    fn from_and_to_in_two_groups_are_an_inclusive_range() {
        // Seeded prices are 9.99 + 13.73 * i (mod 200): SKU-0001 23.72, SKU-0002 37.45.
        let range = filter(0, "price", "23.72", "from") + &filter(1, "price", "37.45", "to");
        let got = skus(&range);
        assert!(
            got.contains(&"SKU-0001".into()) && got.contains(&"SKU-0002".into()),
            "{got:?}"
        );
        let catalog = crate::seed::Catalog::default();
        for p in &catalog.products {
            let price = p["price"].as_f64().unwrap();
            let sku = p["sku"].as_str().unwrap().to_owned();
            assert_eq!(
                got.contains(&sku),
                (23.72..=37.45).contains(&price),
                "{sku} {price}"
            );
        }
    }

    #[test]
    fn moreq_is_more_or_equal() {
        // Seeded ids run 1 to 56; 55 and 56 are the last two odd SKUs.
        assert_eq!(skus(&filter(0, "id", "55", "moreq")), ["tab?&#", "dot.sku"]);
        // The entity tables' key, as the REST answer's `id`.
        assert_eq!(
            skus(&filter(0, "entity_id", "55", "moreq")),
            ["tab?&#", "dot.sku"]
        );
        assert_eq!(
            skus(&filter(0, "id", "55", "moreq")),
            skus(&filter(0, "id", "55", "gteq"))
        );
    }

    #[test]
    fn nfinset_is_the_complement_of_finset_among_items_with_the_field() {
        let with = skus(&filter(0, "category_ids", "5", "finset"));
        let without = skus(&filter(0, "category_ids", "5", "nfinset"));
        assert!(!with.is_empty() && !without.is_empty());
        assert!(with.iter().all(|s| !without.contains(s)));
        assert_eq!(
            with.len() + without.len(),
            crate::seed::Catalog::default().products.len()
        );
    }

    #[test]
    fn rejects_unknown_condition() {
        let q = "searchCriteria[filter_groups][0][filters][0][field]=sku\
                 &searchCriteria[filter_groups][0][filters][0][condition_type]=bogus";
        assert!(Criteria::from_query(Some(q)).is_err());
    }
}
