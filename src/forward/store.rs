//! Where the dead letters live: the key-value store where it is shared by
//! the deployment's instances (Spin), else files in `token_cache_dir`
//! (`wasmtime serve`), else nowhere (the routes answer 503), as the ledger
//! (`crate::place`).

use crate::config::Settings;
use crate::place::Where;
use crate::ports::{Ports, Swap};

/// Why the store could not answer.
pub use crate::place::PlaceError as StoreError;

pub struct Store {
    place: Where,
}

impl Store {
    pub fn new(settings: &Settings, kv_shared: bool) -> Store {
        Store {
            place: Where::of(settings, kv_shared),
        }
    }

    pub fn place(&self) -> &Where {
        &self.place
    }

    pub async fn get<P: Ports>(
        &self,
        ports: &P,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.place.get(ports, name).await
    }

    pub async fn put<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.place.put(ports, name, value, "dead").await
    }

    /// Writes `value` only if `name` still holds `expected`, where the host
    /// can tell (`kv-cas`); elsewhere [`Swap::Unsupported`] and nothing written.
    pub async fn swap<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        expected: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<Swap, StoreError> {
        match &self.place {
            Where::Kv => ports
                .kv_swap(name, expected, value)
                .await
                .map_err(|e| StoreError("write", e.0)),
            _ => Ok(Swap::Unsupported),
        }
    }

    pub async fn delete<P: Ports>(&self, ports: &P, name: &str) -> Result<(), StoreError> {
        self.place.delete(ports, name).await
    }
}
