//! Which ACCS operation a call is: the method and the path template Magento
//! routes it by (its `webapi.xml` route), which is what one ACL resource
//! guards. A remembered denial is keyed by it, not by the inbound route: one
//! inbound request (a webhook delivery, an I/O Events event) may call both
//! `POST /V1/inventory/source-items` and `PUT /V1/products/{sku}`, and a role
//! lacking `Magento_Catalog::products` must not make the inventory call
//! denied too.

/// The ACCS paths the routes build (`routes/products.rs`, `orders.rs`,
/// `inventory/send.rs`, `bulk/`), as Magento's templates: a `{...}` segment
/// is one encoded segment of caller input.
const TEMPLATES: &[&str] = &[
    "/V1/products/{sku}",
    "/V1/products",
    "/V1/inventory/source-items",
    "/V1/async/bulk/products",
    "/V1/bulk/{bulkUuid}/detailed-status",
    "/V1/orders/{id}",
    "/V1/orders",
];

/// The template `path_and_query` (query ignored) matches; `None` for a path
/// no route builds.
pub fn template(path_and_query: &str) -> Option<&'static str> {
    let path = path_and_query.split('?').next().unwrap_or("");
    TEMPLATES.iter().copied().find(|t| {
        let (mut want, mut got) = (t.split('/'), path.split('/'));
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_the_routes_build_has_its_template() {
        let cases = [
            (crate::accs::path::product("a/b c"), "/V1/products/{sku}"),
            (
                "/V1/products?searchCriteria[pageSize]=5".to_owned(),
                "/V1/products",
            ),
            (
                "/V1/inventory/source-items".to_owned(),
                "/V1/inventory/source-items",
            ),
            (
                crate::accs::bulk::PRODUCTS.to_owned(),
                "/V1/async/bulk/products",
            ),
            (
                crate::accs::bulk::detailed_status_path("0b1c-2d"),
                "/V1/bulk/{bulkUuid}/detailed-status",
            ),
            ("/V1/orders/42".to_owned(), "/V1/orders/{id}"),
            ("/V1/orders?searchCriteria=x".to_owned(), "/V1/orders"),
        ];
        for (path, want) in cases {
            assert_eq!(template(&path), Some(want), "{path}");
        }
        for other in [
            "/V1/products/a/b",
            "/V1/products/",
            "/V1/categories/2",
            "/V1/inventory/source-items/x",
            "/V1/orders/1/comments",
        ] {
            assert_eq!(template(other), None, "{other}");
        }
    }
}
