//! The shapes that cross the host boundary and the limits on them: a request
//! as the host delivers it, the answer handed back, and the caps on bodies
//! and syncs. A leaf: it imports nothing of ours, so the host adapters and
//! the core both stand on it without standing on each other.

/// A request as the host delivered it; the path is still percent-encoded.
#[derive(Clone, Debug, Default)]
pub struct InRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The SHA-256 of the API key this request presents, once computed:
    /// the head check and the request itself authorize the same request,
    /// and the digest is the one costly step (`auth::api_key`).
    pub key_digest: std::cell::OnceCell<[u8; 32]>,
}

impl InRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct InResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The largest response body read from an upstream.
pub const MAX_UPSTREAM_BODY: usize = 10 * 1024 * 1024;
/// The largest request body accepted from a caller.
pub const MAX_INBOUND_BODY: usize = 1024 * 1024;
/// The most items one sync takes (inventory route and webhooks).
pub const MAX_ITEMS: usize = 10_000;

/// The largest request body accepted for `method path`: 1 MiB, but 4 MiB for
/// the routes that take a sync (10,000 realistic source items, pretty-printed,
/// are about 1.5 MiB; 1,000 products with descriptions are larger still).
pub const SYNC_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The largest body of `POST /v1/products/bulk`: 10,000 products with
/// names, descriptions and attributes (about 1.5 KiB each) fit.
pub const BULK_BODY_LIMIT: usize = 16 * 1024 * 1024;

pub fn body_limit(method: &str, path: &str) -> usize {
    match (method, path) {
        ("POST", "/v1/products/bulk") => BULK_BODY_LIMIT,
        (
            "POST",
            "/v1/inventory/source-items" | "/v1/webhooks/inventory" | "/v1/webhooks/products",
        ) => SYNC_BODY_LIMIT,
        _ => MAX_INBOUND_BODY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_routes_take_four_mib_and_ten_thousand_pretty_items_fit() {
        assert_eq!(
            body_limit("POST", "/v1/inventory/source-items"),
            4 * 1024 * 1024
        );
        assert_eq!(
            body_limit("POST", "/v1/webhooks/inventory"),
            4 * 1024 * 1024
        );
        assert_eq!(body_limit("POST", "/v1/webhooks/products"), 4 * 1024 * 1024);
        assert_eq!(body_limit("POST", "/v1/products/bulk"), 16 * 1024 * 1024);
        for (m, p) in [
            // `PUT /v1/products/bulk` is the product with SKU `bulk`.
            ("PUT", "/v1/products/bulk"),
            ("POST", "/v1/products/bulk/x"),
            ("PUT", "/v1/products/A"),
            ("POST", "/v1/accs/V1/x"),
            ("GET", "/v1/inventory/source-items"),
        ] {
            assert_eq!(body_limit(m, p), MAX_INBOUND_BODY, "{m} {p}");
        }
        let items: Vec<serde_json::Value> = (0..10_000)
            .map(|i| serde_json::json!({"sku": format!("ACME-WIDGET-BLUE-{i:07}"), "source_code": "warehouse-berlin-01", "quantity": 12345.5, "status": 1}))
            .collect();
        let pretty = serde_json::to_vec_pretty(&serde_json::json!({"sourceItems": items})).unwrap();
        assert!(pretty.len() > MAX_INBOUND_BODY, "{}", pretty.len());
        assert!(pretty.len() < SYNC_BODY_LIMIT / 2, "{}", pretty.len());
    }
}
