//! `/_admin/io-events/*` and `/_admin/orders`: the I/O Events registration,
//! its push queue and journal, and order placing, for out-of-process users
//! (the same as [`crate::io_events::IoEvents`] and [`crate::Sim::place_order`]).
//!
//! - `GET|POST|DELETE subscription`: a [`Subscription`] JSON body;
//! - `GET pending`; `POST deliver`: one attempt of each ([`crate::Attempt`]s);
//! - `POST journal`: any event JSON appended, answers `{"position"}`;
//!   `POST journal/expire` `{"oldest": n}`; `GET journal/counters`,
//!   `GET journal/requests`;
//! - `POST /_admin/orders`: a [`NewOrder`], 201 with the order.
//!
//! Bad input is 400 `application/problem+json`, nothing changed.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::io_events::IoEvents;
use crate::place_order::NewOrder;
use crate::publish::Subscription;
use crate::state::Shared;

type St = State<Arc<Shared>>;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/io-events/subscription",
            get(subscription).post(subscribe).delete(unsubscribe),
        )
        .route("/io-events/pending", get(pending))
        .route("/io-events/deliver", post(deliver))
        .route("/io-events/journal", post(journal_push))
        .route("/io-events/journal/expire", post(journal_expire))
        .route("/io-events/journal/counters", get(journal_counters))
        .route("/io-events/journal/requests", get(journal_requests))
        .route("/orders", post(place_order))
}

fn problem(detail: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/problem+json")],
        json!({ "type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail })
            .to_string(),
    )
        .into_response()
}

/// The body as `T`, or the problem answer's detail.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid body: {e}"))
}

fn io(s: &Shared) -> Arc<IoEvents> {
    s.io.get().cloned().expect("set at start")
}

async fn subscription(State(s): St) -> Json<Option<Subscription>> {
    Json(io(&s).subscription())
}

async fn subscribe(State(s): St, body: Bytes) -> Response {
    match parse::<Subscription>(&body) {
        Ok(sub) => {
            io(&s).subscribe_with(sub);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(detail) => problem(&detail),
    }
}

async fn unsubscribe(State(s): St) -> StatusCode {
    io(&s).unsubscribe();
    StatusCode::NO_CONTENT
}

async fn pending(State(s): St) -> Response {
    Json(io(&s).pending()).into_response()
}

async fn deliver(State(s): St) -> Response {
    let client = reqwest::Client::builder().no_proxy().build();
    let Ok(client) = client else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let attempts: Vec<Value> = io(&s)
        .deliver_pending(&client)
        .await
        .into_iter()
        .map(|a| {
            json!({ "event_id": a.event_id, "url": a.url, "retry": a.retry,
                    "status": a.status, "kept": a.kept })
        })
        .collect();
    Json(attempts).into_response()
}

async fn journal_push(State(s): St, body: Bytes) -> Response {
    match parse::<Value>(&body) {
        Ok(event) if event.is_object() => {
            let position = io(&s).journal_push(event);
            (StatusCode::CREATED, Json(json!({ "position": position }))).into_response()
        }
        Ok(_) => problem("an event is a JSON object"),
        Err(detail) => problem(&detail),
    }
}

async fn journal_expire(State(s): St, body: Bytes) -> Response {
    match parse::<Value>(&body).map(|v| v["oldest"].as_u64()) {
        Ok(Some(n)) => {
            io(&s).journal_expire_oldest(usize::try_from(n).unwrap_or(usize::MAX));
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => problem("oldest: the number of events to expire"),
        Err(detail) => problem(&detail),
    }
}

async fn journal_counters(State(s): St) -> Response {
    Json(io(&s).journal_counters()).into_response()
}

async fn journal_requests(State(s): St) -> Response {
    Json(io(&s).journal_requests()).into_response()
}

async fn place_order(State(s): St, body: Bytes) -> Response {
    let order = match parse::<NewOrder>(&body) {
        Ok(o) => o,
        Err(detail) => return problem(&detail),
    };
    match crate::place_order::place(&mut s.lock(), &order) {
        Ok(placed) => (StatusCode::CREATED, Json(placed)).into_response(),
        Err(refused) => problem(&refused.to_string()),
    }
}
