//! Typed, validated settings, built once per instance from the host's variables.
//!
//! Validation happens here, up front, so that a bad deployment fails loudly on
//! the first request with the variable's name (never its value) instead of
//! half-working. Both flavours share the variable names.

use crate::scopes::Scopes;
use sha2::{Digest, Sha256};
use std::fmt;
use url::Url;

/// Every variable the component reads, in the order it reads them.
pub const VARIABLES: &[&str] = &[
    "ims_client_id",
    "ims_client_secret",
    "ims_org_id",
    "ims_token_url",
    "ims_scopes",
    "accs_base_url",
    "accs_store_code",
    "api_keys",
    "webhook_secrets",
    "passthrough_allow",
    "allow_http",
    "token_cache_dir",
    "accs_timeout_ms",
    "sync_batch_size",
    "sync_concurrency",
    "io_events_key_origin",
    "io_events_actions",
    "io_events_timeout_ms",
];

pub const DEFAULT_TOKEN_URL: &str = "https://ims-na1.adobelogin.com/ims/token/v3";
pub const DEFAULT_SCOPES: &str = "openid,AdobeID,email,profile,additional_info.roles,additional_info.projectedProductContext,commerce.accs";
/// ACCS rejects tokens without it, so it is added whatever `ims_scopes` says.
pub const REQUIRED_SCOPE: &str = "commerce.accs";
const MIN_API_KEY_LEN: usize = 32;

/// A secret string: usable, but never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

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
}

/// One `passthrough_allow` entry: `METHOD /V1/pattern`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowRule {
    pub method: String,
    /// Pattern segments after the leading `/`; `*` is one segment, `**` the rest.
    pub segments: Vec<String>,
}

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
    /// Adobe I/O Events deliveries (`/v1/events`): `crate::events_config`.
    pub io_events: crate::events_config::EventsConfig,
}

/// A variable that is missing or malformed. Displays the name and what is
/// expected, never the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("variable `{variable}` {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn err(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
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

        let accs_store_code = get("accs_store_code").unwrap_or_else(|| "default".to_owned());
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
            accs_timeout_ms: number(
                get("accs_timeout_ms"),
                "accs_timeout_ms",
                30_000,
                1_000,
                300_000,
            )?,
            sync_batch_size: number(get("sync_batch_size"), "sync_batch_size", 500, 1, 5_000)?
                as usize,
            sync_concurrency: number(get("sync_concurrency"), "sync_concurrency", 4, 1, 16)?
                as usize,
            io_events: crate::events_config::from_lookup(get, allow_http)
                .map_err(|e| err(e.variable, e.reason))?,
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

/// Lower-case hex. By table, not `write!("{:02x}")`: request and trace ids
/// are hexed on every request, and the formatter cost about 6 % of a warm
/// read's instructions (accs-bench figure 8).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    // Only ASCII digits were written, so this cannot fail.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `bytes` in lower-case hex to `out`: for text built in one buffer.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    for (pair, b) in out[start..].chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// A whole number within bounds, or the default when unset.
fn number(
    value: Option<String>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(err(
                name,
                format!("must be a whole number from {min} to {max}"),
            )),
        },
    }
}

/// Lists take `,` or `;`: `wasmtime serve -Sconfig-var=...` splits its
/// arguments on commas, so there a list can only be written with `;`.
fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', ';']).map(str::trim).filter(|p| !p.is_empty())
}

/// Visible ASCII without spaces: safe in a header and in a form body.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

fn upstream_url(name: &'static str, raw: &str, allow_http: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|_| {
        if raw.is_ascii() {
            err(name, "must be an absolute URL")
        } else {
            // The build carries no Unicode tables for host names (`idna_adapter`
            // 1.0, see Cargo.toml): a non-ASCII host does not parse.
            err(
                name,
                "must be an absolute URL in ASCII: write an internationalized host name in its xn-- (punycode) form",
            )
        }
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(err(
                name,
                "must use https:// (set `allow_http` to true for local development only)",
            ));
        }
        _ => return Err(err(name, "must be an https:// URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err(name, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(name, "must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(err(name, "must not have a fragment"));
    }
    Ok(url)
}

fn accs_base_url(raw: &str, allow_http: bool) -> Result<Url, ConfigError> {
    const NAME: &str = "accs_base_url";
    let mut url = upstream_url(NAME, raw, allow_http)?;
    if url.query().is_some() {
        return Err(err(NAME, "must not have a query"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    if path.is_empty() {
        return Err(err(
            NAME,
            "must end with the tenant id, as in https://<region>.api.commerce.adobe.com/<tenant-id>",
        ));
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.eq_ignore_ascii_case("rest") || last.eq_ignore_ascii_case("V1") {
        return Err(err(NAME, "must stop at the tenant id (no /rest or /V1)"));
    }
    url.set_path(&path);
    Ok(url)
}

fn api_keys(raw: &str) -> Result<Vec<ApiKey>, ConfigError> {
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
        let (key, scopes) = match rest.split_once(':') {
            None => (rest, None),
            Some((key, list)) => {
                let scopes = Scopes::parse(list).ok_or_else(|| {
                    err(
                        NAME,
                        format!(
                            "entry {} has an empty or unknown scope after its key (scopes: {}, joined with `+`; keys cannot contain `:`)",
                            i + 1,
                            crate::scopes::known()
                        ),
                    )
                })?;
                (key, Some(scopes))
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

fn webhook_secrets(raw: &str) -> Result<Vec<Secret>, ConfigError> {
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

fn passthrough_allow(raw: &str) -> Result<Vec<AllowRule>, ConfigError> {
    const NAME: &str = "passthrough_allow";
    split_list(raw)
        .enumerate()
        .map(|(i, entry)| {
            let bad = || err(NAME, format!("entry {} must be `METHOD /V1/path`", i + 1));
            let (method, pattern) = entry.split_once(' ').ok_or_else(bad)?;
            let method = method.trim().to_ascii_uppercase();
            if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
                return Err(bad());
            }
            let pattern = pattern.trim();
            if !pattern.starts_with("/V1/") {
                return Err(bad());
            }
            let segments: Vec<String> = pattern[1..].split('/').map(str::to_owned).collect();
            let valid = segments.iter().enumerate().all(|(j, s)| {
                !s.is_empty()
                    && s != "."
                    && s != ".."
                    && (s == "*"
                        || (s == "**" && j == segments.len() - 1)
                        || s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
            });
            if !valid {
                return Err(bad());
            }
            Ok(AllowRule { method, segments })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("ims_client_id", "client-1".to_owned()),
            ("ims_client_secret", "p8e-secret-value".to_owned()),
            (
                "accs_base_url",
                "https://na1-sandbox.api.commerce.adobe.com/TENANT123/".to_owned(),
            ),
            ("api_keys", format!("erp:{KEY}")),
        ])
    }

    fn parse(vars: &HashMap<&'static str, String>) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|n| vars.get(n).cloned())
    }

    #[test]
    fn host_names_are_ascii_and_punycode_is_accepted() {
        let mut vars = base();
        vars.insert("accs_base_url", "https://xn--bcher-kva.example/T1".into());
        let s = parse(&vars).unwrap();
        assert_eq!(s.accs_base_url.host_str(), Some("xn--bcher-kva.example"));
        vars.insert("accs_base_url", "https://bücher.example/T1".into());
        let e = parse(&vars).unwrap_err().to_string();
        assert!(e.contains("accs_base_url") && e.contains("xn--"), "{e}");
        vars.insert(
            "accs_base_url",
            "https://na1.api.commerce.adobe.com/T1".into(),
        );
        vars.insert("ims_token_url", "https://ïms.example/ims/token/v3".into());
        let e = parse(&vars).unwrap_err().to_string();
        assert!(e.contains("ims_token_url") && e.contains("xn--"), "{e}");
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let mut out = b"00-".to_vec();
        push_hex(&mut out, &[0xab, 0x01]);
        assert_eq!(out, b"00-ab01");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), expected);
    }

    #[test]
    fn minimal_settings_get_the_documented_defaults() {
        let s = parse(&base()).unwrap();
        assert_eq!(s.ims_token_url.as_str(), DEFAULT_TOKEN_URL);
        assert_eq!(s.accs_store_code, "default");
        assert_eq!(
            s.accs_base_url.as_str(),
            "https://na1-sandbox.api.commerce.adobe.com/TENANT123"
        );
        assert!(s.ims_scopes.contains(&"commerce.accs".to_owned()));
        assert!(s.ims_scopes.windows(2).all(|w| w[0] < w[1]));
        assert!(!s.allow_http);
        assert_eq!(s.api_keys[0].name, "erp");
        assert_eq!(s.api_keys[0].digest, <[u8; 32]>::from(Sha256::digest(KEY)));
    }

    #[test]
    fn each_required_variable_is_named_when_missing_or_blank() {
        for name in [
            "ims_client_id",
            "ims_client_secret",
            "accs_base_url",
            "api_keys",
        ] {
            let mut vars = base();
            vars.remove(name);
            assert_eq!(parse(&vars).unwrap_err().variable, name);
            vars.insert(name, "  ".into());
            let e = parse(&vars).unwrap_err();
            assert_eq!(e.variable, name);
            assert_eq!(e.to_string(), format!("variable `{name}` is missing"));
        }
    }

    #[test]
    fn errors_never_echo_the_value() {
        let mut vars = base();
        vars.insert("api_keys", "erp:short-key-value".into());
        let e = parse(&vars).unwrap_err();
        assert_eq!(e.variable, "api_keys");
        assert!(!e.to_string().contains("short-key-value"), "{e}");
        let mut vars = base();
        vars.insert("accs_base_url", "ftp://user:pw@host/x".into());
        assert!(!parse(&vars).unwrap_err().to_string().contains("pw"));
    }

    #[test]
    fn commerce_accs_scope_is_always_added() {
        let mut vars = base();
        vars.insert("ims_scopes", "openid, AdobeID".into());
        assert_eq!(
            parse(&vars).unwrap().ims_scopes,
            ["AdobeID", "commerce.accs", "openid"]
        );
    }

    #[test]
    fn http_upstreams_need_allow_http() {
        let mut vars = base();
        vars.insert("accs_base_url", "http://127.0.0.1:8081/tenant".into());
        assert_eq!(parse(&vars).unwrap_err().variable, "accs_base_url");
        vars.insert("allow_http", "true".into());
        assert!(parse(&vars).is_ok());
        vars.insert("allow_http", "yes".into());
        assert_eq!(parse(&vars).unwrap_err().variable, "allow_http");
    }

    #[test]
    fn accs_base_url_must_stop_at_the_tenant() {
        for bad in [
            "https://x.api.commerce.adobe.com",
            "https://x.api.commerce.adobe.com/",
            "https://x.api.commerce.adobe.com/t/rest",
            "https://x.api.commerce.adobe.com/t/V1",
            "https://x.api.commerce.adobe.com/t?q=1",
            "https://u:p@x.api.commerce.adobe.com/t",
        ] {
            let mut vars = base();
            vars.insert("accs_base_url", bad.into());
            assert_eq!(parse(&vars).unwrap_err().variable, "accs_base_url", "{bad}");
        }
    }

    #[test]
    fn api_keys_errors_name_entries_by_position_never_by_value() {
        // Name and key swapped: the "name" is the secret and must not show.
        for (bad, entry) in [
            (format!("erp:{KEY}x,{KEY}:erp"), "entry 2"),
            (format!("{KEY}:short"), "entry 1"),
            (format!("{KEY}:{KEY}y,{KEY}:{KEY}z"), "entry 2"),
            (KEY.to_owned(), "entry 1"),
            (format!("a/{KEY}:{KEY}y"), "entry 1"),
        ] {
            let mut vars = base();
            vars.insert("api_keys", bad.clone());
            let e = parse(&vars).unwrap_err();
            let shown = e.to_string();
            assert_eq!(e.variable, "api_keys");
            assert!(shown.contains(entry), "{shown}");
            assert!(!shown.contains(&KEY[..8]), "a value leaked: {shown}");
            assert!(
                !shown.contains("erp") && !shown.contains("short"),
                "{shown}"
            );
        }
    }

    #[test]
    fn api_keys_need_names_length_and_uniqueness() {
        for bad in [
            KEY.to_owned(),
            format!(":{KEY}"),
            "a:short".to_owned(),
            format!("a:{KEY},a:{KEY}x"),
            format!("a b:{KEY}"),
        ] {
            let mut vars = base();
            vars.insert("api_keys", bad.clone());
            assert_eq!(parse(&vars).unwrap_err().variable, "api_keys", "{bad}");
        }
        let mut vars = base();
        vars.insert("api_keys", format!("a:{KEY}, b:{KEY}-2"));
        assert_eq!(parse(&vars).unwrap().api_keys.len(), 2);
    }

    /// Issue 22 (review): one key in two entries, and a webhook secret
    /// under 24 bytes, are refused, named by position and never by value.
    #[test]
    fn a_repeated_key_and_a_short_webhook_secret_are_config_invalid() {
        let mut vars = base();
        vars.insert("api_keys", format!("erp:{KEY}:orders.read,pim:{KEY}"));
        let e = parse(&vars).unwrap_err();
        assert_eq!(e.variable, "api_keys");
        let shown = e.to_string();
        assert!(
            shown.contains("entry 2 repeats the key of entry 1"),
            "{shown}"
        );
        assert!(
            !shown.contains(&KEY[..8]) && !shown.contains("pim"),
            "{shown}"
        );
        vars.insert(
            "api_keys",
            format!("erp:{KEY};a:{KEY}-2;b:{KEY}-3;c:{KEY}-2"),
        );
        let shown = parse(&vars).unwrap_err().to_string();
        assert!(
            shown.contains("entry 4 repeats the key of entry 2"),
            "{shown}"
        );

        let mut vars = base();
        // 23 and 24 bytes of key material.
        let short = format!("whsec_{}", base64_of(&[7u8; 23]));
        let enough = format!("whsec_{}", base64_of(&[7u8; 24]));
        vars.insert("webhook_secrets", format!("{enough},{short}"));
        let e = parse(&vars).unwrap_err();
        assert_eq!(e.variable, "webhook_secrets");
        let shown = e.to_string();
        assert!(
            shown.contains("entry 2") && shown.contains("24 bytes"),
            "{shown}"
        );
        assert!(!shown.contains(&short[6..14]), "{shown}");
        vars.insert("webhook_secrets", enough);
        assert_eq!(parse(&vars).unwrap().webhook_secrets.len(), 1);
    }

    fn base64_of(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn tuning_numbers_have_defaults_and_bounds() {
        let s = parse(&base()).unwrap();
        assert_eq!(
            (s.accs_timeout_ms, s.sync_batch_size, s.sync_concurrency),
            (30_000, 500, 4)
        );
        for (name, bad) in [
            ("accs_timeout_ms", "999"),
            ("accs_timeout_ms", "x"),
            ("sync_batch_size", "0"),
            ("sync_batch_size", "5001"),
            ("sync_concurrency", "17"),
        ] {
            let mut vars = base();
            vars.insert(name, bad.into());
            assert_eq!(parse(&vars).unwrap_err().variable, name, "{name}={bad}");
        }
    }

    #[test]
    fn lists_take_semicolons_for_wasmtime_serve() {
        let mut vars = base();
        vars.insert("api_keys", format!("a:{KEY};b:{KEY}-2"));
        vars.insert("ims_scopes", "openid;AdobeID".into());
        vars.insert(
            "passthrough_allow",
            "GET /V1/categories/*; GET /V1/customers/search".into(),
        );
        let s = parse(&vars).unwrap();
        assert_eq!(s.api_keys.len(), 2);
        assert_eq!(s.ims_scopes, ["AdobeID", "commerce.accs", "openid"]);
        assert_eq!(s.passthrough_allow.len(), 2);
    }

    #[test]
    fn rotation_lists_keep_their_order() {
        let mut vars = base();
        vars.insert("ims_client_secret", "new-secret, old-secret".into());
        let s = parse(&vars).unwrap();
        let secrets: Vec<_> = s.ims_client_secrets.iter().map(Secret::expose).collect();
        assert_eq!(secrets, ["new-secret", "old-secret"]);
        assert_eq!(format!("{:?}", s.ims_client_secrets[0]), "Secret(***)");
    }

    #[test]
    fn webhook_secrets_and_passthrough_rules_are_checked() {
        let mut vars = base();
        vars.insert(
            "webhook_secrets",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        );
        vars.insert(
            "passthrough_allow",
            "GET /V1/categories/*, get /V1/customers/search, POST /V1/carts/**".into(),
        );
        let s = parse(&vars).unwrap();
        assert_eq!(s.webhook_secrets.len(), 1);
        assert_eq!(s.passthrough_allow.len(), 3);
        assert_eq!(s.passthrough_allow[1].method, "GET");
        assert_eq!(s.passthrough_allow[2].segments, ["V1", "carts", "**"]);
        for bad in ["whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!"] {
            let mut v = base();
            v.insert("webhook_secrets", bad.into());
            assert_eq!(parse(&v).unwrap_err().variable, "webhook_secrets");
        }
        for bad in [
            "GET /rest/V1/x",
            "FETCH /V1/x",
            "GET /V1/../x",
            "GET /V1/**/x",
            "GET /V1//x",
        ] {
            let mut v = base();
            v.insert("passthrough_allow", bad.into());
            assert_eq!(
                parse(&v).unwrap_err().variable,
                "passthrough_allow",
                "{bad}"
            );
        }
    }

    #[test]
    fn fingerprint_changes_with_url_client_and_scopes_only() {
        let a = parse(&base()).unwrap().token_fingerprint();
        let mut vars = base();
        vars.insert("ims_client_secret", "another".into());
        vars.insert(
            "ims_scopes",
            DEFAULT_SCOPES
                .split(',')
                .rev()
                .collect::<Vec<_>>()
                .join(","),
        );
        assert_eq!(parse(&vars).unwrap().token_fingerprint(), a);
        for (k, v) in [
            ("ims_client_id", "client-2"),
            ("ims_scopes", "openid"),
            (
                "ims_token_url",
                "https://ims-na1-stg1.adobelogin.com/ims/token/v3",
            ),
        ] {
            let mut vars = base();
            vars.insert(k, v.into());
            assert_ne!(parse(&vars).unwrap().token_fingerprint(), a, "{k}");
        }
    }

    #[test]
    fn api_keys_take_scopes_and_never_echo_a_bad_one() {
        let mut vars = base();
        vars.insert(
            "api_keys",
            format!("erp:{KEY}:inventory.write+orders.read,pim:{KEY}x"),
        );
        let s = parse(&vars).unwrap();
        assert!(s.api_keys[0].scoped);
        assert_eq!(s.api_keys[0].scopes.names(), "inventory.write+orders.read");
        assert!(!s.api_keys[1].scoped);
        assert_eq!(s.api_keys[1].scopes, Scopes::all());
        for bad in [
            format!("erp:{KEY}:inventory.wirte"),
            format!("erp:{KEY}:"),
            format!("erp:{KEY}:orders.read+"),
            format!("erp:{KEY}:{KEY}"),
        ] {
            vars.insert("api_keys", bad.clone());
            let e = parse(&vars).unwrap_err();
            let shown = e.to_string();
            assert_eq!(e.variable, "api_keys");
            assert!(
                shown.contains("entry 1") && shown.contains("scope"),
                "{shown}"
            );
            assert!(
                !shown.contains(&KEY[..8]) && !shown.contains("wirte"),
                "{shown}"
            );
        }
    }
}
