//! Finding a Spin CLI and running accs-edge under the shipped `spin.toml`.

use super::Bench;
use crate::procs::{API_KEY, CLIENT_ID, CLIENT_SECRET};
use anyhow::{Context as _, Result};
use std::path::Path;
use std::process::Command;

/// The Spin CLI named by environment variable `var` and its `--version`
/// line, or why there is none.
pub fn find_spin_in(var: &str) -> Result<(String, String), String> {
    let bin = match std::env::var(var) {
        Ok(b) if !b.is_empty() => b,
        _ => return Err(format!("`{var}` is not set")),
    };
    match Command::new(&bin).arg("--version").output() {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            Ok((bin, v))
        }
        Ok(o) => Err(format!("`{bin} --version` failed ({})", o.status)),
        Err(e) => Err(format!("`{bin} --version`: {e}")),
    }
}

/// The shipped `spin.toml`, its `source` pointed at the built `.wasm`.
pub fn edge_manifest(root: &Path, wasm: &Path) -> Result<String> {
    let text = std::fs::read_to_string(root.join("spin.toml")).context("reading spin.toml")?;
    let shipped = r#"source = "target/accs-edge-spin.wasm""#;
    anyhow::ensure!(
        text.contains(shipped),
        "spin.toml no longer names {shipped}"
    );
    Ok(text.replace(
        shipped,
        &format!("source = {:?}", wasm.display().to_string()),
    ))
}

pub fn edge_vars(b: &Bench) -> Vec<(String, String)> {
    let base = &b.sim.base;
    [
        ("ims_client_id", CLIENT_ID.to_owned()),
        ("ims_client_secret", CLIENT_SECRET.to_owned()),
        ("ims_token_url", format!("{base}/ims/token/v3")),
        ("accs_base_url", b.sim.accs_base()),
        (
            "api_keys",
            format!("bench:{API_KEY}:{}", crate::procs::BENCH_SCOPES),
        ),
        ("allow_http", "true".to_owned()),
        ("ims_origin", base.clone()),
        ("accs_origin", base.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v))
    .collect()
}
