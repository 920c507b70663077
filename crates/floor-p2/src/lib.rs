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
//! Natively (`cargo test --workspace`) this is an empty library.

#[cfg(target_arch = "wasm32")]
mod component {
    use spin_sdk::http::{Request, Response};

    #[spin_sdk::http_component]
    async fn handle(_req: Request) -> Response {
        let (Ok(url), Ok(bearer)) = (std::env::var("UPSTREAM"), std::env::var("BEARER")) else {
            return Response::new(500, "UPSTREAM and BEARER must be set");
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
            Ok(up) => {
                let status = *up.status();
                let body = up.into_body();
                // The whole body is in hand, as accs-edge's: no chunking.
                Response::builder()
                    .status(status)
                    .header("content-length", body.len().to_string())
                    .body(body)
                    .build()
            }
            Err(_) => Response::new(502, ()),
        }
    }
}
