//! The modules of `src/` stand in layers and import only downward, so no
//! two of them form a cycle and each layer can be read and tested on its own
//! (docs/ARCHITECTURE.md, "Layers"). Read from the `crate::` paths of every
//! source file (comments and unit tests left out): a module may name another
//! only from a lower layer.

use std::fs;
use std::path::Path;

/// Bottom to top. The leaves import nothing of ours; the host adapters are
/// the only layer that names host interfaces, and nothing names them.
const LAYERS: &[&[&str]] = &[
    &["wire", "ports", "problem", "json_write", "scopes"],
    &["config"],
    &["auth", "trace", "denials", "place"],
    &["ims"],
    // `events` (Adobe I/O Events' signatures and keys) names neither
    // neighbour: `routes` joins it to the webhooks' ledger.
    // `echo` (what the edge wrote to ACCS, to tell Commerce's echoes) too.
    &["accs", "webhook", "events", "echo"],
    // Forwarding events to back-office targets: signatures, the ledger and
    // the echo notes below it, the routes above.
    &["forward"],
    &["routes"],
    &["host"],
    // Test and fuzzing support, above everything they exercise.
    &["testing", "fuzzing"],
    // The native profile, on the fake ports (accs-bench --profile).
    &["profiling"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file under `dir`, but unit-test files.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The modules of ours that `text` names, with the line of each.
fn named(text: &str) -> Vec<(String, usize)> {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            // `$crate::` in a macro is the same path.
            out.push((name, n + 1));
            rest = after;
        }
    }
    out
}

/// One line per import that runs up a layer (or sideways within one).
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let module = rel.split('/').next().unwrap().trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let Some(own) = layer(module) else {
            out.push(format!(
                "src/{rel}: module `{module}` has no layer in tests/layers.rs"
            ));
            continue;
        };
        let text = fs::read_to_string(&file).unwrap();
        for (name, line) in named(&text) {
            if name == module {
                continue;
            }
            match layer(&name) {
                Some(l) if l < own => {}
                Some(l) => out.push(format!(
                    "src/{rel}:{line}: `{module}` (layer {own}) names `crate::{name}` (layer {l}): import only from lower layers"
                )),
                None => out.push(format!(
                    "src/{rel}:{line}: `crate::{name}` has no layer in tests/layers.rs"
                )),
            }
        }
    }
    out
}

#[test]
fn src_imports_only_downward() {
    let src = common_dir().join("src");
    let found = violations(&src);
    assert!(found.is_empty(), "\n{}", found.join("\n"));
}

/// The check can fail: a leaf that names a module above it is reported, as
/// `host` naming `routes` and `trace` naming `routes` were before the leaves
/// `wire` and `ports` existed.
#[test]
fn an_upward_import_is_reported() {
    let dir = std::env::temp_dir().join(format!("accs-edge-layers-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("host")).unwrap();
    fs::write(
        dir.join("wire.rs"),
        "//! crate::routes in a comment is fine\nuse crate::routes::App;\n",
    )
    .unwrap();
    fs::write(dir.join("host/mod.rs"), "use crate::wire::InRequest;\n").unwrap();
    fs::write(
        dir.join("trace.rs"),
        "pub fn f(r: &crate::routes::InRequest) {}\n",
    )
    .unwrap();
    let found = violations(&dir);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found,
        [
            "src/trace.rs:1: `trace` (layer 2) names `crate::routes` (layer 6): import only from lower layers",
            "src/wire.rs:2: `wire` (layer 0) names `crate::routes` (layer 6): import only from lower layers",
        ]
    );
}

/// This package's directory (see `tests/common/mod.rs`, `manifest_dir`).
fn common_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
