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

/// `http://<ip>:<port>` from wasmtime serve's "Serving HTTP on
/// http://<ip>:<port>/" line.
fn serving_on(stderr: &str) -> Option<String> {
    let line = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Serving HTTP on "))?;
    let base = line.trim_end_matches('/');
    let port: u16 = base.rsplit(':').next()?.parse().ok()?;
    (port != 0).then(|| base.to_owned())
}

/// A loopback port that was free a moment ago. Only for servers that cannot
/// bind port 0 and say which port they got (redis-server, where 0 means "no
/// TCP"): the caller retries on another one if the server finds it taken.
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
    let mut cmd = Command::new("wasmtime");
    // Port 0: the system picks a free one, which wasmtime serve names on
    // stderr ("Serving HTTP on http://127.0.0.1:<port>/"); no port is
    // guessed, so none can be taken by another process in between.
    cmd.arg("serve").arg("--addr=127.0.0.1:0").args([
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
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "`wasmtime` 48 must be on PATH for the end-to-end test (scripts/test installs it): {e}"
        )
    });
    let err = dir.0.join("wasmtime.err");
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let text = fs::read_to_string(&err).unwrap_or_default();
        if let Some(base) = serving_on(&text) {
            break base;
        }
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() >= deadline {
            let _ = child.kill();
            panic!("wasmtime serve named no address ({exited:?}): {text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let served = Served {
        child,
        base,
        log,
        dir,
    };
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
