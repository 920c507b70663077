//! Magento `searchCriteria` from an inbound query: the caller's own
//! `searchCriteria[...]` keys pass through, and a few conveniences (`page`,
//! `page_size`, `sort` and per-route filters) map onto it. Anything else is
//! refused, so a typo is not silently ignored.

use crate::accs::limits::{self, Kind};
use crate::accs::{Call, Ctx};
use crate::ports::Ports;
use crate::problem::Problem;
use std::collections::BTreeMap;
use url::form_urlencoded;

/// Magento's maximum page size with the Web API input limits on
/// (`SearchCriteriaValidator`; [`limits::MAX_PAGE_SIZE`]): a larger
/// `page_size` is refused here, before anything is sent.
pub const MAX_PAGE_SIZE: u32 = limits::MAX_PAGE_SIZE as u32;
/// Magento's default page size (`webapi/validation/default_page_size`).
const DEFAULT_PAGE_SIZE: u32 = 20;

/// `GET {path}?{searchCriteria}` from the caller's query. A `page_size`
/// above the default (20) is held to the maximum ACCS taught this deployment
/// within the hour (one `get`; smaller pages cost none): over it, 400 naming
/// it, nothing sent. ACCS refusing a page size ("Maximum SearchCriteria
/// pageSize is %max") teaches its `max` (one `set`); its 400 is answered as is.
pub async fn search<P: Ports>(
    ctx: &Ctx<'_, P>,
    path: &str,
    query: Option<&str>,
    filters: &[Filter],
) -> Result<Vec<u8>, Problem> {
    let (criteria, page_size) = criteria_and_page_size(query, filters)?;
    let known = if page_size > DEFAULT_PAGE_SIZE {
        limits::learned(ctx, Kind::PageSize).await
    } else {
        None
    };
    if let Some(max) = known.filter(|&max| page_size as usize > max) {
        return Err(Problem::bad_request(format!(
            "`page_size` must be at most {max}: ACCS's maximum page size (Magento's Web API input limit, as ACCS answered within the last hour)"
        )));
    }
    match ctx.call(&Call::get(format!("{path}?{criteria}"))).await {
        Ok(r) => Ok(r.body),
        Err(p) => {
            if let Some(max) = limits::page_size_limit(&p).filter(|&max| Some(max) != known) {
                limits::learn(ctx, Kind::PageSize, max).await;
            }
            Err(p)
        }
    }
}

/// A query parameter that becomes one filter group.
pub struct Filter {
    pub param: &'static str,
    pub field: &'static str,
    pub kind: FilterKind,
}

pub enum FilterKind {
    /// `field = value`, or `like` when the value holds a `%` wildcard.
    Equals,
    /// `field >= value`, the value a date (`YYYY-MM-DD`) or date-time.
    Since,
}

pub fn search_criteria(query: Option<&str>, filters: &[Filter]) -> Result<String, Problem> {
    criteria_and_page_size(query, filters).map(|(criteria, _)| criteria)
}

/// The `searchCriteria` query and the page size it asks for.
fn criteria_and_page_size(
    query: Option<&str>,
    filters: &[Filter],
) -> Result<(String, u32), Problem> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    let (mut page, mut page_size, mut sort) = (None, None, None);
    let (mut next_group, mut next_sort) = (0u32, 0u32);
    let mut conveniences: Vec<(&Filter, String)> = Vec::new();
    // Filters and sort orders named so far, by their raw indexes, and
    // whether each has its `field` (Magento refuses one without).
    let mut entries: BTreeMap<(bool, String, String), bool> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if value.chars().any(char::is_control) {
            return Err(Problem::bad_request(format!(
                "query parameter `{}` contains control characters",
                printable(&key)
            )));
        }
        match key.as_ref() {
            "page" => page = Some(number(&key, &value, 1, u32::MAX)?),
            "page_size" => page_size = Some(number(&key, &value, 1, MAX_PAGE_SIZE)?),
            "sort" => sort = Some(sort_orders(&value)?),
            k if k.starts_with("searchCriteria") => {
                let entry = criteria_key(k, &value)?;
                let (is_sort, a, b, attr) = entry;
                let index = a.parse::<u32>().unwrap_or(0).saturating_add(1);
                if is_sort {
                    next_sort = next_sort.max(index);
                } else {
                    next_group = next_group.max(index);
                }
                let has_field = entries.entry((is_sort, a.into(), b.into())).or_default();
                *has_field |= attr == "field";
                out.append_pair(k, &value);
            }
            k => match filters.iter().find(|f| f.param == k) {
                Some(f) => conveniences.push((f, filter_value(f, &value)?)),
                None => {
                    let known: Vec<&str> = filters.iter().map(|f| f.param).collect();
                    return Err(Problem::bad_request(format!(
                        "unknown query parameter `{}`; use page, page_size, sort, {}searchCriteria[...]",
                        printable(k),
                        known.iter().map(|k| format!("{k}, ")).collect::<String>()
                    )));
                }
            },
        }
    }
    if let Some(((is_sort, a, b), _)) = entries.iter().find(|(_, has_field)| !**has_field) {
        let key = if *is_sort {
            format!("searchCriteria[sortOrders][{a}]")
        } else {
            format!("searchCriteria[filter_groups][{a}][filters][{b}]")
        };
        return Err(Problem::bad_request(format!(
            "`{}` has no `[field]`",
            printable(&key)
        )));
    }
    for (f, value) in conveniences {
        let g = format!("searchCriteria[filter_groups][{next_group}][filters][0]");
        let condition = match f.kind {
            FilterKind::Equals if value.contains('%') => "like",
            FilterKind::Equals => "eq",
            FilterKind::Since => "gteq",
        };
        out.append_pair(&format!("{g}[field]"), f.field);
        out.append_pair(&format!("{g}[value]"), &value);
        out.append_pair(&format!("{g}[condition_type]"), condition);
        next_group += 1;
    }
    for (field, direction) in sort.unwrap_or_default() {
        let s = format!("searchCriteria[sortOrders][{next_sort}]");
        out.append_pair(&format!("{s}[field]"), &field);
        out.append_pair(&format!("{s}[direction]"), direction);
        next_sort += 1;
    }
    let page_size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    out.append_pair("searchCriteria[pageSize]", &page_size.to_string());
    out.append_pair(
        "searchCriteria[currentPage]",
        &page.unwrap_or(1).to_string(),
    );
    Ok((out.finish(), page_size))
}

/// Magento's condition types that ACCS evaluates (`condition_type`): the
/// table of AdobeDocs commerce-webapi `src/pages/rest/use-rest/performing-searches.md`,
/// as Magento's MySQL adapter builds them (`Pdo\Mysql::prepareSqlCondition`):
/// `from` is `>=` and `to` is `<=` (a range is a group of each, ANDed),
/// `moreq` "more or equal", `nfinset` `NOT FIND_IN_SET(value, field)`.
pub const CONDITIONS: &[&str] = &[
    "eq", "neq", "like", "nlike", "gt", "gteq", "lt", "lteq", "in", "nin", "finset", "null",
    "notnull", "from", "to", "moreq", "nfinset",
];

/// (is a sort order, first index, second index, member) of a searchCriteria key.
type Entry<'k> = (bool, &'k str, &'k str, &'k str);

/// One `searchCriteria[...]` key, checked against the grammar the OpenAPI
/// document states: `[filter_groups][G][filters][F][field|value|condition_type]`
/// or `[sortOrders][N][field|direction]`, indexes of 1 to 3 digits, with its
/// value. Answers (is a sort order, first index, second index, member).
fn criteria_key<'k>(key: &'k str, value: &str) -> Result<Entry<'k>, Problem> {
    let bad = |why: &str| Problem::bad_request(format!("`{}`: {why}", printable(key)));
    let mut groups = Vec::new();
    let mut rest = key.strip_prefix("searchCriteria").unwrap_or(key);
    while let Some(r) = rest.strip_prefix('[') {
        let Some(end) = r.find(']') else {
            return Err(bad("unbalanced brackets"));
        };
        groups.push(&r[..end]);
        rest = &r[end + 1..];
    }
    if !rest.is_empty() || groups.is_empty() {
        return Err(bad(
            "searchCriteria keys are `searchCriteria[filter_groups][G][filters][F][field|value|condition_type]` or `searchCriteria[sortOrders][N][field|direction]`",
        ));
    }
    let index_ok = |i: &str| (1..=3).contains(&i.len()) && i.bytes().all(|b| b.is_ascii_digit());
    let entry = match groups.as_slice() {
        ["filter_groups", g, "filters", f, attr] => (false, *g, *f, *attr),
        ["sortOrders", n, attr] => (true, *n, "", *attr),
        ["pageSize"] => return Err(bad("use `page_size`")),
        ["currentPage"] => return Err(bad("use `page`")),
        _ => {
            return Err(bad(
                "searchCriteria keys are `searchCriteria[filter_groups][G][filters][F][field|value|condition_type]` or `searchCriteria[sortOrders][N][field|direction]`",
            ));
        }
    };
    let (is_sort, a, b, attr) = entry;
    if !index_ok(a) || (!is_sort && !index_ok(b)) {
        return Err(bad(&format!(
            "searchCriteria indexes go from 0 to {MAX_INDEX}"
        )));
    }
    let ok = match (is_sort, attr) {
        (_, "field") => is_field(value),
        (false, "value") => true,
        (false, "condition_type") => CONDITIONS.contains(&value),
        (true, "direction") => {
            value.eq_ignore_ascii_case("asc") || value.eq_ignore_ascii_case("desc")
        }
        _ => return Err(bad("unknown member")),
    };
    if !ok {
        return Err(bad(match attr {
            "field" => "a field is an attribute code: 1 to 64 letters, digits and `_`",
            "direction" => "the direction is ASC or DESC",
            _ => "unknown condition_type",
        }));
    }
    Ok(entry)
}

/// `sort=field:asc,other:desc` (direction optional, ascending by default).
fn sort_orders(value: &str) -> Result<Vec<(String, &'static str)>, Problem> {
    value
        .split(',')
        .map(|part| {
            let (field, dir) = part.split_once(':').unwrap_or((part, "asc"));
            let direction = match dir.to_ascii_lowercase().as_str() {
                "asc" => "ASC",
                "desc" => "DESC",
                _ => return Err(Problem::bad_request("`sort` takes field:asc or field:desc")),
            };
            if !is_field(field) {
                return Err(Problem::bad_request(
                    "`sort` fields are attribute codes: letters, digits and `_`",
                ));
            }
            Ok((field.to_owned(), direction))
        })
        .collect()
}

fn filter_value(f: &Filter, value: &str) -> Result<String, Problem> {
    match f.kind {
        FilterKind::Equals => {
            if value.is_empty() || value.chars().count() > 255 {
                return Err(Problem::bad_request(format!(
                    "`{}` must hold 1 to 255 characters",
                    f.param
                )));
            }
            Ok(value.to_owned())
        }
        FilterKind::Since => magento_datetime(value).ok_or_else(|| {
            Problem::bad_request(format!(
                "`{}` must be a date (YYYY-MM-DD) or a UTC date-time (YYYY-MM-DDTHH:MM:SSZ)",
                f.param
            ))
        }),
    }
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS[Z]`, as
/// Magento's `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn magento_datetime(value: &str) -> Option<String> {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let date_ok = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if !date_ok {
        return None;
    }
    let (month, day): (u32, u32) = (value[5..7].parse().ok()?, value[8..10].parse().ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let time = match &value[10..] {
        "" => "00:00:00",
        rest => {
            let rest = rest.strip_suffix('Z').unwrap_or(rest);
            let t = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('T'))?;
            let tb = t.as_bytes();
            let ok = tb.len() == 8
                && tb[2] == b':'
                && tb[5] == b':'
                && [0, 1, 3, 4, 6, 7].iter().all(|&i| tb[i].is_ascii_digit())
                && t[0..2].parse::<u32>().ok()? < 24
                && t[3..5].parse::<u32>().ok()? < 60
                && t[6..8].parse::<u32>().ok()? < 60;
            if !ok {
                return None;
            }
            t
        }
    };
    Some(format!("{} {time}", &value[..10]))
}

/// The largest `searchCriteria` index taken (`[filter_groups][N]`,
/// `[filters][N]`, `[sortOrders][N]`): three digits, so the indexes of the
/// conveniences appended after the caller's never come near overflow.
pub const MAX_INDEX: u32 = 999;

fn is_field(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn number(key: &str, value: &str, min: u32, max: u32) -> Result<u32, Problem> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Problem::bad_request(format!(
            "`{}` must be a whole number from {min} to {max}",
            printable(key)
        ))),
    }
}

/// A caller-supplied name, shortened and stripped, safe to echo in a detail.
pub fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_above_the_bound_are_refused() {
        let f = &[Filter {
            param: "sku",
            field: "sku",
            kind: FilterKind::Equals,
        }];
        let key =
            |i: &str| format!("searchCriteria[filter_groups][{i}][filters][0][field]=sku&sku=A");
        for bad in [
            "4294967295",
            "4294967296",
            "1000",
            "0001",
            "99999999999999999999",
        ] {
            let p = search_criteria(Some(&key(bad)), f).unwrap_err();
            assert_eq!(p.status, 400, "{bad}");
            assert!(p.detail.contains("0 to 999"), "{}", p.detail);
        }
        let ok = search_criteria(Some(&key("999")), f).unwrap();
        assert!(ok.contains("filter_groups%5D%5B1000%5D"), "{ok}");
        let p = search_criteria(Some("searchCriteria[sortOrders][4294967295][field]=x"), f);
        assert_eq!(p.unwrap_err().status, 400);
    }

    fn decoded(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(
            search_criteria(Some(q), crate::routes::products::FILTERS)
                .unwrap()
                .as_bytes(),
        )
        .into_owned()
        .collect()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn defaults_to_the_first_page_of_twenty() {
        assert_eq!(
            decoded(""),
            [
                pair("searchCriteria[pageSize]", "20"),
                pair("searchCriteria[currentPage]", "1")
            ]
        );
    }

    #[test]
    fn page_and_page_size_map_onto_search_criteria() {
        assert_eq!(
            decoded("page=3&page_size=300"),
            [
                pair("searchCriteria[pageSize]", "300"),
                pair("searchCriteria[currentPage]", "3")
            ]
        );
    }

    #[test]
    fn magento_syntax_passes_through_untouched() {
        let q = "searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=name\
                 &searchCriteria[filter_groups][0][filters][0][value]=%25shirt+blue%25\
                 &searchCriteria[filter_groups][0][filters][0][condition_type]=like\
                 &page_size=5";
        assert_eq!(
            decoded(q),
            [
                pair(
                    "searchCriteria[filter_groups][0][filters][0][field]",
                    "name"
                ),
                pair(
                    "searchCriteria[filter_groups][0][filters][0][value]",
                    "%shirt blue%"
                ),
                pair(
                    "searchCriteria[filter_groups][0][filters][0][condition_type]",
                    "like"
                ),
                pair("searchCriteria[pageSize]", "5"),
                pair("searchCriteria[currentPage]", "1"),
            ]
        );
    }

    #[test]
    fn conveniences_add_groups_after_the_callers_own() {
        let q = "searchCriteria[filter_groups][1][filters][0][field]=status\
                 &searchCriteria[filter_groups][1][filters][0][value]=1\
                 &sku=SKU-%25&updated_since=2026-01-02&sort=name:desc,price";
        let d = decoded(q);
        assert!(d.contains(&pair(
            "searchCriteria[filter_groups][2][filters][0][field]",
            "sku"
        )));
        assert!(d.contains(&pair(
            "searchCriteria[filter_groups][2][filters][0][value]",
            "SKU-%"
        )));
        assert!(d.contains(&pair(
            "searchCriteria[filter_groups][2][filters][0][condition_type]",
            "like"
        )));
        assert!(d.contains(&pair(
            "searchCriteria[filter_groups][3][filters][0][field]",
            "updated_at"
        )));
        assert!(d.contains(&pair(
            "searchCriteria[filter_groups][3][filters][0][value]",
            "2026-01-02 00:00:00"
        )));
        assert!(d.contains(&pair(
            "searchCriteria[filter_groups][3][filters][0][condition_type]",
            "gteq"
        )));
        assert!(d.contains(&pair("searchCriteria[sortOrders][0][field]", "name")));
        assert!(d.contains(&pair("searchCriteria[sortOrders][0][direction]", "DESC")));
        assert!(d.contains(&pair("searchCriteria[sortOrders][1][field]", "price")));
        assert!(d.contains(&pair("searchCriteria[sortOrders][1][direction]", "ASC")));
    }

    #[test]
    fn dates_are_normalised_to_magento_form() {
        assert_eq!(
            magento_datetime("2026-11-25").unwrap(),
            "2026-11-25 00:00:00"
        );
        assert_eq!(
            magento_datetime("2026-11-25T13:04:05Z").unwrap(),
            "2026-11-25 13:04:05"
        );
        assert_eq!(
            magento_datetime("2026-11-25 13:04:05").unwrap(),
            "2026-11-25 13:04:05"
        );
        for bad in [
            "",
            "2026-1-25",
            "2026-13-01",
            "2026-11-25T25:00:00Z",
            "2026-11-25X",
            "yesterday",
            "2026-11-25T13:04",
        ] {
            assert_eq!(magento_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_documented_condition_type_passes_through() {
        for condition in ["from", "to", "moreq", "nfinset", "finset", "notnull"] {
            let q = format!(
                "searchCriteria[filter_groups][0][filters][0][field]=price\
                 &searchCriteria[filter_groups][0][filters][0][value]=10\
                 &searchCriteria[filter_groups][0][filters][0][condition_type]={condition}"
            );
            assert!(
                decoded(&q).contains(&pair(
                    "searchCriteria[filter_groups][0][filters][0][condition_type]",
                    condition
                )),
                "{condition}"
            );
        }
        for bogus in ["range", "FROM", "nfinset ", "moreqq"] {
            let q = format!("searchCriteria[filter_groups][0][filters][0][condition_type]={bogus}");
            let p = search_criteria(Some(&q), crate::routes::products::FILTERS).unwrap_err();
            assert!(p.detail.contains("condition_type"), "{bogus}: {}", p.detail);
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        for (q, needle) in [
            ("page=0", "`page`"),
            ("page=x", "`page`"),
            ("page_size=301", "`page_size`"),
            ("searchCriteria[pageSize]=10", "use `page_size`"),
            ("searchCriteria[currentPage]=2", "use `page`"),
            (
                "searchCriteria[filter_groups][0][filters][0][value]=x",
                "no `[field]`",
            ),
            (
                "searchCriteria[sortOrders][0][direction]=asc",
                "no `[field]`",
            ),
            ("searchCriteria[sortOrders][0][field]=a-b", "attribute code"),
            ("searchCriteria[sortOrders][0][direction]=up", "ASC or DESC"),
            (
                "searchCriteria[filter_groups][0][filters][0][condition_type]=bogus",
                "condition_type",
            ),
            (
                "searchCriteria[filter_groups][0][other]=1",
                "searchCriteria keys are",
            ),
            (
                "searchCriteria[filter_groups][0][filters][0][x]=1",
                "unknown member",
            ),
            ("sort=name:asc,%20price", "`sort`"),
            ("limit=5", "`limit`"),
            ("searchCriteria=1", "`searchCriteria`"),
            ("searchCriteria[a]]=1", "searchCriteria[a]]"),
            ("searchCriteria[a b]=1", "searchCriteria[a b]"),
            ("searchCriteria[x]=a%0Ab", "control"),
            ("sort=name:up", "`sort`"),
            ("sort=na-me", "`sort`"),
            ("updated_since=tomorrow", "`updated_since`"),
            ("sku=", "`sku`"),
        ] {
            let p = search_criteria(Some(q), crate::routes::products::FILTERS).unwrap_err();
            assert_eq!(p.status, 400);
            assert!(p.detail.contains(needle), "{q}: {}", p.detail);
        }
    }

    /// Issue 31 item 7, searches: ACCS refusing a page size teaches its
    /// maximum; the next search over it, on products or orders, is a 400
    /// at the edge naming it, nothing sent; one at or under it is sent; one
    /// at the default page size costs no store read; over 300 is refused
    /// before anything, naming 300.
    #[test]
    fn a_page_size_over_the_learned_maximum_is_refused_at_the_edge() {
        use crate::routes::App;
        use crate::testing::{FakePorts, TEST_API_KEY, respond, settings};
        use crate::wire::InRequest;
        let get = |path: &str, query: &str| InRequest {
            method: "GET".into(),
            path: path.into(),
            query: Some(query.into()),
            headers: vec![("authorization".into(), format!("Bearer {TEST_API_KEY}"))],
            body: Vec::new(),
            ..Default::default()
        };
        let ports = FakePorts::new(|req, _| {
            if req.url.contains("/ims/") {
                return respond(200, r#"{"access_token":"t","expires_in":86399}"#);
            }
            if req.url.contains("searchCriteria%5BpageSize%5D=200") {
                return respond(
                    400,
                    r#"{"message":"Maximum SearchCriteria pageSize is %max","parameters":{"max":100}}"#,
                );
            }
            respond(200, r#"{"items":[],"total_count":0}"#)
        });
        let app = App::new(ports, settings(&[]));
        let ops = crate::accs::limits::count_ops(&app.ports);
        let accs_calls = |app: &App<FakePorts>| app.ports.sent_to("/V1/");
        let body = |r: &crate::wire::InResponse| -> serde_json::Value {
            serde_json::from_slice(&r.body).unwrap()
        };
        let block_on = futures::executor::block_on;

        let r = block_on(app.handle(get("/v1/products", "page_size=200")));
        assert_eq!(r.status, 400);
        assert_eq!(
            body(&r)["code"],
            "accs_error",
            "ACCS's own refusal, as it answered"
        );
        assert_eq!(accs_calls(&app), 1);
        assert_eq!(*ops.borrow(), (1, 1), "learned once");

        for path in ["/v1/products", "/v1/orders"] {
            let r = block_on(app.handle(get(path, "page_size=200")));
            assert_eq!(r.status, 400, "{path}");
            let v = body(&r);
            assert_eq!(v["code"], "invalid_request", "{path}: {v}");
            assert!(v["detail"].as_str().unwrap().contains("at most 100"), "{v}");
        }
        assert_eq!(accs_calls(&app), 1, "nothing sent over the learned maximum");

        let r = block_on(app.handle(get("/v1/orders", "page_size=100")));
        assert_eq!(r.status, 200);
        assert_eq!(accs_calls(&app), 2);
        let gets = ops.borrow().0;
        let r = block_on(app.handle(get("/v1/products", "page_size=20")));
        assert_eq!(r.status, 200);
        assert_eq!(ops.borrow().0, gets, "the default page size reads no limit");
        assert_eq!(ops.borrow().1, 1, "no set but the one that learned");

        let r = block_on(app.handle(get("/v1/products", "page_size=301")));
        assert_eq!(r.status, 400);
        assert!(body(&r)["detail"].as_str().unwrap().contains("1 to 300"));
        assert_eq!(accs_calls(&app), 3);
    }
}
