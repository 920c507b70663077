//! The credentials among the variables: secrets, the inbound API keys with
//! their scopes, and the webhook signing secrets.

use super::error::{ConfigError, err};
use super::parse::{is_token, split_list};
use crate::scopes::Scopes;
use sha2::{Digest, Sha256};
use std::fmt;

const MIN_API_KEY_LEN: usize = 32;

/// A secret string: usable, but never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(super) String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An inbound API key, kept only as a digest so that comparisons take the
/// same time whatever the length of the presented key.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub name: String,
    pub digest: [u8; 32],
    /// What the key may do: the entry's `:scope+scope`, or everything for an
    /// entry without scopes (`scoped` false).
    pub scopes: Scopes,
    pub scoped: bool,
    /// The entry may be sent as `?key=` on the job routes (its scopes end in
    /// `+query`): for schedulers that cannot send a header (Akamai's cron).
    /// Such an entry holds `jobs.run` and nothing else, since a key in a URL
    /// is seen by more than the caller (see [`QUERY_MARK`]).
    pub query: bool,
}

/// The marker, among an entry's scopes, of a key usable in a query:
/// `cron:<key>:jobs.run+query`. Not a scope (it grants nothing): it narrows
/// where the key may be presented, and the entry must hold exactly
/// `jobs.run`, because a URL's query is written down by more parties than
/// a header (the platform's access logs, a proxy's, the scheduler's).
pub const QUERY_MARK: &str = "query";

/// An entry's scope list without its [`QUERY_MARK`], and whether it had one.
fn query_marked(list: &str) -> (String, bool) {
    let mut marked = false;
    let rest: Vec<&str> = list
        .split('+')
        .filter(|s| {
            let is_mark = s.trim() == QUERY_MARK;
            marked |= is_mark;
            !is_mark
        })
        .collect();
    (rest.join("+"), marked)
}

pub fn api_keys(raw: &str) -> Result<Vec<ApiKey>, ConfigError> {
    const NAME: &str = "api_keys";
    let mut keys: Vec<ApiKey> = Vec::new();
    for (i, entry) in split_list(raw).enumerate() {
        let (name, rest) = entry.split_once(':').ok_or_else(|| {
            err(
                NAME,
                format!("entry {} must be `name:key` or `name:key:scopes`", i + 1),
            )
        })?;
        // A second `:` starts the scopes, which must all be known: a typo
        // must never turn into a longer key with full access. So keys cannot
        // contain `:`.
        let (key, scopes, query) = match rest.split_once(':') {
            None => (rest, None, false),
            Some((key, list)) => {
                let (list, query) = query_marked(list);
                let only_jobs = Scopes::parse(crate::scopes::Scope::JobsRun.as_str());
                if query && Scopes::parse(&list) != only_jobs {
                    return Err(err(
                        NAME,
                        format!(
                            "entry {} is marked `+{QUERY_MARK}` (usable as `?key=` on the job routes) and must then hold `jobs.run` alone: write `name:key:jobs.run+{QUERY_MARK}`",
                            i + 1
                        ),
                    ));
                }
                let scopes = Scopes::parse(&list).ok_or_else(|| {
                    err(
                        NAME,
                        format!(
                            "entry {} has an empty or unknown scope after its key (scopes: {}, joined with `+`; keys cannot contain `:`)",
                            i + 1,
                            crate::scopes::known()
                        ),
                    )
                })?;
                (key, Some(scopes), query)
            }
        };
        let (name, key) = (name.trim(), key.trim());
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(err(
                NAME,
                format!(
                    "entry {} needs a name of letters, digits, `-`, `_` or `.`",
                    i + 1
                ),
            ));
        }
        if key.len() < MIN_API_KEY_LEN || !is_token(key) {
            return Err(err(
                NAME,
                format!(
                    "entry {} needs a key of at least {MIN_API_KEY_LEN} visible ASCII characters",
                    i + 1
                ),
            ));
        }
        if keys.iter().any(|k| k.name == name) {
            // By position only: with name and key swapped, the "name" is the key.
            return Err(err(
                NAME,
                format!("entry {} repeats the name of an earlier entry", i + 1),
            ));
        }
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // One key in two entries: which entry's name and scopes a request
        // gets would depend on the order of the list.
        if let Some(j) = keys.iter().position(|k| k.digest == digest) {
            return Err(err(
                NAME,
                format!("entry {} repeats the key of entry {}", i + 1, j + 1),
            ));
        }
        keys.push(ApiKey {
            name: name.to_owned(),
            digest,
            scopes: scopes.unwrap_or_else(Scopes::all),
            scoped: scopes.is_some(),
            query,
        });
    }
    if keys.is_empty() {
        return Err(err(NAME, "is missing"));
    }
    Ok(keys)
}

/// Standard Webhooks: "secrets should be between 24 and 64 bytes"
/// (standard-webhooks `spec/standard-webhooks.md`, Signature scheme).
const MIN_WEBHOOK_KEY_BYTES: usize = 24;

pub fn webhook_secrets(raw: &str) -> Result<Vec<Secret>, ConfigError> {
    use base64::Engine;
    split_list(raw)
        .enumerate()
        .map(|(i, s)| {
            let b64 = s.strip_prefix("whsec_").ok_or_else(|| {
                err(
                    "webhook_secrets",
                    format!("entry {} must start with `whsec_`", i + 1),
                )
            })?;
            match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(key) if key.len() >= MIN_WEBHOOK_KEY_BYTES => Ok(Secret(s.to_owned())),
                Ok(key) if !key.is_empty() => Err(err(
                    "webhook_secrets",
                    format!(
                        "entry {} is shorter than {MIN_WEBHOOK_KEY_BYTES} bytes once base64-decoded",
                        i + 1
                    ),
                )),
                _ => Err(err(
                    "webhook_secrets",
                    format!("entry {} must be `whsec_` followed by base64", i + 1),
                )),
            }
        })
        .collect()
}
