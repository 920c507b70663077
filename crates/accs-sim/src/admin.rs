//! `/_admin/*`: the same observations and controls as [`crate::Sim`], for out-of-process users.
//!
//! GET `counters`, `requests`, `token-requests`, `validations`, `inventory-receipts`, `faults`,
//! `bulks` (every accepted bulk request and its operations, [`Bulk`]), `health`;
//! POST `faults` (a [`Faults`] JSON body, replacing the current one), `reset`, `revoke`,
//! which answer 204. The I/O Events and order routes are `admin_io.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::state::Shared;
use crate::types::{
    Bulk, Counters, Faults, RecordedRequest, RecordedTokenRequest, RecordedValidation,
};

type St = State<Arc<Shared>>;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/counters", get(counters))
        .route("/requests", get(requests))
        .route("/token-requests", get(token_requests))
        .route("/validations", get(validations))
        .route("/inventory-receipts", get(receipts))
        .route("/bulks", get(bulks))
        .route("/faults", post(set_faults).get(faults))
        .route("/reset", post(reset))
        .route("/revoke", post(revoke))
        .merge(crate::admin_io::router())
        // Without its own fallback a nested router inherits the ACCS one, and a typo here
        // would then be recorded as an ACCS request.
        .fallback(|| async { StatusCode::NOT_FOUND })
}

async fn counters(State(s): St) -> Json<Counters> {
    Json(s.lock().counters.clone())
}

async fn requests(State(s): St) -> Json<Vec<RecordedRequest>> {
    Json(s.lock().requests.clone())
}

async fn token_requests(State(s): St) -> Json<Vec<RecordedTokenRequest>> {
    Json(s.lock().token_requests.clone())
}

async fn validations(State(s): St) -> Json<Vec<RecordedValidation>> {
    Json(s.lock().validations.clone())
}

#[derive(Serialize)]
struct Receipt {
    sku: String,
    source_code: String,
    count: u32,
}

async fn receipts(State(s): St) -> Json<Vec<Receipt>> {
    let list = s
        .lock()
        .receipts
        .iter()
        .map(|((sku, source_code), &count)| Receipt {
            sku: sku.clone(),
            source_code: source_code.clone(),
            count,
        })
        .collect();
    Json(list)
}

async fn bulks(State(s): St) -> Json<Vec<Bulk>> {
    let mut inner = s.lock();
    inner.advance_bulks();
    Json(inner.bulks.list.clone())
}

async fn faults(State(s): St) -> Json<Faults> {
    Json(s.lock().faults.clone())
}

async fn set_faults(State(s): St, Json(f): Json<Faults>) -> StatusCode {
    s.lock().set_faults(f);
    StatusCode::NO_CONTENT
}

async fn reset(State(s): St) -> StatusCode {
    s.reset();
    StatusCode::NO_CONTENT
}

async fn revoke(State(s): St) -> StatusCode {
    s.revoke_tokens();
    StatusCode::NO_CONTENT
}
