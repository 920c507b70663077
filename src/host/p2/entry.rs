//! The `wasi:http/incoming-handler` 0.2 export. Every request gets a fresh
//! instance, so the app is built per request from only the variables its
//! route needs ([`crate::routes::variables_for`], by method and path).

use super::http::{read_body, read_head};
use super::ports::HostPorts;
use crate::config::Settings;
use crate::host::Inbound;
use crate::routes::{App, variables_for};
use crate::wire::{InResponse, body_limit};
use spin_sdk::http::{Headers, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use std::collections::BTreeMap;

/// Unset variables and ones the host cannot resolve are both "unset": the
/// config check then names them. The ten every route reads come in one
/// host call, `accs_edge_core` ([`crate::config::CORE_GROUP`]), when the
/// manifest defines it and it splits into ten; else one by one, as do the
/// rest.
fn read_variables(names: impl Iterator<Item = &'static str>) -> BTreeMap<&'static str, String> {
    let get = |name: &str| spin_sdk::variables::get(name).ok();
    let names: Vec<&'static str> = names.collect();
    let mut vars = BTreeMap::new();
    // `variables_for` keeps the order of `VARIABLES`, which begins with the
    // ten: a route that needs them all starts with them.
    let mut rest = names.as_slice();
    if let Some(after) = names.strip_prefix(&crate::config::CORE[..])
        && let Some(joined) = get(crate::config::CORE_GROUP)
        && let Some(parts) = crate::config::split_core(&joined)
    {
        vars.extend(parts.map(|(name, value)| (name, value.to_owned())));
        rest = after;
    }
    for &name in rest {
        if let Some(value) = get(name) {
            vars.insert(name, value);
        }
    }
    vars
}

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let head = read_head(&req);
    let vars = read_variables(variables_for(&head.method, &head.path));
    let settings = Settings::from_lookup(|name| vars.get(name).cloned());
    let app = App::new(HostPorts::default(), settings);
    // A caller that cannot be let in (bad API key, webhook headers out of
    // order) is answered from the head: its body is never read.
    let resp = match app.before_body(&head) {
        Some(resp) => resp,
        None => match read_body(req, head).await {
            Inbound::Read(inbound) => app.handle(inbound).await,
            Inbound::Answered(resp) => resp,
            Inbound::Unread(e, head) => app.reject(
                &e.problem(body_limit(&head.method, &head.path)),
                &head.headers,
            ),
        },
    };
    respond(out, resp)
}

fn respond(out: ResponseOutparam, resp: InResponse) {
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
    // A new outgoing-response says 200 (`wasi:http/types` 0.2).
    if resp.status != 200 {
        let _ = response.set_status_code(resp.status);
    }
    let Ok(body) = response.body() else {
        return out.set(response);
    };
    let Ok(stream) = body.write() else {
        return out.set(response);
    };
    // As much of `rest` as `room` allows, moving past what was written;
    // false when the stream refused it.
    let write_some = |rest: &mut &[u8], room: u64| {
        let now = rest.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        if now == 0 {
            return true;
        }
        let written = stream.write(&rest[..now]).is_ok();
        if written {
            *rest = &rest[now..];
        }
        written
    };
    // The body is queued before the head is handed over, so the host has
    // both when it writes the answer. Set first (spin-sdk's `set_with_body`),
    // the host sometimes wrote the head alone and the body after it; Spin
    // 3.x leaves Nagle on for its inbound connections, so that body then
    // waited for the client's delayed ACK: 40 ms on 1 to 2 % of reads at
    // c=1 (accs-bench figure 6; `strace -e writev` on `spin up` shows the
    // split). wasmtime-wasi-http buffers a written chunk in its body channel
    // until the host reads it (`BodyWriteStream::check_write`: the whole
    // budget while the channel has room), so this write never waits.
    let mut rest = resp.body.as_slice();
    if let Ok(room) = stream.check_write() {
        write_some(&mut rest, room);
    }
    out.set(response);
    // What did not fit (a body over the host's chunk budget, 1 MiB by
    // default) follows as the host drains it. This is the handler's last
    // work, so waiting on the stream blocks nothing else. A failure is the
    // client going away: nothing left to tell it.
    while !rest.is_empty() {
        match stream.check_write() {
            Ok(0) => stream.subscribe().block(),
            Ok(room) => {
                if !write_some(&mut rest, room) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = stream.blocking_flush();
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}
