//! The back-office target: records every request, fails as told.

use std::time::Duration;

use accs_sim::target::Target;

use crate::common::client;

async fn post(url: &str, body: &str) -> u16 {
    client()
        .post(url)
        .header("X-Custom", "A")
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("target answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn records_method_path_query_headers_and_body_and_answers_204() {
    let t = Target::start().await;
    let before = std::time::SystemTime::now();
    assert_eq!(post(&t.url("/hook?x=1&y=%2F"), r#"{"a":1}"#).await, 204);
    let got = t.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook");
    assert_eq!(r.query.as_deref(), Some("x=1&y=%2F"));
    assert_eq!(r.header("x-custom"), Some("A"));
    assert!(r.headers.contains_key("x-custom"), "names lower-cased");
    assert_eq!(r.body_json(), serde_json::json!({ "a": 1 }));
    assert_eq!(r.status, Some(204));
    assert!(r.at >= before);
    assert_eq!(t.received_ok().len(), 1);

    t.answer_with(200, "application/json", r#"{"ok":true}"#);
    let resp = client().post(t.url("/hook")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"ok":true}"#);
}

#[tokio::test]
async fn fail_holds_until_recover_and_still_records() {
    let t = Target::start().await;
    t.fail(503);
    for _ in 0..3 {
        assert_eq!(post(&t.url("/hook"), "x").await, 503);
    }
    assert_eq!(t.received().len(), 3);
    assert!(t.received_ok().is_empty());
    t.recover();
    assert_eq!(post(&t.url("/hook"), "y").await, 204);
    let ok = t.received_ok();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].body_text(), "y");
}

#[tokio::test]
async fn fail_next_fails_exactly_n_then_answers() {
    let t = Target::start().await;
    t.fail_next(2, 500);
    t.fail_next(1, 429);
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(post(&t.url("/hook"), "").await);
    }
    assert_eq!(seen, [500, 500, 429, 204, 204]);
    let statuses: Vec<_> = t.received().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [Some(500), Some(500), Some(429), Some(204), Some(204)]
    );
}

#[tokio::test]
async fn hang_is_a_timeout_for_the_caller_but_the_request_is_recorded() {
    let t = Target::start().await;
    t.hang(Duration::from_secs(3));
    let err = client()
        .post(t.url("/hook"))
        .timeout(Duration::from_millis(300))
        .body("held")
        .send()
        .await
        .expect_err("no answer within the caller's timeout");
    assert!(err.is_timeout(), "{err}");
    let got = t.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body_text(), "held");
    assert_eq!(got[0].status, None, "not answered");
    assert!(t.received_ok().is_empty());
    t.recover();
    assert_eq!(post(&t.url("/hook"), "").await, 204);
}

#[tokio::test]
async fn targets_are_independent() {
    let (a, b) = (Target::start().await, Target::start().await);
    a.fail(500);
    assert_eq!(post(&a.url("/a"), "").await, 500);
    assert_eq!(post(&b.url("/b"), "").await, 204);
    assert_eq!((a.received().len(), b.received().len()), (1, 1));
    assert_eq!(b.received()[0].path, "/b");
    b.clear();
    assert!(b.received().is_empty());
}
