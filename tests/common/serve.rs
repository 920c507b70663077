//! The wasmtime flavour under the real `wasmtime serve` binary.

use super::*;
use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Served {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
    pub dir: TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// What wasmtime and the guest wrote: the guest's stderr lands in ours.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
            + &fs::read_to_string(self.log.with_file_name("wasmtime.err")).unwrap_or_default()
    }
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("accs-edge-e2e-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `wasmtime serve` with the wasmtime flavour pointed at `sim`;
/// `extra` adds arguments (say `--dir`) and variables (`-Sconfig-var=...`).
pub async fn serve(sim: &accs_sim::Sim, tag: &str, extra: &[String]) -> Served {
    let wasm = wasm(Flavour::Wasmtime);
    let dir = TempDir::new(tag);
    let log = dir.0.join("wasmtime.log");
    let port = free_port();
    let mut cmd = Command::new("wasmtime");
    cmd.arg("serve")
        .arg(format!("--addr=127.0.0.1:{port}"))
        .args([
            "-Wcomponent-model-async",
            "-Sp3",
            "-Scli",
            "-Shttp",
            "-Sconfig",
            "-Skeyvalue",
        ]);
    // `-S` splits on commas: lists are written with `;` here, as docs/CONFIGURATION.md says.
    for (k, v) in vars(sim) {
        cmd.arg(format!("-Sconfig-var={k}={}", v.replace(',', ";")));
    }
    cmd.args(extra)
        .arg(&wasm)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).unwrap())
        .stderr(fs::File::create(dir.0.join("wasmtime.err")).unwrap());
    let child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "`wasmtime` 48 must be on PATH for the end-to-end test (scripts/test installs it): {e}"
        )
    });
    let served = Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("{}/healthz", served.base)).await
            && r.status() == 200
        {
            return served;
        }
        assert!(
            Instant::now() < deadline,
            "wasmtime serve did not come up: {}",
            fs::read_to_string(served.log.with_file_name("wasmtime.err")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
