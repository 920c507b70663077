//! Helpers for the edge-host tests: building the probe fixture, requests, and a tiny
//! HTTP server on loopback.

#![allow(dead_code)]

use bytes::Bytes;
use edge_host::{EdgeHost, Flavour, HostOptions};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// This package's directory, from the `CARGO_MANIFEST_DIR` cargo sets when it
/// runs a test: the compile-time value is stale when one build cache serves
/// checkouts at different paths (cargo reuses a test binary whose sources did
/// not change), and the probe would be built from another checkout.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn workspace_root() -> PathBuf {
    manifest_dir().join("../..")
}

/// Builds `tests/fixtures/probe` for wasm32-wasip2 (once per test binary and flavour)
/// and returns the path of the component.
pub fn probe_wasm(flavour: Flavour) -> PathBuf {
    static SPIN: OnceLock<PathBuf> = OnceLock::new();
    static WASMTIME: OnceLock<PathBuf> = OnceLock::new();
    let (cell, target_dir, features): (_, _, &[&str]) = match flavour {
        Flavour::Spin => (&SPIN, "target/probe", &[]),
        Flavour::Wasmtime => (
            &WASMTIME,
            "target/probe-wasmtime",
            &["--no-default-features", "--features", "wasmtime"],
        ),
    };
    cell.get_or_init(|| {
        let root = workspace_root();
        let target_dir = root.join(target_dir);
        let manifest = manifest_dir().join("tests/fixtures/probe/Cargo.toml");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let status = Command::new(cargo)
            .args(["build", "--target", "wasm32-wasip2", "--release", "--quiet"])
            .args(features)
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .status()
            .expect("running cargo to build the probe fixture");
        assert!(status.success(), "building the probe fixture failed");
        target_dir.join("wasm32-wasip2/release/edge_host_probe.wasm")
    })
    .clone()
}

pub fn options(flavour: Flavour) -> HostOptions {
    HostOptions::new(flavour, probe_wasm(flavour))
}

pub fn host(flavour: Flavour) -> EdgeHost {
    EdgeHost::new(options(flavour)).expect("EdgeHost::new")
}

pub fn get(path: &str) -> http::Request<Bytes> {
    http::Request::get(format!("http://localhost{path}"))
        .body(Bytes::new())
        .unwrap()
}

pub fn put(path: &str, body: &str) -> http::Request<Bytes> {
    http::Request::put(format!("http://localhost{path}"))
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

pub fn text(resp: &http::Response<Bytes>) -> String {
    String::from_utf8_lossy(resp.body()).into_owned()
}

/// A minimal HTTP/1.1 server on 127.0.0.1 answering every request with `200` and
/// `body`; it records each request's head.
pub struct TinyServer {
    pub addr: std::net::SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl TinyServer {
    pub async fn start(body: &'static str) -> TinyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        TinyServer { addr, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "edge-host-{name}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
