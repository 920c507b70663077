//! Where the jobs keep what outlives a run (a job's lease, the journal's
//! next link): the place the I/O Events ledger uses (the key-value store
//! when the deployment's instances share it, else files in
//! `token_cache_dir`), under names and values keyed to this deployment.
//!
//! - **Bound to the deployment.** The MAC key is HMAC-SHA256 keyed with the
//!   last `ims_client_secret` (as the I/O Events ledger's), over a label of
//!   its own, the ACCS base URL and the IMS client id: two deployments on
//!   one store never read each other's leases or positions, and a value
//!   written by anyone without the key is a miss, never a position to
//!   follow.
//! - **Small.** A value is a few hundred bytes (a `next` link and a MAC).

use crate::config::Settings;
use crate::place::Where;
use crate::ports::{Ports, Swap};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The largest value stored: a next link is far shorter (Adobe's are
/// about 200 bytes); anything longer is refused, not written.
pub const MAX_VALUE: usize = 4096;

/// Why the store could not answer: the run stops, nothing more is sent.
pub use crate::place::PlaceError as StoreError;

pub struct Store {
    key: [u8; 32],
    namespace: String,
    place: Where,
}

impl Store {
    /// `None` without a client secret (settings always have one).
    pub fn new(settings: &Settings, place: Where) -> Option<Store> {
        let secret = settings.ims_client_secrets.last()?.expose().as_bytes();
        let mut mac = HmacSha256::new_from_slice(secret).ok()?;
        mac.update(b"accs-edge jobs v1\0");
        mac.update(settings.accs_base_url.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(settings.ims_client_id.as_bytes());
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        let mut store = Store {
            key,
            namespace: String::new(),
            place,
        };
        store.namespace = crate::config::hex(&store.mac(&[b"namespace"])[..8]);
        Some(store)
    }

    pub fn place(&self) -> &Where {
        &self.place
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The key (or file name) of `what` for the job `job`.
    pub fn name(&self, job: &str, what: &str) -> String {
        format!("accs-edge/jobs/v1/{}/{job}/{what}", self.namespace)
    }

    fn path(&self, dir: &str, name: &str) -> String {
        Where::path(dir, name)
    }

    /// `value`, `.`, and a MAC over the name and the value.
    pub fn seal(&self, name: &str, value: &[u8]) -> Vec<u8> {
        let mut out = value.to_vec();
        let mac = self.mac(&[b"seal", name.as_bytes(), value]);
        out.push(b'.');
        crate::config::push_hex(&mut out, &mac);
        out
    }

    /// [`Store::seal`]'s value back, if it authenticates under `name`.
    pub fn open<'b>(&self, name: &str, bytes: &'b [u8]) -> Option<&'b [u8]> {
        let dot = bytes.iter().rposition(|&b| b == b'.')?;
        let (value, mac) = (&bytes[..dot], &bytes[dot + 1..]);
        let want = crate::config::hex(&self.mac(&[b"seal", name.as_bytes(), value]));
        use subtle::ConstantTimeEq;
        bool::from(want.as_bytes().ct_eq(mac)).then_some(value)
    }

    /// The raw stored bytes of `name`.
    pub async fn get<P: Ports>(
        &self,
        ports: &P,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.place.get(ports, name).await
    }

    /// Writes `bytes` under `name`, replacing what was there (files: a temp
    /// file renamed over, so no reader sees half a value).
    pub async fn put<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        if bytes.len() > MAX_VALUE {
            return Err(StoreError(
                "write",
                format!("a value of {} bytes", bytes.len()),
            ));
        }
        self.place.put(ports, name, bytes, "jobs").await
    }

    pub async fn delete<P: Ports>(&self, ports: &P, name: &str) -> Result<(), StoreError> {
        self.place.delete(ports, name).await
    }

    /// Writes `bytes` under `name` only if it holds `expected` (`None`:
    /// absent), exactly where the host can tell:
    /// - key-value store with compare-and-swap (`kv-cas`): one atomic swap;
    /// - files, `expected` `None`: a fully written temp file hard-linked as
    ///   `name`, which fails when `name` exists (exclusive, never torn);
    ///
    /// `Ok(None)`: this host cannot do it exactly (the default build's
    /// store, or a file to replace); the caller falls back.
    pub async fn swap<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        expected: Option<&[u8]>,
        bytes: Vec<u8>,
    ) -> Result<Option<bool>, StoreError> {
        match &self.place {
            Where::Kv => match ports.kv_swap(name, expected, bytes).await {
                Ok(Swap::Done) => Ok(Some(true)),
                Ok(Swap::Changed) => Ok(Some(false)),
                Ok(Swap::Unsupported) => Ok(None),
                Err(e) => Err(StoreError("swap", e.0)),
            },
            Where::Dir(dir) if expected.is_none() => {
                let tmp = self.temp_path(ports, dir);
                let linked = match ports.file_write(&tmp, &bytes).await {
                    Ok(()) => ports.file_link(&tmp, &self.path(dir, name)).await,
                    Err(e) => Err(e),
                };
                let _ = ports.file_remove(&tmp).await;
                linked.map(Some).map_err(|e| StoreError("swap", e.0))
            }
            Where::Dir(_) => Ok(None),
            Where::Missing => Err(StoreError("swap", "no store".into())),
        }
    }

    fn temp_path<P: Ports>(&self, ports: &P, dir: &str) -> String {
        Where::temp_path(ports, dir, "jobs")
    }
}
