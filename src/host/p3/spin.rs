//! The Spin flavour: `spin:variables` and `spin:key-value` (default store).

use crate::ports::KvError;
use spin_sdk::key_value::Store;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

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

/// Spin's stores outlive instances and are shared by them.
pub const KV_SHARED: bool = true;

/// The default store, opened on first use and kept: opening per call costs
/// a host round trip.
#[derive(Default)]
pub struct Kv {
    store: RefCell<Option<Rc<Store>>>,
}

impl Kv {
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

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.store()
            .await?
            .get(key)
            .await
            .map_err(|e| KvError(format!("{e:?}")))
    }

    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        self.store()
            .await?
            .set(key, &value)
            .await
            .map_err(|e| KvError(format!("{e:?}")))
    }

    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.store()
            .await?
            .delete(key)
            .await
            .map_err(|e| KvError(format!("{e:?}")))
    }
}

/// Spin shares the token through `spin:key-value`; `token_cache_dir` is for
/// the wasmtime flavour, and setting it here earns one warning.
pub mod files {
    use crate::ports::FileError;

    fn refused() -> FileError {
        FileError(
            "the Spin flavour keeps the token in spin:key-value; token_cache_dir is ignored".into(),
        )
    }

    pub fn read(_path: &str) -> Result<Option<Vec<u8>>, FileError> {
        Err(refused())
    }

    pub fn write(_path: &str, _value: &[u8]) -> Result<(), FileError> {
        Err(refused())
    }

    pub fn rename(_from: &str, _to: &str) -> Result<(), FileError> {
        Err(refused())
    }

    pub fn link(_from: &str, _to: &str) -> Result<bool, FileError> {
        Err(refused())
    }

    pub fn remove(_path: &str) -> Result<(), FileError> {
        Err(refused())
    }
}
