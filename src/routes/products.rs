//! `/v1/products`: catalog reads.

use crate::accs::{Call, Ctx, path};
use crate::host::Ports;
use crate::problem::Problem;
use url::form_urlencoded;

pub const MAX_PAGE_SIZE: u32 = 300;
const DEFAULT_PAGE_SIZE: u32 = 20;

pub async fn get_one<P: Ports>(ctx: &Ctx<'_, P>, raw_sku: &str) -> Result<Vec<u8>, Problem> {
    let sku = path::sku(raw_sku)?;
    Ok(ctx.call(&Call::get(path::product(&sku))).await?.body)
}

pub async fn list<P: Ports>(ctx: &Ctx<'_, P>, query: Option<&str>) -> Result<Vec<u8>, Problem> {
    let query = search_criteria(query)?;
    Ok(ctx
        .call(&Call::get(format!("/V1/products?{query}")))
        .await?
        .body)
}

/// Turns the inbound query into Magento `searchCriteria`: its own keys pass
/// through, `page` and `page_size` map onto it, anything else is refused so a
/// typo is not silently ignored.
pub fn search_criteria(query: Option<&str>) -> Result<String, Problem> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    let (mut page, mut page_size) = (None, None);
    let (mut has_page, mut has_size) = (false, false);
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
            k if is_search_criteria_key(k) => {
                if k == "searchCriteria[currentPage]" {
                    number(k, &value, 1, u32::MAX)?;
                    has_page = true;
                }
                if k == "searchCriteria[pageSize]" {
                    number(k, &value, 1, MAX_PAGE_SIZE)?;
                    has_size = true;
                }
                out.append_pair(k, &value);
            }
            k => {
                return Err(Problem::bad_request(format!(
                    "unknown query parameter `{}`; use page, page_size or searchCriteria[...]",
                    printable(k)
                )));
            }
        }
    }
    if (page.is_some() && has_page) || (page_size.is_some() && has_size) {
        return Err(Problem::bad_request(
            "give page and page_size or searchCriteria[currentPage] and searchCriteria[pageSize], not both",
        ));
    }
    if !has_size {
        out.append_pair(
            "searchCriteria[pageSize]",
            &page_size.unwrap_or(DEFAULT_PAGE_SIZE).to_string(),
        );
    }
    if !has_page {
        out.append_pair(
            "searchCriteria[currentPage]",
            &page.unwrap_or(1).to_string(),
        );
    }
    Ok(out.finish())
}

/// `searchCriteria` followed by one or more `[name]` groups of word characters.
fn is_search_criteria_key(key: &str) -> bool {
    let Some(mut rest) = key.strip_prefix("searchCriteria") else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    while let Some(r) = rest.strip_prefix('[') {
        let Some(end) = r.find(']') else { return false };
        let name = &r[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return false;
        }
        rest = &r[end + 1..];
    }
    rest.is_empty()
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
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(search_criteria(Some(q)).unwrap().as_bytes())
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
                 &searchCriteria[pageSize]=5";
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
    fn bad_parameters_are_named() {
        for (q, needle) in [
            ("page=0", "`page`"),
            ("page=x", "`page`"),
            ("page_size=301", "`page_size`"),
            ("searchCriteria[pageSize]=1000", "searchCriteria[pageSize]"),
            ("limit=5", "`limit`"),
            ("searchCriteria=1", "`searchCriteria`"),
            ("searchCriteria[a]]=1", "searchCriteria[a]]"),
            ("searchCriteria[a b]=1", "searchCriteria[a b]"),
            ("page=1&searchCriteria[currentPage]=2", "not both"),
            ("searchCriteria[x]=a%0Ab", "control"),
        ] {
            let p = search_criteria(Some(q)).unwrap_err();
            assert_eq!(p.status, 400);
            assert!(p.detail.contains(needle), "{q}: {}", p.detail);
        }
    }
}
