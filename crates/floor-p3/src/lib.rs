//! The floor for accs-edge's WASI 0.3 builds (`wasmtime`, `spin-p3`): the
//! least a WASI 0.3 HTTP component can do for a proxied read, on the same
//! spin-sdk 7. One inbound request becomes one outbound `GET` to `UPSTREAM`
//! with `authorization: Bearer $BEARER` (and `x-api-key: $API_KEY` when set:
//! ACCS and accs-sim want the client id back there), all from the
//! component's environment (`wasmtime serve --env`, or `[component.floor]
//! environment` in a Spin manifest, read once per instance), and the upstream
//! status and body go back as they came, read in full as accs-edge reads
//! them. No configuration, no token logic, no deadline, no log line: what
//! accs-bench measures against it is what accs-edge adds per request on the
//! same host.
//!
//! With `LOG_LINE` set, it also writes that text and a newline to stderr once
//! per request, in one write, as accs-edge writes its log line: accs-bench
//! uses this variant to price what the host charges for a guest's log line.
//! With `TIMEOUT_MS` set, the outbound request carries the request options
//! accs-edge sets (connect, first-byte and between-bytes timeouts), to price
//! the host's side of the deadline.
//!
//! Natively (`cargo test --workspace`) this is an empty library.

#[cfg(target_arch = "wasm32")]
mod component {
    use bytes::Bytes;
    use spin_sdk::http::body::IncomingBodyExt;
    use spin_sdk::http::{FullBody, Request, Response};
    use spin_sdk::wasip3::http::types::RequestOptions;
    use spin_sdk::wasip3::http_compat::RequestOptionsExtension;
    use std::sync::OnceLock;

    struct Env {
        url: String,
        bearer: String,
        api_key: Option<String>,
        /// `LOG_LINE` and a newline.
        log: Option<String>,
        timeout_ns: Option<u64>,
    }

    /// Instances serve many requests: the environment is read once.
    fn env() -> Option<&'static Env> {
        static ENV: OnceLock<Option<Env>> = OnceLock::new();
        ENV.get_or_init(|| {
            Some(Env {
                url: std::env::var("UPSTREAM").ok()?,
                bearer: format!("Bearer {}", std::env::var("BEARER").ok()?),
                api_key: std::env::var("API_KEY").ok(),
                log: std::env::var("LOG_LINE").ok().map(|l| l + "\n"),
                timeout_ns: std::env::var("TIMEOUT_MS")
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                    .map(|ms| ms * 1_000_000),
            })
        })
        .as_ref()
    }

    fn answer(status: u16, body: Bytes) -> Response<FullBody<Bytes>> {
        http::Response::builder()
            .status(status)
            .header("content-length", body.len())
            .body(FullBody::new(body))
            .unwrap_or_else(|_| http::Response::new(FullBody::new(Bytes::new())))
    }

    #[spin_sdk::http_service]
    async fn handle(_req: Request) -> Response<FullBody<Bytes>> {
        let Some(env) = env() else {
            return answer(500, Bytes::from_static(b"UPSTREAM and BEARER must be set"));
        };
        if let Some(line) = &env.log {
            use std::io::Write;
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        let mut out = http::Request::get(env.url.as_str()).header("authorization", &env.bearer);
        if let Some(key) = &env.api_key {
            out = out.header("x-api-key", key);
        }
        if let Some(ns) = env.timeout_ns {
            // As accs-edge's `host::p3::http::options`: connect at most 10 s.
            let options = RequestOptions::new();
            let _ = options.set_connect_timeout(Some(ns.min(10_000_000_000)));
            let _ = options.set_first_byte_timeout(Some(ns));
            let _ = options.set_between_bytes_timeout(Some(ns));
            out = out.extension(RequestOptionsExtension(options));
        }
        let Ok(out) = out.body(FullBody::new(Bytes::new())) else {
            return answer(500, Bytes::new());
        };
        match spin_sdk::http::send(out).await {
            Ok(up) => {
                let status = up.status().as_u16();
                match up.into_body().bytes().await {
                    Ok(body) => answer(status, body),
                    Err(_) => answer(502, Bytes::new()),
                }
            }
            Err(_) => answer(502, Bytes::new()),
        }
    }
}
