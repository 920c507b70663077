//! The `wasi:http/incoming-handler` 0.2 export. Every request gets a fresh
//! instance, so the app is built per request from only the variables its
//! route needs ([`crate::routes::variables_for`]).

use super::http::read_inbound;
use super::ports::HostPorts;
use crate::config::Settings;
use crate::routes::{App, InResponse, body_limit, variables_for};
use spin_sdk::http::{Headers, IncomingRequest, OutgoingResponse, ResponseOutparam};
use std::collections::BTreeMap;

/// Unset variables and ones the host cannot resolve are both "unset": the
/// config check then names them.
fn read_variables(names: impl Iterator<Item = &'static str>) -> BTreeMap<&'static str, String> {
    names
        .filter_map(|name| Some((name, spin_sdk::variables::get(name).ok()?)))
        .collect()
}

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let path = req.path_with_query().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let vars = read_variables(variables_for(path));
    let settings = Settings::from_lookup(|name| vars.get(name).cloned());
    let app = App::new(HostPorts::default(), settings);
    let resp = match read_inbound(req).await {
        Ok(inbound) => app.handle(inbound).await,
        Err((e, head)) => app.reject(
            &e.problem(body_limit(&head.method, &head.path)),
            &head.headers,
        ),
    };
    respond(out, resp).await
}

async fn respond(out: ResponseOutparam, resp: InResponse) {
    // The whole body is in hand: say its length, so the host need not chunk it.
    let mut headers: Vec<(String, Vec<u8>)> = Vec::with_capacity(resp.headers.len() + 1);
    headers.push((
        "content-length".into(),
        resp.body.len().to_string().into_bytes(),
    ));
    for (name, value) in resp.headers {
        headers.push((name.to_owned(), value.into_bytes()));
    }
    let fields = Headers::from_list(&headers).unwrap_or_else(|_| Headers::new());
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(resp.status);
    // A failure here is the client going away: nothing left to tell it.
    let _ = out.set_with_body(response, resp.body).await;
}
