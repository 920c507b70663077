//! Host side of the Spin 3.x interfaces the Spin flavour imports:
//! `spin:variables/variables@3.0.0` and `spin:key-value/key-value@3.0.0`.
//!
//! Every function of both interfaces is a WIT `async func`, so wasmtime 48's `bindgen!`
//! gives each the `async | store` flags by default: they land in `*WithStore<T>` traits
//! implemented on a `HasData` marker ([`SpinHost`]) and take
//! `&wasmtime::component::Accessor<T, Self>`; the store data is reached through
//! `accessor.with(|mut access| access.get())`. `trappable` is added so a host failure
//! (a full resource table, a stream that cannot be made) traps instead of needing a WIT
//! error. Resource drops are not `async`, so they stay in the plain `HostStore` trait.

use crate::Ctx;
use crate::kv::KvFailure;
use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "edge-host:host/spin-host",
        imports: { default: trappable },
        with: {
            "spin:key-value/key-value.store": super::KvStore,
        },
    });
}

use bindings::spin::key_value::key_value;
use bindings::spin::variables::variables;

/// The `spin:key-value` `store` resource: only the label "default" opens.
pub struct KvStore {
    _label: String,
}

/// `HasData` marker whose view of the store data is the whole [`Ctx`].
pub(crate) struct SpinHost;

impl HasData for SpinHost {
    type Data<'a> = &'a mut Ctx;
}

/// Adds `spin:variables@3.0.0` and `spin:key-value@3.0.0` to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<Ctx>) -> wasmtime::Result<()> {
    variables::add_to_linker::<Ctx, SpinHost>(linker, |ctx| ctx)?;
    key_value::add_to_linker::<Ctx, SpinHost>(linker, |ctx| ctx)?;
    Ok(())
}

fn kv_error(e: KvFailure) -> key_value::Error {
    match e {
        KvFailure::Injected => key_value::Error::Other("injected".to_string()),
    }
}

/// Spin's rule for variable names (as `spin.toml` and the variables factor apply it):
/// lower-case ASCII letters, digits and single underscores, starting with a letter and
/// ending with a letter or digit.
pub(crate) fn check_variable_name(name: &str) -> Result<(), String> {
    let why = if name.is_empty() {
        "must not be empty"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        "may contain only lower-case letters, digits and underscores"
    } else if !name.as_bytes()[0].is_ascii_lowercase() {
        "must start with a lower-case letter"
    } else if name.ends_with('_') {
        "must end with a lower-case letter or digit"
    } else if name.contains("__") {
        "must not contain consecutive underscores"
    } else {
        return Ok(());
    };
    Err(format!("{name:?}: {why}"))
}

impl variables::Host for Ctx {}

impl<T: Send> variables::HostWithStore<T> for SpinHost {
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, variables::Error>> {
        if let Err(why) = check_variable_name(&name) {
            return Ok(Err(variables::Error::InvalidName(why)));
        }
        Ok(accessor.with(|mut access| {
            access
                .get()
                .vars
                .get(&name)
                .cloned()
                .ok_or(variables::Error::Undefined(format!(
                    "no variable for {name:?}"
                )))
        }))
    }
}

impl key_value::Host for Ctx {}

impl key_value::HostStore for Ctx {
    fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

fn check_open(table: &ResourceTable, store: &Resource<KvStore>) -> wasmtime::Result<()> {
    table.get(store)?;
    Ok(())
}

impl<T: Send> key_value::HostStoreWithStore<T> for SpinHost {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, key_value::Error>> {
        accessor.with(|mut access| {
            let ctx = access.get();
            if let Err(e) = ctx.kv.guest_open() {
                return Ok(Err(kv_error(e)));
            }
            if label != "default" {
                return Ok(Err(key_value::Error::NoSuchStore));
            }
            Ok(Ok(ctx.table.push(KvStore { _label: label })?))
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, key_value::Error>> {
        accessor.with(|mut access| {
            let ctx = access.get();
            check_open(&ctx.table, &store)?;
            Ok(ctx.kv.guest_get(&key).map_err(kv_error))
        })
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        accessor.with(|mut access| {
            let ctx = access.get();
            check_open(&ctx.table, &store)?;
            Ok(ctx.kv.guest_set(&key, value).map_err(kv_error))
        })
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), key_value::Error>> {
        accessor.with(|mut access| {
            let ctx = access.get();
            check_open(&ctx.table, &store)?;
            Ok(ctx.kv.guest_delete(&key).map_err(kv_error))
        })
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, key_value::Error>> {
        accessor.with(|mut access| {
            let ctx = access.get();
            check_open(&ctx.table, &store)?;
            Ok(ctx.kv.guest_exists(&key).map_err(kv_error))
        })
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<(
        StreamReader<String>,
        FutureReader<Result<(), key_value::Error>>,
    )> {
        accessor.with(|mut access| {
            let ctx = access.get();
            check_open(&ctx.table, &store)?;
            let (keys, result) = match ctx.kv.guest_keys() {
                Ok(keys) => (keys, Ok(())),
                Err(e) => (Vec::new(), Err(kv_error(e))),
            };
            let keys = StreamReader::new(&mut access, keys)?;
            let result =
                FutureReader::new(&mut access, async move { wasmtime::error::Ok(result) })?;
            Ok((keys, result))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::check_variable_name;

    #[test]
    fn spin_variable_names() {
        for ok in ["a", "api_key", "a1", "upstream_url_2"] {
            assert_eq!(check_variable_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "A", "Api", "1a", "_a", "a_", "a__b", "a-b", "a.b"] {
            assert!(check_variable_name(bad).is_err(), "{bad}");
        }
    }
}
