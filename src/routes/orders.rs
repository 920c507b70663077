//! `/v1/orders`: order reads.

use super::search::{Filter, FilterKind, search};
use crate::accs::{Call, Ctx};
use crate::ports::Ports;
use crate::problem::Problem;

const FILTERS: &[Filter] = &[
    Filter {
        param: "created_since",
        field: "created_at",
        kind: FilterKind::Since,
    },
    Filter {
        param: "status",
        field: "status",
        kind: FilterKind::Equals,
    },
];

pub async fn list<P: Ports>(ctx: &Ctx<'_, P>, query: Option<&str>) -> Result<Vec<u8>, Problem> {
    search(ctx, "/V1/orders", query, FILTERS).await
}

pub async fn get_one<P: Ports>(ctx: &Ctx<'_, P>, raw_id: &str) -> Result<Vec<u8>, Problem> {
    let id = order_id(raw_id)?;
    Ok(ctx.call(&Call::get(format!("/V1/orders/{id}"))).await?.body)
}

/// Magento's `entity_id`: a positive whole number of at most 19 digits
/// (leading zeros aside), nothing else; the document's pattern says the same.
fn order_id(raw: &str) -> Result<u64, Problem> {
    let digits = raw.trim_start_matches('0');
    match digits.parse::<u64>() {
        Ok(id) if id > 0 && digits.len() <= 19 && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(Problem::bad_request(
            "the order id must be a positive whole number of at most 19 digits (the order's entity_id)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_decimal_ids() {
        assert_eq!(order_id("42").unwrap(), 42);
        assert_eq!(order_id("007").unwrap(), 7);
        assert_eq!(
            order_id("9999999999999999999").unwrap(),
            9_999_999_999_999_999_999
        );
        for bad in [
            "0",
            "-1",
            "+1",
            "1.0",
            "1e3",
            "abc",
            "",
            "%31",
            "99999999999999999999",
            "10000000000000000000",
            "000",
        ] {
            assert!(order_id(bad).is_err(), "{bad}");
        }
    }
}
