//! Host side of the Spin 2.0 interfaces the default build (WASI 0.2, spin-sdk 5)
//! imports: `fermyon:spin/variables@2.0.0` and `fermyon:spin/key-value@2.0.0`.
//!
//! Same answers as the 3.0 interfaces in `spin.rs`, over the same data: variables from
//! [`HostOptions::vars`](crate::HostOptions::vars) under Spin's name rule, key-value
//! store "default" only, backed by the host's [`SharedKv`](crate::SharedKv) with its
//! counters and failure switch. The 2.0 functions are synchronous in WIT, so these are
//! plain `Host` traits on [`Ctx`].

use crate::Ctx;
use crate::kv::KvFailure;
use crate::spin::check_variable_name;
use wasmtime::component::{HasSelf, Linker, Resource};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "edge-host:host/spin-v2-host",
        imports: { default: trappable },
        with: {
            "fermyon:spin/key-value.store": super::KvStore,
        },
    });
}

use bindings::fermyon::spin::key_value;
use bindings::fermyon::spin::variables;

/// The `fermyon:spin/key-value` `store` resource: only the label "default" opens.
pub struct KvStore {
    _label: String,
}

/// Adds `fermyon:spin/variables@2.0.0` and `fermyon:spin/key-value@2.0.0` to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<Ctx>) -> wasmtime::Result<()> {
    variables::add_to_linker::<Ctx, HasSelf<Ctx>>(linker, |ctx| ctx)?;
    key_value::add_to_linker::<Ctx, HasSelf<Ctx>>(linker, |ctx| ctx)?;
    Ok(())
}

fn kv_error(e: KvFailure) -> key_value::Error {
    match e {
        KvFailure::Injected => key_value::Error::Other("injected".to_string()),
    }
}

type Answer<T> = wasmtime::Result<Result<T, key_value::Error>>;

impl variables::Host for Ctx {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        if let Err(why) = check_variable_name(&name) {
            return Ok(Err(variables::Error::InvalidName(why)));
        }
        Ok(self
            .vars
            .get(&name)
            .cloned()
            .ok_or(variables::Error::Undefined(format!(
                "no variable for {name:?}"
            ))))
    }
}

impl key_value::Host for Ctx {}

impl key_value::HostStore for Ctx {
    fn open(&mut self, label: String) -> Answer<Resource<KvStore>> {
        if let Err(e) = self.kv.guest_open() {
            return Ok(Err(kv_error(e)));
        }
        if label != "default" {
            return Ok(Err(key_value::Error::NoSuchStore));
        }
        Ok(Ok(self.table.push(KvStore { _label: label })?))
    }

    fn get(&mut self, store: Resource<KvStore>, key: String) -> Answer<Option<Vec<u8>>> {
        self.table.get(&store)?;
        Ok(self.kv.guest_get(&key).map_err(kv_error))
    }

    fn set(&mut self, store: Resource<KvStore>, key: String, value: Vec<u8>) -> Answer<()> {
        self.table.get(&store)?;
        Ok(self.kv.guest_set(&key, value).map_err(kv_error))
    }

    fn delete(&mut self, store: Resource<KvStore>, key: String) -> Answer<()> {
        self.table.get(&store)?;
        Ok(self.kv.guest_delete(&key).map_err(kv_error))
    }

    fn exists(&mut self, store: Resource<KvStore>, key: String) -> Answer<bool> {
        self.table.get(&store)?;
        Ok(self.kv.guest_exists(&key).map_err(kv_error))
    }

    fn get_keys(&mut self, store: Resource<KvStore>) -> Answer<Vec<String>> {
        self.table.get(&store)?;
        Ok(self.kv.guest_keys().map_err(kv_error))
    }

    fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
