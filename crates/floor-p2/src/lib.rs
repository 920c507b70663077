//! The floor for accs-edge's WASI 0.2 (`spin`) build: the least a Spin HTTP
//! component can do for a proxied read. One inbound request becomes one
//! outbound `GET` to `UPSTREAM` with `authorization: Bearer $BEARER` (and
//! `x-api-key: $API_KEY` when set: ACCS and accs-sim want the client id back
//! there), all from the component's environment (`[component.floor]
//! environment` in the manifest), and the upstream status and body go back
//! as they came. No configuration, no token logic, no log line: what
//! accs-bench measures against it is what accs-edge adds per request on the
//! same Spin.
//!
//! Optionally it also makes the host calls accs-edge's read makes, with no
//! logic around them, so accs-bench can price them apart from the guest's
//! own work: `VARIABLES` (comma-separated names, each read with
//! `spin:variables`), `KV_KEY` (the default store opened and that key read;
//! on a miss a 1 KiB value is stored once, as a sealed token is) and
//! `LOG_LINE` (written to stderr, one write per request).
//!
//! It answers the way accs-edge does (`src/host/p2/entry.rs`): the body is
//! queued before the head goes to Spin, so both leave in one write. Set
//! first, as spin-sdk's `Response` does, Spin 3.x sometimes wrote them apart
//! and, with Nagle on, the body waited 40 ms for the client's delayed ACK:
//! a floor that stalls would flatter the component.
//!
//! Natively (`cargo test --workspace`) this is an empty library.

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{
        Fields, IncomingRequest, OutgoingBody, OutgoingResponse, Request, Response,
        ResponseOutparam,
    };

    #[spin_sdk::http_component]
    async fn handle(_req: IncomingRequest, out: ResponseOutparam) {
        let (status, body) = proxy().await;
        respond(out, status, &body);
    }

    async fn proxy() -> (u16, Vec<u8>) {
        let (Ok(url), Ok(bearer)) = (std::env::var("UPSTREAM"), std::env::var("BEARER")) else {
            return (500, b"UPSTREAM and BEARER must be set".to_vec());
        };
        let mut out = Request::get(url);
        out.header("authorization", format!("Bearer {bearer}"));
        if let Ok(key) = std::env::var("API_KEY") {
            out.header("x-api-key", key);
        }
        if let Ok(names) = std::env::var("VARIABLES") {
            for name in names.split(',').filter(|n| !n.is_empty()) {
                let _ = spin_sdk::variables::get(name);
            }
        }
        if let Ok(key) = std::env::var("KV_KEY")
            && let Ok(store) = spin_sdk::key_value::Store::open_default()
            && let Ok(None) = store.get(&key)
        {
            let _ = store.set(&key, &[b'x'; 1024]);
        }
        if let Ok(line) = std::env::var("LOG_LINE") {
            use std::io::Write;
            let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
        }
        match spin_sdk::http::send::<_, Response>(out.build()).await {
            Ok(up) => (*up.status(), up.into_body()),
            Err(_) => (502, Vec::new()),
        }
    }

    /// The whole body is in hand, as accs-edge's: its length is said, and it
    /// is queued before the head is set.
    fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
        let length = body.len().to_string().into_bytes();
        let fields = Fields::from_list(&[("content-length".to_owned(), length)])
            .unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(fields);
        let _ = response.set_status_code(status);
        let (Ok(outgoing), mut rest) = (response.body(), body) else {
            return out.set(response);
        };
        let Ok(stream) = outgoing.write() else {
            return out.set(response);
        };
        if let Ok(room) = stream.check_write() {
            let now = rest.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            if now > 0 && stream.write(&rest[..now]).is_ok() {
                rest = &rest[now..];
            }
        }
        out.set(response);
        for chunk in rest.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
        drop(stream);
        let _ = OutgoingBody::finish(outgoing, None);
    }
}
