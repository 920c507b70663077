//! Which variables a request reads, counted under the real `spin up`: WASI
//! 0.2 (the default build, Spin in `SPIN`, 3.6.3 in CI) reads only its
//! route's variables; WASI 0.3 (Spin in `SPIN_P3`, 4.1+) reads none on a
//! warm request.
//!
//! The counter is the simulator's fake HashiCorp Vault (crates/accs-sim
//! `src/vault.rs`), the only variables provider of the host's runtime
//! config; no `SPIN_VARIABLE_*` is set. What the count relies on, in
//! spinframework/spin (v3.6.3; unchanged in the 4.1 tree):
//! - `crates/runtime-config/src/variables.rs` `runtime_config_from_toml`: the
//!   `[[variables_provider]]` entries come first, the environment provider
//!   after them, so every lookup asks the Vault first.
//! - `crates/variables-vault/src/lib.rs` `VaultVariablesProvider::get`: one
//!   `GET /v1/{mount}/data/{key}` per lookup, nothing cached (a new client
//!   each time).
//! - `crates/expressions/src/lib.rs` `ProviderResolver::resolve`: a guest's
//!   `get(name)` resolves the component's template `{{ name }}`, one
//!   provider lookup of that app variable, no cache; a name the component
//!   does not declare fails in `get_template` before any provider is asked.
//! - `crates/factor-outbound-networking/src/lib.rs` `prepare`: the host
//!   itself resolves every app variable (`ProviderResolver::prepare`) once
//!   per instance, lazily, when the instance first makes an outbound call
//!   (for `allowed_outbound_hosts`). Those lookups are the host's, not the
//!   component's; they are measured on `accs_origin`, an app variable that
//!   is no component variable (spin.toml), which only that path reads, and
//!   taken off every count.
//!
//! Without the Spin a test needs it prints one `SKIPPED` line and asserts
//! nothing (as `tests/e2e_spin.rs`).

mod common;

use accs_sim::{Sim, VAULT_MOUNT, VAULT_TOKEN};
use common::spin::*;
use common::*;
use reqwest::Client;
use std::collections::BTreeMap;

/// An app variable of spin.toml that no component variable names: only the
/// host's own resolution for `allowed_outbound_hosts` reads it.
const HOST_ONLY: &str = "accs_origin";

fn vault_runtime_config(sim: &Sim) -> String {
    format!(
        "[[variables_provider]]\ntype = \"vault\"\nurl = \"{}\"\ntoken = \"{VAULT_TOKEN}\"\nmount = \"{VAULT_MOUNT}\"\n",
        sim.vault_url()
    )
}

/// The simulator, its Vault holding every variable, and `spin up` on the
/// shipped manifest with the Vault as the variables provider.
async fn host(build: SpinBuild, test: &str, extra: &[&str]) -> Option<(SpinUp, Sim)> {
    let bin = spin_for(build, test)?;
    let sim = start_sim().await;
    let mut secrets = spin_vars(&sim);
    secrets.insert("webhook_secrets".into(), DEV_WEBHOOK_SECRET.into());
    sim.set_vault_secrets(secrets);
    let setup = HostSetup {
        vars: BTreeMap::new(),
        runtime_config: Some(vault_runtime_config(&sim)),
    };
    let up = spin_up_with_args(&bin, build, Manifest::Shipped, test, setup, extra).await;
    Some((up, sim))
}

/// The component's lookups since the last reset: each name's Vault reads
/// less the host's own (those of [`HOST_ONLY`]), names with none left out.
fn component_reads(sim: &Sim) -> BTreeMap<String, u64> {
    let reads = sim.vault_reads();
    let host = reads.get(HOST_ONLY).copied().unwrap_or(0);
    reads
        .into_iter()
        .filter_map(|(name, n)| {
            let n = n.checked_sub(host).unwrap_or_else(|| {
                panic!("{name}: {n} reads, fewer than the host's {host} of {HOST_ONLY}")
            });
            (n > 0).then_some((name, n))
        })
        .collect()
}

fn inventory_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"sourceItems": [
        {"sku": "SKU-0001", "source_code": "default", "quantity": 3, "status": 1}
    ]}))
    .unwrap()
}

async fn send(client: &Client, base: &str, method: &str, path: &str) -> reqwest::Response {
    let b = client
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .bearer_auth(API_KEY);
    let b = if method == "POST" {
        b.header("content-type", "application/json")
            .body(inventory_body())
    } else {
        b
    };
    b.send().await.unwrap()
}

/// WASI 0.2: every request is a new instance, which reads exactly the
/// variables `routes::variables_for` names for its method and path, each once.
#[tokio::test(flavor = "multi_thread")]
async fn spin_p2_a_request_reads_only_its_routes_variables() {
    let test = "spin_p2_a_request_reads_only_its_routes_variables";
    let Some((mut up, sim)) = host(SpinBuild::P2, test, &[]).await else {
        return;
    };
    let client = Client::new();
    let mut captured = Vec::new();
    // (method, path, status, whether it calls out: the host's own lookups)
    let cases = [
        ("GET", "/healthz", 200, false),
        ("GET", "/v1/openapi.json", 200, false),
        ("GET", "/v1/products/SKU-0001", 200, true),
        ("GET", "/v1/token", 200, false),
        // Closed by passthrough_allow (empty): 403, nothing sent.
        ("GET", "/v1/accs/V1/categories/2", 403, false),
        ("POST", "/v1/inventory/source-items", 200, true),
        ("POST", "/v1/webhooks/inventory", 200, true),
        // The bulk upsert's path, refused before anything is sent (an
        // inventory body): it still reads its route's variables.
        ("POST", "/v1/products/bulk", 400, false),
    ];
    for (method, path, status, calls_out) in cases {
        sim.reset_vault_reads();
        let r = if path.starts_with("/v1/webhooks/") {
            let id = format!("msg-vars-{}", now_ms());
            deliver(&client, &up.base, "inventory", &id, &inventory_body()).await
        } else {
            send(&client, &up.base, method, path).await
        };
        let got = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {body}");
        captured.push(body);
        let want: BTreeMap<String, u64> = accs_edge::routes::variables_for(method, path)
            .map(|name| (name.to_owned(), 1))
            .collect();
        // A floor that does not come from variables_for: the webhook
        // secrets only on webhooks, the passthrough rule only on the
        // passthrough, the sync settings only where items are synced, the
        // bulk settings only where products may go in bulks.
        let reads = component_reads(&sim);
        let webhook = path.starts_with("/v1/webhooks/");
        let sync = webhook || path == "/v1/inventory/source-items";
        let bulk = path == "/v1/products/bulk";
        let floor = [
            ("webhook_secrets", webhook),
            ("passthrough_allow", path.starts_with("/v1/accs/")),
            ("sync_batch_size", sync),
            ("sync_concurrency", sync || bulk),
            ("bulk_chunk_size", webhook || bulk),
            ("products_bulk_above", webhook),
        ];
        for (name, allowed) in floor {
            assert!(
                allowed || !reads.contains_key(name),
                "{method} {path} read {name}: {reads:?}"
            );
        }
        if matches!(path, "/healthz" | "/v1/openapi.json") {
            assert_eq!(reads, BTreeMap::new(), "{path}");
        }
        assert_eq!(reads, want, "{method} {path}");
        let host = sim.vault_reads().get(HOST_ONLY).copied().unwrap_or(0);
        assert_eq!(
            host,
            u64::from(calls_out),
            "{method} {path}: the host resolves its variables once per instance that calls out"
        );
    }
    captured.push(up.log());
    assert_no_secrets(&sim, &captured);
    up.stop();
}

/// WASI 0.3: the instance Spin keeps (an idle timeout of 60 s instead of
/// the default 1 s, so no pause of a loaded machine decides) builds its
/// settings once; the next request on it reads no variable at all.
/// A key only the `accs_edge_core` line of [`group_with_own_key`] holds.
const GROUP_KEY: &str = "grp-key-0123456789abcdef0123456789abcdef";

/// The shipped manifest, its `accs_edge_core` line holding [`GROUP_KEY`]'s
/// entry where `{{ api_keys }}` was: a key that works only if the component
/// took the ten core variables from that one read.
fn group_with_own_key(text: &str) -> String {
    let line = accs_edge::config::core_group_line();
    assert!(text.contains(&line), "spin.toml defines accs_edge_core");
    let edited = line.replace("{{ api_keys }}", &format!("grp:{GROUP_KEY}:products.read"));
    text.replace(&line, &edited)
}

/// The shipped manifest without the `accs_edge_core` line: a manifest
/// written before it (the component reads the ten one by one).
fn without_group(text: &str) -> String {
    let line = format!("{}\n", accs_edge::config::core_group_line());
    assert!(text.contains(&line), "spin.toml defines accs_edge_core");
    text.replace(&line, "")
}

/// WASI 0.2: the ten variables every route reads come from the one
/// `accs_edge_core` read when the manifest defines it, and one by one when
/// it does not.
#[tokio::test(flavor = "multi_thread")]
async fn spin_p2_reads_the_core_variables_in_one_read_and_without_it_one_by_one() {
    let test = "spin_p2_reads_the_core_variables_in_one_read_and_without_it_one_by_one";
    let Some(bin) = spin_for(SpinBuild::P2, test) else {
        return;
    };
    let sim = start_sim().await;
    let client = Client::new();
    let setup = || HostSetup {
        vars: spin_vars(&sim),
        runtime_config: None,
    };
    let read = |base: &str, key: &str| {
        client
            .get(format!("{base}/v1/products/SKU-0001"))
            .bearer_auth(key)
            .send()
    };
    let grouped = Manifest::ShippedEdited(group_with_own_key);
    let up = spin_up_with_args(&bin, SpinBuild::P2, grouped, test, setup(), &[]).await;
    let r = read(&up.base, GROUP_KEY).await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "the group's key: {}",
        r.text().await.unwrap()
    );
    let r = read(&up.base, API_KEY).await.unwrap();
    assert_eq!(r.status(), 401, "api_keys read on its own, past the group");
    drop(up);
    let older = Manifest::ShippedEdited(without_group);
    let up = spin_up_with_args(&bin, SpinBuild::P2, older, test, setup(), &[]).await;
    let r = read(&up.base, API_KEY).await.unwrap();
    assert_eq!(r.status(), 200, "one by one: {}", r.text().await.unwrap());
    let r = read(&up.base, GROUP_KEY).await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_p3_a_warm_request_reads_no_variable() {
    let test = "spin_p3_a_warm_request_reads_no_variable";
    let extra = ["--idle-instance-timeout", "60s"];
    let Some((mut up, sim)) = host(SpinBuild::P3, test, &extra).await else {
        return;
    };
    let client = Client::new();
    let mut captured = Vec::new();
    // The first request of an instance reads every variable the component
    // declares, once (`config::VARIABLES`; `token_cache_dir` is none of
    // spin.toml's, so Spin answers it without a lookup).
    let declared: Vec<&str> = accs_edge::config::VARIABLES
        .iter()
        .copied()
        .filter(|n| *n != "token_cache_dir")
        .collect();
    let seen = sim.vault_reads();
    for name in &declared {
        assert!(
            seen.get(*name).copied().unwrap_or(0) >= 1,
            "{name} read while the host came up: {seen:?}"
        );
    }
    for (i, path) in ["/v1/products/SKU-0001", "/v1/products/SKU-0002"]
        .into_iter()
        .enumerate()
    {
        sim.reset_vault_reads();
        let r = send(&client, &up.base, "GET", path).await;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        captured.push(body);
        if i == 1 {
            assert_eq!(
                sim.vault_reads(),
                BTreeMap::new(),
                "a warm request: no lookup by the component or the host"
            );
        }
    }
    captured.push(up.log());
    assert_no_secrets(&sim, &captured);
    up.stop();
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}
