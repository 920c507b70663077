//! Replays every input the fuzzers kept (`fuzz/corpus/<target>/`) and every
//! crash they found and we fixed (`fuzz/artifacts/<target>/`) through the
//! same entry points as the fuzz targets (`accs_edge::fuzzing`): a plain
//! `cargo test` keeps the findings fixed without nightly or cargo-fuzz.

use std::fs;
use std::path::Path;

#[test]
fn every_kept_fuzz_input_still_passes() {
    // Cargo's runtime value: the compile-time one is stale when the build
    // cache served another checkout (see tests/common/mod.rs).
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).to_owned(),
        Into::into,
    );
    let root = dir.join("fuzz");
    let mut total = 0;
    for (name, run) in accs_edge::fuzzing::TARGETS {
        let mut seen = 0;
        for dir in ["corpus", "artifacts"] {
            let Ok(entries) = fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let data = fs::read(&path).unwrap();
                    let outcome = std::panic::catch_unwind(|| run(&data));
                    assert!(outcome.is_ok(), "{name}: {} panics", path.display());
                    seen += 1;
                }
            }
        }
        assert!(seen > 0, "fuzz/corpus/{name} is empty: run scripts/fuzz");
        total += seen;
    }
    eprintln!("replayed {total} fuzz inputs");
}
