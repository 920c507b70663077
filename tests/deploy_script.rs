//! The `accs-edge-serve` start script as docs/DEPLOY.md prints it, run with
//! a stand-in `wasmtime`: DEPLOY.md says "a comma, a bad name and a missing
//! `$CREDENTIALS_DIRECTORY` all stop it (78, 78, 1)", and the unit relies on
//! 78 meaning "do not restart". The script is taken from the document, so
//! the test runs what a reader installs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy_md() -> String {
    std::fs::read_to_string(common::manifest_dir().join("docs/DEPLOY.md")).unwrap()
}

/// The here-document after `sudo tee /usr/local/lib/accs-edge/accs-edge-serve`.
fn script() -> String {
    let doc = deploy_md();
    let start = "sudo tee /usr/local/lib/accs-edge/accs-edge-serve >/dev/null <<'EOF'\n";
    let from = doc.find(start).expect("DEPLOY.md prints the start script") + start.len();
    let len = doc[from..].find("\nEOF\n").expect("the here-document ends");
    format!("{}\n", &doc[from..from + len])
}

/// The settings file DEPLOY.md shows (the ```ini block after "The settings file").
fn settings_file() -> String {
    let doc = deploy_md();
    let from = doc
        .find("The settings file, `/etc/accs-edge/accs-edge.conf`")
        .unwrap();
    let block = &doc[from..];
    let open = block.find("```ini\n").unwrap() + "```ini\n".len();
    let len = block[open..].find("```").unwrap();
    block[open..open + len].to_owned()
}

struct Case {
    dir: common::serve::TempDir,
}

impl Case {
    fn new(tag: &str) -> Case {
        let dir = common::serve::TempDir::new(tag);
        let p = |n: &str| dir.0.join(n);
        std::fs::write(p("accs-edge-serve"), script()).unwrap();
        // The stand-in: writes its arguments, one a line, and exits 0.
        std::fs::write(
            p("wasmtime"),
            format!(
                "#!/bin/bash\nprintf '%s\\n' \"$@\" > '{}'\n",
                p("args").display()
            ),
        )
        .unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(p("wasmtime"))
            .status()
            .unwrap();
        std::fs::create_dir_all(p("creds")).unwrap();
        std::fs::create_dir_all(p("state")).unwrap();
        Case { dir }
    }

    fn path(&self, n: &str) -> PathBuf {
        self.dir.0.join(n)
    }

    /// Runs the script with `conf` as the credential (none: not set).
    fn run(&self, conf: Option<&str>) -> (i32, String) {
        let mut c = Command::new("bash");
        c.arg(self.path("accs-edge-serve"))
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.dir.0.display()))
            .env("WASMTIME", self.path("wasmtime"))
            .env("STATE_DIRECTORY", self.path("state"));
        if let Some(conf) = conf {
            std::fs::write(self.path("creds").join("accs-edge.conf"), conf).unwrap();
            c.env("CREDENTIALS_DIRECTORY", self.path("creds"));
        }
        let out = c.output().unwrap();
        (
            out.status.code().expect("exited"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn args(&self) -> Vec<String> {
        read_lines(&self.path("args"))
    }
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_start_script_exits_78_78_1_and_starts_wasmtime_on_a_good_file() {
    // DEPLOY.md's own settings file (placeholders are values like any).
    let case = Case::new("deploy-script-good");
    let (code, err) = case.run(Some(&settings_file()));
    assert_eq!(code, 0, "the documented settings file: {err}");
    let args = case.args();
    assert_eq!(args[0], "serve", "{args:?}");
    for want in [
        "-Sconfig-var=ims_client_id=REPLACE_WITH_IMS_CLIENT_ID",
        "-Sconfig-var=api_keys=erp:REPLACE_ME;pim:REPLACE_ME",
        "-Sconfig-var=token_cache_dir=/cache",
    ] {
        assert!(args.iter().any(|a| a == want), "{want} not in {args:?}");
    }
    assert!(
        !args.iter().any(|a| a.contains("webhook_secrets")),
        "a comment is no variable: {args:?}"
    );

    for (what, conf, want) in [
        ("a comma", "api_keys=erp:k1,pim:k2\n", 78),
        ("a bad name", "Bad-Name=x\n", 78),
    ] {
        let case = Case::new("deploy-script-bad");
        let (code, err) = case.run(Some(conf));
        assert_eq!(code, want, "{what}: {err}");
        assert!(case.args().is_empty(), "{what}: wasmtime was started");
        assert!(!err.contains("k1") && !err.contains("k2"), "{what}: {err}");
    }
    let case = Case::new("deploy-script-nocreds");
    let (code, err) = case.run(None);
    assert_eq!(code, 1, "no $CREDENTIALS_DIRECTORY: {err}");
    assert!(case.args().is_empty());
}
