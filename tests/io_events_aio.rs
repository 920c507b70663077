//! Adobe's own verifier agrees with ours: deliveries signed with keys this
//! suite generated (accs-sim's I/O Events double) are checked by
//! `@adobe/aio-lib-events`' `verifyDigitalSignatureForEvent` (run by Node,
//! tests/io_events_aio.js, fed the keys through its aio-lib-state cache, no
//! network) and by the component: each delivery it accepts, we accept; each
//! it rejects, we reject.
//!
//! Needs `node` (`NODE` or PATH) and the library (`AIO_LIB_EVENTS_DIR`, an
//! npm prefix; `.ci/run` installs a pinned version outside the clone);
//! without them the test says so in one `SKIPPED` line, which scripts/test
//! counts, unless `ACCS_EDGE_REQUIRE_AIO` is set (CI), where it fails.

mod common;

use accs_sim::io_events::STRANGER;
use bytes::Bytes;
use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

const TYPE: &str = "com.acme.unmapped.for.the.cross.check";

fn node_and_lib() -> Option<(String, String)> {
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let lib = std::env::var("AIO_LIB_EVENTS_DIR").ok();
    let has_node = Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_lib = lib.as_ref().is_some_and(|d| {
        std::path::Path::new(d)
            .join("node_modules/@adobe/aio-lib-events/package.json")
            .exists()
    });
    if has_node && has_lib {
        return Some((node, lib.unwrap()));
    }
    assert!(
        std::env::var_os("ACCS_EDGE_REQUIRE_AIO").is_none(),
        "ACCS_EDGE_REQUIRE_AIO is set but node or @adobe/aio-lib-events is missing"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED io_events_aio: no node or no @adobe/aio-lib-events (set NODE, and AIO_LIB_EVENTS_DIR to an npm prefix with it: npm install --prefix DIR @adobe/aio-lib-events@4.1.0)"
    );
    None
}

/// Adobe's verdict on each case.
fn aio_verdicts(node: &str, lib: &str, keys: Value, cases: &[Value]) -> Vec<bool> {
    let script = manifest_dir().join("tests/io_events_aio.js");
    let mut child = Command::new(node)
        .arg(script)
        .env("AIO_LIB_EVENTS_DIR", lib)
        .env("LOG_LEVEL", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running node");
    let input = json!({"keys": keys, "cases": cases});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("node said: {line}"));
    assert_eq!(
        v["fetches"], 0,
        "the library fetched a key: the test must feed every key"
    );
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_bool().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn aio_lib_events_and_the_component_agree_on_every_delivery() {
    let Some((node, lib)) = node_and_lib() else {
        return;
    };
    for flavour in FLAVOURS {
        let sim = start_sim().await;
        let io = sim.io_events();
        let mut opts = edge_host::HostOptions::new(flavour, wasm(flavour));
        opts.vars = vars(&sim);
        opts.vars
            .insert("io_events_key_origin".into(), io.key_origin().into());
        // Mapped to nothing: the cross-check is about who gets in.
        opts.vars.insert(
            "io_events_actions".into(),
            "com.acme.other=inventory".into(),
        );
        let dir = common::serve::TempDir::new(&format!("io-events-aio-{flavour:?}"));
        if flavour == Flavour::Wasmtime {
            opts.preopen_dir = Some(dir.0.clone());
            opts.vars.insert(
                "token_cache_dir".into(),
                edge_host::PREOPEN_GUEST_PATH.into(),
            );
        }
        let host = edge_host::EdgeHost::new(opts).unwrap();

        // Commerce-style payloads carry both spellings of the recipient;
        // aio-lib-events reads `recipient_client_id`.
        let event = |id: &str, recipient: &str| {
            let mut e = io.event(id, TYPE, recipient, json!({"n": id}));
            e["recipient_client_id"] = recipient.into();
            serde_json::to_vec(&e).unwrap()
        };
        let good = event("x-1", CLIENT_ID);
        let foreign = event("x-2", "another-client");
        let tampered = {
            let mut b = good.clone();
            let at = b.len() - 3;
            b[at] ^= 1;
            b
        };
        type Case = (&'static str, Vec<u8>, Vec<(String, String)>);
        let cases: Vec<Case> = vec![
            (
                "both keys sign",
                good.clone(),
                io.headers(&good, Some("x-1"), 0),
            ),
            (
                "only the second verifies",
                good.clone(),
                io.headers_with(&good, Some("x-1"), 0, [Some(STRANGER), Some(1)]),
            ),
            (
                "only the first verifies",
                good.clone(),
                io.headers_with(&good, Some("x-1"), 0, [Some(0), Some(STRANGER)]),
            ),
            (
                "a stranger signed both",
                good.clone(),
                io.headers_with(&good, Some("x-1"), 0, [Some(STRANGER), Some(STRANGER)]),
            ),
            (
                "signatures swapped between the keys",
                good.clone(),
                io.headers_with(&good, Some("x-1"), 0, [Some(1), Some(0)]),
            ),
            (
                "the body changed after signing",
                tampered.clone(),
                io.headers(&good, Some("x-1"), 0),
            ),
            (
                "addressed to another client",
                foreign.clone(),
                io.headers(&foreign, Some("x-2"), 0),
            ),
        ];
        let file = |p: &str| p.rsplit('/').next().unwrap().to_owned();
        let keys = json!({
            file(io.key_path(0)): io.public_pem(0),
            file(io.key_path(1)): io.public_pem(1),
        });
        let header = |h: &[(String, String)], n: &str| {
            h.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
        };
        let inputs: Vec<Value> = cases
            .iter()
            .map(|(_, body, h)| {
                json!({
                    "payload": String::from_utf8(body.clone()).unwrap(),
                    "recipient": CLIENT_ID,
                    "options": {
                        "digiSignature1": header(h, "x-adobe-digital-signature-1"),
                        "digiSignature2": header(h, "x-adobe-digital-signature-2"),
                        "publicKeyPath1": header(h, "x-adobe-public-key1-path"),
                        "publicKeyPath2": header(h, "x-adobe-public-key2-path"),
                    },
                })
            })
            .collect();
        let adobe = aio_verdicts(&node, &lib, keys, &inputs);
        let mut ours = Vec::new();
        for (_, body, h) in &cases {
            let mut b = http::Request::builder()
                .method("POST")
                .uri("http://localhost/v1/events");
            for (k, v) in h {
                b = b.header(k, v);
            }
            let resp =
                common::rig::oneshot_checked(&host, b.body(Bytes::copy_from_slice(body)).unwrap())
                    .await;
            ours.push(resp.status().as_u16());
        }
        for (((what, _, _), adobe), ours) in cases.iter().zip(&adobe).zip(&ours) {
            let accepted = *ours == 200;
            assert!(
                matches!(ours, 200 | 401 | 403),
                "{flavour:?}: {what}: we answered {ours}"
            );
            assert_eq!(
                accepted, *adobe,
                "{flavour:?}: {what}: aio-lib-events says {adobe}, we answered {ours}"
            );
        }
        // Not all one way: the cases hold both verdicts.
        assert!(adobe.contains(&true) && adobe.contains(&false));
        assert_no_secrets(&sim, &[host.logs()]);
    }
}
