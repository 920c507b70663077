//! Host side of `wasi:keyvalue@0.2.0-draft` (store, atomics, batch) for the wasmtime
//! flavour: what `wasmtime serve -Skeyvalue` links, with the guest's calls counted.
//!
//! The semantics are wasmtime-wasi-keyvalue 48.0.8's (`src/lib.rs`, the crate
//! `wasmtime serve` uses): only the identifier `""` opens; each `open` gets its own
//! copy of the instance's seed data, so writes live on that bucket handle only and
//! nothing outlives the instance; `list-keys` answers every key from the cursor on
//! (clamped) and no further cursor; `increment` treats a missing key as
//! `"0"` and fails on a value that is not a decimal `u64` or on overflow. What this
//! adds: every call counts in the host's [`SharedKv`](crate::SharedKv) counters, and
//! [`SharedKv::set_failing`](crate::SharedKv::set_failing) fails every call, as in the
//! Spin flavour.

use crate::Ctx;
use crate::kv::{KvFailure, Op};
use std::collections::BTreeMap;
use wasmtime::component::{HasData, Linker, Resource};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "edge-host:host/wasmtime-host",
        imports: { default: trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
        },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// An open bucket: its own copy of the seed.
pub struct Bucket {
    data: BTreeMap<String, Vec<u8>>,
}

/// `HasData` marker whose view of the store data is the whole [`Ctx`].
struct WasiKv;

impl HasData for WasiKv {
    type Data<'a> = &'a mut Ctx;
}

/// Adds `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft` to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<Ctx>) -> wasmtime::Result<()> {
    store::add_to_linker::<Ctx, WasiKv>(linker, |ctx| ctx)?;
    atomics::add_to_linker::<Ctx, WasiKv>(linker, |ctx| ctx)?;
    batch::add_to_linker::<Ctx, WasiKv>(linker, |ctx| ctx)?;
    Ok(())
}

fn kv_error(e: KvFailure) -> store::Error {
    match e {
        KvFailure::Injected => store::Error::Other("injected".to_string()),
    }
}

type Answer<T> = wasmtime::Result<Result<T, store::Error>>;

impl Ctx {
    /// Counts `op`; `Err` is the guest's error when failing is set.
    fn counted(&self, op: Op) -> Result<(), store::Error> {
        self.kv.count(op).map_err(kv_error)
    }

    /// `Err` when failing is set; counts nothing.
    fn uncounted(&self) -> Result<(), store::Error> {
        self.kv.uncounted().map_err(kv_error)
    }

    fn bucket(&mut self, bucket: &Resource<Bucket>) -> wasmtime::Result<&mut Bucket> {
        Ok(self.table.get_mut(bucket)?)
    }
}

impl store::Host for Ctx {
    fn open(&mut self, identifier: String) -> Answer<Resource<Bucket>> {
        if let Err(e) = self.uncounted() {
            return Ok(Err(e));
        }
        if !identifier.is_empty() {
            return Ok(Err(store::Error::NoSuchStore));
        }
        let data = (*self.kv_seed).clone();
        Ok(Ok(self.table.push(Bucket { data })?))
    }
}

impl store::HostBucket for Ctx {
    fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<Option<Vec<u8>>> {
        if let Err(e) = self.counted(Op::Read) {
            return Ok(Err(e));
        }
        Ok(Ok(self.bucket(&bucket)?.data.get(&key).cloned()))
    }

    fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Answer<()> {
        if let Err(e) = self.counted(Op::Write) {
            return Ok(Err(e));
        }
        self.bucket(&bucket)?.data.insert(key, value);
        Ok(Ok(()))
    }

    fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<()> {
        if let Err(e) = self.counted(Op::Delete) {
            return Ok(Err(e));
        }
        self.bucket(&bucket)?.data.remove(&key);
        Ok(Ok(()))
    }

    fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<bool> {
        if let Err(e) = self.uncounted() {
            return Ok(Err(e));
        }
        Ok(Ok(self.bucket(&bucket)?.data.contains_key(&key)))
    }

    fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Answer<store::KeyResponse> {
        if let Err(e) = self.uncounted() {
            return Ok(Err(e));
        }
        let keys = &self.bucket(&bucket)?.data;
        // The cursor is the guest's: clamped, never a slice out of range.
        let from = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        Ok(Ok(store::KeyResponse {
            keys: keys.keys().skip(from).cloned().collect(),
            cursor: None,
        }))
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for Ctx {
    fn increment(&mut self, bucket: Resource<Bucket>, key: String, delta: u64) -> Answer<u64> {
        if let Err(e) = self.counted(Op::Write) {
            return Ok(Err(e));
        }
        let value = self
            .bucket(&bucket)?
            .data
            .entry(key)
            .or_insert_with(|| b"0".to_vec());
        let Some(current) = std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return Ok(Err(store::Error::Other("not a u64".to_string())));
        };
        let Some(new) = current.checked_add(delta) else {
            return Ok(Err(store::Error::Other(
                "overflow incrementing value".to_string(),
            )));
        };
        *value = new.to_string().into_bytes();
        Ok(Ok(new))
    }
}

impl batch::Host for Ctx {
    fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Answer<Vec<Option<(String, Vec<u8>)>>> {
        if let Err(e) = self.counted(Op::Read) {
            return Ok(Err(e));
        }
        let data = &self.bucket(&bucket)?.data;
        Ok(Ok(keys
            .into_iter()
            .map(|k| data.get(&k).map(|v| (k.clone(), v.clone())))
            .collect()))
    }

    fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Answer<()> {
        if let Err(e) = self.counted(Op::Write) {
            return Ok(Err(e));
        }
        self.bucket(&bucket)?.data.extend(key_values);
        Ok(Ok(()))
    }

    fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Answer<()> {
        if let Err(e) = self.counted(Op::Delete) {
            return Ok(Err(e));
        }
        let data = &mut self.bucket(&bucket)?.data;
        for k in keys {
            data.remove(&k);
        }
        Ok(Ok(()))
    }
}
