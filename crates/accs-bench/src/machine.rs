//! The machine and toolchain a report was made on: figures mean little
//! without them.

use std::process::Command;

pub struct Machine {
    pub cpu: String,
    pub nproc: usize,
    pub mem_total: String,
    pub loadavg: String,
    pub rustc: String,
    pub wasmtime: String,
    pub date: String,
    pub commit: String,
}

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// The 1, 5 and 15 minute load averages: above nproc, other work competed.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

impl Machine {
    pub fn probe() -> Machine {
        let mem_total = proc_field("/proc/meminfo", "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or("unknown".into(), |kib| {
                format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0)
            });
        let dirty = !output("git", &["status", "--porcelain", "--untracked-files=no"])
            .trim()
            .is_empty();
        Machine {
            cpu: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            mem_total,
            loadavg: loadavg(),
            rustc: output("rustc", &["--version"]),
            wasmtime: output("wasmtime", &["--version"]),
            date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            commit: format!(
                "{}{}",
                output("git", &["rev-parse", "--short", "HEAD"]),
                if dirty {
                    " (with uncommitted changes)"
                } else {
                    ""
                }
            ),
        }
    }
}
