//! The forwarding variables (docs/FORWARDING.md): where Commerce's events
//! go (`forward_targets`), which events go where (`forward_rules`), how
//! often a target may fail an event before it is dead-lettered
//! (`forward_max_attempts`) and how long one attempt may take
//! (`forward_timeout_ms`).
//!
//! Grammar, chosen so that a URL (which may hold `,` and `;`) is never cut
//! and so that `wasmtime serve -Sconfig-var`, which splits on commas, can
//! carry it:
//!
//! - `forward_targets`: whitespace-separated words. A word `name=URL` starts
//!   a target; each following word `whsec_…` is one of its secrets (one or
//!   more; several sign with every one, for rotation). A URL never holds
//!   whitespace, and a secret word always starts `whsec_`, so no word is
//!   ambiguous: `erp=https://erp.example/in?a=1,2 whsec_AAA whsec_BBB
//!   wms=https://wms.example/hook whsec_CCC`.
//! - `forward_rules`: entries separated by `,`, `;` or whitespace, each
//!   `type=target+target`, where `type` is a CloudEvent type or a prefix
//!   ending in `*` (`com.adobe.commerce.observer.catalog_*`; `*` alone is
//!   every event).
//!
//! Errors name the variable and the entry's position (and a target's name,
//! which is not secret), never a URL or a secret.

use super::error::{ConfigError, err};
use super::keys::Secret;
use super::parse::number;
use super::urls::upstream_url;
use super::variables::{FORWARD_MAX_ATTEMPTS, FORWARD_TIMEOUT_MS};
use url::Url;

/// Targets one deployment forwards to, at most: each costs a send per event
/// inside one 10 s I/O Events delivery, and a state in the event's record.
pub const MAX_TARGETS: usize = 16;
/// Secrets per target: the current one and a few being rotated in or out.
pub const MAX_SECRETS: usize = 4;
/// Rules, at most.
pub const MAX_RULES: usize = 64;
/// A target's name: what logs, dead letters and reports show.
pub const MAX_NAME: usize = 32;
/// The shortest secret once base64-decoded, as for `webhook_secrets`.
const MIN_KEY_BYTES: usize = 24;

/// One back-office system events are forwarded to.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    /// Only ever this URL: never one from an event.
    pub url: Url,
    /// `whsec_…`, in the order given; every one signs each request.
    pub secrets: Vec<Secret>,
}

/// Event types (exact, or a prefix) to targets (indexes into `targets`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The type, or the prefix without its `*`.
    pub pattern: String,
    pub prefix: bool,
    pub targets: Vec<usize>,
}

impl Rule {
    pub fn matches(&self, event_type: &str) -> bool {
        if self.prefix {
            event_type.starts_with(&self.pattern)
        } else {
            event_type == self.pattern
        }
    }
}

#[derive(Clone, Debug)]
pub struct ForwardConfig {
    pub targets: Vec<Target>,
    pub rules: Vec<Rule>,
    /// Attempts per (event, target) before the pair is dead-lettered.
    pub max_attempts: u32,
    /// One attempt's cap; never beyond what is left of the route's budget.
    pub timeout_ms: u64,
}

impl ForwardConfig {
    /// Whether any event can be forwarded: `/v1/events` is configured by
    /// `io_events_actions` or by this.
    pub fn is_configured(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The targets `event_type` goes to: every rule it matches, each target
    /// once, in `forward_targets` order.
    pub fn targets_for(&self, event_type: &str) -> Vec<&Target> {
        let mut hit = [false; MAX_TARGETS];
        for rule in self.rules.iter().filter(|r| r.matches(event_type)) {
            for &t in &rule.targets {
                hit[t] = true;
            }
        }
        self.targets
            .iter()
            .enumerate()
            .filter(|(i, _)| hit[*i])
            .map(|(_, t)| t)
            .collect()
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// From `get` (trimmed, `None` when unset or blank).
pub fn from_lookup(
    get: impl Fn(&'static str) -> Option<String>,
    allow_http: bool,
) -> Result<ForwardConfig, ConfigError> {
    let targets = targets(get("forward_targets").as_deref().unwrap_or(""), allow_http)?;
    let rules = rules(get("forward_rules").as_deref().unwrap_or(""), &targets)?;
    Ok(ForwardConfig {
        targets,
        rules,
        max_attempts: number(get(FORWARD_MAX_ATTEMPTS.name), &FORWARD_MAX_ATTEMPTS)? as u32,
        timeout_ms: number(get(FORWARD_TIMEOUT_MS.name), &FORWARD_TIMEOUT_MS)?,
    })
}

/// A CloudEvent type as Commerce and other publishers write them
/// (`com.adobe.commerce.observer.sales_order_save_commit_after`): 1 to 128
/// of letters, digits and `._:/-`; what a log line may show of one.
pub fn is_event_type(t: &str) -> bool {
    super::io_events::is_event_type(t)
}

fn is_name(s: &str) -> bool {
    (1..=MAX_NAME).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn targets(raw: &str, allow_http: bool) -> Result<Vec<Target>, ConfigError> {
    const NAME: &str = "forward_targets";
    let mut out: Vec<Target> = Vec::new();
    for word in raw.split_ascii_whitespace() {
        let n = out.len();
        if word.starts_with("whsec_") {
            let Some(target) = out.last_mut() else {
                return Err(err(
                    NAME,
                    "must start with `name=https://…`: a `whsec_` secret comes after its target",
                ));
            };
            if target.secrets.len() == MAX_SECRETS {
                return Err(err(
                    NAME,
                    format!(
                        "entry {n} (`{}`) has more than {MAX_SECRETS} secrets",
                        target.name
                    ),
                ));
            }
            secret(word).map_err(|why| {
                err(
                    NAME,
                    format!(
                        "entry {n} (`{}`), secret {}: {why}",
                        target.name,
                        target.secrets.len() + 1
                    ),
                )
            })?;
            target.secrets.push(Secret(word.to_owned()));
            continue;
        }
        let position = n + 1;
        if let Some(last) = out.last()
            && last.secrets.is_empty()
        {
            return Err(err(
                NAME,
                format!(
                    "entry {n} (`{}`) has no `whsec_` secret after its URL",
                    last.name
                ),
            ));
        }
        let Some((name, url)) = word.split_once('=') else {
            return Err(err(
                NAME,
                format!("entry {position} must be `name=https://…` followed by `whsec_` secrets"),
            ));
        };
        if !is_name(name) {
            return Err(err(
                NAME,
                format!(
                    "entry {position}: a target name must be 1 to {MAX_NAME} letters, digits, `-` or `_`"
                ),
            ));
        }
        if out.iter().any(|t| t.name == name) {
            return Err(err(
                NAME,
                format!("entry {position} names the target `{name}` twice"),
            ));
        }
        if out.len() == MAX_TARGETS {
            return Err(err(NAME, format!("holds more than {MAX_TARGETS} targets")));
        }
        // The URL's own errors, under this entry's position (never its text).
        let url = upstream_url(NAME, url, allow_http).map_err(|e| {
            err(
                NAME,
                format!("entry {position} (`{name}`): the URL {}", e.reason),
            )
        })?;
        out.push(Target {
            name: name.to_owned(),
            url,
            secrets: Vec::new(),
        });
    }
    if let Some(last) = out.last()
        && last.secrets.is_empty()
    {
        return Err(err(
            NAME,
            format!(
                "entry {} (`{}`) has no `whsec_` secret after its URL",
                out.len(),
                last.name
            ),
        ));
    }
    Ok(out)
}

/// A `whsec_` secret as `webhook_secrets` takes it: base64 of at least 24
/// bytes.
fn secret(word: &str) -> Result<(), String> {
    use base64::Engine;
    let b64 = word.strip_prefix("whsec_").unwrap_or(word);
    match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(key) if key.len() >= MIN_KEY_BYTES => Ok(()),
        Ok(key) if !key.is_empty() => Err(format!(
            "is shorter than {MIN_KEY_BYTES} bytes once base64-decoded"
        )),
        _ => Err("must be `whsec_` followed by base64".into()),
    }
}

fn rules(raw: &str, targets: &[Target]) -> Result<Vec<Rule>, ConfigError> {
    const NAME: &str = "forward_rules";
    let mut out: Vec<Rule> = Vec::new();
    let entries = raw
        .split(|c: char| c == ',' || c == ';' || c.is_ascii_whitespace())
        .filter(|e| !e.is_empty());
    for (i, entry) in entries.enumerate() {
        let position = i + 1;
        if out.len() == MAX_RULES {
            return Err(err(NAME, format!("holds more than {MAX_RULES} rules")));
        }
        let Some((pattern, names)) = entry.split_once('=') else {
            return Err(err(
                NAME,
                format!(
                    "entry {position} must be `event.type=target` (or `prefix*=target+target`)"
                ),
            ));
        };
        let (pattern, prefix) = match pattern.strip_suffix('*') {
            Some(p) => (p, true),
            None => (pattern, false),
        };
        let type_ok = (prefix && pattern.is_empty()) || is_event_type(pattern);
        if !type_ok {
            return Err(err(
                NAME,
                format!(
                    "entry {position}: an event type must be 1 to 128 of letters, digits and `._:/-_`, or such a prefix ending in `*`"
                ),
            ));
        }
        if out
            .iter()
            .any(|r| r.pattern == pattern && r.prefix == prefix)
        {
            return Err(err(
                NAME,
                format!("entry {position} repeats an earlier entry's event type"),
            ));
        }
        let mut indexes = Vec::new();
        for name in names.split('+') {
            let Some(t) = targets.iter().position(|t| t.name == name) else {
                let shown = if is_name(name) { name } else { "(not a name)" };
                return Err(err(
                    NAME,
                    format!(
                        "entry {position} names the target `{shown}`, which `forward_targets` does not define"
                    ),
                ));
            };
            if !indexes.contains(&t) {
                indexes.push(t);
            }
        }
        out.push(Rule {
            pattern: pattern.to_owned(),
            prefix,
            targets: indexes,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const S2: &str = "whsec_b3RoZXIta2V5LTAxMjM0NTY3ODlhYmNkZWY=";

    fn parse(vars: &[(&str, &str)], allow_http: bool) -> Result<ForwardConfig, ConfigError> {
        from_lookup(
            |n| {
                vars.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            },
            allow_http,
        )
    }

    #[test]
    fn targets_rules_and_defaults() {
        let targets = format!(
            "erp=https://erp.example/in?a=1,2;b=3 {S1} {S2}\n  wms=https://wms.example/hook {S2}"
        );
        let c = parse(
            &[
                ("forward_targets", &targets),
                (
                    "forward_rules",
                    "com.adobe.commerce.observer.sales_order_save_commit_after=erp+wms, com.adobe.commerce.observer.catalog_*=wms;*=wms",
                ),
            ],
            false,
        )
        .unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(
            c.targets[0].url.as_str(),
            "https://erp.example/in?a=1,2;b=3"
        );
        assert_eq!(c.targets[0].secrets.len(), 2);
        assert_eq!(c.targets[1].secrets.len(), 1);
        let names =
            |t: &str| -> Vec<String> { c.targets_for(t).iter().map(|t| t.name.clone()).collect() };
        assert_eq!(
            names("com.adobe.commerce.observer.sales_order_save_commit_after"),
            ["erp", "wms"]
        );
        assert_eq!(
            names("com.adobe.commerce.observer.catalog_product_save_commit_after"),
            ["wms"]
        );
        assert_eq!(names("anything"), ["wms"]);
        assert_eq!((c.max_attempts, c.timeout_ms), (5, 5_000));
        assert!(c.is_configured());
        let none = parse(&[], false).unwrap();
        assert!(!none.is_configured() && none.targets.is_empty());
        assert!(none.targets_for("x").is_empty());
    }

    #[test]
    fn numbers_on_both_sides_of_their_bounds() {
        for (var, ok, bad) in [
            ("forward_max_attempts", ["1", "50"], ["0", "51"]),
            ("forward_timeout_ms", ["500", "9000"], ["499", "9001"]),
        ] {
            for v in ok {
                assert!(parse(&[(var, v)], false).is_ok(), "{var}={v}");
            }
            for v in bad {
                let e = parse(&[(var, v)], false).unwrap_err();
                assert_eq!(e.variable, var);
            }
        }
    }

    #[test]
    fn the_target_count_and_secret_count_are_bounded() {
        let many = |n: usize| {
            (0..n)
                .map(|i| format!("t{i}=https://t{i}.example/ {S1}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(parse(&[("forward_targets", &many(MAX_TARGETS))], false).is_ok());
        let e = parse(&[("forward_targets", &many(MAX_TARGETS + 1))], false).unwrap_err();
        assert!(e.reason.contains("more than 16 targets"), "{e}");
        let four = format!("t=https://t.example/ {S1} {S1} {S1} {S1}");
        assert!(parse(&[("forward_targets", &four)], false).is_ok());
        let five = format!("{four} {S1}");
        let e = parse(&[("forward_targets", &five)], false).unwrap_err();
        assert!(e.reason.contains("more than 4 secrets"), "{e}");
    }

    #[test]
    fn bad_values_name_the_variable_and_position_never_a_secret_or_url() {
        let short = "whsec_c2hvcnQ=";
        for (targets, rules, var, says) in [
            (
                "erp=https://erp.example/ whsec_!!",
                "",
                "forward_targets",
                "entry 1 (`erp`), secret 1",
            ),
            (
                &format!("erp=https://erp.example/ {short}") as &str,
                "",
                "forward_targets",
                "shorter than 24",
            ),
            (
                "erp=https://erp.example/",
                "",
                "forward_targets",
                "entry 1 (`erp`) has no `whsec_`",
            ),
            (
                &format!("{S1} erp=https://erp.example/"),
                "",
                "forward_targets",
                "must start with",
            ),
            (
                &format!("erp=http://erp.example/ {S1}"),
                "",
                "forward_targets",
                "entry 1 (`erp`): the URL must use https://",
            ),
            (
                &format!("a=https://a.example/ {S1} erp=ftp://erp.example/ {S1}"),
                "",
                "forward_targets",
                "entry 2 (`erp`)",
            ),
            (
                &format!("a=https://a.example/ {S1} erp=https://u:pw@erp.example/ {S1}"),
                "",
                "forward_targets",
                "credentials",
            ),
            (
                &format!("a=https://a.example/ {S1} a=https://b.example/ {S1}"),
                "",
                "forward_targets",
                "entry 2 names the target `a` twice",
            ),
            (
                &format!("b@d=https://a.example/ {S1}"),
                "",
                "forward_targets",
                "entry 1: a target name",
            ),
            (
                "https://a.example/",
                "",
                "forward_targets",
                "entry 1 must be",
            ),
            (
                &format!("erp=https://erp.example/ {S1}"),
                "x.y=crm",
                "forward_rules",
                "entry 1 names the target `crm`",
            ),
            (
                &format!("erp=https://erp.example/ {S1}"),
                "x.y=erp; x z=erp",
                "forward_rules",
                "entry 2 must be",
            ),
            (
                &format!("erp=https://erp.example/ {S1}"),
                "a.b=erp,a.b=erp",
                "forward_rules",
                "entry 2 repeats",
            ),
            (
                &format!("erp=https://erp.example/ {S1}"),
                "a b*c=erp",
                "forward_rules",
                "entry 1 must be",
            ),
            (
                &format!("erp=https://erp.example/ {S1}"),
                "a*b=erp",
                "forward_rules",
                "entry 1: an event type",
            ),
            ("", "a=erp", "forward_rules", "does not define"),
        ] {
            let e = parse(
                &[("forward_targets", targets), ("forward_rules", rules)],
                false,
            )
            .unwrap_err();
            assert_eq!(e.variable, var, "{targets} / {rules}: {e}");
            assert!(e.reason.contains(says), "{targets} / {rules}: {e}");
            let text = e.to_string();
            for leak in ["MfKQ9r8G", "c2hvcnQ", "!!", "example", "pw@"] {
                assert!(!text.contains(leak), "{text}");
            }
        }
        // `allow_http` opens http:// for development.
        let dev = format!("erp=http://127.0.0.1:9/in {S1}");
        assert!(parse(&[("forward_targets", &dev)], true).is_ok());
    }
}
