//! The Spin builds under the real `spin up`: finding a Spin CLI, writing a
//! manifest that points at the built `.wasm`, starting and stopping hosts,
//! a private Redis, and signing webhook deliveries.

use super::serve::{TempDir, free_port};
use super::*;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which Spin a build needs: the WASI 0.2 build runs on every Spin (the
/// released 3.x and 4.0 is what users have); the WASI 0.3 build needs 4.1+.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpinBuild {
    /// Feature `spin` (default, best-effort claims), on the Spin in `SPIN`.
    P2,
    /// Features `spin` + `kv-cas` (`spin.cas.toml`, exact claims), on `SPIN`.
    P2Cas,
    /// Feature `spin-p3`, on the Spin in `SPIN_P3`.
    P3,
}

impl SpinBuild {
    /// The WASI 0.2 builds: a fresh instance for every request.
    pub fn is_p2(self) -> bool {
        self != SpinBuild::P3
    }

    pub fn variable(self) -> &'static str {
        match self {
            SpinBuild::P2 | SpinBuild::P2Cas => "SPIN",
            SpinBuild::P3 => "SPIN_P3",
        }
    }

    pub fn wasm(self) -> PathBuf {
        match self {
            SpinBuild::P2 => build_wasm(Build::SpinP2),
            SpinBuild::P2Cas => build_wasm(Build::SpinP2Cas),
            SpinBuild::P3 => build_wasm(Build::SpinP3),
        }
    }
}

/// `major.minor` of `spin --version`.
fn version(bin: &str) -> Option<(u32, u32)> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().nth(1)?;
    let mut parts = v.split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The Spin CLI for `build`: `$SPIN` / `$SPIN_P3`, else a `spin` on `PATH`
/// that can run it. `None` (after one line on stderr saying why) when there
/// is none: the caller returns without asserting anything.
pub fn spin_for(build: SpinBuild, test: &str) -> Option<String> {
    let var = build.variable();
    let (bin, from) = match std::env::var(var) {
        Ok(b) if !b.is_empty() => (b, var),
        _ => ("spin".to_owned(), "PATH"),
    };
    let ok = match (version(&bin), build) {
        (Some(_), SpinBuild::P2 | SpinBuild::P2Cas) => true,
        (Some(v), SpinBuild::P3) => v >= (4, 1),
        (None, _) => false,
    };
    if !ok {
        assert!(
            std::env::var_os("ACCS_EDGE_REQUIRE_SPIN").is_none(),
            "{test}: ACCS_EDGE_REQUIRE_SPIN is set but {var} gives no usable Spin ({:?})",
            version(&bin)
        );
        // Straight to the process's stderr: cargo's capture would hide it.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: no Spin for the {build:?} build (set {var} to a spin CLI{}; `{from}` gave {:?})",
            if build == SpinBuild::P3 {
                " 4.1 or newer"
            } else {
                ""
            },
            version(&bin),
        );
        return None;
    }
    Some(bin)
}

/// Which manifest a host runs.
#[derive(Clone, Copy, Debug)]
pub enum Manifest {
    /// The shipped manifest of the build, as a user deploys it: `spin.toml`,
    /// or `spin.cas.toml` for the exact-claims build.
    Shipped,
    /// `spin.sim.toml`, the quick start's manifest.
    Sim,
    /// The shipped manifest as the function rewrites it (a user's older or
    /// edited copy).
    ShippedEdited(fn(&str) -> String),
}

/// One `spin up` process.
pub struct SpinUp {
    child: Option<Child>,
    pub base: String,
    /// Holds the manifest, `.spin/` (the SQLite store) and the logs.
    pub dir: PathBuf,
    _dir: TempDir,
    bin: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log_runs: usize,
}

impl SpinUp {
    /// Everything the host and the component wrote so far, every run.
    pub fn log(&self) -> String {
        (0..self.log_runs)
            .map(|i| fs::read_to_string(self.dir.join(format!("spin-{i}.log"))).unwrap_or_default())
            .collect()
    }

    /// The component's JSON log lines.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str(l.get(l.find('{')?..)?).ok())
            .collect()
    }

    /// Kills `spin up` and the `spin trigger http` it started: they share
    /// the process group `spin up` leads. Killing the parent alone would
    /// leave the trigger serving.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let group = format!("-{}", c.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = c.kill();
            let _ = c.wait();
            // The trigger process may hold the port a moment longer: a
            // restart on the same port must not find it taken.
            let addr = self.base.trim_start_matches("http://").to_owned();
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(&addr).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Starts the same host again, in the same directory (same store).
    pub async fn restart(&mut self) {
        self.stop();
        self.start().await;
    }

    async fn start(&mut self) {
        let log = self.dir.join(format!("spin-{}.log", self.log_runs));
        self.log_runs += 1;
        let out = fs::File::create(&log).unwrap();
        use std::os::unix::process::CommandExt;
        let child = Command::new(&self.bin)
            .process_group(0)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            // Port 0 on the first start: Spin names the port it bound
            // ("Serving http://127.0.0.1:<port>"); a restart binds that one
            // again, so the base the caller holds stays right.
            if self.base.ends_with(":0") {
                match serving_on(&fs::read_to_string(&log).unwrap_or_default()) {
                    Some(base) => {
                        let listen = base.trim_start_matches("http://").to_owned();
                        if let Some(at) = self.args.iter().position(|a| a == "--listen") {
                            self.args[at + 1] = listen;
                        }
                        self.base = base;
                    }
                    None => {
                        let exited = self
                            .child
                            .as_mut()
                            .and_then(|c| c.try_wait().ok().flatten());
                        assert!(
                            exited.is_none() && Instant::now() < deadline,
                            "spin up named no address ({exited:?}): {}",
                            self.log()
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.base)).await
                && r.status() == 200
            {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "spin up did not come up ({exited:?}): {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SpinUp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `http://<ip>:<port>` from `spin up`'s "Serving http://<ip>:<port>" line.
fn serving_on(log: &str) -> Option<String> {
    let base = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("Serving "))?
        .trim()
        .trim_end_matches('/');
    let port: u16 = base.rsplit(':').next()?.parse().ok()?;
    (base.starts_with("http://") && port != 0).then(|| base.to_owned())
}

/// Options of one host.
#[derive(Default)]
pub struct HostSetup {
    /// `SPIN_VARIABLE_<NAME>` values (names in lower case).
    pub vars: BTreeMap<String, String>,
    /// A runtime config file's contents (`--runtime-config-file`).
    pub runtime_config: Option<String>,
}

/// Writes `manifest` into a new directory, pointing it at the `.wasm` of
/// `build`, and starts `spin up` there on a free port.
pub async fn spin_up(
    bin: &str,
    build: SpinBuild,
    manifest: Manifest,
    tag: &str,
    setup: HostSetup,
) -> SpinUp {
    spin_up_with_args(bin, build, manifest, tag, setup, &[]).await
}

/// [`spin_up`] with more arguments for `spin up` (trigger options such as
/// `--idle-instance-timeout`).
pub async fn spin_up_with_args(
    bin: &str,
    build: SpinBuild,
    manifest: Manifest,
    tag: &str,
    setup: HostSetup,
    extra: &[&str],
) -> SpinUp {
    let wasm = build.wasm();
    let root = super::manifest_dir();
    let root = root.as_path();
    let source = match (manifest, build) {
        (Manifest::Shipped | Manifest::ShippedEdited(_), SpinBuild::P2Cas) => "spin.cas.toml",
        (Manifest::Shipped | Manifest::ShippedEdited(_), _) => "spin.toml",
        (Manifest::Sim, _) => "spin.sim.toml",
    };
    let text = fs::read_to_string(root.join(source)).unwrap();
    let text = match manifest {
        Manifest::ShippedEdited(edit) => edit(&text),
        _ => text,
    };
    let shipped_source = text
        .lines()
        .find(|l| l.starts_with(r#"source = "target/accs-edge-"#) && l.ends_with(r#".wasm""#))
        .unwrap_or_else(|| panic!("{source} names its .wasm"))
        .to_owned();
    let text = text.replace(
        &shipped_source,
        &format!("source = {:?}", wasm.display().to_string()),
    );
    let dir = TempDir::new(&format!("spin-{tag}"));
    let path = dir.0.clone();
    fs::write(path.join("spin.toml"), text).unwrap();
    let mut args = vec![
        "up".to_owned(),
        "-f".to_owned(),
        path.join("spin.toml").display().to_string(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
    ];
    if let Some(rc) = &setup.runtime_config {
        fs::write(path.join("runtime-config.toml"), rc).unwrap();
        args.push("--runtime-config-file".to_owned());
        args.push(path.join("runtime-config.toml").display().to_string());
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let env = setup
        .vars
        .iter()
        .map(|(k, v)| {
            (
                format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()),
                v.clone(),
            )
        })
        .collect();
    let mut up = SpinUp {
        child: None,
        base: "http://127.0.0.1:0".to_owned(),
        dir: path,
        _dir: dir,
        bin: bin.to_owned(),
        args,
        env,
        log_runs: 0,
    };
    up.start().await;
    up
}

/// The variables that point a Spin host at `sim`: the test's credentials,
/// and the outbound origins the shipped manifest allows.
pub fn spin_vars(sim: &Sim) -> BTreeMap<String, String> {
    let mut v = vars(sim);
    let origin = sim.base_url();
    v.insert("ims_origin".into(), origin.clone());
    v.insert("accs_origin".into(), origin);
    v
}

/// A private `redis-server` on a free loopback port, stopped on drop.
pub struct Redis {
    child: Child,
    pub url: String,
    _dir: TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `None` (after one line on stderr) when no `redis-server` is found
/// through `REDIS_SERVER` or `PATH`.
pub async fn redis(test: &str) -> Option<Redis> {
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    if Command::new(&bin).arg("--version").output().is_err() {
        assert!(
            std::env::var_os("ACCS_EDGE_REQUIRE_SPIN").is_none(),
            "{test}: ACCS_EDGE_REQUIRE_SPIN is set but there is no redis-server"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: no redis-server (set REDIS_SERVER or put it on PATH; Debian: apt-get install redis-server)"
        );
        return None;
    }
    let dir = TempDir::new(&format!("redis-{test}"));
    // redis-server cannot bind port 0 and say which port it got (`--port 0`
    // turns TCP off), so it gets a port that was free a moment ago; if that
    // was taken in between, redis-server exits and another port is tried.
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new(&bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        let up = loop {
            if child.try_wait().ok().flatten().is_some() {
                break false;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break true;
            }
            assert!(Instant::now() < deadline, "redis-server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if !up {
            continue;
        }
        let mut redis = Redis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            _dir: dir,
        };
        // Ours, not another server that held the port: it answers and lives.
        assert!(redis.command(&["PING"]).await.starts_with("+PONG"));
        assert!(
            redis.child.try_wait().ok().flatten().is_none(),
            "redis-server exited: port {port} was another server's"
        );
        return Some(redis);
    }
    panic!("redis-server found each of 5 free ports taken");
}

/// The length of the one RESP reply at the start of `b`, once all of it is
/// there (`+`/`-`/`:` lines, `$` bulk strings, `*` arrays of those).
fn resp_len(b: &[u8]) -> Option<usize> {
    let line_end = b.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&b[1..line_end]).ok()?;
    let after = line_end + 2;
    match b.first()? {
        b'+' | b'-' | b':' => Some(after),
        b'$' => match head.parse::<i64>().ok()? {
            n if n < 0 => Some(after),
            n => {
                let end = after + usize::try_from(n).ok()? + 2;
                (b.len() >= end).then_some(end)
            }
        },
        b'*' => {
            let mut at = after;
            for _ in 0..head.parse::<i64>().ok()?.max(0) {
                at += resp_len(&b[at..])?;
            }
            Some(at)
        }
        other => panic!("not a RESP reply: {:?}", *other as char),
    }
}

impl Redis {
    /// One command over RESP; the reply as text (a bulk string or a status).
    async fn command(&self, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.command_bytes(&args).await
    }

    /// Binary-safe arguments (a sealed token is not text).
    async fn command_bytes(&self, args: &[&[u8]]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.url.trim_start_matches("redis://");
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        conn.write_all(&req).await.unwrap();
        // Read until one whole reply is in, however slowly it comes (a
        // loaded machine can pause longer than any idle timeout), within 20 s.
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        let deadline = Instant::now() + Duration::from_secs(20);
        while resp_len(&out).is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = tokio::time::timeout(left, conn.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("redis gave no whole reply in 20 s: {out:?}"))
                .unwrap();
            assert!(n > 0, "redis closed the connection mid-reply: {out:?}");
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Stores `value` under `key`, as a host's `set` would.
    pub async fn set(&self, key: &str, value: &[u8]) {
        let reply = self.command_bytes(&[b"SET", key.as_bytes(), value]).await;
        assert!(reply.starts_with("+OK"), "{reply}");
    }

    /// Stops the server (the hosts' next store call fails); nothing of it
    /// is kept (`--save ""`).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `CONFIG SET name value`: `maxmemory 1` makes every write fail with
    /// `OOM` (the default policy evicts nothing), as a full store or a
    /// refused quota would; `maxmemory 0` lifts it.
    pub async fn config_set(&self, name: &str, value: &str) {
        let reply = self.command(&["CONFIG", "SET", name, value]).await;
        assert!(reply.starts_with("+OK"), "{reply}");
    }

    /// The keys matching `pattern` (`KEYS`: fine for a test's few keys).
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let reply = self.command(&["KEYS", pattern]).await;
        // `*<n>`, then `$<len>` and the key for each.
        reply
            .split("\r\n")
            .skip(1)
            .collect::<Vec<_>>()
            .chunks(2)
            .filter_map(|pair| match pair {
                [len, key] if len.starts_with('$') => Some((*key).to_owned()),
                _ => None,
            })
            .collect()
    }

    /// The length of the value under `key` (`STRLEN`; 0 when absent).
    pub async fn value_len(&self, key: &str) -> usize {
        let reply = self.command(&["STRLEN", key]).await;
        reply
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap_or_else(|_| panic!("STRLEN {key}: {reply}"))
    }

    /// Empties the store.
    pub async fn flush(&self) {
        assert!(self.command(&["FLUSHALL"]).await.starts_with("+OK"));
    }

    /// Forgets the command counters.
    pub async fn reset_stats(&self) {
        assert!(
            self.command(&["CONFIG", "RESETSTAT"])
                .await
                .starts_with("+OK")
        );
    }

    /// How often each command ran since the last reset (`INFO commandstats`):
    /// what the hosts really asked of the store.
    pub async fn calls(&self) -> BTreeMap<String, u64> {
        self.command(&["INFO", "commandstats"])
            .await
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .collect()
    }
}

/// A runtime config that puts the default store in `redis`, pooling on.
pub fn redis_runtime_config(redis: &Redis) -> String {
    store_runtime_config(&redis.url)
}

/// A runtime config that puts the default store at the Redis `url`, pooling on.
pub fn store_runtime_config(url: &str) -> String {
    format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n\n[outbound_http]\nconnection_pooling = true\n"
    )
}

/// A proxy in front of a [`Redis`] whose writes are slow: each `SET` a host
/// sends is held for [`set_write_delay`](Self::set_write_delay) before it
/// goes on (in order, so replies still match their commands); every other
/// command and every reply passes at once. This is the store
/// docs/WEBHOOKS.md describes, where "a store write takes longer than
/// [the claim's] wait". Listens on a loopback port the system picks.
pub struct SlowStore {
    pub url: String,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl SlowStore {
    pub async fn start(redis: &Redis) -> SlowStore {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let upstream = redis.url.trim_start_matches("redis://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let delay = delay.clone();
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        let Ok(n) = from_client.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..n]);
                        // Whole commands only: a command's name decides its delay.
                        while let Some(len) = command_len(&pending) {
                            let command: Vec<u8> = pending.drain(..len).collect();
                            let ms = delay.load(Ordering::Relaxed);
                            if ms > 0 && command_name(&command).eq_ignore_ascii_case(b"SET") {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                            }
                            if to_server.write_all(&command).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        SlowStore {
            url,
            delay_ms,
            accept,
        }
    }

    /// How long each `SET` is held from now on (zero: not at all).
    pub fn set_write_delay(&self, delay: Duration) {
        self.delay_ms.store(
            delay.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

impl Drop for SlowStore {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The length of the whole RESP command (an array of bulk strings) at the
/// start of `b`, or of its first line when it is an inline command.
fn command_len(b: &[u8]) -> Option<usize> {
    match b.first()? {
        b'*' => resp_len(b),
        _ => Some(b.windows(2).position(|w| w == b"\r\n")? + 2),
    }
}

/// The command's name (its first bulk string), or empty.
fn command_name(command: &[u8]) -> &[u8] {
    let mut lines = command.split(|&c| c == b'\n');
    match (lines.next(), lines.next(), lines.next()) {
        (Some(head), Some(_len), Some(name)) if head.starts_with(b"*") => {
            name.strip_suffix(b"\r").unwrap_or(name)
        }
        _ => b"",
    }
}

/// The `webhook-signature` of a Standard Webhooks delivery.
pub fn webhook_signature(key: &[u8], id: &str, ts: u64, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{sig}")
}
