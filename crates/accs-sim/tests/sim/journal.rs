//! The I/O Events Journaling API as AdobeDocs/adobe-io-events
//! `src/pages/guides/api/journaling-api.md` documents it.

use std::time::Duration;

use accs_sim::{Sim, SimConfig};
use reqwest::Response;
use serde_json::{Value, json};

use crate::common::{client, sim, token};

/// A GET of `url` with the simulator's credential.
async fn get(sim: &Sim, url: &str, token: &str) -> Response {
    client()
        .get(url)
        .bearer_auth(token)
        .header("x-api-key", &sim.config().client_id)
        .header("x-ims-org-id", "SIM@AdobeOrg")
        .send()
        .await
        .unwrap()
}

/// The `Link` values whose rel is `rel`, as sent (`<...>` stripped).
fn links(resp: &Response, rel: &str) -> Vec<String> {
    resp.headers()
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.ends_with(&format!("rel=\"{rel}\"")))
        .filter_map(|v| Some(v.strip_prefix('<')?.split_once('>')?.0.to_owned()))
        .collect()
}

fn next(sim: &Sim, resp: &Response) -> String {
    let l = links(resp, "next");
    assert_eq!(l.len(), 1, "one next link: {:?}", resp.headers());
    assert!(l[0].starts_with("/events/"), "relative: {}", l[0]);
    format!("{}{}", sim.base_url(), l[0])
}

fn push_n(sim: &Sim, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            sim.io_events()
                .journal_push(json!({ "id": format!("e-{i}"), "n": i }))
        })
        .collect()
}

#[tokio::test]
async fn pages_of_150_events_follow_next_links_to_a_204_with_retry_after() {
    let sim = sim().await;
    let t = token(&sim).await;
    let positions = push_n(&sim, 150);
    let mut url = format!("{}?limit=40", sim.journal_url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let resp = get(&sim, &url, &t).await;
        if resp.status() == 204 {
            assert_eq!(resp.headers()["retry-after"], "10");
            let again = next(&sim, &resp);
            assert_eq!(again, url, "at the end the next link is the request itself");
            assert_eq!(links(&resp, "validate").len(), 1);
            break;
        }
        assert_eq!(resp.status(), 200);
        pages += 1;
        let following = next(&sim, &resp);
        assert!(following.ends_with("&limit=40"), "limit kept: {following}");
        let body: Value = resp.json().await.unwrap();
        let events = body["events"].as_array().unwrap();
        assert_eq!(body["_page"]["count"], events.len());
        assert_eq!(body["_page"]["last"], events.last().unwrap()["position"]);
        assert!(following.contains(&format!(
            "since={}",
            body["_page"]["last"].as_str().unwrap()
        )));
        for e in events {
            seen.push((
                e["position"].as_str().unwrap().to_owned(),
                e["event"]["n"].as_u64().unwrap(),
            ));
        }
        url = following;
    }
    assert_eq!(pages, 4, "40 + 40 + 40 + 30");
    let ns: Vec<u64> = seen.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        ns,
        (0..150).collect::<Vec<_>>(),
        "each event once, in order"
    );
    let ps: Vec<String> = seen.into_iter().map(|(p, _)| p).collect();
    assert_eq!(ps, positions);
    let c = sim.io_events().journal_counters();
    assert_eq!((c.requests, c.events_served), (5, 150));
    assert_eq!(c.by_status[&200], 4);
    assert_eq!(c.by_status[&204], 1);
    assert_eq!(
        sim.io_events().journal_requests()[0].query.as_deref(),
        Some("limit=40")
    );
}

#[tokio::test]
async fn since_is_exclusive() {
    let sim = sim().await;
    let t = token(&sim).await;
    let p = push_n(&sim, 20);
    let resp = get(
        &sim,
        &format!("{}?since={}&limit=3", sim.journal_url(), p[9]),
        &t,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let ns: Vec<_> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["n"].clone())
        .collect();
    assert_eq!(ns, [json!(10), json!(11), json!(12)]);
}

#[tokio::test]
async fn expired_positions_are_gone_and_the_oldest_moves_on() {
    let sim = sim().await;
    let t = token(&sim).await;
    let p = push_n(&sim, 10);
    sim.io_events().journal_expire_oldest(4);
    let resp = get(&sim, &format!("{}?since={}", sim.journal_url(), p[2]), &t).await;
    assert_eq!(resp.status(), 410);
    assert_eq!(
        resp.text().await.unwrap(),
        format!("Events at position {} have expired.", p[2])
    );
    // The position of the newest expired event is gone too; the next is fine.
    let resp = get(&sim, &format!("{}?since={}", sim.journal_url(), p[3]), &t).await;
    assert_eq!(resp.status(), 410);
    let resp = get(&sim, &format!("{}?since={}", sim.journal_url(), p[4]), &t).await;
    assert_eq!(resp.status(), 200);
    let body: Value = get(&sim, &sim.journal_url(), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["events"][0]["position"], p[4], "oldest available");

    // Retention: a short one expires everything already written.
    sim.io_events()
        .journal_set_retention(Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let resp = get(&sim, &format!("{}?since={}", sim.journal_url(), p[8]), &t).await;
    assert_eq!(resp.status(), 410);
    assert_eq!(sim.io_events().journal_counters().by_status[&410], 3);
}

#[tokio::test]
async fn a_page_stays_under_1_5_mb_whatever_the_limit() {
    let sim = sim().await;
    let t = token(&sim).await;
    let big = "x".repeat(400_000);
    for i in 0..6 {
        sim.io_events().journal_push(json!({ "n": i, "blob": big }));
    }
    let mut url = format!("{}?limit=100", sim.journal_url());
    let mut counts = Vec::new();
    loop {
        let resp = get(&sim, &url, &t).await;
        if resp.status() != 200 {
            break;
        }
        let following = next(&sim, &resp);
        let bytes = resp.bytes().await.unwrap();
        assert!(
            bytes.len() <= accs_sim::journal::PAGE_CAP_BYTES,
            "{} bytes",
            bytes.len()
        );
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        counts.push(body["_page"]["count"].as_u64().unwrap());
        url = following;
    }
    assert_eq!(counts, [3, 3]);
}

#[tokio::test]
async fn latest_jumps_to_the_end_and_the_next_link_then_brings_new_events() {
    let sim = sim().await;
    let t = token(&sim).await;
    push_n(&sim, 5);
    let resp = get(&sim, &format!("{}?latest=true", sim.journal_url()), &t).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["retry-after"], "10");
    let url = next(&sim, &resp);
    assert!(!url.contains("latest"), "{url}");
    sim.io_events().journal_push(json!({ "n": "new" }));
    let body: Value = get(&sim, &url, &t).await.json().await.unwrap();
    assert_eq!(body["_page"]["count"], 1);
    assert_eq!(body["events"][0]["event"]["n"], "new");
}

#[tokio::test]
async fn seek_starts_that_long_ago() {
    let sim = sim().await;
    let t = token(&sim).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let io = sim.io_events();
    io.journal_push_at(json!({ "n": "3h" }), now - 3 * 3_600_000);
    io.journal_push_at(json!({ "n": "1h" }), now - 3_600_000);
    let body: Value = get(&sim, &format!("{}?seek=-PT2H", sim.journal_url()), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["_page"]["count"], 1);
    assert_eq!(body["events"][0]["event"]["n"], "1h");
}

#[tokio::test]
async fn bad_queries_are_400() {
    let sim = sim().await;
    let t = token(&sim).await;
    let p = push_n(&sim, 2);
    for q in [
        "limit=0".to_owned(),
        "limit=-1".to_owned(),
        "limit=ten".to_owned(),
        "seek=2h".to_owned(),
        format!("seek=-PT1H&since={}", p[0]),
        "since=not-a-position".to_owned(),
        "since=sim:000000000001:deadbeef".to_owned(),
    ] {
        let resp = get(&sim, &format!("{}?{q}", sim.journal_url()), &t).await;
        assert_eq!(resp.status(), 400, "{q}");
    }
}

#[tokio::test]
async fn an_empty_journal_is_204_without_retry_after() {
    let sim = sim().await;
    let t = token(&sim).await;
    let resp = get(&sim, &sim.journal_url(), &t).await;
    assert_eq!(resp.status(), 204);
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(next(&sim, &resp), sim.journal_url());
}

#[tokio::test]
async fn auth_is_an_api_key_and_a_live_token_of_the_sims_ims() {
    let sim = sim().await;
    let t = token(&sim).await;
    push_n(&sim, 1);
    let url = sim.journal_url();
    let send = |key: Option<&str>, bearer: Option<&str>| {
        let mut r = client().get(&url);
        if let Some(k) = key {
            r = r.header("x-api-key", k);
        }
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    let id = sim.config().client_id.clone();
    assert_eq!(send(None, Some(&t)).await, 403);
    assert_eq!(send(Some("someone-else"), Some(&t)).await, 403);
    assert_eq!(send(Some(&id), None).await, 401);
    assert_eq!(send(Some(&id), Some("eyJforged")).await, 401);
    assert_eq!(send(Some(&id), Some(&t)).await, 200);
    let wrong = client()
        .get(format!(
            "{}/events/organizations/sim-org/integrations/sim-integration/other",
            sim.base_url()
        ))
        .bearer_auth(&t)
        .header("x-api-key", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    sim.revoke_tokens();
    assert_eq!(send(Some(&id), Some(&t)).await, 401);
    assert_eq!(sim.io_events().journal_counters().by_status[&401], 3);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let cfg = SimConfig {
        expires_in: Some(1),
        ..SimConfig::default()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let t = token(&sim).await;
    push_n(&sim, 1);
    assert_eq!(get(&sim, &sim.journal_url(), &t).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(get(&sim, &sim.journal_url(), &t).await.status(), 401);
}

/// Adobe's SDK guide wants `adobeio_api` in the token; the simulator checks
/// it when told to.
#[tokio::test]
async fn a_required_scope_is_checked_when_set() {
    let mut cfg = SimConfig::default();
    cfg.granted_scopes.push("adobeio_api".into());
    let sim = Sim::start(cfg).await.unwrap();
    sim.io_events().journal_require_scope(Some("adobeio_api"));
    push_n(&sim, 1);
    let plain = token(&sim).await;
    assert_eq!(get(&sim, &sim.journal_url(), &plain).await.status(), 403);
    let resp =
        crate::common::token_response(&sim, crate::common::SECRET, "openid,adobeio_api").await;
    let with: Value = resp.json().await.unwrap();
    let with = with["access_token"].as_str().unwrap();
    assert_eq!(get(&sim, &sim.journal_url(), with).await.status(), 200);
}
