//! The one `Ports` of both WASI 0.3 flavours. What they share (outbound
//! HTTP, clock, randomness, sleep, logging) lives here; each flavour module
//! brings only its key-value store (`Kv`) and its token-file operations.

use super::flavour::{self, files};
use crate::ports::{FileError, KvError, OutRequest, OutResponse, Ports, SendError};
use std::time::Duration;

#[derive(Default)]
pub struct HostPorts {
    random: crate::host::RandomPool,
    kv: flavour::Kv,
}

impl Ports for HostPorts {
    async fn send(&self, req: OutRequest, timeout: Duration) -> Result<OutResponse, SendError> {
        super::http::send(req, timeout).await
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.kv.get(key).await
    }

    async fn kv_set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        self.kv.set(key, value).await
    }

    async fn kv_delete(&self, key: &str) -> Result<(), KvError> {
        self.kv.delete(key).await
    }

    fn kv_shared(&self) -> bool {
        flavour::KV_SHARED
    }

    async fn file_read(&self, path: &str) -> Result<Option<Vec<u8>>, FileError> {
        files::read(path)
    }

    async fn file_write(&self, path: &str, value: &[u8]) -> Result<(), FileError> {
        files::write(path, value)
    }

    async fn file_rename(&self, from: &str, to: &str) -> Result<(), FileError> {
        files::rename(from, to)
    }

    async fn file_link(&self, from: &str, to: &str) -> Result<bool, FileError> {
        files::link(from, to)
    }

    async fn file_remove(&self, path: &str) -> Result<(), FileError> {
        files::remove(path)
    }

    async fn sleep(&self, duration: Duration) {
        spin_sdk::time::sleep(duration).await
    }

    fn now_ms(&self) -> u64 {
        let now = spin_sdk::wasip3::clocks::system_clock::now();
        (now.seconds.max(0) as u64) * 1000 + u64::from(now.nanoseconds / 1_000_000)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        self.random
            .fill(buf, spin_sdk::wasip3::random::random::get_random_bytes);
    }

    fn log(&self, line: &str) {
        crate::host::log_line(line)
    }
}
