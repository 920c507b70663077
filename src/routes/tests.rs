//! The whole request path over fake ports: routing, auth, token reuse and
//! the 401 rule, with an injected clock.

use super::*;
use crate::problem::{Code, Problem};
use crate::testing::{FakePorts, respond, settings};
use futures::executor::block_on;
use std::collections::HashMap;
use std::time::Duration;

const KEY: &str = crate::testing::TEST_API_KEY;
const TOKEN_OK: &str = r#"{"access_token":"tok-1","token_type":"bearer","expires_in":86399}"#;

/// IMS hands out tok-1, tok-2, ...; ACCS accepts what `accept` says.
fn upstream(accept: impl Fn(&str, usize) -> bool + 'static) -> FakePorts {
    let issued = std::cell::Cell::new(0);
    FakePorts::new(move |req, n| {
        if req.url.contains("/ims/token") {
            issued.set(issued.get() + 1);
            return respond(
                200,
                &format!(
                    r#"{{"access_token":"tok-{}","expires_in":86399}}"#,
                    issued.get()
                ),
            );
        }
        let auth = req
            .headers
            .iter()
            .find(|(n, _)| *n == "authorization")
            .map(|(_, v)| v.trim_start_matches("Bearer ").to_owned())
            .unwrap_or_default();
        if accept(&auth, n) {
            respond(200, r#"{"sku":"SKU-1"}"#)
        } else {
            respond(
                401,
                r#"{"message":"The consumer isn't authorized to access %resources."}"#,
            )
        }
    })
}

fn get(path: &str, key: Option<&str>) -> InRequest {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (path.to_owned(), None),
    };
    let mut headers = vec![];
    if let Some(k) = key {
        headers.push(("authorization".to_owned(), format!("Bearer {k}")));
    }
    InRequest {
        method: "GET".into(),
        path,
        query,
        headers,
        body: vec![],
    }
}

fn body(r: &InResponse) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn header<'a>(r: &'a InResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn health_needs_neither_auth_nor_config() {
    let app = App::new(upstream(|_, _| true), settings(&[("api_keys", "")]));
    let r = block_on(app.handle(get("/healthz", None)));
    assert_eq!(r.status, 200);
    assert_eq!(body(&r), serde_json::json!({"status": "ok"}));
    assert!(header(&r, "x-request-id").is_some());
    assert!(app.ports.sent.borrow().is_empty());
}

#[test]
fn missing_variable_is_named_on_every_other_route() {
    let app = App::new(upstream(|_, _| true), settings(&[("api_keys", "")]));
    for path in ["/v1/products/SKU-1", "/v1/token", "/nope"] {
        let r = block_on(app.handle(get(path, Some(KEY))));
        assert_eq!(r.status, 500, "{path}");
        assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
        let b = body(&r);
        assert_eq!(b["code"], "config_invalid");
        assert!(b["detail"].as_str().unwrap().contains("`api_keys`"));
    }
    assert!(app.ports.sent.borrow().is_empty());
}

#[test]
fn no_or_wrong_key_is_401_without_upstream_calls() {
    let app = App::new(upstream(|_, _| true), settings(&[]));
    for key in [None, Some("wrong-key-0123456789abcdef0123456789")] {
        let r = block_on(app.handle(get("/v1/products/SKU-1", key)));
        assert_eq!(r.status, 401);
        assert_eq!(body(&r)["code"], "unauthorized");
        assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
    }
    assert!(app.ports.sent.borrow().is_empty());
}

#[test]
fn unknown_paths_and_methods() {
    let app = App::new(upstream(|_, _| true), settings(&[]));
    let r = block_on(app.handle(get("/v1/products/a/b", Some(KEY))));
    assert_eq!(
        (r.status, body(&r)["code"].as_str()),
        (404, Some("not_found"))
    );
    let mut req = get("/v1/products/SKU-1", Some(KEY));
    req.method = "DELETE".into();
    let r = block_on(app.handle(req));
    assert_eq!(r.status, 405);
    assert_eq!(header(&r, "allow"), Some("GET, PUT"));
}

#[test]
fn product_read_sends_the_documented_headers() {
    let app = App::new(
        upstream(|_, _| true),
        settings(&[("accs_store_code", "de")]),
    );
    let mut req = get("/v1/products/a%2Fb%20c", Some(KEY));
    req.headers
        .push(("x-request-id".into(), "trace-123".into()));
    let r = block_on(app.handle(req));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(body(&r)["sku"], "SKU-1");
    assert_eq!(header(&r, "x-request-id"), Some("trace-123"));
    let sent = app.ports.sent.borrow();
    assert_eq!(sent.len(), 2);
    let ims = &sent[0];
    assert_eq!(
        (ims.method, ims.url.as_str()),
        ("POST", "https://ims.example/ims/token/v3")
    );
    let form = String::from_utf8(ims.body.clone()).unwrap();
    assert!(form.contains("grant_type=client_credentials"));
    assert!(form.contains("commerce.accs"));
    let accs = &sent[1];
    assert_eq!(
        accs.url,
        "https://na1.api.commerce.adobe.com/T1/V1/products/a%2Fb%20c"
    );
    let h: HashMap<_, _> = accs.headers.iter().cloned().collect();
    assert_eq!(h["authorization"], "Bearer tok-1");
    assert_eq!(h["x-api-key"], "client-1");
    assert_eq!(h["store"], "de");
    assert_eq!(h["x-gw-ims-org-id"], "ORG@AdobeOrg");
    assert_eq!(h["x-request-id"], "trace-123");
}

#[test]
fn hundred_sequential_reads_cost_one_ims_call() {
    let app = App::new(upstream(|_, _| true), settings(&[]));
    for _ in 0..100 {
        let r = block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
        assert_eq!(r.status, 200);
        app.ports.advance(1_000);
    }
    assert_eq!(app.ports.sent_to("/ims/token"), 1);
    assert_eq!(app.ports.sent_to("/V1/products"), 100);
}

#[test]
fn concurrent_cold_requests_share_one_ims_call() {
    let app = App::new(upstream(|_, _| true), settings(&[]));
    let all = futures::future::join_all(
        (0..50).map(|_| app.handle(get("/v1/products/SKU-1", Some(KEY)))),
    );
    let responses = block_on(all);
    assert!(responses.iter().all(|r| r.status == 200));
    assert_eq!(app.ports.sent_to("/ims/token"), 1);
}

#[test]
fn a_new_instance_reads_the_sealed_token_from_the_store() {
    let first = App::new(upstream(|_, _| true), settings(&[]));
    block_on(first.handle(get("/v1/products/SKU-1", Some(KEY))));
    let kv = first.ports.kv.borrow().clone();
    assert_eq!(kv.len(), 1);
    let (key, value) = kv.iter().next().unwrap();
    assert!(key.starts_with("accs-edge/ims-token/v1/"));
    assert!(!String::from_utf8_lossy(value).contains("tok-1"));

    let second = App::new(upstream(|_, _| true), settings(&[]));
    *second.ports.kv.borrow_mut() = kv;
    let r = block_on(second.handle(get("/v1/products/SKU-1", Some(KEY))));
    assert_eq!(r.status, 200);
    assert_eq!(second.ports.sent_to("/ims/token"), 0);
    let h: HashMap<_, _> = second.ports.sent.borrow()[0]
        .headers
        .iter()
        .cloned()
        .collect();
    assert_eq!(h["authorization"], "Bearer tok-1");
    assert!(
        second
            .ports
            .logs
            .borrow()
            .last()
            .unwrap()
            .contains(r#""token_source":"kv""#)
    );
}

#[test]
fn revoked_token_is_refreshed_once_and_the_read_succeeds() {
    // tok-1 works, then is revoked once it is two minutes old; tok-2 works.
    let revoked = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = revoked.clone();
    let app = App::new(
        upstream(move |tok, _| !(flag.get() && tok == "tok-1")),
        settings(&[]),
    );
    assert_eq!(
        block_on(app.handle(get("/v1/products/SKU-1", Some(KEY)))).status,
        200
    );
    app.ports.advance(120_000);
    revoked.set(true);
    let r = block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    assert_eq!(r.status, 200);
    assert_eq!(app.ports.sent_to("/ims/token"), 2);
    assert_eq!(app.ports.sent_to("/V1/products"), 3);
}

#[test]
fn an_acl_401_is_403_naming_nothing_secret_and_costs_one_token_per_instance() {
    // Magento's ACL 401 to every product call: the role lacks the resource.
    let app = App::new(upstream(|_, _| false), settings(&[]));
    let r = block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    assert_eq!(r.status, 403);
    assert_eq!(body(&r)["code"], "accs_forbidden");
    assert_eq!(app.ports.sent_to("/V1/products"), 1);
    assert_eq!(app.ports.sent_to("/ims/token"), 1, "a young token is kept");
    for _ in 0..4 {
        let r = block_on(app.handle(get("/v1/products/SKU-2", Some(KEY))));
        assert_eq!(body(&r)["code"], "accs_forbidden");
    }
    assert_eq!(app.ports.sent_to("/V1/products"), 1, "remembered per route");
    assert_eq!(app.ports.sent_to("/ims/token"), 1);
}

#[test]
fn token_near_expiry_is_refreshed_but_never_sent_under_a_minute() {
    let app = App::new(upstream(|_, _| true), settings(&[]));
    block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    // 86,399 s lifetime; jump to 30 s before expiry: the old token must not go out.
    app.ports.advance(86_369_000);
    block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    let sent = app.ports.sent.borrow();
    let last: HashMap<_, _> = sent.last().unwrap().headers.iter().cloned().collect();
    assert_eq!(last["authorization"], "Bearer tok-2");
}

#[test]
fn ims_rejection_and_outage_map_to_their_codes() {
    let app = App::new(
        FakePorts::new(|_, _| {
            respond(
                401,
                r#"{"error":"invalid_client","error_description":"invalid client_secret parameter"}"#,
            )
        }),
        settings(&[]),
    );
    let r = block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    assert_eq!(
        (r.status, body(&r)["code"].as_str()),
        (502, Some("ims_auth_failed"))
    );
    assert!(
        body(&r)["detail"]
            .as_str()
            .unwrap()
            .contains("invalid_client")
    );

    let app = App::new(FakePorts::new(|_, _| respond(503, "")), settings(&[]));
    let r = block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    assert_eq!(
        (r.status, body(&r)["code"].as_str()),
        (503, Some("ims_unavailable"))
    );
    assert!(header(&r, "retry-after").is_some());
}

#[test]
fn rotation_secrets_are_tried_in_order_and_the_good_one_remembered() {
    let app = App::new(
        FakePorts::new(|req, _| {
            let body = String::from_utf8_lossy(&req.body).to_string();
            if req.url.contains("/ims/") && !body.contains("client_secret=old") {
                respond(401, r#"{"error":"invalid_client"}"#)
            } else if req.url.contains("/ims/") {
                respond(200, TOKEN_OK)
            } else {
                respond(200, "{}")
            }
        }),
        settings(&[("ims_client_secret", "new,old")]),
    );
    let r = block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    assert_eq!(r.status, 200);
    assert_eq!(app.ports.sent_to("/ims/token"), 2);
    let tokens = &app.edge.as_ref().unwrap().tokens;
    tokens.invalidate("tok-1");
    block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    // The remembered secret goes first: one more IMS call, not two.
    assert_eq!(app.ports.sent_to("/ims/token"), 3);
}

#[test]
fn token_status_never_shows_the_token() {
    let app = App::new(upstream(|_, _| true), settings(&[]));
    let r = block_on(app.handle(get("/v1/token", Some(KEY))));
    assert_eq!(body(&r)["cached"], false);
    block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    let r = block_on(app.handle(get("/v1/token", Some(KEY))));
    let b = body(&r);
    assert_eq!(b["cached"], true);
    assert_eq!(b["source"], "ims");
    assert!(b["seconds_left"].as_u64().unwrap() > 86_000);
    assert!(!String::from_utf8_lossy(&r.body).contains("tok-1"));
}

#[test]
fn logs_have_one_line_per_request_and_no_secrets() {
    let app = App::new(upstream(|_, _| true), settings(&[]));
    block_on(app.handle(get("/v1/products/SKU-1", Some(KEY))));
    block_on(app.handle(get("/v1/products/SKU-1", None)));
    let logs = app.ports.logs.borrow();
    assert_eq!(logs.len(), 2);
    let line: serde_json::Value = serde_json::from_str(&logs[0]).unwrap();
    assert_eq!(line["route"], "/v1/products/{sku}");
    assert_eq!(line["status"], 200);
    assert_eq!(line["upstream"].as_array().unwrap().len(), 2);
    for l in logs.iter() {
        for secret in ["tok-1", "secret-1", KEY] {
            assert!(!l.contains(secret), "{l}");
        }
    }
}

#[test]
fn a_delivery_racing_on_two_instances_is_sent_once() {
    let (a, b) = webhook_race(false);
    // Without compare-and-swap the claim waits, then reads back.
    assert!(a.slept.borrow().contains(&Duration::from_millis(50)));
    drop(b);
}

#[test]
fn with_compare_and_swap_two_claimants_never_both_win() {
    let (a, b) = webhook_race(true);
    // The swap decides at once: nobody waits for a read-back.
    for p in [&a, &b] {
        assert!(!p.slept.borrow().contains(&Duration::from_millis(50)));
    }
}

/// Two instances on one store receive the same delivery at once; returns
/// their ports after asserting that ACCS was written exactly once.
fn webhook_race(cas: bool) -> (FakePorts, FakePorts) {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let key = b"race-key-0123456789abcdef0123456";
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let app = |ports: FakePorts| App::new(ports, settings(&[("webhook_secrets", &secret)]));
    // One store, and store calls that let the other instance run in between,
    // so both read "nothing yet" before either claims.
    let a = app(upstream(|_, _| true));
    let mut b_ports = upstream(|_, _| true);
    b_ports.kv = a.ports.kv.clone();
    b_ports.seed.set(0x5eed);
    let b = app(b_ports);
    for p in [&a.ports, &b.ports] {
        p.kv_yields.set(true);
        p.kv_cas.set(cas);
        p.now.set(1_700_000_000_000);
    }
    let body = br#"{"sourceItems":[{"sku":"A","source_code":"default","quantity":1,"status":1}]}"#;
    let ts = "1700000000";
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("race-1.{ts}.").as_bytes());
    mac.update(body);
    let sig = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let req = || InRequest {
        method: "POST".into(),
        path: "/v1/webhooks/inventory".into(),
        query: None,
        headers: vec![
            ("webhook-id".into(), "race-1".into()),
            ("webhook-timestamp".into(), ts.into()),
            ("webhook-signature".into(), sig.clone()),
        ],
        body: body.to_vec(),
    };
    let (ra, rb) = block_on(futures::future::join(a.handle(req()), b.handle(req())));
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let sent = a.ports.sent_to("/V1/inventory") + b.ports.sent_to("/V1/inventory");
    assert_eq!(sent, 1, "ACCS is written once");
    (a.ports, b.ports)
}

#[test]
fn each_route_reads_only_the_variables_it_needs() {
    use super::variables_for;
    let names = |p: &str| variables_for(p).collect::<Vec<_>>();
    assert!(names("/healthz").is_empty());
    assert!(names("/v1/openapi.json").is_empty());
    let read = names("/v1/products/SKU-1");
    assert!(read.contains(&"api_keys") && read.contains(&"ims_client_secret"));
    for skipped in [
        "webhook_secrets",
        "passthrough_allow",
        "sync_batch_size",
        "token_cache_dir",
    ] {
        assert!(!read.contains(&skipped), "{skipped}");
    }
    assert!(names("/v1/inventory/source-items").contains(&"sync_concurrency"));
    assert!(names("/v1/webhooks/inventory").contains(&"webhook_secrets"));
    assert!(names("/v1/accs/V1/categories").contains(&"passthrough_allow"));
    assert!(!names("/v1/accsx").contains(&"passthrough_allow"));
    // Every required variable is read on every route that checks config.
    for path in ["/v1/token", "/v1/orders", "/v1/webhooks/products", "/nope"] {
        for required in [
            "ims_client_id",
            "ims_client_secret",
            "accs_base_url",
            "api_keys",
        ] {
            assert!(names(path).contains(&required), "{path} {required}");
        }
    }
    // And a broken deployment still says so on those routes.
    let settings = Settings::from_lookup(|n| {
        variables_for("/v1/orders")
            .any(|v| v == n && n != "accs_base_url")
            .then(|| "x".to_owned())
    });
    assert!(settings.is_err());
}

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
    for (m, p) in [
        ("PUT", "/v1/products/A"),
        ("POST", "/v1/accs/V1/x"),
        ("GET", "/v1/inventory/source-items"),
    ] {
        assert_eq!(body_limit(m, p), crate::host::MAX_INBOUND_BODY, "{m} {p}");
    }
    let items: Vec<serde_json::Value> = (0..10_000)
        .map(|i| serde_json::json!({"sku": format!("ACME-WIDGET-BLUE-{i:07}"), "source_code": "warehouse-berlin-01", "quantity": 12345.5, "status": 1}))
        .collect();
    let pretty = serde_json::to_vec_pretty(&serde_json::json!({"sourceItems": items})).unwrap();
    assert!(
        pretty.len() > crate::host::MAX_INBOUND_BODY,
        "{}",
        pretty.len()
    );
    assert!(pretty.len() < SYNC_BODY_LIMIT / 2, "{}", pretty.len());
}

#[test]
fn a_rejected_request_echoes_the_callers_request_id() {
    let app = App::new(upstream(|_, _| true), settings(&[]));
    let p = Problem::new(Code::PayloadTooLarge, "too big");
    let r = app.reject(&p, &[("x-request-id".into(), "caller-42".into())]);
    assert_eq!(r.status, 413);
    assert!(r.headers.contains(&("x-request-id", "caller-42".into())));
    assert_eq!(body(&r)["request_id"], "caller-42");
    let r = app.reject(&p, &[("x-request-id".into(), "bad id!".into())]);
    let id = r
        .headers
        .iter()
        .find(|(n, _)| *n == "x-request-id")
        .unwrap();
    assert_ne!(id.1, "bad id!");
}

#[test]
fn token_status_on_a_fresh_instance_sees_the_shared_token_read_only() {
    let first = App::new(upstream(|_, _| true), settings(&[]));
    block_on(first.handle(get("/v1/products/SKU-1", Some(KEY))));
    let second = App::new(upstream(|_, _| true), settings(&[]));
    let shared = first.ports.kv.borrow().clone();
    *second.ports.kv.borrow_mut() = shared;
    let sets = second.ports.kv.borrow().len();
    let r = block_on(second.handle(get("/v1/token", Some(KEY))));
    let b = body(&r);
    assert_eq!(
        (b["cached"].as_bool(), b["source"].as_str()),
        (Some(true), Some("kv"))
    );
    assert!(b["seconds_left"].as_u64().unwrap() > 80_000);
    assert_eq!(second.ports.sent_to("/ims/"), 0);
    assert_eq!(second.ports.kv.borrow().len(), sets, "nothing written");
    let tokens = &second.edge.as_ref().unwrap().tokens;
    assert!(
        !tokens.status(second.ports.now_ms()).cached,
        "nothing taken into memory"
    );
}
