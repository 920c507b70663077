//! The wasmtime flavour: `wasi:config/store` and `wasi:keyvalue/store`,
//! bound from `wit/`, and the token file in `token_cache_dir` through
//! `std::fs` (`wasi:filesystem`): under `wasmtime serve` the key-value store
//! keeps nothing between instances, a preopened directory does.

use super::{FileError, KvError, OutRequest, OutResponse, Ports, SendError, fs};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        world: "wasmtime-ports",
        path: "wit",
        generate_all,
    });
}

use bindings::wasi::config::store as config;
use bindings::wasi::keyvalue::store as kv;

pub async fn read_variables(names: &[&'static str]) -> BTreeMap<&'static str, String> {
    names
        .iter()
        .filter_map(|name| match config::get(name) {
            Ok(Some(value)) => Some((*name, value)),
            _ => None,
        })
        .collect()
}

#[derive(Default)]
pub struct HostPorts {
    bucket: RefCell<Option<Rc<kv::Bucket>>>,
}

impl HostPorts {
    fn bucket(&self) -> Result<Rc<kv::Bucket>, KvError> {
        if let Some(b) = self.bucket.borrow().as_ref() {
            return Ok(b.clone());
        }
        // "" is the host's default bucket (wasmtime serve accepts only that).
        let bucket = Rc::new(kv::open("").map_err(|e| KvError(format!("{e:?}")))?);
        *self.bucket.borrow_mut() = Some(bucket.clone());
        Ok(bucket)
    }
}

impl Ports for HostPorts {
    async fn send(&self, req: OutRequest, timeout: Duration) -> Result<OutResponse, SendError> {
        super::http::send(req, timeout).await
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket()?
            .get(key)
            .map_err(|e| KvError(format!("{e:?}")))
    }

    async fn kv_set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        self.bucket()?
            .set(key, &value)
            .map_err(|e| KvError(format!("{e:?}")))
    }

    async fn file_read(&self, path: &str) -> Result<Option<Vec<u8>>, FileError> {
        fs::read(path)
    }

    async fn file_write(&self, path: &str, value: &[u8]) -> Result<(), FileError> {
        fs::write(path, value)
    }

    async fn file_rename(&self, from: &str, to: &str) -> Result<(), FileError> {
        fs::rename(from, to)
    }

    async fn file_link(&self, from: &str, to: &str) -> Result<bool, FileError> {
        fs::link(from, to)
    }

    async fn file_remove(&self, path: &str) -> Result<(), FileError> {
        fs::remove(path)
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
