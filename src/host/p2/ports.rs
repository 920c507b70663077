//! `Ports` for the WASI 0.2 Spin build.

use super::kv::Kv;
use crate::ports::{FileError, KvError, OutRequest, OutResponse, Ports, SendError, Swap};
use std::time::Duration;

#[derive(Default)]
pub struct HostPorts {
    random: crate::host::RandomPool,
    kv: Kv,
}

/// Spin shares the token through its key-value store; `token_cache_dir` is
/// for the wasmtime flavour, and setting it here earns one warning.
fn no_files() -> FileError {
    FileError(
        "the Spin builds keep the token in the key-value store; token_cache_dir is ignored".into(),
    )
}

impl Ports for HostPorts {
    async fn send(&self, req: OutRequest, timeout: Duration) -> Result<OutResponse, SendError> {
        super::http::send(req, timeout).await
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.kv.get(key)
    }

    async fn kv_set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        self.kv.set(key, &value)
    }

    async fn kv_delete(&self, key: &str) -> Result<(), KvError> {
        self.kv.delete(key)
    }

    async fn kv_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<Swap, KvError> {
        self.kv.swap(key, expected, &value)
    }

    async fn file_read(&self, _path: &str) -> Result<Option<Vec<u8>>, FileError> {
        Err(no_files())
    }

    async fn file_write(&self, _path: &str, _value: &[u8]) -> Result<(), FileError> {
        Err(no_files())
    }

    async fn file_rename(&self, _from: &str, _to: &str) -> Result<(), FileError> {
        Err(no_files())
    }

    async fn file_link(&self, _from: &str, _to: &str) -> Result<bool, FileError> {
        Err(no_files())
    }

    async fn file_remove(&self, _path: &str) -> Result<(), FileError> {
        Err(no_files())
    }

    async fn sleep(&self, duration: Duration) {
        super::time::sleep(duration).await
    }

    fn now_ms(&self) -> u64 {
        let now = wasi::clocks::wall_clock::now();
        now.seconds * 1000 + u64::from(now.nanoseconds / 1_000_000)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        self.random
            .fill(buf, wasi::random::random::get_random_bytes);
    }

    fn log(&self, line: &str) {
        super::log::line(line)
    }
}
