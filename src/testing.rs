//! Fake ports for native tests: a scripted upstream, a settable clock, an
//! in-memory store and file system, captured logs.

use crate::ports::{FileError, KvError, OutRequest, OutResponse, Ports, SendError, Swap};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

type Upstream = Box<dyn Fn(&OutRequest, usize) -> Result<OutResponse, SendError>>;

/// Which store operation a [`FakePorts::kv_fault`] is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvOp {
    Get,
    Set,
    Swap,
    Delete,
}

/// Fails the store operations it answers `true` for: the operation, the key,
/// and the value being written (`None` for a get or a delete).
pub type KvFault = Box<dyn Fn(KvOp, &str, Option<&[u8]>) -> bool>;

pub struct FakePorts {
    pub upstream: RefCell<Upstream>,
    pub sent: RefCell<Vec<OutRequest>>,
    /// The timeout each of `sent` was given.
    pub timeouts: RefCell<Vec<Duration>>,
    pub now: Cell<u64>,
    /// Shareable, so two fake instances can use one store.
    pub kv: Rc<RefCell<HashMap<String, Vec<u8>>>>,
    /// Let other tasks run inside each store call, as a networked store would.
    pub kv_yields: Cell<bool>,
    pub kv_failing: Cell<bool>,
    /// Fails chosen operations only (a claim, the final write...).
    pub kv_fault: RefCell<Option<KvFault>>,
    /// [`Ports::kv_shared`]: false stands for `wasmtime serve`'s store.
    pub kv_shared: Cell<bool>,
    /// Offer an atomic compare-and-swap, as Spin's `wasi:keyvalue/atomics`.
    pub kv_cas: Cell<bool>,
    /// Guest operations on the store, failed ones included.
    pub kv_gets: Cell<usize>,
    pub kv_sets: Cell<usize>,
    pub kv_deletes: Cell<usize>,
    /// Compare-and-swaps that wrote.
    pub kv_swaps: Cell<usize>,
    /// Value bytes written: by every `kv_set` and every swap that wrote.
    pub kv_set_bytes: Cell<usize>,
    /// Files by path; a directory exists when `dirs` lists it.
    /// Shareable, as `kv`: two fake instances on one `token_cache_dir`.
    pub files: Rc<RefCell<HashMap<String, Vec<u8>>>>,
    pub dirs: RefCell<Vec<String>>,
    pub files_failing: Cell<bool>,
    pub logs: RefCell<Vec<String>>,
    pub slept: RefCell<Vec<Duration>>,
    /// The fake randomness; two fakes standing for two instances need different seeds.
    pub seed: Cell<u64>,
}

impl FakePorts {
    /// `upstream` gets each request and how many came before it.
    pub fn new(
        upstream: impl Fn(&OutRequest, usize) -> Result<OutResponse, SendError> + 'static,
    ) -> Self {
        FakePorts {
            upstream: RefCell::new(Box::new(upstream)),
            sent: RefCell::default(),
            timeouts: RefCell::default(),
            now: Cell::new(1_700_000_000_000),
            kv: Rc::default(),
            kv_yields: Cell::new(false),
            kv_failing: Cell::new(false),
            kv_fault: RefCell::new(None),
            kv_shared: Cell::new(true),
            kv_cas: Cell::new(false),
            kv_gets: Cell::new(0),
            kv_sets: Cell::new(0),
            kv_deletes: Cell::new(0),
            kv_swaps: Cell::new(0),
            kv_set_bytes: Cell::new(0),
            files: Rc::default(),
            dirs: RefCell::new(vec!["/cache".to_owned()]),
            files_failing: Cell::new(false),
            logs: RefCell::default(),
            slept: RefCell::default(),
            seed: Cell::new(1),
        }
    }

    pub fn sent_to(&self, needle: &str) -> usize {
        self.sent
            .borrow()
            .iter()
            .filter(|r| r.url.contains(needle))
            .count()
    }

    pub fn advance(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
    }

    fn kv_check(&self, op: KvOp, key: &str, value: Option<&[u8]>) -> Result<(), KvError> {
        let fault = self.kv_fault.borrow();
        if self.kv_failing.get() || fault.as_ref().is_some_and(|f| f(op, key, value)) {
            return Err(KvError("injected".into()));
        }
        Ok(())
    }

    /// Fails like a missing directory or an I/O error would.
    fn file_check(&self, path: &str) -> Result<(), FileError> {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        if self.files_failing.get() || !self.dirs.borrow().iter().any(|d| d == dir) {
            return Err(FileError("injected".into()));
        }
        Ok(())
    }
}

pub fn respond(status: u16, body: &str) -> Result<OutResponse, SendError> {
    Ok(OutResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    })
}

/// Yields once, so that concurrent requests interleave as they would on a host.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl Ports for FakePorts {
    async fn send(&self, req: OutRequest, timeout: Duration) -> Result<OutResponse, SendError> {
        YieldOnce(false).await;
        self.timeouts.borrow_mut().push(timeout);
        let n = self.sent.borrow().len();
        self.sent.borrow_mut().push(req.clone());
        let r = (self.upstream.borrow())(&req, n);
        YieldOnce(false).await;
        r
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.kv_gets.set(self.kv_gets.get() + 1);
        if self.kv_yields.get() {
            YieldOnce(false).await;
        }
        self.kv_check(KvOp::Get, key, None)?;
        Ok(self.kv.borrow().get(key).cloned())
    }

    async fn kv_set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        self.kv_sets.set(self.kv_sets.get() + 1);
        if self.kv_yields.get() {
            YieldOnce(false).await;
        }
        self.kv_check(KvOp::Set, key, Some(&value))?;
        self.kv_set_bytes.set(self.kv_set_bytes.get() + value.len());
        self.kv.borrow_mut().insert(key.to_owned(), value);
        Ok(())
    }

    async fn kv_delete(&self, key: &str) -> Result<(), KvError> {
        self.kv_deletes.set(self.kv_deletes.get() + 1);
        if self.kv_yields.get() {
            YieldOnce(false).await;
        }
        self.kv_check(KvOp::Delete, key, None)?;
        self.kv.borrow_mut().remove(key);
        Ok(())
    }

    fn kv_shared(&self) -> bool {
        self.kv_shared.get()
    }

    async fn kv_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<Swap, KvError> {
        if !self.kv_cas.get() {
            return Ok(Swap::Unsupported);
        }
        if self.kv_yields.get() {
            YieldOnce(false).await;
        }
        self.kv_check(KvOp::Swap, key, Some(&value))?;
        // The compare and the write happen in one step, as on the host.
        let mut kv = self.kv.borrow_mut();
        if kv.get(key).map(Vec::as_slice) != expected {
            return Ok(Swap::Changed);
        }
        self.kv_swaps.set(self.kv_swaps.get() + 1);
        self.kv_set_bytes.set(self.kv_set_bytes.get() + value.len());
        kv.insert(key.to_owned(), value);
        Ok(Swap::Done)
    }

    async fn file_read(&self, path: &str) -> Result<Option<Vec<u8>>, FileError> {
        YieldOnce(false).await;
        self.file_check(path)?;
        Ok(self.files.borrow().get(path).cloned())
    }

    async fn file_write(&self, path: &str, value: &[u8]) -> Result<(), FileError> {
        YieldOnce(false).await;
        self.file_check(path)?;
        self.files
            .borrow_mut()
            .insert(path.to_owned(), value.to_vec());
        Ok(())
    }

    async fn file_rename(&self, from: &str, to: &str) -> Result<(), FileError> {
        YieldOnce(false).await;
        self.file_check(to)?;
        let mut files = self.files.borrow_mut();
        let value = files
            .remove(from)
            .ok_or_else(|| FileError("not found".into()))?;
        files.insert(to.to_owned(), value);
        Ok(())
    }

    async fn file_link(&self, from: &str, to: &str) -> Result<bool, FileError> {
        YieldOnce(false).await;
        self.file_check(to)?;
        let mut files = self.files.borrow_mut();
        if files.contains_key(to) {
            return Ok(false);
        }
        let value = files
            .get(from)
            .cloned()
            .ok_or_else(|| FileError("not found".into()))?;
        files.insert(to.to_owned(), value);
        Ok(true)
    }

    async fn file_remove(&self, path: &str) -> Result<(), FileError> {
        YieldOnce(false).await;
        self.file_check(path)?;
        self.files.borrow_mut().remove(path);
        Ok(())
    }

    async fn sleep(&self, duration: Duration) {
        self.slept.borrow_mut().push(duration);
        self.advance(duration.as_millis() as u64);
        YieldOnce(false).await;
    }

    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        for b in buf {
            // xorshift: deterministic, good enough for nonces in tests.
            let mut x = self.seed.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.seed.set(x);
            *b = x as u8;
        }
    }

    fn log(&self, line: &str) {
        self.logs.borrow_mut().push(line.to_owned());
    }
}

/// The API key the test settings accept.
pub const TEST_API_KEY: &str = "erp-key-0123456789abcdef0123456789";

/// Valid settings for tests, with `extra` variables set over the base ones.
pub fn settings(
    extra: &[(&'static str, &str)],
) -> Result<crate::config::Settings, crate::config::ConfigError> {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("ims_client_id", "client-1".to_owned()),
        ("ims_client_secret", "secret-1".to_owned()),
        (
            "ims_token_url",
            "https://ims.example/ims/token/v3".to_owned(),
        ),
        (
            "accs_base_url",
            "https://na1.api.commerce.adobe.com/T1".to_owned(),
        ),
        ("ims_org_id", "ORG@AdobeOrg".to_owned()),
        ("api_keys", format!("erp:{TEST_API_KEY}")),
    ]);
    for (k, v) in extra {
        vars.insert(k, (*v).to_owned());
    }
    crate::config::Settings::from_lookup(|n| vars.get(n).cloned())
}

/// The item indexes a 400 lists in its `errors`.
pub fn bad_indexes(p: &crate::problem::Problem) -> Vec<u64> {
    p.errors
        .as_deref()
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(|e| e["index"].as_u64()).collect())
        .unwrap_or_default()
}
