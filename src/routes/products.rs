//! `/v1/products`: catalog reads and upserts.

use super::search::{Filter, FilterKind, search};
use crate::accs::product_schema::{self, Refusal, TooLarge};
use crate::accs::{Call, Ctx, path};
use crate::ports::Ports;
use crate::problem::Problem;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The filters `GET /v1/products` maps onto `searchCriteria`.
pub(crate) const FILTERS: &[Filter] = &[
    Filter {
        param: "sku",
        field: "sku",
        kind: FilterKind::Equals,
    },
    Filter {
        param: "updated_since",
        field: "updated_at",
        kind: FilterKind::Since,
    },
];

pub async fn get_one<P: Ports>(ctx: &Ctx<'_, P>, raw_sku: &str) -> Result<Vec<u8>, Problem> {
    let sku = path::sku(raw_sku)?;
    Ok(ctx.call(&Call::get(path::product(&sku))).await?.body)
}

pub async fn list<P: Ports>(ctx: &Ctx<'_, P>, query: Option<&str>) -> Result<Vec<u8>, Problem> {
    search(ctx, "/V1/products", query, FILTERS).await
}

/// `PUT /v1/products/{sku}` with `{"product":{...}}`.
pub async fn put<P: Ports>(
    ctx: &Ctx<'_, P>,
    raw_sku: &str,
    body: &[u8],
) -> Result<Vec<u8>, Problem> {
    let sku = path::sku(raw_sku)?;
    let product = upsert_body(&sku, body)?;
    let result = ctx.call(&upsert_call(&sku, &product)).await;
    ctx.trace.items(1, usize::from(result.is_ok()));
    if result.is_ok() {
        let writer = ctx.trace.key.borrow().clone();
        let written = std::iter::once((sku.as_str(), &product));
        crate::echo::note_products(ctx.ports, ctx.settings, writer.as_deref(), written).await;
    }
    Ok(result?.body)
}

/// The call that upserts one product; shared with the products webhook.
pub fn upsert_call(sku: &str, product: &Map<String, Value>) -> Call {
    let body = serde_json::json!({ "product": product });
    Call {
        method: "PUT",
        path_and_query: path::product(sku),
        body: Some(serde_json::to_vec(&body).unwrap_or_default()),
    }
}

/// The product object of a `{"product":{...}}` body, with the path's SKU.
/// A different SKU in the body is a mistake worth stopping, not overriding.
pub fn upsert_body(sku: &str, body: &[u8]) -> Result<Map<String, Value>, Problem> {
    bounded(body, product_schema::MAX_LIST, None)?;
    let mut doc: Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
        Problem::bad_request("the body must be a JSON object `{\"product\":{...}}`")
    })?;
    let Some(Value::Object(mut product)) = doc.remove("product") else {
        return Err(Problem::bad_request(
            "the body must hold a `product` object",
        ));
    };
    if let Some(other) = doc.keys().next() {
        return Err(Problem::bad_request(format!(
            "unexpected member `{}`; the body holds only `product`",
            super::search::printable(other)
        )));
    }
    match product.get("sku") {
        None => {}
        Some(Value::String(s)) if s == sku => {}
        Some(_) => {
            return Err(Problem::bad_request(
                "`product.sku` differs from the SKU in the path",
            ));
        }
    }
    product.insert("sku".into(), Value::String(sku.to_owned()));
    let refused = product_schema::refusals(&product);
    if !refused.is_empty() {
        let fields: Vec<String> = refused
            .iter()
            .map(|r| format!("`product.{}`", r.field))
            .collect();
        let mut p = Problem::bad_request(format!(
            "ACCS would refuse this product for {}; nothing was sent",
            fields.join(", ")
        ));
        p.errors = Some(Box::new(Value::Array(field_errors(0, &refused))));
        return Err(p);
    }
    Ok(product)
}

/// Refuses a body whose tree would be too large before it is built
/// (`product_schema::shape`): a list directly in the body's object (`what`:
/// a bulk body's `products`) may hold `outer` items.
fn bounded(body: &[u8], outer: usize, what: Option<&str>) -> Result<(), Problem> {
    product_schema::shape(body, 2, outer).map_err(|e| match (e, what) {
        (TooLarge::Outer, Some(what)) => {
            Problem::bad_request(format!("{what} must hold 1 to {outer} products"))
        }
        (TooLarge::Outer, None) => {
            Problem::bad_request(format!("a list holds over {outer} items; nothing was sent"))
        }
        (TooLarge::Tree(why), _) => Problem::bad_request(format!("{why}; nothing was sent")),
    })
}

/// One `errors` entry per refused field of the product at `index`.
pub fn field_errors(index: usize, refused: &[Refusal]) -> Vec<Value> {
    refused
        .iter()
        .map(|r| serde_json::json!({ "index": index, "field": r.field, "reason": r.reason }))
        .collect()
}

/// A product to upsert: its SKU and the object sent as `product`.
pub type Upsert = (String, Map<String, Value>);

/// `{"products":[{"sku":...,...}]}` with 1 to `max` products: every product
/// checked before any is sent (the products webhook and the bulk route), and
/// the 400 names each bad index.
pub fn validate_list(body: &[u8], max: usize) -> Result<Vec<Upsert>, Problem> {
    bounded(body, max, Some("`products`"))?;
    let mut doc: Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
        Problem::bad_request("the body must be a JSON object `{\"products\":[...]}`")
    })?;
    let Some(Value::Array(list)) = doc.remove("products") else {
        return Err(Problem::bad_request(
            "the body must hold a `products` array",
        ));
    };
    if let Some(other) = doc.keys().next() {
        return Err(Problem::bad_request(format!(
            "unexpected member `{}`; the body holds only `products`",
            super::search::printable(other)
        )));
    }
    if list.is_empty() || list.len() > max {
        return Err(Problem::bad_request(format!(
            "`products` must hold 1 to {max} products"
        )));
    }
    let mut out = Vec::with_capacity(list.len());
    let mut errors = Vec::new();
    let mut invalid = 0;
    // A SKU's first index. Two upserts of one product in one request would
    // race (chunks and PUTs run concurrently, and ACCS's bulk consumers in
    // parallel), and each is a partial update, so neither "last wins" nor
    // a merge is what the sender meant: the later one is refused. Compared
    // without case: Magento's `catalog_product_entity.sku` is a MySQL
    // column under a case-insensitive collation, so `ab-1` and `AB-1` name
    // one product.
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(list.len());
    for (index, p) in list.into_iter().enumerate() {
        let checked = match p {
            // Taken as written: a JSON string is not a URL segment, so
            // `BOX%2012` is that SKU, not `BOX 12` (encoded once, into the path).
            Value::Object(p) => match p.get("sku").and_then(Value::as_str).map(path::json_sku) {
                Some(Ok(sku)) if seen.contains_key(&sku.to_lowercase()) => Err(vec![
                    serde_json::json!({"index": index, "field": "sku", "reason": format!(
                        "the product at index {} has this SKU too: one upsert per SKU in a request",
                        seen[&sku.to_lowercase()]
                    )}),
                ]),
                // A field ACCS cannot read fails that product's upsert: named
                // here, before anything is sent.
                Some(Ok(sku)) => match product_schema::refusals(&p) {
                    refused if refused.is_empty() => {
                        seen.insert(sku.to_lowercase(), index);
                        Ok((sku, p))
                    }
                    refused => Err(field_errors(index, &refused)),
                },
                _ => Err(vec![
                    serde_json::json!({"index": index, "reason": "`sku` must be a string of 1 to 64 characters without controls"}),
                ]),
            },
            _ => Err(vec![
                serde_json::json!({"index": index, "reason": "must be an object"}),
            ]),
        };
        match checked {
            Ok(v) => out.push(v),
            Err(mut e) => {
                invalid += 1;
                // Bounded like one product's list: the answer stays small.
                let room = (product_schema::MAX_REFUSALS * 4).saturating_sub(errors.len());
                e.truncate(room);
                errors.append(&mut e);
            }
        }
    }
    if invalid == 0 {
        return Ok(out);
    }
    let mut p = Problem::bad_request(format!(
        "{invalid} of the products are invalid, nothing was sent"
    ));
    p.errors = Some(Box::new(Value::Array(errors)));
    Err(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_sku_wins_and_a_different_one_is_refused() {
        let p = upsert_body("A/1", br#"{"product":{"name":"x"}}"#).unwrap();
        assert_eq!(p["sku"], "A/1");
        assert!(upsert_body("A/1", br#"{"product":{"sku":"A/1","price":2}}"#).is_ok());
        for bad in [
            &br#"{"product":{"sku":"B"}}"#[..],
            br#"{"product":{"sku":7}}"#,
            br#"{"product":[]}"#,
            br#"{"item":{}}"#,
            br#"{"product":{},"x":1}"#,
            b"[]",
            b"not json",
            b"",
        ] {
            assert_eq!(upsert_body("A/1", bad).unwrap_err().status, 400);
        }
    }

    #[test]
    fn a_sku_twice_in_one_request_is_refused_at_its_later_index() {
        let body =
            br#"{"products":[{"sku":"A-1"},{"sku":"B"},{"sku":"a-1","name":"x"},{"sku":"C"}]}"#;
        let p = validate_list(body, 10).unwrap_err();
        assert_eq!(crate::testing::bad_indexes(&p), [2]);
        let errors = p.errors.as_deref().unwrap();
        assert_eq!(errors[0]["field"], "sku");
        assert!(errors[0]["reason"].as_str().unwrap().contains("index 0"));
        // Another SKU, however close, is another product.
        assert!(validate_list(br#"{"products":[{"sku":"A-1"},{"sku":"A-2"}]}"#, 10).is_ok());
    }

    #[test]
    fn upsert_goes_to_the_encoded_sku() {
        let call = upsert_call("a/b c", &Map::new());
        assert_eq!(
            (call.method, call.path_and_query.as_str()),
            ("PUT", "/V1/products/a%2Fb%20c")
        );
        let body: Value = serde_json::from_slice(call.body.as_ref().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"product": {}}));
    }
}
