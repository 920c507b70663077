//! The assembled settings: every variable read once, parsed and checked,
//! into one value the rest of the component takes.

use super::allow::{AllowRule, passthrough_allow};
use super::error::{ConfigError, err};
use super::hex::hex;
use super::keys::{ApiKey, Secret, api_keys, webhook_secrets};
use super::parse::{is_token, number, optional_number, split_list};
use super::urls::{accs_base_url, upstream_url};
use super::variables::{
    ACCS_TIMEOUT_MS, BULK_CHUNK_SIZE, DEFAULT_SCOPES, DEFAULT_STORE_CODE, DEFAULT_TOKEN_URL,
    PRODUCTS_BULK_ABOVE, REQUIRED_SCOPE, SYNC_BATCH_SIZE, SYNC_CONCURRENCY,
};
use sha2::{Digest, Sha256};
use url::Url;

#[derive(Clone, Debug)]
pub struct Settings {
    pub ims_client_id: String,
    /// In rotation order: tried while IMS answers `invalid_client`.
    pub ims_client_secrets: Vec<Secret>,
    pub ims_org_id: Option<String>,
    pub ims_token_url: Url,
    /// Sorted and deduplicated, `commerce.accs` included.
    pub ims_scopes: Vec<String>,
    /// Without a trailing slash; `/V1/...` is appended.
    pub accs_base_url: Url,
    pub accs_store_code: String,
    pub api_keys: Vec<ApiKey>,
    pub webhook_secrets: Vec<Secret>,
    pub passthrough_allow: Vec<AllowRule>,
    pub allow_http: bool,
    pub token_cache_dir: Option<String>,
    /// The whole time budget of one inbound request's ACCS work, retries included.
    pub accs_timeout_ms: u64,
    /// Items per `POST /V1/inventory/source-items` call of a sync.
    pub sync_batch_size: usize,
    /// ACCS calls of one sync in flight at once.
    pub sync_concurrency: usize,
    /// Products per `POST /V1/async/bulk/products` call.
    pub bulk_chunk_size: usize,
    /// The products webhook takes the bulk path above this many products;
    /// `None`: never.
    pub products_bulk_above: Option<usize>,
    /// Adobe I/O Events deliveries (`/v1/events`): `super::io_events`.
    pub io_events: super::io_events::EventsConfig,
    /// Forwarding Commerce's events to back-office targets: `super::forward`.
    pub forward: super::forward::ForwardConfig,
    /// The job routes (`/v1/jobs/{name}`) and the journal job: `super::jobs`.
    pub jobs: super::jobs::JobsConfig,
    /// How long the edge's writes are remembered against their echoes: `super::echo`.
    pub echo: super::echo::EchoConfig,
}

impl Settings {
    /// Builds settings from a lookup that answers `None` for an unset variable.
    /// An empty or all-blank value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or_else(|| err(name, "is missing"));

        let allow_http = match get("allow_http").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => return Err(err("allow_http", "must be `true` or `false`")),
        };

        let ims_client_id = required("ims_client_id")?;
        if !is_token(&ims_client_id) {
            return Err(err(
                "ims_client_id",
                "must be a single token without spaces or control characters",
            ));
        }
        let ims_client_secrets = split_list(&required("ims_client_secret")?)
            .map(|s| Secret(s.to_owned()))
            .collect::<Vec<_>>();
        if ims_client_secrets.is_empty() {
            return Err(err("ims_client_secret", "is missing"));
        }
        if ims_client_secrets.iter().any(|s| !is_token(s.expose())) {
            return Err(err(
                "ims_client_secret",
                "must not contain spaces or control characters",
            ));
        }
        let ims_org_id = get("ims_org_id");
        if let Some(org) = &ims_org_id
            && !is_token(org)
        {
            return Err(err(
                "ims_org_id",
                "must be a single token like `ABC123@AdobeOrg`",
            ));
        }

        let ims_token_url = upstream_url(
            "ims_token_url",
            get("ims_token_url").as_deref().unwrap_or(DEFAULT_TOKEN_URL),
            allow_http,
        )?;

        let mut ims_scopes: Vec<String> =
            split_list(get("ims_scopes").as_deref().unwrap_or(DEFAULT_SCOPES))
                .map(str::to_owned)
                .collect();
        if ims_scopes.iter().any(|s| !is_token(s)) {
            return Err(err(
                "ims_scopes",
                "must be a comma-separated list of scope names",
            ));
        }
        ims_scopes.push(REQUIRED_SCOPE.to_owned());
        ims_scopes.sort();
        ims_scopes.dedup();

        let accs_base_url = accs_base_url(&required("accs_base_url")?, allow_http)?;

        let accs_store_code =
            get("accs_store_code").unwrap_or_else(|| DEFAULT_STORE_CODE.to_owned());
        if !accs_store_code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(err(
                "accs_store_code",
                "must hold only letters, digits and `_`",
            ));
        }

        let api_keys = api_keys(&required("api_keys")?)?;
        let webhook_secrets = webhook_secrets(get("webhook_secrets").as_deref().unwrap_or(""))?;
        let passthrough_allow =
            passthrough_allow(get("passthrough_allow").as_deref().unwrap_or(""))?;

        Ok(Settings {
            ims_client_id,
            ims_client_secrets,
            ims_org_id,
            ims_token_url,
            ims_scopes,
            accs_base_url,
            accs_store_code,
            api_keys,
            webhook_secrets,
            passthrough_allow,
            allow_http,
            token_cache_dir: get("token_cache_dir"),
            accs_timeout_ms: number(get(ACCS_TIMEOUT_MS.name), &ACCS_TIMEOUT_MS)?,
            sync_batch_size: number(get(SYNC_BATCH_SIZE.name), &SYNC_BATCH_SIZE)? as usize,
            sync_concurrency: number(get(SYNC_CONCURRENCY.name), &SYNC_CONCURRENCY)? as usize,
            bulk_chunk_size: number(get(BULK_CHUNK_SIZE.name), &BULK_CHUNK_SIZE)? as usize,
            products_bulk_above: optional_number(
                get(PRODUCTS_BULK_ABOVE.name),
                &PRODUCTS_BULK_ABOVE,
            )?
            .map(|n| n as usize),
            io_events: super::io_events::from_lookup(get, allow_http)
                .map_err(|e| err(e.variable, e.reason))?,
            forward: super::forward::from_lookup(get, allow_http)?,
            jobs: super::jobs::from_lookup(get, allow_http)?,
            echo: super::echo::from_lookup(get)?,
        })
    }

    /// Which token this is: a change of token URL, client or scopes must never
    /// reuse a token cached for the old ones.
    pub fn token_fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.ims_token_url.as_str());
        h.update([0]);
        h.update(&self.ims_client_id);
        h.update([0]);
        h.update(self.ims_scopes.join(","));
        hex(&h.finalize()[..16])
    }
}
