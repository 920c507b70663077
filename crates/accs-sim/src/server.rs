//! Routing: IMS and admin get real routes; everything else is ACCS, dispatched by hand on the
//! raw path so that `%2F` inside a SKU stays one segment.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::Shared;
use crate::{accs, admin, ims};

pub(crate) fn router(shared: Arc<Shared>, io: Arc<crate::io_events::IoEvents>) -> Router {
    Router::new()
        .merge(crate::io_events::router(io))
        .route(
            "/events/organizations/{org}/integrations/{integration}/{registration}",
            get(crate::journal_http::get),
        )
        .route("/ims/token/v3", post(ims::token))
        .route("/ims/validate_token/v1", post(ims::validate))
        .nest("/_admin", admin::router())
        .fallback(accs::handle)
        .with_state(shared)
}
