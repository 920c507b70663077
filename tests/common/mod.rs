//! Shared by the component and end-to-end tests: building each flavour's
//! `.wasm`, the variables that point it at the simulator, and the check that
//! no secret leaks into anything the suite captured.
#![allow(dead_code)] // each test binary uses a different part

pub mod accs_contract;
pub mod openapi;
pub mod rig;
pub mod serve;
pub mod spin;
pub mod standardwebhooks_py;

use accs_sim::{Sim, SimConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

pub const API_KEY: &str = "erp-key-0123456789abcdef0123456789abcdef";
pub const OTHER_API_KEY: &str = "pim-key-0123456789abcdef0123456789abcdef";
pub const CLIENT_ID: &str = "accs-edge-test-client";
pub const CLIENT_SECRET: &str = "p8e-TEST-secret-0f1e2d3c4b5a69788796a5b4";
pub const TENANT: &str = "tenantT1";
pub const ALL_SCOPES: &str =
    "products.read+products.write+inventory.write+orders.read+passthrough+token.read";

pub use edge_host::Flavour;

pub const FLAVOURS: [Flavour; 2] = [Flavour::Spin, Flavour::Wasmtime];

/// The four builds of the component: `scripts/build <name>` makes each,
/// with its own cargo features, as `target/accs-edge-<name>.wasm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// `spin` (default): WASI 0.2, every Spin platform. Also edge-host's
    /// `Flavour::Spin`, which serves a `wasi:http/incoming-handler@0.2`
    /// component with a fresh instance per request ([`p2_rig`],
    /// tests/component_p2.rs).
    SpinP2,
    /// `spin` + `kv-cas` (`spin.cas.toml`): WASI 0.2 with exact claims through
    /// `wasi:keyvalue/atomics`, for the Spin CLI and SpinKube.
    SpinP2Cas,
    /// `spin-p3`: WASI 0.3, Spin 4.1+; also edge-host's `Flavour::Spin`.
    SpinP3,
    /// `wasmtime`: WASI 0.3, `wasmtime serve`; edge-host's `Flavour::Wasmtime`.
    Wasmtime,
}

impl Build {
    pub const ALL: [Build; 4] = [
        Build::SpinP2,
        Build::SpinP2Cas,
        Build::SpinP3,
        Build::Wasmtime,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Build::SpinP2 => "spin",
            Build::SpinP2Cas => "spin-cas",
            Build::SpinP3 => "spin-p3",
            Build::Wasmtime => "wasmtime",
        }
    }
}

/// The release `.wasm` of an edge-host flavour.
pub fn wasm(flavour: Flavour) -> PathBuf {
    build_wasm(match flavour {
        Flavour::Spin => Build::SpinP3,
        Flavour::Wasmtime => Build::Wasmtime,
    })
}

/// A [`rig::Rig`] running the default build (WASI 0.2) in edge-host's Spin
/// flavour, pointed at its own simulator, with `tweak` applied to its
/// variables: the build users deploy, tested without Spin.
pub async fn p2_rig(tweak: impl FnOnce(&mut BTreeMap<String, String>)) -> rig::Rig {
    let sim = start_sim().await;
    let mut opts = edge_host::HostOptions::new(Flavour::Spin, build_wasm(Build::SpinP2));
    opts.vars = vars(&sim);
    tweak(&mut opts.vars);
    let host = edge_host::EdgeHost::new(opts).expect("hosting the default build");
    assert_eq!(host.wasi_http(), edge_host::WasiHttp::P2);
    rig::Rig {
        flavour: Flavour::Spin,
        sim,
        host,
        captured: Default::default(),
    }
}

/// This package's directory, from the `CARGO_MANIFEST_DIR` cargo sets when it
/// runs a test. The compile-time `env!` value goes stale when one build cache
/// serves checkouts at different paths (CI's clone, a developer's tree):
/// cargo reuses a test binary whose sources did not change, so it would
/// build and read another checkout's files.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Builds a build once per test process with `scripts/build`, as a user
/// does, and returns its `.wasm`. cargo works in `<target>/<build>`, the
/// directory `scripts/dev` and `scripts/contract` also use.
pub fn build_wasm(build: Build) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<&'static str, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(build.name()) {
        return p.clone();
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target_dir = tmp.parent().expect("CARGO_TARGET_TMPDIR is <target>/tmp");
    let path = tmp.join(format!("accs-edge-{}.wasm", build.name()));
    let status = Command::new("bash")
        .current_dir(manifest_dir())
        .arg("scripts/build")
        .arg(build.name())
        .arg(&path)
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .expect("running scripts/build");
    assert!(status.success(), "scripts/build {} failed", build.name());
    assert!(
        path.exists(),
        "{} is missing after the build",
        path.display()
    );
    built.insert(build.name(), path.clone());
    path
}

pub fn sim_config() -> SimConfig {
    SimConfig {
        client_id: CLIENT_ID.into(),
        client_secrets: vec![CLIENT_SECRET.into()],
        tenant: TENANT.into(),
        ..SimConfig::default()
    }
}

pub async fn start_sim() -> Sim {
    Sim::start(sim_config()).await.expect("starting accs-sim")
}

/// The variables that point the component at `sim`.
pub fn vars(sim: &Sim) -> BTreeMap<String, String> {
    [
        ("ims_client_id", CLIENT_ID.to_owned()),
        ("ims_client_secret", CLIENT_SECRET.to_owned()),
        ("ims_token_url", sim.ims_token_url()),
        ("ims_org_id", "ORG123@AdobeOrg".to_owned()),
        ("accs_base_url", sim.accs_base_url()),
        ("accs_store_code", "default".to_owned()),
        // Every scope, named: an entry without scopes would also open all,
        // but earns a warning that tests of the log would have to skip.
        (
            "api_keys",
            format!("erp:{API_KEY}:{ALL_SCOPES},pim:{OTHER_API_KEY}:{ALL_SCOPES}"),
        ),
        ("allow_http", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The Standard Webhooks example secret that `spin.sim.toml` and
/// `scripts/dev` configure.
pub const DEV_WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The HMAC key of [`DEV_WEBHOOK_SECRET`].
pub fn dev_webhook_key() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(DEV_WEBHOOK_SECRET.trim_start_matches("whsec_"))
        .unwrap()
}

/// Secrets a test configured beyond the suite's own (its webhook secrets,
/// say), grepped for by every [`assert_no_secrets`] in the process.
static EXTRA_SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers `secret` for the grep and hands it back.
pub fn secret(secret: impl Into<String>) -> String {
    let secret = secret.into();
    EXTRA_SECRETS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(secret.clone());
    secret
}

/// Every secret the suite knows of: the client secret, the API keys, the
/// webhook secrets (with and without `whsec_`), those a test registered,
/// and every token the simulator ever issued (resets keep them).
pub fn secrets(sim: &Sim) -> Vec<String> {
    let mut out = vec![
        CLIENT_SECRET.to_owned(),
        API_KEY.to_owned(),
        OTHER_API_KEY.to_owned(),
        DEV_WEBHOOK_SECRET.to_owned(),
        DEV_WEBHOOK_SECRET.trim_start_matches("whsec_").to_owned(),
    ];
    for s in EXTRA_SECRETS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        out.push(s.clone());
        if let Some(key) = s.strip_prefix("whsec_") {
            out.push(key.to_owned());
        }
    }
    out.extend(sim.issued_tokens());
    out
}

/// Fails if any secret appears in any of `captured` (logs, response heads
/// and bodies), or anything that looks like a webhook secret (`whsec_`).
/// Returns how many issued tokens were looked for, so a test that knows it
/// got tokens can assert the grep covered them.
pub fn assert_no_secrets(sim: &Sim, captured: &[String]) -> usize {
    let secrets = secrets(sim);
    for text in captured {
        assert!(
            !text.contains("whsec_"),
            "a webhook secret leaked into captured output: {}",
            text.chars().take(300).collect::<String>()
        );
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret ({} chars) leaked into captured output: {}",
                s.len(),
                text.chars().take(300).collect::<String>()
            );
        }
    }
    sim.issued_tokens().len()
}

/// A Standard Webhooks delivery of `body` to `POST {base}/v1/webhooks/{topic}`,
/// signed with `key`. The timestamp is taken as it is sent.
pub async fn deliver_webhook(
    client: &reqwest::Client,
    base: &str,
    topic: &str,
    id: &str,
    key: &[u8],
    body: &[u8],
) -> reqwest::Response {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    client
        .post(format!("{base}/v1/webhooks/{topic}"))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            spin::webhook_signature(key, id, ts, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// [`deliver_webhook`] signed with the dev secret ([`DEV_WEBHOOK_SECRET`]).
pub async fn deliver(
    client: &reqwest::Client,
    base: &str,
    topic: &str,
    id: &str,
    body: &[u8],
) -> reqwest::Response {
    deliver_webhook(client, base, topic, id, &dev_webhook_key(), body).await
}

/// A real token from the simulator (counted there as one token request).
pub async fn sim_token(sim: &Sim) -> String {
    let body = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&scope=commerce.accs"
    );
    let r = reqwest::Client::new()
        .post(sim.ims_token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// The key-value key under which the component with `vars` keeps its token.
pub fn token_kv_key(vars: &BTreeMap<String, String>) -> String {
    let settings = accs_edge::config::Settings::from_lookup(|n| vars.get(n).cloned())
        .expect("valid variables");
    accs_edge::ims::Tokens::new(&settings).kv_key().to_owned()
}

/// `access` sealed as the component seals it, under `secret`, expiring at
/// `expires_at_ms` after a one-hour lifetime (refresh window 360 s).
pub fn sealed(
    vars: &BTreeMap<String, String>,
    access: &str,
    expires_at_ms: u64,
    secret: &str,
) -> Vec<u8> {
    use accs_edge::ims::{seal, token::Token};
    let settings = accs_edge::config::Settings::from_lookup(|n| vars.get(n).cloned())
        .expect("valid variables");
    let token = Token {
        access_token: access.to_owned(),
        expires_at_ms,
        lifetime_ms: 3_600_000,
    };
    seal::seal(
        &seal::derive_key(secret, &settings.token_fingerprint()),
        &token_kv_key(vars),
        &token,
        [3; 12],
    )
}

/// `opts` with `access` in the flavour's store as a token issued 10 minutes
/// ago (one-hour lifetime, 50 minutes left), sealed under the test secret,
/// as another instance would have stored it: a token over a minute old
/// without waiting a minute. The Spin flavour's store is `SharedKv`; the
/// wasmtime flavour's is seeded (edge-host's `kv_seed`).
pub fn plant_old_token(opts: &mut edge_host::HostOptions, access: &str) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let planted = (
        token_kv_key(&opts.vars),
        sealed(&opts.vars, access, now_ms + 3_000_000, CLIENT_SECRET),
    );
    match opts.flavour {
        Flavour::Spin => opts.kv = edge_host::SharedKv::with_data([planted]),
        Flavour::Wasmtime => opts.kv_seed = BTreeMap::from([planted]),
    }
}
