//! The native profile (`--profile`): where a request's instructions go in
//! the logic behind `Ports`. `accs-profile` (src/bin/accs-profile.rs)
//! replays each scenario natively over fake ports, one fresh app per
//! request as the WASI 0.2 entry builds it; callgrind counts only
//! `accs_profile_measured` (`--toggle-collect`), and `callgrind_annotate`
//! attributes the count by function. Native code is not the `.wasm`'s,
//! so the table says where the guest's work is, not what it costs in wasm
//! (figure 8 says that); valgrind does not offer the CPU's SHA extensions,
//! so SHA-256 runs in software here, as in wasm.

use crate::procs::TempDir;
use anyhow::{Context as _, Result, bail};
use std::path::Path;
use std::process::Command;

/// Uncounted requests first (the first asks IMS and stores the token),
/// then the counted ones.
pub const WARMUP: usize = 5;
pub const REQUESTS: usize = 200;
/// Rows of each table.
pub const TOP: usize = 12;

/// The scenarios `accs-profile` knows, and what each replays.
pub const SCENARIOS: [(&str, &str); 3] = [
    (
        "product-read",
        "warm `GET /v1/products/SKU-0001` (the sealed token in the store)",
    ),
    (
        "inventory-sync-100",
        "`POST /v1/inventory/source-items`, 100 items in one batch",
    ),
    (
        "signed-webhook",
        "`POST /v1/webhooks/inventory`, Standard Webhooks signature, 10 items, a new delivery",
    ),
];

/// One function's share: instructions per request and the function's name.
#[derive(Debug, Clone)]
pub struct Row {
    pub per_request: f64,
    pub share: f64,
    pub function: String,
}

#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub what: &'static str,
    pub per_request: f64,
    /// By the function's own instructions.
    pub exclusive: Vec<Row>,
    /// By what a function and its callees run: accs-edge's own functions.
    pub inclusive: Vec<Row>,
}

#[derive(Debug)]
pub struct Profile {
    pub build: String,
    pub run: String,
    pub annotate: String,
    pub scenarios: Vec<Scenario>,
}

fn run_ok(cmd: &mut Command, what: &str) -> Result<std::process::Output> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(out)
}

pub fn run(root: &Path, target: &Path) -> Result<Profile> {
    if let Some(why) = crate::procs::callgrind_unavailable() {
        bail!("{why}");
    }
    let build = [
        "build",
        "--profile",
        "profiling",
        "--locked",
        "-p",
        "accs-bench",
        "--bin",
        "accs-profile",
    ];
    crate::artifacts::run(root, &build.map(String::from))?;
    let bin = target.join("profiling/accs-profile");
    let dir = TempDir::new("profile")?;
    let mut scenarios = Vec::new();
    for (name, what) in SCENARIOS {
        let out = dir.0.join(format!("callgrind.out.{name}"));
        eprintln!("accs-bench: profile {name}");
        run_ok(
            Command::new("valgrind")
                .args([
                    "--tool=callgrind",
                    "--toggle-collect=accs_profile_measured",
                    "--dump-instr=no",
                ])
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(&bin)
                .args([name, &WARMUP.to_string(), &REQUESTS.to_string()]),
            "valgrind",
        )?;
        let annotate = |inclusive: bool| -> Result<String> {
            let o = run_ok(
                Command::new("callgrind_annotate")
                    .arg(format!(
                        "--inclusive={}",
                        if inclusive { "yes" } else { "no" }
                    ))
                    .arg("--threshold=100")
                    .arg(&out),
                "callgrind_annotate",
            )?;
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let exclusive = annotate(false)?;
        let total = program_total(&exclusive).context("no PROGRAM TOTALS in the annotation")?;
        let rows = |text: &str, own: bool| -> Vec<Row> {
            functions(text)
                .into_iter()
                .filter(|(_, f)| !own || f.starts_with("accs_edge::"))
                .filter(|(_, f)| !f.contains("accs_profile_measured"))
                .take(TOP)
                .map(|(n, function)| Row {
                    per_request: n as f64 / REQUESTS as f64,
                    share: n as f64 / total.max(1) as f64,
                    function,
                })
                .collect()
        };
        scenarios.push(Scenario {
            name,
            what,
            per_request: total as f64 / REQUESTS as f64,
            exclusive: rows(&exclusive, false),
            inclusive: rows(&annotate(true)?, true),
        });
    }
    Ok(Profile {
        build: format!("cargo {}", build.join(" ")),
        run: format!(
            "valgrind --tool=callgrind --toggle-collect=accs_profile_measured --dump-instr=no \\\n  \
             --callgrind-out-file=callgrind.out.<scenario> \\\n  \
             <target>/profiling/accs-profile <scenario> {WARMUP} {REQUESTS}"
        ),
        annotate: "callgrind_annotate --inclusive=no --threshold=100 callgrind.out.<scenario>   # and --inclusive=yes".into(),
        scenarios,
    })
}

/// `12,345 (100.0%)  PROGRAM TOTALS`.
fn program_total(text: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.contains("PROGRAM TOTALS"))
        .and_then(|l| count(l.split_whitespace().next()?))
}

fn count(s: &str) -> Option<u64> {
    s.replace(',', "").parse().ok()
}

/// `1,234 (5.6%)  file:function [object]` lines, in the order given
/// (largest first), the file, object and Rust's hash suffix taken off.
fn functions(text: &str) -> Vec<(u64, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let (n, rest) = l.split_once(' ')?;
            let n = count(n)?;
            let rest = rest.trim_start();
            let rest = rest.strip_prefix('(')?.split_once(')')?.1.trim();
            if rest.contains("PROGRAM TOTALS") {
                return None;
            }
            let rest = rest.split(" [").next().unwrap_or(rest);
            let function = rest.split_once(':').map_or(rest, |(_, f)| f);
            Some((n, clean(function)))
        })
        .collect()
}

/// Without the `::h0123456789abcdef` hash legacy mangling leaves.
fn clean(f: &str) -> String {
    match f.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head.to_owned()
        }
        _ => f.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrind_annotate() {
        let text = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
2,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir            file:function
--------------------------------------------------------------------------------
1,200 (60.00%)  ???:sha2::sha256::compress256::h0123456789abcdef [/t/accs-profile]
  800 (40.00%)  src/config/settings.rs:accs_edge::config::settings::Settings::from_lookup [/t/accs-profile]
";
        assert_eq!(program_total(text), Some(2000));
        let f = functions(text);
        assert_eq!(f[0], (1200, "sha2::sha256::compress256".to_owned()));
        assert_eq!(
            f[1],
            (
                800,
                "accs_edge::config::settings::Settings::from_lookup".to_owned()
            )
        );
    }
}
