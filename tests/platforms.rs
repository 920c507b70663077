//! Every build imports only what the platforms it is for link. A component
//! whose import the host does not provide fails to instantiate, before the
//! first request, so this is checked on the built `.wasm` itself: its world
//! is decoded as `wasm-tools component wit` decodes it (`wit-component`'s
//! `decode`, the same version wasmtime 48 builds with, pinned by Cargo.lock)
//! and each import is held against the checked-in list of each platform in
//! `tests/platforms/`, where every line cites the platform's own document or
//! source. Run `cargo test --test platforms -- --nocapture` to print each
//! build's imports.

mod common;

use common::{Build, build_wasm, manifest_dir};
use std::collections::BTreeSet;
use std::fs;
use wit_component::DecodedWasm;

/// The platforms each build is sold for (docs/DEPLOY.md).
fn platforms(build: Build) -> &'static [&'static str] {
    match build {
        Build::SpinP2 => &[
            "akamai-functions",
            "fermyon-cloud",
            "spinkube",
            "spin-released",
            "spin-4.1",
        ],
        Build::SpinP2Cas => &["spinkube", "spin-released", "spin-4.1"],
        Build::SpinP3 => &["spin-4.1"],
        Build::Wasmtime => &["wasmtime-serve"],
    }
}

/// The interfaces a component imports, as `namespace:package/interface@version`.
fn imports(build: Build) -> BTreeSet<String> {
    let bytes = fs::read(build_wasm(build)).unwrap();
    let DecodedWasm::Component(resolve, world) = wit_component::decode(&bytes)
        .unwrap_or_else(|e| panic!("decoding the {} build: {e:#}", build.name()))
    else {
        panic!("the {} build is not a component", build.name());
    };
    resolve.worlds[world]
        .imports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .collect()
}

/// One platform's list: `(pattern, line number)`.
struct List {
    file: String,
    patterns: Vec<String>,
}

fn list(platform: &str) -> List {
    let file = format!("tests/platforms/{platform}.txt");
    let text = fs::read_to_string(manifest_dir().join(&file))
        .unwrap_or_else(|e| panic!("reading {file}: {e}"));
    let patterns = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    List { file, patterns }
}

/// `pattern` names an interface and a version: `0.2` (major.minor) takes
/// every patch release of it, as wasmtime's linker does for 0.x versions; a
/// full version, or one with a pre-release tag (`0.2.0-draft2`), only itself.
fn matches(pattern: &str, import: &str) -> bool {
    let (Some((p_name, p_ver)), Some((i_name, i_ver))) =
        (pattern.split_once('@'), import.split_once('@'))
    else {
        return pattern == import;
    };
    if p_name != i_name {
        return false;
    }
    if p_ver.contains('-') || p_ver.matches('.').count() == 2 {
        return p_ver == i_ver;
    }
    !i_ver.contains('-')
        && i_ver
            .strip_prefix(p_ver)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The imports of `build` that `platform` does not link.
fn missing(imports: &BTreeSet<String>, platform: &List) -> Vec<String> {
    imports
        .iter()
        .filter(|i| !platform.patterns.iter().any(|p| matches(p, i)))
        .cloned()
        .collect()
}

#[test]
fn every_build_imports_only_what_its_platforms_link() {
    let mut failures = Vec::new();
    for build in Build::ALL {
        let imports = imports(build);
        println!("the {} build imports:", build.name());
        for i in &imports {
            println!("  {i}");
        }
        for platform in platforms(build) {
            let list = list(platform);
            for import in missing(&imports, &list) {
                failures.push(format!(
                    "the `{}` build imports {import}, which {platform} does not link ({})",
                    build.name(),
                    list.file
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The check can fail, on the very defect it guards: the exact-claims build
/// (the default before issue 21) imports `wasi:keyvalue/atomics`, which
/// Akamai Functions and Fermyon Cloud do not link.
#[test]
fn the_exact_claims_build_fails_the_akamai_and_fermyon_lists() {
    let imports = imports(Build::SpinP2Cas);
    for platform in ["akamai-functions", "fermyon-cloud"] {
        let missing = missing(&imports, &list(platform));
        assert!(
            missing
                .iter()
                .any(|i| i.starts_with("wasi:keyvalue/atomics@")),
            "{platform}: {missing:?}"
        );
    }
}

#[test]
fn patterns_match_as_the_linker_does() {
    assert!(matches("wasi:http/types@0.2", "wasi:http/types@0.2.6"));
    assert!(matches("wasi:http/types@0.2", "wasi:http/types@0.2.0"));
    assert!(!matches("wasi:http/types@0.2", "wasi:http/types@0.3.0"));
    assert!(!matches("wasi:http/types@0.2", "wasi:http/types@0.20.0"));
    assert!(!matches(
        "wasi:http/types@0.2",
        "wasi:http/outgoing-handler@0.2.0"
    ));
    assert!(!matches(
        "wasi:http/types@0.3",
        "wasi:http/types@0.3.0-rc-2026-03-15"
    ));
    assert!(matches(
        "wasi:keyvalue/store@0.2.0-draft2",
        "wasi:keyvalue/store@0.2.0-draft2"
    ));
    assert!(!matches(
        "wasi:keyvalue/store@0.2.0-draft2",
        "wasi:keyvalue/store@0.2.0-draft"
    ));
    assert!(matches(
        "spin:key-value/key-value@3.0.0",
        "spin:key-value/key-value@3.0.0"
    ));
    assert!(!matches(
        "spin:key-value/key-value@3.0.0",
        "spin:key-value/key-value@3.0.1"
    ));
}

/// `spin.cas.toml` is `spin.toml` but for the comment above the manifest,
/// the build command and its artifact.
#[test]
fn the_exact_claims_manifest_is_the_shipped_one_with_its_own_build() {
    let read = |name: &str| fs::read_to_string(manifest_dir().join(name)).unwrap();
    let body = |text: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let (shipped, cas) = (body(&read("spin.toml")), body(&read("spin.cas.toml")));
    assert_eq!(shipped.len(), cas.len());
    let mut differ = Vec::new();
    for (a, b) in shipped.iter().zip(&cas) {
        if a != b {
            differ.push((a.as_str(), b.as_str()));
        }
    }
    assert_eq!(
        differ,
        [
            (
                r#"source = "target/accs-edge-spin.wasm""#,
                r#"source = "target/accs-edge-spin-cas.wasm""#
            ),
            (
                r#"command = "bash scripts/build spin""#,
                r#"command = "bash scripts/build spin-cas""#
            ),
        ]
    );
}

/// Each manifest runs the `.wasm` its own build command makes, and that is
/// the build the tests run as that manifest's (`spin.toml` and
/// `spin.sim.toml` the default, `spin.cas.toml` exact claims): one file per
/// build, so a manifest never picks up another build's artifact.
#[test]
fn each_manifest_runs_the_file_its_build_command_writes() {
    for (manifest, build) in [
        ("spin.toml", Build::SpinP2),
        ("spin.sim.toml", Build::SpinP2),
        ("spin.cas.toml", Build::SpinP2Cas),
    ] {
        let text = fs::read_to_string(manifest_dir().join(manifest)).unwrap();
        let line = |key: &str| -> Vec<&str> {
            text.lines()
                .filter(|l| l.starts_with(&format!("{key} = ")))
                .collect()
        };
        let name = build.name();
        assert_eq!(
            line("source"),
            [format!(r#"source = "target/accs-edge-{name}.wasm""#)],
            "{manifest}"
        );
        assert_eq!(
            line("command"),
            [format!(r#"command = "bash scripts/build {name}""#)],
            "{manifest}"
        );
    }
    // scripts/build knows every build by the name the tests use, and each
    // writes its own file.
    let script = fs::read_to_string(manifest_dir().join("scripts/build")).unwrap();
    for build in Build::ALL {
        assert!(
            script.contains(&format!("\n  {}) features=", build.name())),
            "scripts/build has no case for {}",
            build.name()
        );
    }
    assert!(script.contains("out=${2:-target/accs-edge-$platform.wasm}"));
}
