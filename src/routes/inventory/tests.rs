//! What the tests of the sync's steps share (items, awkward items, a
//! request context over fake ports), and the CPU cost of a whole sync.

use super::*;
use crate::wire::MAX_ITEMS;
use serde_json::Value;

pub fn item<'a>(sku: &'a str, source: &'a str, q: u32) -> Item<'a> {
    Item {
        sku: sku.into(),
        source_code: source.into(),
        quantity: q.into(),
        status: 1,
    }
}

/// Items whose text needs escaping or is not ASCII, and quantities
/// serde_json writes in each of its ways.
pub fn awkward_items() -> Vec<Item<'static>> {
    let q = |v: Value| match v {
        Value::Number(n) => n,
        _ => unreachable!(),
    };
    let mut items = vec![
        item("A", "default", 0),
        item("quote\"back\\slash", "t\u{7f}ab", 7),
        item("ünï/çødé ✓", "wh-1", 4_000_000),
        item("line\u{2028}sep", "x\u{1}y", 1),
    ];
    items[0].quantity = q(serde_json::json!(2.5));
    items[1].quantity = q(serde_json::json!(1e300));
    items[2].quantity = q(serde_json::json!(u64::MAX));
    items[3].status = 0;
    items
}

/// Runs `f` with the context of a request to the sync route, under the
/// test settings with `extra` over them, on fake ports that give IMS a token
/// and ACCS to `accs`.
pub fn with_sync_ctx<R>(
    extra: &[(&'static str, &str)],
    accs: impl Fn(
        &crate::ports::OutRequest,
    ) -> Result<crate::ports::OutResponse, crate::ports::SendError>
    + 'static,
    f: impl FnOnce(&Ctx<'_, crate::testing::FakePorts>) -> R,
) -> R {
    use crate::testing::{FakePorts, respond, settings};
    let settings = settings(extra).unwrap();
    let tokens = crate::ims::Tokens::new(&settings);
    let ports = FakePorts::new(move |req, _| {
        if req.url.contains("/ims/") {
            respond(200, r#"{"access_token":"t","expires_in":86399}"#)
        } else {
            accs(req)
        }
    });
    let trace = crate::trace::Trace::new("r".into());
    let ctx = Ctx::new(
        &settings,
        &ports,
        &tokens,
        &trace,
        "/v1/inventory/source-items",
        ports.now_ms(),
    );
    f(&ctx)
}

mod cost {
    //! Not a timed test: prints the CPU cost of a 10,000-item sync's own work
    //! (run with `--ignored --nocapture`), for docs/BENCHMARKS.md.
    use super::*;
    use crate::testing::respond;
    use futures::executor::block_on;

    #[test]
    #[ignore]
    fn print_sync_cpu_cost() {
        let items: Vec<String> = (0..MAX_ITEMS)
            .map(|i| {
                format!(
                    r#"{{"sku":"INV-{i:05}","source_code":"default","quantity":{},"status":1}}"#,
                    i % 100
                )
            })
            .collect();
        let body = format!(r#"{{"sourceItems":[{}]}}"#, items.join(","));
        let runs = 20;
        let took = with_sync_ctx(
            &[],
            |_| respond(200, "[]"),
            |ctx| {
                let t = std::time::Instant::now();
                for _ in 0..runs {
                    let resp = block_on(post(ctx, body.as_bytes())).unwrap();
                    assert_eq!(resp.status, 200);
                }
                t.elapsed()
            },
        );
        eprintln!(
            "sync of {MAX_ITEMS} items, own CPU: {:.1} ms per request",
            took.as_secs_f64() * 1000.0 / runs as f64
        );
    }
}
