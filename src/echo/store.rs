//! Where the echo notes live, and their keys: the key-value store where it
//! is shared by the deployment's instances, else files in
//! `token_cache_dir` (`wasmtime serve`, whose `wasi:keyvalue` keeps nothing
//! beyond one instance), else nowhere (nothing noted, nothing suppressed):
//! the same choice as the webhook ledger's (`crate::place`).
//!
//! Every name and value is keyed with a MAC key derived from the **last**
//! `ims_client_secret` (as the I/O Events ledger's): a note written by
//! anyone without it does not authenticate and suppresses nothing, and two
//! deployments sharing a store never read each other's notes.

use super::EchoError;
use crate::config::Settings;
use crate::place::Where;
use crate::ports::Ports;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Akamai Functions' largest value is 1 MB: nothing bigger is written.
pub const MAX_VALUE: usize = 1_000_000;
const MAC_LEN: usize = 32;

pub struct Store {
    /// HMAC-SHA256 keyed with the MAC key, its pads already hashed: each
    /// MAC clones it instead of hashing the key's two blocks again.
    keyed: HmacSha256,
    namespace: String,
    pub place: Where,
}

impl Store {
    /// The notes of the deployment `settings` describe; `None` without a
    /// client secret.
    pub fn new(settings: &Settings, kv_shared: bool) -> Option<Store> {
        let secret = settings.ims_client_secrets.last()?.expose().as_bytes();
        let mut mac = HmacSha256::new_from_slice(secret).ok()?;
        mac.update(b"accs-edge echo notes v1\0");
        mac.update(settings.accs_base_url.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(settings.ims_client_id.as_bytes());
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        let place = Where::of(settings, kv_shared);
        let mut store = Store {
            keyed: HmacSha256::new_from_slice(&key).expect("any key length"),
            namespace: String::new(),
            place,
        };
        store.namespace = crate::config::hex(&store.mac(&[b"namespace"])[..8]);
        Some(store)
    }

    /// HMAC-SHA256 over length-prefixed parts.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    pub fn digest8(&self, parts: &[&[u8]]) -> [u8; 8] {
        let m = self.mac(parts);
        m[..8].try_into().expect("8 of 32")
    }

    pub fn digest4(&self, parts: &[&[u8]]) -> [u8; 4] {
        let m = self.mac(parts);
        m[..4].try_into().expect("4 of 32")
    }

    /// `accs-edge/echo/v1/<namespace>/<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("accs-edge/echo/v1/{}/{suffix}", self.namespace)
    }

    /// `body` and a MAC over the name and the body: valid only under `name`.
    pub fn seal(&self, name: &str, mut body: Vec<u8>) -> Vec<u8> {
        let mac = self.mac(&[b"seal", name.as_bytes(), &body]);
        body.extend_from_slice(&mac);
        body
    }

    /// [`Store::seal`]'s body, if it authenticates under `name`.
    pub fn open<'b>(&self, name: &str, bytes: &'b [u8]) -> Option<&'b [u8]> {
        let at = bytes.len().checked_sub(MAC_LEN)?;
        let (body, mac) = bytes.split_at(at);
        let mut check = self.keyed.clone();
        for p in [&b"seal"[..], name.as_bytes(), body] {
            check.update(&(p.len() as u64).to_be_bytes());
            check.update(p);
        }
        check.verify_slice(mac).ok()?;
        Some(body)
    }

    pub async fn get<P: Ports>(&self, ports: &P, name: &str) -> Result<Option<Vec<u8>>, EchoError> {
        match &self.place {
            Where::Missing => Ok(None),
            place => place.get(ports, name).await.map_err(store_error),
        }
    }

    pub async fn put<P: Ports>(
        &self,
        ports: &P,
        name: &str,
        value: Vec<u8>,
    ) -> Result<(), EchoError> {
        if value.len() > MAX_VALUE {
            return Err(EchoError::Store(format!(
                "write: a value of {} bytes, over {MAX_VALUE}",
                value.len()
            )));
        }
        match &self.place {
            Where::Missing => Ok(()),
            place => place
                .put(ports, name, value, "echo")
                .await
                .map_err(store_error),
        }
    }

    pub async fn delete<P: Ports>(&self, ports: &P, name: &str) -> Result<(), EchoError> {
        match &self.place {
            Where::Missing => Ok(()),
            place => place.delete(ports, name).await.map_err(store_error),
        }
    }
}

/// A store failure as the echo notes report it (`PlaceError::describe`:
/// cut short, nothing that looks like a URL).
fn store_error(e: crate::place::PlaceError) -> EchoError {
    EchoError::Store(e.describe())
}

/// The names and digests both sides of the notes compute alike.
impl Store {
    pub fn writer(&self, writer: &str) -> [u8; 8] {
        self.digest8(&[b"writer", writer.as_bytes()])
    }

    /// `parts`: the case-folded SKU (and source code).
    pub fn entity(&self, kind: super::fields::Kind, parts: &[String]) -> [u8; 8] {
        let k = [kind as u8];
        let mut all: Vec<&[u8]> = vec![b"entity", &k];
        all.extend(parts.iter().map(|p| p.as_bytes()));
        self.digest8(&all)
    }

    /// Field `index` of `kind.fields()` holding the canonical `value`.
    pub fn value(&self, kind: super::fields::Kind, index: usize, value: &str) -> [u8; 4] {
        self.digest4(&[b"value", &[kind as u8, index as u8], value.as_bytes()])
    }

    pub fn index_name(&self) -> String {
        self.name("i")
    }

    pub fn note_name(&self, id: &[u8; 8]) -> String {
        self.name(&format!("n/{}", crate::config::hex(id)))
    }

    pub fn marker_name(&self, writer: &[u8; 8], entity: &[u8; 8]) -> String {
        let m = self.mac(&[b"marker", writer, entity]);
        self.name(&format!("m/{}", crate::config::hex(&m[..16])))
    }

    /// The index as stored; empty when there is none or it does not
    /// authenticate (a forged index lists nothing).
    pub async fn index<P: Ports>(&self, ports: &P) -> Result<Vec<super::note::Listed>, EchoError> {
        let name = self.index_name();
        Ok(self
            .get(ports, &name)
            .await?
            .and_then(|b| self.open(&name, &b).and_then(super::note::decode_index))
            .unwrap_or_default())
    }
}
