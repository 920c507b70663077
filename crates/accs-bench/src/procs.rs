//! The two servers as child processes: `accs-sim` and `wasmtime serve` with
//! the component. Every child is killed when its handle drops, and also from
//! the panic hook (the release profile aborts on panic, so drops would not
//! run): a benchmark must never leave servers behind on a shared machine.

use anyhow::{Context as _, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "bench-client";
pub const CLIENT_SECRET: &str = "bench-secret-0123456789abcdef0123";
pub const TENANT: &str = "tenant-bench";
pub const API_KEY: &str = "bench-key-0123456789abcdef0123456789abcdef";
/// The bench key's scopes: what its routes need, as docs/ROUTES.md recommends. An
/// unscoped key would also log a warning once per instance, which on a host
/// that instantiates per request (figure 6) is once per request.
pub const BENCH_SCOPES: &str = "products.read+products.write+inventory.write";

/// Pids of live children, for the panic hook.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Kills every live child before the process aborts on a panic.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let pids = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
        for pid in pids {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        previous(info);
    }));
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("accs-bench-{}-{n}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A child process, killed and reaped on drop.
pub struct Proc {
    child: Child,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Result<Proc> {
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        if let Ok(mut l) = LIVE.lock() {
            l.push(child.id());
        }
        Ok(Proc { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User plus system CPU time so far, from `/proc/<pid>/stat`. CPU per
    /// request is steadier than requests per second on a shared machine.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(self.pid())
    }

    /// A `kB` field of `/proc/<pid>/status`, e.g. `VmHWM` (peak resident set).
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status.lines().find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
    }
}

/// User plus system CPU time of `pid` so far, from `/proc/<pid>/stat`.
pub fn cpu_time_of(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`, which may hold spaces: utime and stime
    // are the 12th and 13th of them.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// Every live descendant of `pid` (children, their children, ...), from
/// `/proc/<pid>/task/*/children`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let text = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in text
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                if !found.contains(&child) {
                    found.push(child);
                    queue.push(child);
                }
            }
        }
    }
    found
}

/// Puts a process this benchmark started indirectly (a child of a child) on
/// the list the panic hook kills.
pub fn track(pid: u32) {
    if let Ok(mut l) = LIVE.lock()
        && !l.contains(&pid)
    {
        l.push(pid);
    }
}

/// Kills one process by id (`SIGKILL`) and takes it off the panic hook's list.
pub fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
    if let Ok(mut l) = LIVE.lock() {
        l.retain(|p| *p != pid);
    }
}

/// `getconf CLK_TCK`, read once; 100 on every common Linux.
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(mut l) = LIVE.lock() {
            l.retain(|p| *p != pid);
        }
    }
}

pub struct Sim {
    pub base: String,
    pub proc: Proc,
    _dir: TempDir,
}

impl Sim {
    pub fn accs_base(&self) -> String {
        format!("{}/{TENANT}", self.base)
    }
}

/// Starts the simulator and waits for its admin health check.
pub async fn start_sim(bin: &Path, client: &reqwest::Client) -> Result<Sim> {
    let dir = TempDir::new("sim")?;
    let port = free_port()?;
    let proc = Proc::spawn(
        Command::new(bin)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .args(["--tenant", TENANT])
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.0.join("sim.out"))?)
            .stderr(fs::File::create(dir.0.join("sim.err"))?),
    )?;
    let sim = Sim {
        base: format!("http://127.0.0.1:{port}"),
        proc,
        _dir: dir,
    };
    let health = format!("{}/_admin/health", sim.base);
    wait_for(
        client,
        &health,
        &Default::default(),
        Duration::from_secs(20),
    )
    .await
    .context("accs-sim did not come up")?;
    Ok(sim)
}

/// How to start `wasmtime serve`.
#[derive(Clone, Default)]
pub struct ServeOpts {
    /// Preopened as `/cache` with `token_cache_dir=/cache`.
    pub token_cache: Option<PathBuf>,
    /// `-C cache=n`: Cranelift compiles the component at start.
    pub no_compile_cache: bool,
    /// More `-Sconfig-var` pairs.
    pub vars: Vec<(String, String)>,
}

/// `wasmtime serve` running the component; its stderr (wasmtime's and the
/// guest's log lines) goes to a file the scenarios read.
pub struct Serve {
    pub base: String,
    pub log: PathBuf,
    pub proc: Proc,
    pub args: Vec<String>,
    /// Callgrind's output file when it runs under callgrind.
    callgrind: Option<PathBuf>,
    _dir: TempDir,
}

/// The `wasmtime serve` arguments, without `--addr` and the `.wasm`; the
/// report prints them.
pub fn serve_args(sim: &Sim, opts: &ServeOpts) -> Vec<String> {
    let mut args: Vec<String> = [
        "-Wcomponent-model-async",
        "-Sp3",
        "-Scli",
        "-Shttp",
        "-Sconfig",
        "-Skeyvalue",
    ]
    .map(String::from)
    .to_vec();
    if opts.no_compile_cache {
        args.push("-Ccache=n".into());
    }
    if let Some(dir) = &opts.token_cache {
        args.push(format!("--dir={}::/cache", dir.display()));
    }
    let mut vars = vec![
        ("ims_client_id".to_owned(), CLIENT_ID.to_owned()),
        ("ims_client_secret".into(), CLIENT_SECRET.into()),
        ("ims_token_url".into(), format!("{}/ims/token/v3", sim.base)),
        ("accs_base_url".into(), sim.accs_base()),
        ("api_keys".into(), format!("bench:{API_KEY}:{BENCH_SCOPES}")),
        ("allow_http".into(), "true".into()),
    ];
    if opts.token_cache.is_some() {
        vars.push(("token_cache_dir".into(), "/cache".into()));
    }
    vars.extend(opts.vars.iter().cloned());
    for (k, v) in vars {
        // `-S` splits on commas: lists are written with `;`.
        args.push(format!("-Sconfig-var={k}={}", v.replace(',', ";")));
    }
    args
}

/// Spawns `wasmtime serve` without waiting: cold-start timing starts here.
pub fn spawn_serve(wasm: &Path, sim: &Sim, opts: &ServeOpts) -> Result<Serve> {
    spawn_wasmtime("serve", wasm, serve_args(sim, opts), false)
}

/// `wasmtime serve <args> <wasm>` on a free port, logs in a new directory;
/// with `callgrind`, under `valgrind --tool=callgrind` ([`Serve::callgrind_count`]).
fn spawn_wasmtime(tag: &str, wasm: &Path, args: Vec<String>, callgrind: bool) -> Result<Serve> {
    let dir = TempDir::new(tag)?;
    let port = free_port()?;
    let log = dir.0.join("serve.err");
    let cg_out = dir.0.join("callgrind.out");
    let mut cmd = if callgrind {
        let mut c = Command::new("valgrind");
        c.args(["--tool=callgrind", "--dump-instr=no"])
            .arg(format!("--callgrind-out-file={}", cg_out.display()))
            .arg("wasmtime");
        c
    } else {
        Command::new("wasmtime")
    };
    cmd.arg("serve");
    if callgrind && std::env::var_os("ACCS_BENCH_CALLGRIND_DIR").is_some() {
        // Names for the guest's JIT code in /tmp/perf-<pid>.map.
        cmd.arg("--profile=perfmap");
    }
    let proc = Proc::spawn(
        cmd.arg(format!("--addr=127.0.0.1:{port}"))
            .args(&args)
            .arg(wasm)
            // With RUST_BACKTRACE=1, wasmtime 48 captures a backtrace for an
            // error it makes on every request (about 2.5 % of its CPU): not
            // how it runs in production.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.0.join("serve.out"))?)
            .stderr(fs::File::create(&log)?),
    )?;
    Ok(Serve {
        base: format!("http://127.0.0.1:{port}"),
        log,
        proc,
        args,
        callgrind: callgrind.then_some(cg_out),
        _dir: dir,
    })
}

/// The `wasmtime serve` flags of the WASI 0.3 floor (`crates/floor-p3`):
/// HTTP and its environment, no configuration or key-value store.
pub const FLOOR_SERVE_FLAGS: [&str; 4] = ["-Wcomponent-model-async", "-Sp3", "-Scli", "-Shttp"];

/// Spawns `wasmtime serve` with the floor, `env` passed with `--env`.
pub fn spawn_serve_floor(wasm: &Path, env: &[(&str, &str)]) -> Result<Serve> {
    spawn_wasmtime("serve-floor", wasm, floor_args(env), false)
}

fn floor_args(env: &[(&str, &str)]) -> Vec<String> {
    let mut args: Vec<String> = FLOOR_SERVE_FLAGS.map(String::from).to_vec();
    for (k, v) in env {
        args.push(format!("--env={k}={v}"));
    }
    args
}

/// `valgrind --tool=callgrind` when it is installed, else why not.
pub fn callgrind_unavailable() -> Option<String> {
    if which("valgrind") && which("callgrind_control") {
        None
    } else {
        Some(
            "no `valgrind` with `callgrind_control` on PATH (Debian: apt-get install valgrind)"
                .into(),
        )
    }
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

/// The component's `wasmtime serve` (as [`spawn_serve`]) under callgrind.
pub fn spawn_serve_callgrind(wasm: &Path, sim: &Sim, opts: &ServeOpts) -> Result<Serve> {
    spawn_wasmtime("serve-cg", wasm, serve_args(sim, opts), true)
}

/// The floor's `wasmtime serve` (as [`spawn_serve_floor`]) under callgrind.
pub fn spawn_serve_floor_callgrind(wasm: &Path, env: &[(&str, &str)]) -> Result<Serve> {
    spawn_wasmtime("serve-floor-cg", wasm, floor_args(env), true)
}

impl Serve {
    pub async fn wait_ready(&self, client: &reqwest::Client) -> Result<()> {
        let url = format!("{}/healthz", self.base);
        // Under callgrind a component not yet in wasmtime's compile cache is
        // compiled at a fraction of native speed: on a loaded 2-core machine
        // that took more than a minute.
        wait_for(client, &url, &Default::default(), Duration::from_secs(300))
            .await
            .with_context(|| format!("wasmtime serve did not come up: {}", self.log_tail()))?;
        Ok(())
    }

    /// Log bytes written so far: pass to [`Serve::log_since`] to see one phase.
    pub fn log_len(&self) -> u64 {
        fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    pub fn log_since(&self, offset: u64) -> LogSummary {
        let text = fs::read(&self.log).unwrap_or_default();
        let from = (offset as usize).min(text.len());
        LogSummary::parse(&String::from_utf8_lossy(&text[from..]))
    }

    /// Callgrind: forget what was counted so far.
    pub fn callgrind_zero(&self) -> Result<()> {
        callgrind_control("-z", self.proc.pid())
    }

    /// Callgrind: instructions counted since [`Serve::callgrind_zero`] (a
    /// dump, whose `totals:` line is the sum over every thread).
    pub fn callgrind_count(&self) -> Result<u64> {
        let out = self.callgrind.as_ref().context("not under callgrind")?;
        let dir = out.parent().context("callgrind output has no directory")?;
        dump_count(dir, "callgrind.out.", self.proc.pid())
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    }
}

/// One `spin up` and the `spin trigger http` process it starts (which is the
/// one that serves). Each has its own directory: the manifest, Spin's state
/// (`.spin/`: component logs, the SQLite key-value store) and its output.
pub struct SpinUp {
    pub base: String,
    pub dir: PathBuf,
    pub proc: Proc,
    _dir: TempDir,
}

/// Writes `manifest` to a new directory and starts `spin up` there on a free
/// loopback port, with `env` (e.g. `SPIN_VARIABLE_*`) added. Does not wait.
pub fn spawn_spin(
    bin: &str,
    manifest: &str,
    env: &[(String, String)],
    tag: &str,
) -> Result<SpinUp> {
    spawn_spin_with(bin, manifest, env, tag, false)
}

/// [`spawn_spin`] with `spin up` and the trigger process it starts under
/// `valgrind --tool=callgrind` (see [`SpinUp::callgrind_count`]).
pub fn spawn_spin_callgrind(
    bin: &str,
    manifest: &str,
    env: &[(String, String)],
    tag: &str,
) -> Result<SpinUp> {
    spawn_spin_with(bin, manifest, env, tag, true)
}

fn spawn_spin_with(
    bin: &str,
    manifest: &str,
    env: &[(String, String)],
    tag: &str,
    callgrind: bool,
) -> Result<SpinUp> {
    let dir = TempDir::new(tag)?;
    let port = free_port()?;
    let path = dir.0.join("spin.toml");
    fs::write(&path, manifest)?;
    let mut cmd = if callgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--tool=callgrind",
            "--dump-instr=no",
            "--trace-children=yes",
        ])
        .arg(format!(
            "--callgrind-out-file={}/callgrind.out.%p",
            dir.0.display()
        ))
        .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let proc = Proc::spawn(
        cmd.arg("up")
            .arg("-f")
            .arg(&path)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            // For experiments only (e.g. `-L ''` to see what Spin's copy of
            // each log line to `.spin/logs` costs); reports use the defaults.
            .args(
                std::env::var("ACCS_BENCH_SPIN_ARGS")
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(|a| if a == "''" { "" } else { a }),
            )
            .current_dir(&dir.0)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.0.join("spin.out"))?)
            .stderr(fs::File::create(dir.0.join("spin.err"))?),
    )?;
    Ok(SpinUp {
        base: format!("http://127.0.0.1:{port}"),
        dir: dir.0.clone(),
        proc,
        _dir: dir,
    })
}

impl SpinUp {
    /// Polls `path` until it answers 200 (Spin compiles the component before
    /// it listens), then puts the processes `spin up` started on the panic
    /// hook's list.
    pub async fn wait_ready(
        &self,
        client: &reqwest::Client,
        path: &str,
        headers: &reqwest::header::HeaderMap,
    ) -> Result<()> {
        let url = format!("{}{path}", self.base);
        let r = wait_for(client, &url, headers, Duration::from_secs(120)).await;
        for pid in descendants(self.proc.pid()) {
            track(pid);
        }
        r.with_context(|| format!("spin up did not come up: {}", self.output_tail()))?;
        Ok(())
    }

    /// The process that serves: `spin trigger http`, the child of `spin up`.
    pub fn server_pid(&self) -> u32 {
        descendants(self.proc.pid())
            .first()
            .copied()
            .unwrap_or(self.proc.pid())
    }

    /// CPU time of `spin up` and every process under it so far.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.proc.pid();
        std::iter::once(pid)
            .chain(descendants(pid))
            .filter_map(cpu_time_of)
            .sum()
    }

    /// Callgrind: forget what every process of this Spin counted so far.
    pub fn callgrind_zero(&self) -> Result<()> {
        for pid in self.tree() {
            callgrind_control("-z", pid)?;
        }
        Ok(())
    }

    /// Callgrind: instructions every process of this Spin counted since
    /// [`SpinUp::callgrind_zero`] (one dump each, their `totals:` summed).
    pub fn callgrind_count(&self) -> Result<u64> {
        let mut total = 0;
        for pid in self.tree() {
            total += dump_count(&self.dir, &format!("callgrind.out.{pid}."), pid)?;
        }
        Ok(total)
    }

    fn tree(&self) -> Vec<u32> {
        let pid = self.proc.pid();
        std::iter::once(pid).chain(descendants(pid)).collect()
    }

    /// What Spin wrote of `component`'s stderr (`.spin/logs/`).
    pub fn component_log(&self, component: &str) -> PathBuf {
        self.dir
            .join(".spin/logs")
            .join(format!("{component}_stderr.txt"))
    }

    fn output_tail(&self) -> String {
        let mut text = fs::read_to_string(self.dir.join("spin.out")).unwrap_or_default();
        text.push_str(&fs::read_to_string(self.dir.join("spin.err")).unwrap_or_default());
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    }
}

impl Drop for SpinUp {
    /// `spin up` does not take its trigger process down when it is killed:
    /// the children go first, by id.
    fn drop(&mut self) {
        for pid in descendants(self.proc.pid()) {
            kill(pid);
        }
    }
}

/// `callgrind_control <flag> <pid>`.
fn callgrind_control(flag: &str, pid: u32) -> Result<()> {
    let st = Command::new("callgrind_control")
        .args([flag, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("callgrind_control {flag} {pid} failed: {st}");
    }
    Ok(())
}

/// With `ACCS_BENCH_CALLGRIND_DIR` set, a copy of each counted dump goes
/// there, for `callgrind_annotate` to say where the instructions went.
fn keep_dump(dump: &Path) {
    static N: AtomicUsize = AtomicUsize::new(0);
    if let Some(dir) = std::env::var_os("ACCS_BENCH_CALLGRIND_DIR") {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let _ = fs::create_dir_all(&dir);
        let _ = fs::copy(dump, Path::new(&dir).join(format!("callgrind.{n}")));
        // The guest's JIT symbols, when `--profile=perfmap` wrote them.
        if let Some(pid) = dump_pid(dump) {
            let map = format!("/tmp/perf-{pid}.map");
            let _ = fs::copy(&map, Path::new(&dir).join(format!("perf.{n}.map")));
        }
    }
}

/// The pid a callgrind dump names in its `pid:` line.
fn dump_pid(dump: &Path) -> Option<u32> {
    let text = fs::read_to_string(dump).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("pid:")?.trim().parse().ok())
}

/// Asks callgrind in `pid` for a dump and returns its total once written.
/// A process's dumps are `<dir>/<prefix><n>`, numbered from 1 (`prefix` is
/// `callgrind.out.`, or `callgrind.out.<pid>.` where the file name has `%p`).
fn dump_count(dir: &Path, prefix: &str, pid: u32) -> Result<u64> {
    let before = fs::read_dir(dir)?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .count();
    callgrind_control("-d", pid)?;
    let dump = dir.join(format!("{prefix}{}", before + 1));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(n) = fs::read_to_string(&dump).ok().as_deref().and_then(totals) {
            keep_dump(&dump);
            return Ok(n);
        }
        if Instant::now() > deadline {
            bail!("callgrind wrote no {}", dump.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `totals:` (or `summary:`) count of a callgrind dump, once complete.
fn totals(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Why `perf stat -e instructions` cannot count here, or `None` when it can.
/// A VM without a virtual PMU answers `<not supported>`.
pub fn perf_unsupported() -> Option<String> {
    let out = match Command::new("perf")
        .args(["stat", "-x", ",", "-e", "instructions", "true"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            return Some(format!(
                "no `perf` ({e}); Debian: apt-get install linux-perf"
            ));
        }
    };
    let text = String::from_utf8_lossy(&out.stderr);
    match parse_perf_count(&text) {
        Some(_) if out.status.success() => None,
        _ => Some(format!(
            "`perf stat -e instructions true` gives `{}`",
            text.lines()
                .find(|l| l.contains("instructions"))
                .unwrap_or("nothing")
                .trim()
        )),
    }
}

/// The count of the `instructions` line of `perf stat -x ,` output.
fn parse_perf_count(text: &str) -> Option<u64> {
    text.lines()
        .filter(|l| l.contains("instructions"))
        .find_map(|l| l.split(',').next()?.trim().parse().ok())
}

/// `perf stat -e instructions -p PID`, counting until [`PerfStat::finish`].
pub struct PerfStat {
    proc: Proc,
    out: PathBuf,
    _dir: TempDir,
}

impl PerfStat {
    pub async fn attach(pid: u32) -> Result<PerfStat> {
        let dir = TempDir::new("perf")?;
        let out = dir.0.join("perf.csv");
        let proc = Proc::spawn(
            Command::new("perf")
                .args(["stat", "-x", ",", "-e", "instructions", "-o"])
                .arg(&out)
                .args(["-p", &pid.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        // perf attaches in a few milliseconds.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(PerfStat {
            proc,
            out,
            _dir: dir,
        })
    }

    /// Stops counting (`SIGINT`, perf then writes its count) and returns it.
    pub fn finish(mut self) -> Option<u64> {
        let pid = self.proc.pid().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.proc.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        parse_perf_count(&fs::read_to_string(&self.out).ok()?)
    }
}

/// Polls `url` until it answers 200; every failure is retried after 2 ms.
pub async fn wait_for(
    client: &reqwest::Client,
    url: &str,
    headers: &reqwest::header::HeaderMap,
    timeout: Duration,
) -> Result<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = client.get(url).headers(headers.clone()).send().await {
            let status = r.status();
            let _ = r.bytes().await;
            if status == 200 {
                return Ok(Instant::now());
            }
        }
        if Instant::now() >= deadline {
            bail!("{url} gave no 200 within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What the guest's log lines say about a phase. `wasmtime serve` prefixes
/// each guest write with `stderr [<instance id>] :: `, which counts instances.
/// A guest line written in two pieces (line, then newline) can interleave
/// with another instance's, so prefixes and fields are found anywhere in a
/// line rather than at its start.
#[derive(Debug, Default, PartialEq)]
pub struct LogSummary {
    pub instances: usize,
    /// Request log lines (they carry `"route"`).
    pub requests: usize,
    /// `token_source` of each request that needed a token: memory, kv, file, ims.
    pub token_sources: BTreeMap<String, usize>,
}

impl LogSummary {
    pub fn parse(text: &str) -> LogSummary {
        const PREFIX: &str = "stderr [";
        const SOURCE: &str = "\"token_source\":\"";
        let mut ids = BTreeSet::new();
        let mut s = LogSummary::default();
        let mut rest = text;
        while let Some(at) = rest.find(PREFIX) {
            rest = &rest[at + PREFIX.len()..];
            if let Some((id, _)) = rest.split_once("] :: ")
                && !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
            {
                ids.insert(id.to_owned());
            }
        }
        s.requests = text.matches("\"route\":").count();
        let mut rest = text;
        while let Some(at) = rest.find(SOURCE) {
            rest = &rest[at + SOURCE.len()..];
            if let Some((src, _)) = rest.split_once('"') {
                *s.token_sources.entry(src.to_owned()).or_default() += 1;
            }
        }
        s.instances = ids.len();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_counts() {
        let ok = "# started on x\n\n123456789,,instructions:u,1002,100.00,,\n";
        assert_eq!(parse_perf_count(ok), Some(123_456_789));
        let no = "<not supported>,,instructions,0,100.00,,\n";
        assert_eq!(parse_perf_count(no), None);
    }

    #[test]
    fn counts_instances_requests_and_token_sources() {
        let log = "Serving HTTP on http://127.0.0.1:1/\n\
            stderr [0] :: {\"route\":\"/healthz\",\"status\":200}\n\
            stderr [0] :: {\"route\":\"/v1/products/{sku}\",\"token_source\":\"ims\"}\n\
            stderr [3] :: {\"route\":\"/v1/products/{sku}\",\"token_source\":\"memory\"}\n\
            stderr [3] :: {\"level\":\"warn\",\"message\":\"x\"}\n\
            stderr [4] :: {\"route\":\"/v1/products/{sku}\",\"token_source\":\"memory\"}\n\
            stderr [8] :: stderr [6] :: {\"route\":\"/v1/products/{sku}\",\"token_source\":\"ims\"}\n\
            {\"route\":\"/v1/products/{sku}\",\"token_source\":\"memory\"}\n";
        let s = LogSummary::parse(log);
        assert_eq!(s.instances, 5);
        assert_eq!(s.requests, 6);
        assert_eq!(s.token_sources["ims"], 2);
        assert_eq!(s.token_sources["memory"], 3);
    }
}
