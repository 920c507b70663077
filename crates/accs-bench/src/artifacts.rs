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
pub fn target_dir(root: &Path) -> Result<PathBuf> {
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

/// `cargo <args>` in `root`, announced; an error unless it succeeds.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
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

    let opt = opt_level_override()?;
    let mut wasm = |flavour: &str, features: &[&str]| -> Result<PathBuf> {
        let select: Vec<&str> = features
            .iter()
            .copied()
            .chain(opt.args.iter().map(String::as_str))
            .collect();
        let flavour = format!("{flavour}{}", opt.dir_suffix);
        let (path, shown) = build_in(root, &target, &flavour, &select, "accs_edge")?;
        commands.push(shown);
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

/// `ACCS_BENCH_OPT_LEVEL` (`s`, `z`, `1`, `2`, `3`): accs-edge's `.wasm`
/// builds with that `opt-level` instead of the workspace's, each in target
/// directories of their own (`wasm-<flavour>-O<level>`), to measure the
/// trade of size against speed. The floors and the native builds keep theirs.
struct OptOverride {
    args: Vec<String>,
    dir_suffix: String,
}

fn opt_level_override() -> Result<OptOverride> {
    let mut o = opt_level()?;
    // Profiling (`ACCS_BENCH_CALLGRIND_DIR`): keep the name section, so the
    // guest's functions have names in wasmtime's perf map.
    if std::env::var_os("ACCS_BENCH_CALLGRIND_DIR").is_some() {
        o.args.push("--config".into());
        o.args.push("profile.release.strip=false".into());
        o.dir_suffix.push_str("-names");
    }
    Ok(o)
}

fn opt_level() -> Result<OptOverride> {
    match std::env::var("ACCS_BENCH_OPT_LEVEL") {
        Ok(level) if !level.is_empty() => {
            let value = match level.as_str() {
                "s" | "z" => format!("\"{level}\""),
                "0" | "1" | "2" | "3" => level.clone(),
                other => bail!("ACCS_BENCH_OPT_LEVEL={other}: use s, z, 0, 1, 2 or 3"),
            };
            Ok(OptOverride {
                args: vec![
                    "--config".into(),
                    format!("profile.release.opt-level={value}"),
                ],
                dir_suffix: format!("-O{level}"),
            })
        }
        _ => Ok(OptOverride {
            args: Vec::new(),
            dir_suffix: String::new(),
        }),
    }
}

/// The WASI 0.2 pass-through floor (`crates/floor-p2`), built in the Spin
/// flavour's target directory (same spin-sdk 5.2, so its dependencies are
/// shared). Returns the `.wasm` and the command for the report.
pub fn build_floor(root: &Path, built: &Artifacts) -> Result<(PathBuf, String)> {
    build_in(
        root,
        &built.target,
        "spin",
        &["-p", "accs-floor-p2"],
        "accs_floor_p2",
    )
}

/// The WASI 0.3 pass-through floor (`crates/floor-p3`), built in the
/// `wasmtime` flavour's target directory (same spin-sdk 7).
pub fn build_floor_p3(root: &Path, built: &Artifacts) -> Result<(PathBuf, String)> {
    build_in(
        root,
        &built.target,
        "wasmtime",
        &["-p", "accs-floor-p3"],
        "accs_floor_p3",
    )
}

/// The `spin-p3` build of accs-edge (Spin 4.1+), in its own target directory.
pub fn build_spin_p3(root: &Path, built: &Artifacts) -> Result<(PathBuf, String)> {
    build_in(
        root,
        &built.target,
        "spin-p3",
        &["--no-default-features", "--features", "spin-p3"],
        "accs_edge",
    )
}

/// Builds what `select` names (`-p <pkg>`, or features and `--config`
/// overrides of accs-edge) for `wasm32-wasip2` in flavour `flavour`'s
/// directory under `target`; returns
/// `<file>.wasm` and the command for the report.
fn build_in(
    root: &Path,
    target: &Path,
    flavour: &str,
    select: &[&str],
    file: &str,
) -> Result<(PathBuf, String)> {
    let dir = target.join(format!("accs-bench/wasm-{flavour}"));
    let mut args: Vec<String> = [
        "build",
        "--release",
        "--locked",
        "--target",
        "wasm32-wasip2",
    ]
    .iter()
    .chain(select)
    .map(|a| a.to_string())
    .collect();
    let shown = format!(
        "cargo {} --target-dir <target>/accs-bench/wasm-{flavour}",
        args.join(" ")
    );
    args.push("--target-dir".into());
    args.push(dir.display().to_string());
    run(root, &args)?;
    let path = dir.join(format!("wasm32-wasip2/release/{file}.wasm"));
    if !path.exists() {
        bail!("{} is missing after the build", path.display());
    }
    Ok((path, shown))
}
