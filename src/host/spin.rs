//! The Spin flavour: `spin:variables` and `spin:key-value` (default store).

use super::{FileError, KvError, OutRequest, OutResponse, Ports, SendError};
use spin_sdk::key_value::Store;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// Reads every variable once. `Undefined` is "unset"; any other failure is
/// also reported as unset, by name, so the operator sees which one is wrong.
pub async fn read_variables(names: &[&'static str]) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for name in names {
        if let Ok(value) = spin_sdk::variables::get(name).await {
            out.insert(*name, value);
        }
    }
    out
}

#[derive(Default)]
pub struct HostPorts {
    /// Opened on first use and kept: opening per call costs a host round trip.
    store: RefCell<Option<Rc<Store>>>,
}

impl HostPorts {
    async fn store(&self) -> Result<Rc<Store>, KvError> {
        if let Some(s) = self.store.borrow().as_ref() {
            return Ok(s.clone());
        }
        let store = Rc::new(
            Store::open_default()
                .await
                .map_err(|e| KvError(format!("{e:?}")))?,
        );
        *self.store.borrow_mut() = Some(store.clone());
        Ok(store)
    }
}

impl Ports for HostPorts {
    async fn send(&self, req: OutRequest, timeout: Duration) -> Result<OutResponse, SendError> {
        super::http::send(req, timeout).await
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.store()
            .await?
            .get(key)
            .await
            .map_err(|e| KvError(format!("{e:?}")))
    }

    async fn kv_set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        self.store()
            .await?
            .set(key, &value)
            .await
            .map_err(|e| KvError(format!("{e:?}")))
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
        spin_sdk::time::sleep(duration).await
    }

    fn now_ms(&self) -> u64 {
        super::clock_ms()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        super::fill_random(buf)
    }

    fn log(&self, line: &str) {
        super::write_log(line)
    }
}

/// Spin shares the token through `spin:key-value`; `token_cache_dir` is for
/// the wasmtime flavour, and setting it here earns one warning.
fn no_files() -> FileError {
    FileError(
        "the Spin flavour keeps the token in spin:key-value; token_cache_dir is ignored".into(),
    )
}
