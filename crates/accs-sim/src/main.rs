//! `accs-sim`: the simulator as a process, for benchmarks and end-to-end runs.

use std::io::Write as _;
use std::net::SocketAddr;

use accs_sim::{Sim, SimConfig};
use anyhow::{Context as _, bail};

const USAGE: &str = "usage: accs-sim [--listen ADDR] [--client-id ID] [--client-secret SECRET]... \
[--tenant TENANT] [--expires-in SECS|none] [--require-scope SCOPE]

Defaults: --listen 127.0.0.1:8081 --client-id sim-client \
--client-secret sim-secret-0123456789abcdef --tenant tenant-sim --expires-in 86399 \
--require-scope commerce.accs. Repeat --client-secret to accept several.";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some((cfg, listen)) = parse_args(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    let sim = Sim::start_on(cfg, listen).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "accs-sim listening on {}", sim.base_url())?;
    out.flush()?;
    drop(out);
    sim.wait().await
}

/// `None` when help was asked for. Accepts `--flag value` and `--flag=value`.
fn parse_args(
    args: impl Iterator<Item = String>,
) -> anyhow::Result<Option<(SimConfig, SocketAddr)>> {
    let mut cfg = SimConfig::default();
    let mut listen: SocketAddr = "127.0.0.1:8081".parse()?;
    let mut secrets = Vec::new();
    let mut args = args;
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        const FLAGS: [&str; 6] = [
            "--listen",
            "--client-id",
            "--client-secret",
            "--tenant",
            "--expires-in",
            "--require-scope",
        ];
        if !FLAGS.contains(&flag.as_str()) {
            bail!("unknown argument {flag}\n\n{USAGE}");
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => bail!("{flag} needs a value\n\n{USAGE}"),
        };
        match flag.as_str() {
            "--listen" => listen = value.parse().with_context(|| format!("--listen {value}"))?,
            "--client-id" => cfg.client_id = value,
            "--client-secret" => secrets.push(value),
            "--tenant" => cfg.tenant = value,
            "--expires-in" if value == "none" => cfg.expires_in = None,
            "--expires-in" => {
                cfg.expires_in = Some(
                    value
                        .parse()
                        .with_context(|| format!("--expires-in {value}"))?,
                )
            }
            "--require-scope" => cfg.require_scope = value,
            _ => unreachable!("{flag} is in FLAGS"),
        }
    }
    if !secrets.is_empty() {
        cfg.client_secrets = secrets;
    }
    Ok(Some((cfg, listen)))
}
