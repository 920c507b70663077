//! Builds what the benchmark runs: both release `.wasm` flavours (each in its
//! own target directory, so neither overwrites the other or the `.wasm` that
//! `scripts/dev` uses) and the `accs-sim` binary.

use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Artifacts {
    pub wasm_wasmtime: PathBuf,
    pub wasm_spin: PathBuf,
    pub sim: PathBuf,
    /// The build commands, as run, for the report.
    pub commands: Vec<String>,
    /// The workspace's target directory.
    pub target: PathBuf,
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR`).
fn target_dir(root: &Path) -> Result<PathBuf> {
    let out = Command::new(cargo())
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    v["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata has no target_directory")
}

fn run(root: &Path, args: &[String]) -> Result<()> {
    eprintln!("accs-bench: cargo {}", args.join(" "));
    let status = Command::new(cargo())
        .current_dir(root)
        .args(args)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("`cargo {}` failed", args.join(" "));
    }
    Ok(())
}

pub fn build(root: &Path) -> Result<Artifacts> {
    let target = target_dir(root)?;
    let mut commands = Vec::new();
    let sim_args: Vec<String> = ["build", "--release", "--locked", "-p", "accs-sim"]
        .map(String::from)
        .to_vec();
    run(root, &sim_args)?;
    commands.push(format!("cargo {}", sim_args.join(" ")));

    let mut wasm = |flavour: &str, features: &[&str]| -> Result<PathBuf> {
        let dir = target.join("accs-bench").join(format!("wasm-{flavour}"));
        let mut args: Vec<String> = [
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ]
        .map(String::from)
        .to_vec();
        args.extend(features.iter().map(|s| s.to_string()));
        args.push("--target-dir".into());
        args.push(dir.display().to_string());
        run(root, &args)?;
        let shown: Vec<String> = args.iter().take(args.len() - 2).cloned().collect();
        commands.push(format!(
            "cargo {} --target-dir <target>/accs-bench/wasm-{flavour}",
            shown.join(" ")
        ));
        let path = dir.join("wasm32-wasip2/release/accs_edge.wasm");
        if !path.exists() {
            bail!("{} is missing after the build", path.display());
        }
        Ok(path)
    };
    let wasm_wasmtime = wasm(
        "wasmtime",
        &["--no-default-features", "--features", "wasmtime"],
    )?;
    let wasm_spin = wasm("spin", &[])?;
    Ok(Artifacts {
        wasm_wasmtime,
        wasm_spin,
        sim: target.join("release/accs-sim"),
        commands,
        target,
    })
}

/// The WASI 0.2 pass-through floor (`crates/floor-p2`), built in the Spin
/// flavour's target directory (same spin-sdk 5.2, so its dependencies are
/// shared). Returns the `.wasm` and the command for the report.
pub fn build_floor(root: &Path, built: &Artifacts) -> Result<(PathBuf, String)> {
    let dir = built.target.join("accs-bench/wasm-spin");
    let mut args: Vec<String> = [
        "build",
        "--release",
        "--locked",
        "--target",
        "wasm32-wasip2",
        "-p",
        "accs-floor-p2",
    ]
    .map(String::from)
    .to_vec();
    let shown = format!(
        "cargo {} --target-dir <target>/accs-bench/wasm-spin",
        args.join(" ")
    );
    args.push("--target-dir".into());
    args.push(dir.display().to_string());
    run(root, &args)?;
    let path = dir.join("wasm32-wasip2/release/accs_floor_p2.wasm");
    if !path.exists() {
        bail!("{} is missing after the build", path.display());
    }
    Ok((path, shown))
}
