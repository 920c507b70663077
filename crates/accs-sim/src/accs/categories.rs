//! `/V1/categories`: the tree and single categories, for passthrough tests.

use axum::http::StatusCode;
use serde_json::{Value, json};
use url::form_urlencoded;

use super::Call;
use crate::magento;
use crate::seed::{Catalog, Category};
use crate::state::Shared;

/// Magento's default root is the store's root category, id 2.
const DEFAULT_ROOT: u64 = 2;

pub(super) fn tree(shared: &Shared, call: &Call<'_>) -> magento::Result {
    let root = form_urlencoded::parse(call.query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "rootCategoryId")
        .map(|(_, v)| v.into_owned());
    let id = match root.as_deref().map(str::parse::<u64>) {
        None => DEFAULT_ROOT,
        Some(Ok(id)) => id,
        Some(Err(_)) => return Err(not_found("rootCategoryId", root.as_deref().unwrap_or(""))),
    };
    let inner = shared.lock();
    let category = find(&inner.catalog, id).ok_or_else(|| not_found("id", &id.to_string()))?;
    Ok(magento::ok(&node(&inner.catalog, category)))
}

pub(super) fn get(shared: &Shared, id: &str) -> magento::Result {
    let inner = shared.lock();
    let category = id.parse().ok().and_then(|id| find(&inner.catalog, id));
    let category = category.ok_or_else(|| not_found("id", id))?;
    Ok(magento::ok(&detail(&inner.catalog, category)))
}

fn find(catalog: &Catalog, id: u64) -> Option<&Category> {
    catalog.categories.iter().find(|c| c.id == id)
}

fn children(catalog: &Catalog, id: u64) -> impl Iterator<Item = &Category> {
    catalog.categories.iter().filter(move |c| c.parent_id == id)
}

/// Products linked to the category or any descendant, as Magento's anchor count does.
fn product_count(catalog: &Catalog, category: &Category) -> usize {
    let mut ids = vec![category.id];
    let mut i = 0;
    while i < ids.len() {
        ids.extend(children(catalog, ids[i]).map(|c| c.id));
        i += 1;
    }
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    catalog
        .products
        .iter()
        .filter(|p| {
            p["extension_attributes"]["category_links"]
                .as_array()
                .is_some_and(|links| {
                    links.iter().any(|l| {
                        l["category_id"]
                            .as_str()
                            .is_some_and(|c| ids.iter().any(|i| i == c))
                    })
                })
        })
        .count()
}

fn node(catalog: &Catalog, c: &Category) -> Value {
    let kids: Vec<Value> = children(catalog, c.id).map(|k| node(catalog, k)).collect();
    json!({
        "id": c.id,
        "parent_id": c.parent_id,
        "name": c.name,
        "is_active": c.is_active,
        "position": c.position,
        "level": c.level,
        "product_count": product_count(catalog, c),
        "children_data": kids,
    })
}

fn detail(catalog: &Catalog, c: &Category) -> Value {
    let mut path = vec![c.id];
    while let Some(parent) = path
        .last()
        .and_then(|id| find(catalog, *id))
        .filter(|p| p.parent_id != 0)
    {
        path.push(parent.parent_id);
    }
    let path: Vec<String> = path.iter().rev().map(u64::to_string).collect();
    let kids: Vec<String> = children(catalog, c.id).map(|k| k.id.to_string()).collect();
    json!({
        "id": c.id,
        "parent_id": c.parent_id,
        "name": c.name,
        "is_active": c.is_active,
        "position": c.position,
        "level": c.level,
        "children": kids.join(","),
        "created_at": "2024-01-01 00:00:00",
        "updated_at": "2024-01-01 00:00:00",
        "path": path.join("/"),
        "available_sort_by": [],
        "include_in_menu": c.is_active,
        "custom_attributes": [
            { "attribute_code": "url_key", "value": c.name.to_lowercase().replace(' ', "-") },
            { "attribute_code": "is_anchor", "value": "1" },
        ],
    })
}

fn not_found(field: &str, value: &str) -> magento::Error {
    magento::error(
        StatusCode::NOT_FOUND,
        "No such entity with %fieldName = %fieldValue",
        json!({ "fieldName": field, "fieldValue": value }),
    )
}
