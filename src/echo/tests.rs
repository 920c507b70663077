//! Echo notes over fake ports: what is an echo for whom, once, within the
//! window; forged notes; failing stores; and the writes a sync costs.

use super::*;
use crate::accs::Ctx;
use crate::testing::{FakePorts, KvOp, respond, settings};
use futures::executor::block_on;
use serde_json::json;

const STOCK: &str = "com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after";
const PRODUCT: &str = "com.adobe.commerce.observer.catalog_product_save_commit_after";

fn ports() -> FakePorts {
    FakePorts::new(|_, _| respond(200, "[]"))
}

fn q(v: serde_json::Value) -> serde_json::Number {
    match v {
        Value::Number(n) => n,
        _ => unreachable!(),
    }
}

/// `writer` wrote `(sku, source, quantity, status)` items.
fn wrote(ports: &FakePorts, writer: &str, items: &[(&str, &str, Value, u8)]) {
    let s = settings(&[]).unwrap();
    let quantities: Vec<serde_json::Number> = items.iter().map(|i| q(i.2.clone())).collect();
    let stock = items.iter().zip(&quantities).map(|(i, quantity)| Stock {
        sku: i.0,
        source_code: i.1,
        quantity,
        status: i.3,
    });
    block_on(note_stock(ports, &s, Some(writer), stock));
}

/// The stock event's `data` as Commerce's payload carries it (MSI names).
fn stock_event(sku: &str, source: &str, quantity: Value, status: Value) -> Value {
    json!({"value": {"sku": sku, "source_code": source, "quantity": quantity, "status": status}})
}

fn check(
    ports: &FakePorts,
    event_type: &str,
    data: &Value,
    target: &str,
) -> Result<bool, EchoError> {
    let s = settings(&[]).unwrap();
    block_on(is_echo(ports, &s, event_type, Some(data), target))
}

#[test]
fn a_matching_event_is_an_echo_for_the_writer_only() {
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
    // Magento's spellings: a decimal string, a folded SKU.
    let event = stock_event("sku-1", "default", json!("5.0000"), json!(1));
    assert_eq!(
        check(&p, STOCK, &event, "pim"),
        Ok(false),
        "another target gets it"
    );
    assert_eq!(
        check(&p, STOCK, &event, "erp"),
        Ok(true),
        "the writer does not"
    );
}

#[test]
fn a_legacy_stock_item_with_a_sku_matches_on_qty_and_is_in_stock() {
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(12.5), 1)]);
    let event = json!({"value": {"sku": "SKU-1", "qty": "12.5", "is_in_stock": true}});
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(true));
    // Without a SKU (the payload's `product_id` only) nothing can be told.
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(12.5), 1)]);
    let event = json!({"value": {"product_id": 7, "qty": 12.5, "is_in_stock": true}});
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(false));
    // ...which the caller is told, to resolve the id if it can.
    assert_eq!(unnamed_product_id(STOCK, Some(&event)), Some(7));
    let named = json!({"value": {"product_id": "7", "sku": "SKU-1"}});
    assert_eq!(unnamed_product_id(STOCK, Some(&named)), None);
    assert_eq!(unnamed_product_id(PRODUCT, Some(&event)), None);
}

#[test]
fn fields_that_differ_are_not_an_echo() {
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
    let event = stock_event("SKU-1", "default", json!(6), json!(1));
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(false));
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
    let event = stock_event("SKU-1", "default", json!(5), json!(0));
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(false));
    // Another source is another entity.
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
    let event = stock_event("SKU-1", "wh-2", json!(5), json!(1));
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(false));
}

#[test]
fn after_the_window_it_is_not_an_echo() {
    let event = stock_event("SKU-1", "default", json!(5), json!(1));
    for (after_ms, echo) in [
        (DEFAULT_WINDOW_S * 1000 - 1, true),
        (DEFAULT_WINDOW_S * 1000, false),
    ] {
        let p = ports();
        wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
        p.advance(after_ms);
        assert_eq!(
            check(&p, STOCK, &event, "erp"),
            Ok(echo),
            "{after_ms} ms after"
        );
    }
}

#[test]
fn a_note_suppresses_one_event_and_a_change_in_between_voids_it() {
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
    let five = stock_event("SKU-1", "default", json!(5), json!(1));
    let seven = stock_event("SKU-1", "default", json!(7), json!(1));
    assert_eq!(check(&p, STOCK, &five, "erp"), Ok(true), "our write's echo");
    assert_eq!(check(&p, STOCK, &five, "erp"), Ok(false), "consumed once");
    // Voided: write 5, admin sets 7, then back to 5.
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
    assert_eq!(check(&p, STOCK, &seven, "erp"), Ok(false), "the admin's 7");
    assert_eq!(
        check(&p, STOCK, &five, "erp"),
        Ok(false),
        "back to 5: not ours"
    );
    // A new write after that is noted afresh.
    p.advance(1);
    wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
    assert_eq!(check(&p, STOCK, &five, "erp"), Ok(true));
}

#[test]
fn a_forged_note_suppresses_nothing() {
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
    // One bit of every value's MAC flipped, the rest intact: the index and
    // the note no longer authenticate.
    for v in p.kv.borrow_mut().values_mut() {
        *v.last_mut().unwrap() ^= 1;
    }
    let event = stock_event("SKU-1", "default", json!(5), json!(1));
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(false));
    // A note written under another deployment's key: not ours either.
    let other = settings(&[("ims_client_secret", "someone-else")]).unwrap();
    let p = ports();
    let quantity = q(json!(5));
    let stock = [Stock {
        sku: "SKU-1",
        source_code: "default",
        quantity: &quantity,
        status: 1,
    }];
    block_on(note_stock(&p, &other, Some("erp"), stock.into_iter()));
    assert_eq!(p.kv.borrow().len(), 2);
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(false));
}

#[test]
fn a_store_failure_on_the_check_is_an_error() {
    let p = ports();
    wrote(&p, "erp", &[("SKU-1", "default", json!(5), 1)]);
    let event = stock_event("SKU-1", "default", json!(5), json!(1));
    p.kv_failing.set(true);
    assert!(matches!(
        check(&p, STOCK, &event, "erp"),
        Err(EchoError::Store(_))
    ));
    // The marker that spends the note cannot be written: not settled.
    p.kv_failing.set(false);
    *p.kv_fault.borrow_mut() = Some(Box::new(|op, key, _| {
        op == KvOp::Set && key.contains("/m/")
    }));
    assert!(matches!(
        check(&p, STOCK, &event, "erp"),
        Err(EchoError::Store(_))
    ));
    *p.kv_fault.borrow_mut() = None;
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(true), "still unspent");
}

#[test]
fn products_compare_the_fields_both_sides_have_and_orig_data() {
    let s = settings(&[]).unwrap();
    let p = ports();
    let product = json!({"sku": "TEE-1", "name": "Tee", "price": 12.5,
        "custom_attributes": [{"attribute_code": "description", "value": "Soft"}]});
    let product = product.as_object().unwrap().clone();
    block_on(note_products(
        &p,
        &s,
        Some("pim"),
        std::iter::once(("TEE-1", &product)),
    ));
    // The subscription chose sku, name and price; Magento writes decimals as text.
    let echo = json!({"value": {"sku": "tee-1", "name": "Tee", "price": "12.500000",
        "updated_at": "2026-12-07 14:00:00",
        "_origData": {"sku": "tee-1", "name": "Old", "price": "10.000000", "updated_at": "x"}}});
    // Another field changed in the same save: a real change.
    let mixed = json!({"value": {"sku": "tee-1", "name": "Tee", "price": "12.5",
        "color": "red", "_origData": {"name": "Old", "color": "blue"}}});
    assert_eq!(check(&p, PRODUCT, &mixed, "pim"), Ok(false));
    // ...which voided the note: the echo after it is forwarded too.
    assert_eq!(check(&p, PRODUCT, &echo, "pim"), Ok(false));
    let p = ports();
    block_on(note_products(
        &p,
        &s,
        Some("pim"),
        std::iter::once(("TEE-1", &product)),
    ));
    assert_eq!(check(&p, PRODUCT, &echo, "pim"), Ok(true));
    // An event sharing no compared field tells nothing: not an echo.
    let p = ports();
    block_on(note_products(
        &p,
        &s,
        Some("pim"),
        std::iter::once(("TEE-1", &product)),
    ));
    let bare = json!({"value": {"sku": "TEE-1"}});
    assert_eq!(check(&p, PRODUCT, &bare, "pim"), Ok(false));
    assert_eq!(
        check(&p, PRODUCT, &echo, "pim"),
        Ok(true),
        "and leaves the note"
    );
}

#[test]
fn no_writer_or_no_store_notes_nothing() {
    let s = settings(&[]).unwrap();
    let p = ports();
    let quantity = q(json!(5));
    let item = || Stock {
        sku: "SKU-1",
        source_code: "default",
        quantity: &quantity,
        status: 1,
    };
    block_on(note_stock(&p, &s, None, std::iter::once(item())));
    assert_eq!(p.kv_sets.get(), 0, "a webhook delivery has no writer");
    // wasmtime serve without token_cache_dir: nothing kept, nothing suppressed.
    p.kv_shared.set(false);
    block_on(note_stock(&p, &s, Some("erp"), std::iter::once(item())));
    assert_eq!((p.kv_sets.get(), p.files.borrow().len()), (0, 0));
    let event = stock_event("SKU-1", "default", json!(5), json!(1));
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(false));
    // With token_cache_dir: files, and suppression as with the store.
    let s = settings(&[("token_cache_dir", "/cache")]).unwrap();
    block_on(note_stock(&p, &s, Some("erp"), std::iter::once(item())));
    assert_eq!(p.files.borrow().len(), 2, "the note and the index");
    assert_eq!(
        block_on(is_echo(&p, &s, STOCK, Some(&event), "erp")),
        Ok(true)
    );
}

/// A sync through the route as the api_keys entry `erp`, over fake ports.
fn sync_as(ports: &FakePorts, key: Option<&str>, body: &str) -> u16 {
    let s = settings(&[]).unwrap();
    let tokens = crate::ims::Tokens::new(&s);
    let trace = crate::trace::Trace::new("r".into());
    if let Some(k) = key {
        trace.key(k);
    }
    let ctx = Ctx::new(
        &s,
        ports,
        &tokens,
        &trace,
        "/v1/inventory/source-items",
        ports.now_ms(),
    );
    let resp = block_on(crate::routes::inventory::post(&ctx, body.as_bytes())).unwrap();
    resp.status
}

fn accs_ports() -> FakePorts {
    FakePorts::new(|req, _| {
        if req.url.contains("/ims/") {
            respond(200, r#"{"access_token":"t","expires_in":86399}"#)
        } else {
            respond(200, "[]")
        }
    })
}

fn big_sync(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"sku":"INV-{i:05}","source_code":"default","quantity":{},"status":1}}"#,
                i % 100
            )
        })
        .collect();
    format!(r#"{{"sourceItems":[{}]}}"#, items.join(","))
}

#[test]
fn a_sync_of_ten_thousand_items_writes_two_values_under_a_megabyte() {
    let p = accs_ports();
    let before = p.kv_sets.get();
    assert_eq!(sync_as(&p, Some("erp"), &big_sync(10_000)), 200);
    // The token's sealed copy is the store's other write.
    let echo_sets =
        p.kv.borrow()
            .keys()
            .filter(|k| k.starts_with("accs-edge/echo/"))
            .count();
    assert_eq!(echo_sets, 2, "one note and the index");
    let token_sets =
        p.kv.borrow()
            .keys()
            .filter(|k| !k.starts_with("accs-edge/echo/"))
            .count();
    assert_eq!(
        p.kv_sets.get() - before,
        2 + token_sets,
        "{:?}",
        p.kv.borrow().keys()
    );
    let largest = p.kv.borrow().values().map(Vec::len).max().unwrap();
    assert!(largest < 1_000_000, "{largest} bytes");
    // The echo of item 4,321 (quantity 21), and its neighbour's non-echo.
    let event = stock_event("inv-04321", "default", json!("21.0000"), json!(1));
    assert_eq!(check(&p, STOCK, &event, "erp"), Ok(true));
    let other = stock_event("INV-04322", "default", json!(21), json!(1));
    assert_eq!(check(&p, STOCK, &other, "erp"), Ok(false));
    // A sync without a key (a webhook delivery's) notes nothing.
    let p = accs_ports();
    sync_as(&p, None, &big_sync(3));
    assert!(
        !p.kv
            .borrow()
            .keys()
            .any(|k| k.starts_with("accs-edge/echo/"))
    );
}

#[test]
fn a_note_that_cannot_be_written_leaves_the_sync_ok_and_a_warn_line() {
    let p = accs_ports();
    *p.kv_fault.borrow_mut() = Some(Box::new(|op, key, _| {
        op == KvOp::Set && key.starts_with("accs-edge/echo/")
    }));
    assert_eq!(sync_as(&p, Some("erp"), &big_sync(3)), 200);
    let logs = p.logs.borrow();
    let warn = logs
        .iter()
        .find(|l| l.contains("echo note not written"))
        .expect("a warn line");
    assert!(warn.contains(r#""level":"warn""#), "{warn}");
}

#[test]
fn the_index_keeps_the_sixteen_newest_and_deletes_the_rest() {
    let p = ports();
    for i in 0..(note::MAX_NOTES + 2) {
        p.advance(1);
        wrote(&p, "erp", &[(&format!("S-{i}"), "default", json!(1), 1)]);
    }
    let notes = p.kv.borrow().keys().filter(|k| k.contains("/n/")).count();
    assert_eq!(notes, note::MAX_NOTES);
    // The oldest note's echo is forwarded (an extra message); the newest's is not.
    let oldest = stock_event("S-0", "default", json!(1), json!(1));
    assert_eq!(check(&p, STOCK, &oldest, "erp"), Ok(false));
    let newest = stock_event(
        &format!("S-{}", note::MAX_NOTES + 1),
        "default",
        json!(1),
        json!(1),
    );
    assert_eq!(check(&p, STOCK, &newest, "erp"), Ok(true));
}
