//! The wasmtime flavour: `wasi:config/store` and `wasi:keyvalue/store`,
//! bound from `wit/`, and the token file in `token_cache_dir` through
//! `std::fs` (`wasi:filesystem`): under `wasmtime serve` the key-value store
//! keeps nothing between instances, a preopened directory does.

pub(super) use crate::host::fs as files;
use crate::ports::KvError;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

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

/// `wasmtime serve`'s `wasi:keyvalue` is in memory, per instance: what it
/// holds is gone when the instance is (at most 128 requests or 1 s idle).
pub const KV_SHARED: bool = false;

/// The host's default bucket, opened on first use and kept for the instance:
/// under `wasmtime serve` each `open` gets a fresh copy of the seed data, so
/// writes survive only on a kept handle.
#[derive(Default)]
pub struct Kv {
    bucket: RefCell<Option<Rc<kv::Bucket>>>,
}

impl Kv {
    fn bucket(&self) -> Result<Rc<kv::Bucket>, KvError> {
        if let Some(b) = self.bucket.borrow().as_ref() {
            return Ok(b.clone());
        }
        // "" is the host's default bucket (wasmtime serve accepts only that).
        let bucket = Rc::new(kv::open("").map_err(|e| KvError(format!("{e:?}")))?);
        *self.bucket.borrow_mut() = Some(bucket.clone());
        Ok(bucket)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket()?
            .get(key)
            .map_err(|e| KvError(format!("{e:?}")))
    }

    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        self.bucket()?
            .set(key, &value)
            .map_err(|e| KvError(format!("{e:?}")))
    }

    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.bucket()?
            .delete(key)
            .map_err(|e| KvError(format!("{e:?}")))
    }
}
