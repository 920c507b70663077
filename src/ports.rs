//! The ports: everything the component needs from its host, behind one trait.
//!
//! The logic is generic over [`Ports`], so it runs natively in unit tests with
//! fakes and in wasm with the real host (`crate::host`'s adapters). A leaf:
//! it imports nothing of ours.

use std::time::Duration;

/// An outbound HTTP request, fully built: the URL comes from configuration.
/// Its `Debug` prints no bearer token and no body (an IMS form carries the
/// client secret).
#[derive(Clone, PartialEq)]
pub struct OutRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for OutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| match *n {
                "authorization" => (*n, "***"),
                _ => (*n, v.as_str()),
            })
            .collect();
        f.debug_struct("OutRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct OutResponse {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutRequest {
    /// The `content-length` to send: the body is always known in full, and
    /// some gateways answer 411 to a chunked upload. `None` for a bodiless
    /// GET, HEAD or DELETE.
    pub fn content_length(&self) -> Option<String> {
        let sends_body = !self.body.is_empty() || matches!(self.method, "POST" | "PUT" | "PATCH");
        sends_body.then(|| self.body.len().to_string())
    }
}

impl OutResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why an outbound call produced no response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Nothing reached the peer (DNS, refused connection): safe to retry any method.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The attempt ran out of time; the peer may have acted on it.
    #[error("timed out")]
    Timeout,
    /// The response body was larger than the cap.
    #[error("response body over {0} bytes")]
    TooLarge(usize),
    /// Anything else after the request left.
    #[error("{0}")]
    Other(String),
}

/// The outcome of [`Ports::kv_swap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swap {
    /// The key held what was expected and now holds the new value.
    Done,
    /// Another writer changed the key first; nothing was written.
    Changed,
    /// The host has no compare-and-swap: the caller falls back.
    Unsupported,
}

/// A key-value store failure; the cache degrades to memory and IMS.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);

/// A file-system failure; the token file degrades to memory, KV and IMS.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("token file: {0}")]
pub struct FileError(pub String);

/// What the component needs from its host.
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bounds wanted
pub trait Ports {
    async fn send(&self, req: OutRequest, timeout: Duration) -> Result<OutResponse, SendError>;
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    async fn kv_set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError>;
    /// Removes `key`; a missing key is not an error. The webhook ledger
    /// deletes its expired records with it (no host lists keys everywhere).
    async fn kv_delete(&self, key: &str) -> Result<(), KvError>;
    /// Whether the key-value store outlives the instance and is shared by
    /// the instances of the deployment (Spin's stores). `wasmtime serve`'s
    /// `wasi:keyvalue` keeps nothing beyond one instance: what must be
    /// remembered across instances (the webhook ledger) then lives in
    /// `token_cache_dir`.
    fn kv_shared(&self) -> bool {
        true
    }
    /// Writes `value` only if `key` still holds `expected` (`None`: absent),
    /// atomically across every instance sharing the store. Hosts without a
    /// compare-and-swap answer [`Swap::Unsupported`].
    async fn kv_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<Swap, KvError> {
        let _ = (key, expected, value);
        Ok(Swap::Unsupported)
    }
    /// The whole file, or `None` when there is none. Paths are absolute
    /// guest paths under `token_cache_dir`; flavours without files refuse.
    async fn file_read(&self, path: &str) -> Result<Option<Vec<u8>>, FileError>;
    /// Creates or truncates `path` and writes `value`.
    async fn file_write(&self, path: &str, value: &[u8]) -> Result<(), FileError>;
    /// Renames `from` over `to`, replacing it atomically.
    async fn file_rename(&self, from: &str, to: &str) -> Result<(), FileError>;
    /// Hard-links `from` as `to`; `Ok(false)` when `to` already exists. With a
    /// fully written `from`, this creates `to` exclusively and never torn.
    async fn file_link(&self, from: &str, to: &str) -> Result<bool, FileError>;
    /// Removes `path`; a missing file is not an error.
    async fn file_remove(&self, path: &str) -> Result<(), FileError>;
    async fn sleep(&self, duration: Duration);
    /// Wall-clock milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    fn fill_random(&self, buf: &mut [u8]);
    /// One structured log line on stderr.
    fn log(&self, line: &str);
}

#[cfg(test)]
mod tests {
    use super::OutRequest;

    #[test]
    fn debug_output_of_a_request_has_no_bearer_and_no_body() {
        let req = OutRequest {
            method: "POST",
            url: "https://ims.example/ims/token/v3".into(),
            headers: vec![("authorization", "Bearer eyJ-the-token".into())],
            body: b"client_secret=p8e-the-secret".to_vec(),
        };
        let text = format!("{req:?}");
        assert!(!text.contains("eyJ") && !text.contains("p8e-"), "{text}");
        assert!(
            text.contains("ims/token/v3") && text.contains("28 bytes"),
            "{text}"
        );
    }
}
