//! `accs-bench`: what accs-edge costs and how close it gets to the limits.
//!
//! `cargo run -p accs-bench --release` builds both `.wasm` flavours and
//! `accs-sim`, starts the simulator and the component under the real
//! `wasmtime serve`, drives load from this process over loopback, and writes
//! `docs/BENCHMARKS.md`. With `SPIN` naming a Spin CLI, it also runs the
//! WASI 0.2 (`spin`) build under that Spin beside a pass-through floor
//! component (`crates/floor-p2`). Every loop is bounded in requests and time,
//! and every child process is killed on exit, so it is safe on a shared
//! machine.

mod artifacts;
mod load;
mod machine;
mod procs;
mod profile;
mod report;
mod scenarios;
mod sim;
mod stats;

use anyhow::{Context as _, Result, bail};
use procs::{ServeOpts, TempDir};
use scenarios::Bench;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: cargo run -p accs-bench --release -- [--runs N] [--window-ms MS] [--out PATH]

  --runs N        runs per figure, reported as the median (default 5)
  --window-ms MS  length of one throughput measurement (default 2000)
  --out PATH      where the report goes (default docs/BENCHMARKS.md)
  --spin-only     figure 6 alone (needs SPIN), printed, no report written
  --floor-only    figure 7 alone, printed, no report written
  --instructions-only
                  figure 8 alone (callgrind), printed, no report written
  --spin-instructions-only
                  figure 8's Spin 3.6.3 rows alone (needs SPIN), printed
  --profile       the native profile (callgrind_annotate), printed, no report written
  --sync-only     figure 4 alone, printed, no report written
  --products-only figure 9 alone, printed, no report written

  SPIN=<spin CLI> adds figure 6: the WASI 0.2 build against a floor component on that Spin
  SPIN_P3=<spin 4.1+ CLI> adds Spin to figure 7 (the WASI 0.3 builds against their floor)
  ACCS_BENCH_OPT_LEVEL=<s|z|0-3> builds accs-edge's .wasm with that opt-level (size vs speed)
  ACCS_BENCH_CALLGRIND_DIR=<dir> keeps figure 8's callgrind dumps there (and names the guest's functions)
  ACCS_BENCH_SPIN_ARGS=<args> adds arguments to every `spin up` (experiments, e.g. --quiet)";

struct Opts {
    runs: usize,
    window: Duration,
    out: PathBuf,
    spin_only: bool,
    floor_only: bool,
    instructions_only: bool,
    spin_instructions_only: bool,
    profile: bool,
    sync_only: bool,
    products_only: bool,
}

fn parse_args(root: &Path) -> Result<Option<Opts>> {
    let mut opts = Opts {
        runs: 5,
        window: Duration::from_millis(2000),
        out: root.join("docs/BENCHMARKS.md"),
        spin_only: false,
        floor_only: false,
        instructions_only: false,
        spin_instructions_only: false,
        profile: false,
        sync_only: false,
        products_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--runs" => opts.runs = value()?.parse::<usize>()?.clamp(1, 20),
            "--window-ms" => {
                opts.window = Duration::from_millis(value()?.parse::<u64>()?.clamp(200, 10_000))
            }
            "--out" => opts.out = PathBuf::from(value()?),
            "--spin-only" => opts.spin_only = true,
            "--floor-only" => opts.floor_only = true,
            "--instructions-only" => opts.instructions_only = true,
            "--spin-instructions-only" => opts.spin_instructions_only = true,
            "--profile" => opts.profile = true,
            "--sync-only" => opts.sync_only = true,
            "--products-only" => opts.products_only = true,
            other => bail!("unknown argument {other}\n\n{USAGE}"),
        }
    }
    Ok(Some(opts))
}

#[tokio::main]
async fn main() -> Result<()> {
    procs::install_panic_hook();
    // `cargo run` sets it at run time; the compile-time value is stale when
    // one build cache serves checkouts at different paths.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let root = dir.join("../..");
    let root = root.canonicalize().context("finding the workspace root")?;
    std::env::set_current_dir(&root)?;
    let Some(opts) = parse_args(&root)? else {
        println!("{USAGE}");
        return Ok(());
    };
    tokio::select! {
        r = bench(&root, &opts) => r,
        _ = tokio::signal::ctrl_c() => bail!("interrupted; servers stopped"),
    }
}

async fn bench(root: &Path, opts: &Opts) -> Result<()> {
    let started = Instant::now();
    let machine = machine::Machine::probe();
    if opts.profile {
        let p = profile::run(root, &artifacts::target_dir(root)?)?;
        println!("{}", report::render_profile(&p));
        return Ok(());
    }
    let built = artifacts::build(root)?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);

    let client = load::client();
    let sim = procs::start_sim(&built.sim, &client).await?;
    let admin = sim::Admin {
        http: client.clone(),
        base: sim.base.clone(),
    };
    let b = Bench {
        client,
        admin,
        sim,
        wasm: built.wasm_wasmtime.clone(),
        runs: opts.runs,
        window: opts.window,
    };

    if opts.floor_only {
        let floor = floor_figure(&b, root, &built, &mut Vec::new()).await?;
        println!("{}", report::render_floor(&floor));
        return Ok(());
    }
    if opts.instructions_only || opts.spin_instructions_only {
        let r = instructions_figure(&b, root, &built, opts.spin_instructions_only).await?;
        println!("{}", report::render_instructions(&r));
        return Ok(());
    }
    if opts.spin_only {
        let spin = spin_figure(&b, root, &built, &mut Vec::new()).await?;
        println!("{}", report::render_spin(&spin));
        return Ok(());
    }

    // A first process fills wasmtime's compile cache, so that the memory
    // figures below are not those of Cranelift compiling the component.
    let primer = procs::spawn_serve(&b.wasm, &b.sim, &ServeOpts::default())?;
    primer.wait_ready(&b.client).await?;
    drop(primer);

    // One long-lived `wasmtime serve` for the warm reads and the syncs,
    // configured as docs/OPERATIONS.md recommends (token file on).
    let cache = TempDir::new("main-cache")?;
    let main_opts = ServeOpts {
        token_cache: Some(cache.0.clone()),
        vars: [scenarios::sync::vars(), scenarios::products::vars()].concat(),
        ..Default::default()
    };
    let serve = procs::spawn_serve(&b.wasm, &b.sim, &main_opts)?;
    serve.wait_ready(&b.client).await?;
    let t = scenarios::component_read(&serve.base);
    procs::wait_for(&b.client, &t.url, &t.headers, Duration::from_secs(30)).await?;
    if opts.sync_only {
        let sync = scenarios::sync::run(&b, &serve).await?;
        println!("{}", report::render_sync(&sync));
        return Ok(());
    }
    if opts.products_only {
        let products = scenarios::products::run(&b, &serve).await?;
        println!("{}", report::render_products(&products));
        return Ok(());
    }
    let idle_rss_kib = serve.proc.status_kib("VmRSS");

    eprintln!("accs-bench: 1. warm reads");
    let warm = scenarios::warm::run(&b, &serve).await?;
    let hwm_after_warm_kib = serve.proc.status_kib("VmHWM");
    eprintln!("accs-bench: 4. sync");
    let sync = scenarios::sync::run(&b, &serve).await?;
    let hwm_after_sync_kib = serve.proc.status_kib("VmHWM");
    eprintln!("accs-bench: 9. product syncs");
    let products = scenarios::products::run(&b, &serve).await?;
    let serve_args = serve.args.clone();
    drop(serve);

    eprintln!("accs-bench: 2. cold start");
    let cold = scenarios::cold::run(&b).await?;
    eprintln!("accs-bench: 3. token economy");
    let tokens = scenarios::tokens::run(&b).await?;

    let mut build_commands = built.commands.clone();
    let spin = spin_figure(&b, root, &built, &mut build_commands).await?;
    eprintln!("accs-bench: 7. host floor (WASI 0.3)");
    let floor = floor_figure(&b, root, &built, &mut build_commands).await?;
    eprintln!("accs-bench: 8. instructions per request (callgrind)");
    let instructions = instructions_figure(&b, root, &built, false).await?;
    eprintln!("accs-bench: the native profile (callgrind_annotate)");
    let profile = profile::run(root, &built.target).map_err(|e| format!("{e:#}"));

    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut command = if args.is_empty() {
        "cargo run -p accs-bench --release".to_owned()
    } else {
        format!("cargo run -p accs-bench --release -- {}", args.join(" "))
    };
    if let Ok(level) = std::env::var("ACCS_BENCH_OPT_LEVEL")
        && !level.is_empty()
    {
        command = format!("ACCS_BENCH_OPT_LEVEL={level} {command}");
    }
    if let Ok(bin) = std::env::var("SPIN_P3")
        && !bin.is_empty()
    {
        command = format!("SPIN_P3={} {command}", home_relative(&bin));
    }
    if let Ok(bin) = std::env::var("SPIN")
        && !bin.is_empty()
    {
        command = format!("SPIN={} {command}", home_relative(&bin));
    }
    let report = report::Report {
        machine,
        command,
        build_commands,
        serve_args: redact(serve_args),
        runs: opts.runs,
        window: opts.window,
        size_wasmtime: size(&built.wasm_wasmtime),
        size_spin: size(&built.wasm_spin),
        warm,
        cold,
        tokens,
        sync,
        products,
        spin,
        floor,
        instructions,
        profile,
        memory: report::Memory {
            idle_rss_kib,
            hwm_after_warm_kib,
            hwm_after_sync_kib,
        },
        elapsed: started.elapsed(),
        loadavg_end: machine::loadavg(),
    };
    let text = report.render();
    std::fs::write(&opts.out, &text).with_context(|| format!("writing {}", opts.out.display()))?;
    println!("{text}");
    eprintln!(
        "accs-bench: wrote {} in {:.0} s",
        opts.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Figure 6 when `SPIN` names a Spin CLI (its build command goes into
/// `build_commands`), else one line saying it was skipped.
async fn spin_figure(
    b: &Bench,
    root: &Path,
    built: &artifacts::Artifacts,
    build_commands: &mut Vec<String>,
) -> Result<scenarios::spin_p2::SpinResult> {
    use scenarios::spin_p2::{self, SpinResult};
    match spin_p2::find_spin() {
        Ok((bin, _)) => {
            eprintln!("accs-bench: 6. spin (WASI 0.2) against the floor");
            let (floor, cmd) = artifacts::build_floor(root, built)?;
            build_commands.push(cmd);
            let r = spin_p2::run(b, root, &bin, &floor, &built.wasm_spin).await?;
            Ok(SpinResult::Done(Box::new(r)))
        }
        Err(why) => {
            eprintln!("spin (WASI 0.2): skipped, set SPIN");
            Ok(SpinResult::Skipped(why))
        }
    }
}

/// Figure 7: the WASI 0.3 builds against `crates/floor-p3` on `wasmtime
/// serve`, and on the Spin in `SPIN_P3` when it is set (the floor's and the
/// `spin-p3` build's commands go into `build_commands`).
async fn floor_figure(
    b: &Bench,
    root: &Path,
    built: &artifacts::Artifacts,
    build_commands: &mut Vec<String>,
) -> Result<scenarios::floor_p3::FloorReport> {
    use scenarios::floor_p3;
    let (floor, cmd) = artifacts::build_floor_p3(root, built)?;
    build_commands.push(cmd);
    let mut skipped = Vec::new();
    let spin = match floor_p3::find_spin_p3() {
        Ok((bin, version)) => {
            let (wasm, cmd) = artifacts::build_spin_p3(root, built)?;
            build_commands.push(cmd);
            Some((bin, version, wasm))
        }
        Err(why) => {
            eprintln!("floor on Spin 4.1: skipped, set SPIN_P3");
            skipped.push(format!("Spin 4.1+: {why}"));
            None
        }
    };
    let spin = spin
        .as_ref()
        .map(|(bin, v, wasm)| (bin.as_str(), v.as_str(), wasm.as_path()));
    floor_p3::run(b, root, &floor, spin, skipped).await
}

/// Figure 8: instructions per request under callgrind on `wasmtime serve`
/// (the WASI 0.3 build) and, when `SPIN` is set, on that Spin (the WASI 0.2
/// build); each entry is its host and the figure or why it was not measured.
async fn instructions_figure(
    b: &Bench,
    root: &Path,
    built: &artifacts::Artifacts,
    spin_p2_only: bool,
) -> Result<
    Vec<(
        String,
        Result<scenarios::instructions::Instructions, String>,
    )>,
> {
    use scenarios::instructions;
    let mut out = Vec::new();
    if let Some(why) = procs::callgrind_unavailable() {
        out.push(("`wasmtime serve`".to_owned(), Err(why)));
        return Ok(out);
    }
    let (floor_p3, _) = artifacts::build_floor_p3(root, built)?;
    if !spin_p2_only {
        let r = instructions::run(b, &floor_p3).await?;
        out.push((
            "`wasmtime serve` 48.0.8, the `wasmtime` build (WASI 0.3), floor `crates/floor-p3`"
                .to_owned(),
            Ok(r),
        ));
    }
    match scenarios::spin_p2::find_spin() {
        Ok((bin, version)) => {
            let (floor_p2, _) = artifacts::build_floor(root, built)?;
            let r = instructions::on_spin(
                b,
                root,
                &bin,
                ("accs-floor-p2", &floor_p2),
                &built.wasm_spin,
                instructions::SPIN_READS,
                true,
            )
            .await?;
            out.push((
                format!("{version}, the `spin` build (WASI 0.2, one instance per request), floor `crates/floor-p2`"),
                Ok(r),
            ));
        }
        Err(why) => out.push(("Spin (WASI 0.2)".to_owned(), Err(why))),
    }
    if spin_p2_only {
        return Ok(out);
    }
    match scenarios::floor_p3::find_spin_p3() {
        Ok((bin, version)) => {
            let (wasm, _) = artifacts::build_spin_p3(root, built)?;
            let r = instructions::on_spin(
                b,
                root,
                &bin,
                ("accs-floor-p3", &floor_p3),
                &wasm,
                instructions::READS,
                false,
            )
            .await?;
            out.push((
                format!("{version}, the `spin-p3` build (WASI 0.3), floor `crates/floor-p3`"),
                Ok(r),
            ));
        }
        Err(why) => out.push(("Spin 4.1+ (WASI 0.3)".to_owned(), Err(why))),
    }
    Ok(out)
}

/// `$HOME/...` for a path under the home directory, as a reader would type it.
fn home_relative(path: &str) -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && path.starts_with(&format!("{home}/")) => {
            format!("$HOME{}", &path[home.len()..])
        }
        _ => path.to_owned(),
    }
}

/// Ports and temp paths change every run; the report shows placeholders.
fn redact(args: Vec<String>) -> Vec<String> {
    args.into_iter()
        .map(|a| {
            if a.ends_with("::/cache") {
                "--dir=<tmp>::/cache".to_owned()
            } else if let Some((k, v)) = a.split_once("=http://127.0.0.1:") {
                let path = v.split_once('/').map_or("", |(_, p)| p);
                format!("{k}=http://127.0.0.1:<sim>/{path}")
            } else {
                a
            }
        })
        .collect()
}
