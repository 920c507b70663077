//! The Python `standardwebhooks` library (the Standard Webhooks reference
//! implementation) as an independent verifier of what a forward target
//! received: tests/standardwebhooks_verify.py run by the Python that has it.
//!
//! The Python comes from `STANDARDWEBHOOKS_PYTHON`, else `python3` on PATH
//! when it can import the library; without one the test says so in one
//! `SKIPPED` line (scripts/test counts them), unless
//! `ACCS_EDGE_REQUIRE_STANDARDWEBHOOKS` is set (CI), where it fails.

use base64::Engine;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

/// A Python that imports `standardwebhooks`, or `None` after the SKIPPED line.
pub fn python(test: &str) -> Option<String> {
    let python = std::env::var("STANDARDWEBHOOKS_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&python)
        .args(["-c", "import standardwebhooks.webhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has {
        return Some(python);
    }
    assert!(
        std::env::var_os("ACCS_EDGE_REQUIRE_STANDARDWEBHOOKS").is_none(),
        "ACCS_EDGE_REQUIRE_STANDARDWEBHOOKS is set but {python} cannot import standardwebhooks"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: no Python with standardwebhooks (set STANDARDWEBHOOKS_PYTHON to one: python3 -m venv V && V/bin/pip install standardwebhooks==1.1.0)"
    );
    None
}

/// One delivery to judge: the target's `whsec_` secret, the `webhook-*`
/// headers it received, and the body.
pub struct Case {
    pub secret: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The library's verdict on each case: `true`, or its error's text.
pub fn verdicts(python: &str, cases: &[Case]) -> Vec<Value> {
    let script = super::manifest_dir().join("tests/standardwebhooks_verify.py");
    let cases: Vec<Value> = cases
        .iter()
        .map(
            |Case {
                 secret,
                 headers,
                 body,
             }| {
                let headers: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                json!({
                    "secret": secret,
                    "headers": headers,
                    "body_b64": base64::engine::general_purpose::STANDARD.encode(body),
                })
            },
        )
        .collect();
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!({ "cases": cases }).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("python said: {}", String::from_utf8_lossy(&out.stdout)))
}
