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
