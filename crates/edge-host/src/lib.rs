//! Runs the `accs-edge` WebAssembly HTTP component inside an embedded wasmtime engine,
//! for component tests and benchmarks: a WASI 0.3 `wasi:http/handler` service (the
//! `spin-p3` and `wasmtime` builds), or a WASI 0.2 `wasi:http/incoming-handler` one
//! (the default `spin` build), whichever the component exports (see [`WasiHttp`]).
//!
//! Two flavours of host match the flavours of the component:
//! - [`Flavour::Spin`] provides `spin:variables@3.0.0` (from [`HostOptions::vars`]) and
//!   `spin:key-value@3.0.0` (store "default", backed by [`HostOptions::kv`]), and their
//!   Spin 2.0 forms `fermyon:spin/variables@2.0.0` and `fermyon:spin/key-value@2.0.0`
//!   over the same variables and data, as Spin links both.
//! - [`Flavour::Wasmtime`] provides what `wasmtime serve -Sconfig -Skeyvalue` does:
//!   `wasi:config/store@0.2.0-rc.1` (from [`HostOptions::vars`]) and
//!   `wasi:keyvalue@0.2.0-draft` (`wasmtime-wasi-keyvalue`'s semantics: an in-memory
//!   bucket "", seeded from [`HostOptions::kv_seed`]; implemented here, in `keyvalue`,
//!   so that [`EdgeHost::kv`]'s counters count its calls too).
//!
//! Both get WASI 0.2 and 0.3 (cli, clocks, filesystem, random, sockets) and the WASI 0.2
//! and 0.3 `wasi:http` clients, whose default hooks send real requests (tests point the component
//! at simulators on loopback). The guest's stdout and stderr are captured, see
//! [`EdgeHost::logs`]; set `EDGE_HOST_ECHO=1` to also echo them to the test's stderr.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use edge_host::{EdgeHost, Flavour, HostOptions};
//! let mut opts = HostOptions::new(Flavour::Spin, "target/accs-edge-spin-p3.wasm");
//! opts.vars.insert("upstream".into(), "http://127.0.0.1:8080".into());
//! let host = EdgeHost::new(opts)?;
//! let req = http::Request::get("http://localhost/healthz").body(bytes::Bytes::new())?;
//! let resp = host.oneshot(req).await?;
//! assert_eq!(resp.status(), 200);
//! # Ok(()) }
//! ```

mod clock;
#[cfg(target_os = "linux")]
mod dir_watch;
mod keyvalue;
mod kv;
mod logs;
mod p2;
mod spin;
mod spin_v2;

#[cfg(target_os = "linux")]
pub use dir_watch::DirWatch;

pub use clock::Clock;
pub use kv::SharedKv;

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use logs::LogSink;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;
use wasmtime::component::{Accessor, Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::{Service, ServicePre};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Which host the component is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// Spin: `spin:variables@3.0.0` and `spin:key-value@3.0.0` (the `spin-p3` build),
    /// `fermyon:spin/variables@2.0.0` and `fermyon:spin/key-value@2.0.0` (the default
    /// `spin` build).
    Spin,
    /// `wasmtime serve -Sconfig -Skeyvalue`: `wasi:config/store@0.2.0-rc.1` and
    /// `wasi:keyvalue@0.2.0-draft`.
    Wasmtime,
}

/// How to build an [`EdgeHost`].
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Which host interfaces to provide.
    pub flavour: Flavour,
    /// The component (`.wasm`).
    pub wasm: PathBuf,
    /// Spin variables ([`Flavour::Spin`]; names as Spin allows them: `[a-z][a-z0-9_]*`,
    /// no `__`, no trailing `_`) or `wasi:config` variables ([`Flavour::Wasmtime`], any name).
    pub vars: BTreeMap<String, String>,
    /// [`Flavour::Spin`]: the data behind `spin:key-value` store "default"; it outlives
    /// instances and is shared by clones of the host.
    pub kv: SharedKv,
    /// [`Flavour::Wasmtime`]: the in-memory data of `wasi:keyvalue` (each instance
    /// starts from this; each `open` of bucket "" gets its own copy, as with
    /// `wasmtime-wasi-keyvalue`).
    pub kv_seed: BTreeMap<String, Vec<u8>>,
    /// A host directory mapped read-write at guest path `/cache`.
    pub preopen_dir: Option<PathBuf>,
    /// The wall clock every instance reads (the host's own unless a test
    /// moves it); sleeps keep real time.
    pub clock: Clock,
}

impl HostOptions {
    /// Options with no variables, no key-value data and no preopened directory.
    pub fn new(flavour: Flavour, wasm: impl Into<PathBuf>) -> Self {
        Self {
            flavour,
            wasm: wasm.into(),
            vars: BTreeMap::new(),
            kv: SharedKv::default(),
            kv_seed: BTreeMap::new(),
            preopen_dir: None,
            clock: Clock::new(),
        }
    }

    /// Adds a variable.
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }
}

/// Which `wasi:http` export the host serves: the component's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasiHttp {
    /// `wasi:http/handler@0.3`: one instance can serve many requests, in turn or
    /// concurrently ([`EdgeHost::instance`] keeps one).
    P3,
    /// `wasi:http/incoming-handler@0.2`: a fresh instance per request, as Spin and
    /// Akamai Functions run it ([`EdgeHost::instance`] is a per-request handle).
    P2,
}

/// A linked component, ready to instantiate.
enum Pre {
    P3(ServicePre<Ctx>),
    P2(ProxyPre<Ctx>),
}

/// The guest path at which [`HostOptions::preopen_dir`] appears.
pub const PREOPEN_GUEST_PATH: &str = "/cache";

/// The `T` of every `Store<T>` this crate makes.
pub(crate) struct Ctx {
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) vars: Arc<BTreeMap<String, String>>,
    pub(crate) kv: SharedKv,
    config: WasiConfigVariables,
    /// The wasmtime flavour's `wasi:keyvalue` seed, copied by each `open`.
    pub(crate) kv_seed: Arc<BTreeMap<String, Vec<u8>>>,
    pub(crate) memory: MemoryPeak,
}

/// The largest size any linear memory of the instance asked to grow to, in
/// bytes: wasm memory never shrinks, so this is the guest's peak (what a
/// host's per-instance memory limit would be held against).
#[derive(Default)]
pub(crate) struct MemoryPeak {
    pub(crate) bytes: usize,
}

impl wasmtime::ResourceLimiter for MemoryPeak {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.bytes = self.bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Ctx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: wasmtime_wasi_http::default_hooks(),
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// Environment variable naming the directory of wasmtime's on-disk compilation cache;
/// `off` (or empty) disables it. Unset, it is [`DEFAULT_CACHE_DIR`]. Compiling a
/// component with a debug build of Cranelift takes seconds; with the cache, later test
/// processes load the compiled code instead (wasmtime keys entries on the wasm bytes,
/// the engine configuration and its own version, so a stale hit is not possible).
pub const CACHE_DIR_ENV: &str = "EDGE_HOST_CACHE_DIR";

/// `target/edge-host-cache` of the workspace this crate was built in.
pub const DEFAULT_CACHE_DIR: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/edge-host-cache");

fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_DIR_ENV) {
        None => Some(PathBuf::from(DEFAULT_CACHE_DIR)),
        Some(dir) if dir.is_empty() || dir == "off" => None,
        Some(dir) => Some(PathBuf::from(dir)),
    }
}

/// The one engine of this process: component model with async (WASI 0.3) enabled.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.wasm_component_model_async(true);
        if let Some(dir) = cache_dir() {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            match wasmtime::Cache::new(cache) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => eprintln!("edge-host: {CACHE_DIR_ENV} ignored: {e}"),
            }
        }
        Engine::new(&config).expect("wasmtime engine configuration")
    })
}

/// Compiled components by path, recompiled only when the file changes.
fn compiled(path: &Path) -> anyhow::Result<Component> {
    type Cache = Mutex<HashMap<PathBuf, (SystemTime, u64, Component)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();

    let path = path
        .canonicalize()
        .with_context(|| format!("component {}", path.display()))?;
    let meta = std::fs::metadata(&path).with_context(|| format!("component {}", path.display()))?;
    let stamp = (meta.modified()?, meta.len());

    let cache = CACHE.get_or_init(Cache::default);
    // Compiling under the lock makes concurrent tests wait for one compilation instead
    // of each compiling the same file.
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((modified, len, component)) = cache.get(&path)
        && (*modified, *len) == stamp
    {
        return Ok(component.clone());
    }
    let component = Component::from_file(engine(), &path)
        .map_err(wt)
        .with_context(|| format!("compiling component {}", path.display()))?;
    cache.insert(path, (stamp.0, stamp.1, component.clone()));
    Ok(component)
}

/// `wasmtime::Error` is its own type in wasmtime 48; its `anyhow` feature (on by
/// default) converts it, keeping the context chain (trap, wasm backtrace).
pub(crate) fn wt(e: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from(e)
}

struct HostInner {
    flavour: Flavour,
    wasm: PathBuf,
    pre: Pre,
    vars: Arc<BTreeMap<String, String>>,
    kv: SharedKv,
    kv_seed: Arc<BTreeMap<String, Vec<u8>>>,
    preopen_dir: Option<PathBuf>,
    clock: Clock,
    logs: LogSink,
}

/// A compiled component and the host around it. Cheap to clone; clones share the
/// compiled component, the key-value data and the captured logs.
#[derive(Clone)]
pub struct EdgeHost {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for EdgeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeHost")
            .field("flavour", &self.inner.flavour)
            .field("wasm", &self.inner.wasm)
            .finish_non_exhaustive()
    }
}

impl EdgeHost {
    /// Compiles (or takes from the process-wide cache) the component and links it
    /// against the host interfaces of `opts.flavour`. Fails if the component imports
    /// something this flavour does not provide, or exports neither
    /// `wasi:http/handler@0.3` nor `wasi:http/incoming-handler@0.2`.
    pub fn new(opts: HostOptions) -> anyhow::Result<EdgeHost> {
        if opts.flavour == Flavour::Spin {
            for name in opts.vars.keys() {
                spin::check_variable_name(name)
                    .map_err(|why| anyhow!("invalid Spin variable name {why}"))?;
            }
        }
        let component = compiled(&opts.wasm)?;
        let mut linker = Linker::<Ctx>::new(engine());
        add_to_linker(&mut linker, opts.flavour).map_err(wt)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(wt)
            .with_context(|| format!("linking {}", opts.wasm.display()))?;
        let pre = match ServicePre::new(pre.clone()) {
            Ok(p3) => Pre::P3(p3),
            Err(p3_error) => Pre::P2(ProxyPre::new(pre).map_err(|_| {
                wt(p3_error).context(
                    "the component exports neither wasi:http/handler@0.3 \
                     nor wasi:http/incoming-handler@0.2",
                )
            })?),
        };
        if let Some(dir) = &opts.preopen_dir
            && !dir.is_dir()
        {
            anyhow::bail!("preopen_dir {} is not a directory", dir.display());
        }
        Ok(EdgeHost {
            inner: Arc::new(HostInner {
                flavour: opts.flavour,
                wasm: opts.wasm,
                pre,
                vars: Arc::new(opts.vars),
                kv: opts.kv,
                kv_seed: Arc::new(opts.kv_seed),
                preopen_dir: opts.preopen_dir,
                clock: opts.clock,
                logs: LogSink::new(),
            }),
        })
    }

    /// The flavour this host was built with.
    pub fn flavour(&self) -> Flavour {
        self.inner.flavour
    }

    /// Which `wasi:http` export this host serves.
    pub fn wasi_http(&self) -> WasiHttp {
        match self.inner.pre {
            Pre::P3(_) => WasiHttp::P3,
            Pre::P2(_) => WasiHttp::P2,
        }
    }

    /// The wall clock its instances read ([`HostOptions::clock`]).
    pub fn clock(&self) -> Clock {
        self.inner.clock.clone()
    }

    fn new_store(&self) -> anyhow::Result<Store<Ctx>> {
        let inner = &self.inner;
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(inner.logs.stream())
            .stderr(inner.logs.stream())
            .allow_ip_name_lookup(true)
            .inherit_network()
            .wall_clock(inner.clock.wall());
        if let Some(dir) = &inner.preopen_dir {
            wasi.preopened_dir(dir, PREOPEN_GUEST_PATH, FsPerms::ReadWrite)
                .map_err(wt)
                .with_context(|| format!("preopening {}", dir.display()))?;
        }
        let ctx = Ctx {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            vars: inner.vars.clone(),
            kv: inner.kv.clone(),
            config: inner.vars.iter().collect(),
            kv_seed: inner.kv_seed.clone(),
            memory: MemoryPeak::default(),
        };
        let mut store = Store::new(engine(), ctx);
        store.limiter(|ctx| &mut ctx.memory);
        Ok(store)
    }

    /// [`WasiHttp::P3`]: a fresh store and instance of the component, kept for every
    /// request made on it. [`WasiHttp::P2`]: a handle whose every request gets its own
    /// fresh store and instance (the host's only way to run a WASI 0.2 component), so
    /// nothing but the key-value store carries from one request to the next.
    pub async fn instance(&self) -> anyhow::Result<EdgeInstance> {
        let pre = match &self.inner.pre {
            Pre::P3(pre) => pre,
            Pre::P2(_) => {
                return Ok(EdgeInstance {
                    kind: Kind::PerRequest {
                        host: self.clone(),
                        peak: Default::default(),
                    },
                });
            }
        };
        let mut store = self.new_store()?;
        let service = pre
            .instantiate_async(&mut store)
            .await
            .map_err(wt)
            .context("instantiating the component")?;
        Ok(EdgeInstance {
            kind: Kind::Reused(Arc::new(tokio::sync::Mutex::new(InstanceState {
                store,
                service,
            }))),
        })
    }

    /// One request on a fresh WASI 0.2 instance; the response and the instance's
    /// memory peak.
    async fn handle_p2(
        &self,
        req: http::Request<Bytes>,
    ) -> anyhow::Result<(http::Response<Bytes>, usize)> {
        let Pre::P2(pre) = &self.inner.pre else {
            unreachable!("a per-request instance comes from a WASI 0.2 component")
        };
        p2::handle(pre, self.new_store()?, req).await
    }

    /// One request on a fresh instance (dropped afterwards).
    pub async fn oneshot(
        &self,
        req: http::Request<Bytes>,
    ) -> anyhow::Result<http::Response<Bytes>> {
        self.instance().await?.handle(req).await
    }

    /// Everything every instance of this host (and its clones) wrote to stdout and
    /// stderr so far.
    pub fn logs(&self) -> String {
        self.inner.logs.contents()
    }

    /// Forgets the logs captured so far.
    pub fn clear_logs(&self) {
        self.inner.logs.clear();
    }

    /// The key-value data behind the Spin flavour's store "default", and the counters
    /// of the guest's key-value calls in either flavour.
    pub fn kv(&self) -> SharedKv {
        self.inner.kv.clone()
    }
}

fn add_to_linker(linker: &mut Linker<Ctx>, flavour: Flavour) -> wasmtime::Result<()> {
    // std for wasm32-wasip2 imports WASI 0.2 (cli, filesystem, ...); spin-sdk 7 uses
    // WASI 0.3 for http, clocks and random. Different interface versions, no clash.
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi::p3::add_to_linker(linker)?;
    wasmtime_wasi_http::p3::add_to_linker(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    match flavour {
        Flavour::Spin => {
            spin::add_to_linker(linker)?;
            spin_v2::add_to_linker(linker)?;
        }
        Flavour::Wasmtime => {
            wasmtime_wasi_config::add_to_linker(linker, |ctx: &mut Ctx| {
                WasiConfig::new(&ctx.config)
            })?;
            keyvalue::add_to_linker(linker)?;
        }
    }
    Ok(())
}

struct InstanceState {
    store: Store<Ctx>,
    service: Service,
}

/// [`WasiHttp::P3`]: one instance of the component in its own store. Requests on it
/// share the guest's memory, as when a WASI 0.3 host reuses an instance. Cheap to clone
/// (clones are the same instance); calls on one instance take turns, except within
/// [`handle_concurrent`](Self::handle_concurrent).
///
/// [`WasiHttp::P2`]: per-request instances, as a WASI 0.2 host runs the component:
/// every request (also each of [`handle_concurrent`](Self::handle_concurrent)'s) gets a
/// fresh store and instance; only the key-value store is shared.
#[derive(Clone)]
pub struct EdgeInstance {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Reused(Arc<tokio::sync::Mutex<InstanceState>>),
    PerRequest {
        host: EdgeHost,
        /// The largest memory peak of the instances made so far.
        peak: Arc<std::sync::atomic::AtomicUsize>,
    },
}

impl EdgeInstance {
    /// One request on this instance; a WASI 0.3 instance keeps its memory between calls,
    /// like a p3 host reusing an instance (a WASI 0.2 one is fresh for each call). A trap
    /// is an `Err` (and leaves a reused instance unusable).
    pub async fn handle(&self, req: http::Request<Bytes>) -> anyhow::Result<http::Response<Bytes>> {
        let mut responses = self.handle_concurrent(vec![req]).await?;
        responses.pop().context("no response")
    }

    /// The most linear memory the guest has had so far, in bytes (its
    /// memories' high-water mark, from a `ResourceLimiter` on the store; for
    /// per-request instances, the largest of theirs).
    pub async fn memory_peak(&self) -> usize {
        match &self.kind {
            Kind::Reused(state) => state.lock().await.store.data().memory.bytes,
            Kind::PerRequest { peak, .. } => peak.load(std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Many requests concurrently on this one instance (the component sees them
    /// interleaved, as under a p3 host with many concurrent requests); responses in input
    /// order. The first failure (a trap, an error code from the guest) is the `Err`.
    pub async fn handle_concurrent(
        &self,
        reqs: Vec<http::Request<Bytes>>,
    ) -> anyhow::Result<Vec<http::Response<Bytes>>> {
        let state = match &self.kind {
            Kind::Reused(state) => state,
            Kind::PerRequest { host, peak } => {
                return futures::future::try_join_all(reqs.into_iter().map(|req| async {
                    let (response, bytes) = host.handle_p2(req).await?;
                    peak.fetch_max(bytes, std::sync::atomic::Ordering::SeqCst);
                    anyhow::Ok(response)
                }))
                .await;
            }
        };
        let mut state = state.lock().await;
        let InstanceState { store, service } = &mut *state;
        let service = &*service;
        store
            .run_concurrent(async |accessor| {
                futures::future::try_join_all(
                    reqs.into_iter()
                        .map(|req| handle_one(accessor, service, req)),
                )
                .await
            })
            .await
            .map_err(wt)?
    }
}

/// Gives a request with a relative URI (`/healthz`) the scheme `http` and the authority
/// of its `host` header, or `localhost`.
pub(crate) fn absolute(mut req: http::Request<Bytes>) -> anyhow::Result<http::Request<Bytes>> {
    let uri = req.uri();
    if uri.scheme().is_none() || uri.authority().is_none() {
        let authority = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        *req.uri_mut() = http::Uri::builder()
            .scheme("http")
            .authority(authority)
            .path_and_query(path)
            .build()
            .with_context(|| format!("making {uri} absolute"))?;
    }
    Ok(req)
}

async fn handle_one(
    accessor: &Accessor<Ctx>,
    service: &Service,
    req: http::Request<Bytes>,
) -> anyhow::Result<http::Response<Bytes>> {
    let req = absolute(req)?;
    let (request, request_io) = wasmtime_wasi_http::p3::Request::from_http(
        wasmtime_wasi_http::default_hooks(),
        req.map(Full::new),
    );
    let response = async {
        let response = service
            .handle(accessor, request)
            .await
            .map_err(wt)?
            .map_err(|code| anyhow!("the component answered with error code {code:?}"))?;
        let response = accessor
            .with(|access| response.into_http(access, async { Ok(()) }))
            .map_err(wt)?;
        collected(response).await
    };
    let request_io = async {
        request_io
            .await
            .map_err(|e| anyhow!("sending the request body: {e:?}"))
    };
    let (response, ()) = futures::try_join!(response, request_io)?;
    Ok(response)
}

/// A response with its whole body read, for either HTTP interface's body type.
pub(crate) async fn collected<B>(
    response: http::Response<B>,
) -> anyhow::Result<http::Response<Bytes>>
where
    B: BodyExt,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| anyhow!("reading the response body: {e:?}"))?
        .to_bytes();
    Ok(http::Response::from_parts(parts, body))
}
