//! A stand-in for the simulator's I/O Events Journaling API (issue #34 item
//! 4, being added to crates/accs-sim as `sim.journal_url()` and
//! `sim.io_events().journal_push(event)`), with the same shape, so that the
//! job tests run before it lands; at merge the tests switch to the
//! simulator's and this file goes.
//!
//! As AdobeDocs/adobe-io-events `src/pages/guides/api/journaling-api.md`
//! documents: the journal URL alone reads the oldest events; `since` is
//! exclusive; `limit` is kept in the relative `Link: <…>; rel="next"`; 204
//! with `retry-after: 10` at the end; 410 for an expired position;
//! `latest=true` and `seek`. A request without `x-api-key` and a bearer
//! token is 401. One HTTP/1.1 request per connection.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const PATH: &str = "/events/organizations/sim-org/integrations/sim-integration/reg-1";

#[derive(Default)]
struct State {
    events: Vec<Value>,
    /// Positions before this one (1-based) have expired.
    first_live: usize,
    /// Every request's path and query, and its `authorization` and
    /// `x-api-key` headers, as received.
    requests: Vec<Seen>,
}

/// One request the journal received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub target: String,
    pub authorization: Option<String>,
    pub api_key: Option<String>,
    pub status: u16,
}

#[derive(Clone)]
pub struct StandIn {
    base: String,
    state: Arc<Mutex<State>>,
}

impl StandIn {
    pub async fn start() -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            first_live: 1,
            ..State::default()
        }));
        let s = state.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let answer = answer(&s, &head);
                    let _ = conn.write_all(&answer).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        StandIn { base, state }
    }

    /// What the Developer Console shows as the registration's journal URL.
    pub fn journal_url(&self) -> String {
        format!("{}{PATH}", self.base)
    }

    /// Appends an event; its position.
    pub fn journal_push(&self, event: Value) -> String {
        let mut s = self.state.lock().unwrap();
        s.events.push(event);
        format!("p{}", s.events.len())
    }

    /// The oldest `n` live events expire.
    pub fn journal_expire_oldest(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        s.first_live = (s.first_live + n).min(s.events.len() + 1);
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn answer(state: &Mutex<State>, head: &str) -> Vec<u8> {
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_owned();
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let (authorization, api_key) = (header("authorization"), header("x-api-key"));
    let mut s = state.lock().unwrap();
    let (status, headers, body) = if authorization
        .as_deref()
        .is_none_or(|a| !a.starts_with("Bearer "))
        || api_key.is_none()
    {
        (
            401,
            vec![],
            json!({"error_code":"401013","message":"Oauth token is not valid"}).to_string(),
        )
    } else {
        page(&s, &target)
    };
    s.requests.push(Seen {
        target,
        authorization,
        api_key,
        status,
    });
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        401 => "Unauthorized",
        410 => "Gone",
        _ => "Error",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\nconnection: close\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if status != 204 {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    if status != 204 {
        out.push_str(&body);
    }
    out.into_bytes()
}

fn page(s: &State, target: &str) -> (u16, Vec<(String, String)>, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != PATH {
        return (404, vec![], "{}".into());
    }
    let (mut since, mut limit, mut latest) = (None, None, false);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "since" => since = v.trim_start_matches('p').parse::<usize>().ok(),
            "limit" => limit = v.parse::<usize>().ok(),
            "latest" => latest = v == "true",
            _ => {}
        }
    }
    let last = s.events.len();
    let after = match since {
        Some(p) if p + 1 < s.first_live => {
            return (
                410,
                vec![("content-type".into(), "text/plain".into())],
                format!("Events at position p{p} have expired."),
            );
        }
        Some(p) => p,
        None if latest => last,
        None => s.first_live - 1,
    };
    let l = limit.map(|n| format!("&limit={n}")).unwrap_or_default();
    let link = |p: usize| {
        (
            "link".to_owned(),
            format!("<{PATH}?since=p{p}{l}>; rel=\"next\""),
        )
    };
    if after >= last {
        return (
            204,
            vec![("retry-after".into(), "10".into()), link(after)],
            String::new(),
        );
    }
    let end = (after + limit.unwrap_or(100)).min(last);
    let events: Vec<Value> = (after + 1..=end)
        .map(|p| json!({"position": format!("p{p}"), "event": s.events[p - 1]}))
        .collect();
    let body =
        json!({"events": events, "_page": {"last": format!("p{end}"), "count": end - after}});
    (
        200,
        vec![
            ("content-type".into(), "application/json".into()),
            link(end),
        ],
        body.to_string(),
    )
}
