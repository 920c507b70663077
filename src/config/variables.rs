//! The variable table: every name the component reads and the defaults of
//! those that may be left unset. Which route needs which is
//! `routes::variables_for`, beside the paths it matches.

/// Every variable the component reads, in the order it reads them: the
/// [`CORE`] ten, then the rest.
pub const VARIABLES: &[&str] = &join::<29>(
    &CORE,
    &[
        "webhook_secrets",
        "passthrough_allow",
        "token_cache_dir",
        "sync_batch_size",
        "sync_concurrency",
        "bulk_chunk_size",
        "products_bulk_above",
        "io_events_key_origin",
        "io_events_actions",
        "io_events_timeout_ms",
        "forward_targets",
        "forward_rules",
        "forward_max_attempts",
        "forward_timeout_ms",
        // The job routes and the journal job (config/jobs.rs).
        "journal_url",
        "journal_limit",
        "journal_on_gone",
        "jobs_timeout_ms",
        // What the edge wrote, remembered against its echoes (config/echo.rs).
        "echo_window_s",
    ],
);

/// The variables every route but health and the OpenAPI document reads
/// (`routes::variables_for`), in the order of [`CORE_GROUP`]'s template.
pub const CORE: [&str; 10] = [
    "ims_client_id",
    "ims_client_secret",
    "ims_org_id",
    "ims_token_url",
    "ims_scopes",
    "accs_base_url",
    "accs_store_code",
    "api_keys",
    "allow_http",
    "accs_timeout_ms",
];

/// `a` then `b`, in `N` names (a compile error when they are not `N`).
const fn join<const N: usize>(a: &[&'static str], b: &[&'static str]) -> [&'static str; N] {
    assert!(a.len() + b.len() == N, "VARIABLES' length");
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < a.len() { a[i] } else { b[i - a.len()] };
        i += 1;
    }
    out
}

/// A component variable of the shipped Spin manifests whose template joins
/// the [`CORE`] application variables with [`CORE_SEPARATOR`]. On Spin 3.x
/// every variable read is a host call; reading the ten as one saves nine
/// (accs-bench figure 8), while Spin still resolves each application
/// variable once, as ten reads would. Users set the same variables.
pub const CORE_GROUP: &str = "accs_edge_core";
/// U+001F (unit separator): a control character no valid value holds.
pub const CORE_SEPARATOR: char = '\u{1f}';

/// The manifest line that defines [`CORE_GROUP`] (TOML, `\u001f` escaped).
pub fn core_group_line() -> String {
    let parts: Vec<String> = CORE.iter().map(|n| format!("{{{{ {n} }}}}")).collect();
    format!("{CORE_GROUP} = \"{}\"", parts.join("\\u001f"))
}

/// [`CORE_GROUP`]'s value as its ten values, by name; `None` when it does
/// not split into exactly ten (a value holding U+001F): the caller then
/// reads the ten one by one, and the value is judged as any other.
pub fn split_core(joined: &str) -> Option<impl Iterator<Item = (&'static str, &str)>> {
    let parts: Vec<&str> = joined.split(CORE_SEPARATOR).collect();
    (parts.len() == CORE.len()).then(|| CORE.into_iter().zip(parts))
}

pub const DEFAULT_TOKEN_URL: &str = "https://ims-na1.adobelogin.com/ims/token/v3";
pub const DEFAULT_SCOPES: &str = "openid,AdobeID,email,profile,additional_info.roles,additional_info.projectedProductContext,commerce.accs";
/// ACCS rejects tokens without it, so it is added whatever `ims_scopes` says.
pub const REQUIRED_SCOPE: &str = "commerce.accs";
/// `accs_store_code` when unset.
pub const DEFAULT_STORE_CODE: &str = "default";

/// A whole-number variable: its default when unset, and the bounds a value
/// must stay within.
#[derive(Clone, Copy)]
pub struct Number {
    pub name: &'static str,
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

pub const ACCS_TIMEOUT_MS: Number = Number {
    name: "accs_timeout_ms",
    default: 30_000,
    min: 1_000,
    max: 300_000,
};
pub const SYNC_BATCH_SIZE: Number = Number {
    name: "sync_batch_size",
    default: 500,
    min: 1,
    max: 5_000,
};
pub const SYNC_CONCURRENCY: Number = Number {
    name: "sync_concurrency",
    default: 4,
    min: 1,
    max: 16,
};
/// Products per `POST /V1/async/bulk/products` call (the bulk route and
/// the products webhook's bulk path). ACCS refuses a request with more
/// entities than its "Maximum Entities per Bulk Request" store setting
/// (AdobeDocs/commerce-webapi `src/pages/rest/use-rest/bulk-endpoints.md`);
/// a chunk refused with Magento's `Maximum items ... is %max` is re-sent in
/// runs of `max`, learned for an hour (`accs/limits.rs`); any other refused
/// chunk is split, so a lower store limit costs calls, not products.
pub const BULK_CHUNK_SIZE: Number = Number {
    name: "bulk_chunk_size",
    default: 500,
    min: 1,
    max: 5_000,
};
/// The products webhook sends a delivery with more products than this
/// through the bulk path; unset, never. (`default` is not used: unset is
/// `None`.)
pub const PRODUCTS_BULK_ABOVE: Number = Number {
    name: "products_bulk_above",
    default: 0,
    min: 0,
    max: 10_000,
};
/// Attempts per (event, target) before the pair is dead-lettered. I/O
/// Events retries a failed delivery after 1, 2, 4 and 8 minutes
/// (AdobeDocs/adobe-io-events `src/pages/common/retry-doc.md`), so 5
/// attempts span about 15 minutes; 50 reach past its 24 h of retries
/// (every 15 min after the first hour), so nothing beyond it is useful.
pub const FORWARD_MAX_ATTEMPTS: Number = Number {
    name: "forward_max_attempts",
    default: 5,
    min: 1,
    max: 50,
};
/// One forward attempt's cap, ms; never beyond what is left of the route's
/// budget (`io_events_timeout_ms`, at most 9 s).
pub const FORWARD_TIMEOUT_MS: Number = Number {
    name: "forward_timeout_ms",
    default: 5_000,
    min: 500,
    max: 9_000,
};
