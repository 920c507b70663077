//! The variables read into [`Settings`] through `Settings::from_lookup`:
//! defaults, bounds, and errors that name the variable, never its value.

use super::*;
use crate::scopes::Scopes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn base() -> HashMap<&'static str, String> {
    HashMap::from([
        ("ims_client_id", "client-1".to_owned()),
        ("ims_client_secret", "p8e-secret-value".to_owned()),
        (
            "accs_base_url",
            "https://na1-sandbox.api.commerce.adobe.com/TENANT123/".to_owned(),
        ),
        ("api_keys", format!("erp:{KEY}")),
    ])
}

fn parse(vars: &HashMap<&'static str, String>) -> Result<Settings, ConfigError> {
    Settings::from_lookup(|n| vars.get(n).cloned())
}

#[test]
fn host_names_are_ascii_and_punycode_is_accepted() {
    let mut vars = base();
    vars.insert("accs_base_url", "https://xn--bcher-kva.example/T1".into());
    let s = parse(&vars).unwrap();
    assert_eq!(s.accs_base_url.host_str(), Some("xn--bcher-kva.example"));
    vars.insert("accs_base_url", "https://bücher.example/T1".into());
    let e = parse(&vars).unwrap_err().to_string();
    assert!(e.contains("accs_base_url") && e.contains("xn--"), "{e}");
    vars.insert(
        "accs_base_url",
        "https://na1.api.commerce.adobe.com/T1".into(),
    );
    vars.insert("ims_token_url", "https://ïms.example/ims/token/v3".into());
    let e = parse(&vars).unwrap_err().to_string();
    assert!(e.contains("ims_token_url") && e.contains("xn--"), "{e}");
}

#[test]
fn minimal_settings_get_the_documented_defaults() {
    let s = parse(&base()).unwrap();
    assert_eq!(s.ims_token_url.as_str(), DEFAULT_TOKEN_URL);
    assert_eq!(s.accs_store_code, "default");
    assert_eq!(
        s.accs_base_url.as_str(),
        "https://na1-sandbox.api.commerce.adobe.com/TENANT123"
    );
    assert!(s.ims_scopes.contains(&"commerce.accs".to_owned()));
    assert!(s.ims_scopes.windows(2).all(|w| w[0] < w[1]));
    assert!(!s.allow_http);
    assert_eq!(s.api_keys[0].name, "erp");
    assert_eq!(s.api_keys[0].digest, <[u8; 32]>::from(Sha256::digest(KEY)));
}

#[test]
fn each_required_variable_is_named_when_missing_or_blank() {
    for name in [
        "ims_client_id",
        "ims_client_secret",
        "accs_base_url",
        "api_keys",
    ] {
        let mut vars = base();
        vars.remove(name);
        assert_eq!(parse(&vars).unwrap_err().variable, name);
        vars.insert(name, "  ".into());
        let e = parse(&vars).unwrap_err();
        assert_eq!(e.variable, name);
        assert_eq!(e.to_string(), format!("variable `{name}` is missing"));
    }
}

#[test]
fn errors_never_echo_the_value() {
    let mut vars = base();
    vars.insert("api_keys", "erp:short-key-value".into());
    let e = parse(&vars).unwrap_err();
    assert_eq!(e.variable, "api_keys");
    assert!(!e.to_string().contains("short-key-value"), "{e}");
    let mut vars = base();
    vars.insert("accs_base_url", "ftp://user:pw@host/x".into());
    assert!(!parse(&vars).unwrap_err().to_string().contains("pw"));
}

#[test]
fn commerce_accs_scope_is_always_added() {
    let mut vars = base();
    vars.insert("ims_scopes", "openid, AdobeID".into());
    assert_eq!(
        parse(&vars).unwrap().ims_scopes,
        ["AdobeID", "commerce.accs", "openid"]
    );
}

#[test]
fn http_upstreams_need_allow_http() {
    let mut vars = base();
    vars.insert("accs_base_url", "http://127.0.0.1:8081/tenant".into());
    assert_eq!(parse(&vars).unwrap_err().variable, "accs_base_url");
    vars.insert("allow_http", "true".into());
    assert!(parse(&vars).is_ok());
    vars.insert("allow_http", "yes".into());
    assert_eq!(parse(&vars).unwrap_err().variable, "allow_http");
}

#[test]
fn accs_base_url_must_stop_at_the_tenant() {
    for bad in [
        "https://x.api.commerce.adobe.com",
        "https://x.api.commerce.adobe.com/",
        "https://x.api.commerce.adobe.com/t/rest",
        "https://x.api.commerce.adobe.com/t/V1",
        "https://x.api.commerce.adobe.com/t?q=1",
        "https://u:p@x.api.commerce.adobe.com/t",
    ] {
        let mut vars = base();
        vars.insert("accs_base_url", bad.into());
        assert_eq!(parse(&vars).unwrap_err().variable, "accs_base_url", "{bad}");
    }
}

#[test]
fn api_keys_errors_name_entries_by_position_never_by_value() {
    // Name and key swapped: the "name" is the secret and must not show.
    for (bad, entry) in [
        (format!("erp:{KEY}x,{KEY}:erp"), "entry 2"),
        (format!("{KEY}:short"), "entry 1"),
        (format!("{KEY}:{KEY}y,{KEY}:{KEY}z"), "entry 2"),
        (KEY.to_owned(), "entry 1"),
        (format!("a/{KEY}:{KEY}y"), "entry 1"),
    ] {
        let mut vars = base();
        vars.insert("api_keys", bad.clone());
        let e = parse(&vars).unwrap_err();
        let shown = e.to_string();
        assert_eq!(e.variable, "api_keys");
        assert!(shown.contains(entry), "{shown}");
        assert!(!shown.contains(&KEY[..8]), "a value leaked: {shown}");
        assert!(
            !shown.contains("erp") && !shown.contains("short"),
            "{shown}"
        );
    }
}

#[test]
fn api_keys_need_names_length_and_uniqueness() {
    for bad in [
        KEY.to_owned(),
        format!(":{KEY}"),
        "a:short".to_owned(),
        format!("a:{KEY},a:{KEY}x"),
        format!("a b:{KEY}"),
    ] {
        let mut vars = base();
        vars.insert("api_keys", bad.clone());
        assert_eq!(parse(&vars).unwrap_err().variable, "api_keys", "{bad}");
    }
    let mut vars = base();
    vars.insert("api_keys", format!("a:{KEY}, b:{KEY}-2"));
    assert_eq!(parse(&vars).unwrap().api_keys.len(), 2);
}

/// Issue 22 (review): one key in two entries, and a webhook secret
/// under 24 bytes, are refused, named by position and never by value.
#[test]
fn a_repeated_key_and_a_short_webhook_secret_are_config_invalid() {
    let mut vars = base();
    vars.insert("api_keys", format!("erp:{KEY}:orders.read,pim:{KEY}"));
    let e = parse(&vars).unwrap_err();
    assert_eq!(e.variable, "api_keys");
    let shown = e.to_string();
    assert!(
        shown.contains("entry 2 repeats the key of entry 1"),
        "{shown}"
    );
    assert!(
        !shown.contains(&KEY[..8]) && !shown.contains("pim"),
        "{shown}"
    );
    vars.insert(
        "api_keys",
        format!("erp:{KEY};a:{KEY}-2;b:{KEY}-3;c:{KEY}-2"),
    );
    let shown = parse(&vars).unwrap_err().to_string();
    assert!(
        shown.contains("entry 4 repeats the key of entry 2"),
        "{shown}"
    );

    let mut vars = base();
    // 23 and 24 bytes of key material.
    let short = format!("whsec_{}", base64_of(&[7u8; 23]));
    let enough = format!("whsec_{}", base64_of(&[7u8; 24]));
    vars.insert("webhook_secrets", format!("{enough},{short}"));
    let e = parse(&vars).unwrap_err();
    assert_eq!(e.variable, "webhook_secrets");
    let shown = e.to_string();
    assert!(
        shown.contains("entry 2") && shown.contains("24 bytes"),
        "{shown}"
    );
    assert!(!shown.contains(&short[6..14]), "{shown}");
    vars.insert("webhook_secrets", enough);
    assert_eq!(parse(&vars).unwrap().webhook_secrets.len(), 1);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn tuning_numbers_have_defaults_and_bounds() {
    let s = parse(&base()).unwrap();
    assert_eq!(
        (s.accs_timeout_ms, s.sync_batch_size, s.sync_concurrency),
        (30_000, 500, 4)
    );
    assert_eq!((s.bulk_chunk_size, s.products_bulk_above), (500, None));
    let mut vars = base();
    vars.insert("products_bulk_above", "0".into());
    vars.insert("bulk_chunk_size", "5000".into());
    let s = parse(&vars).unwrap();
    assert_eq!((s.bulk_chunk_size, s.products_bulk_above), (5000, Some(0)));
    for (name, bad) in [
        ("accs_timeout_ms", "999"),
        ("accs_timeout_ms", "x"),
        ("sync_batch_size", "0"),
        ("sync_batch_size", "5001"),
        ("sync_concurrency", "17"),
        ("bulk_chunk_size", "0"),
        ("bulk_chunk_size", "5001"),
        ("products_bulk_above", "10001"),
        ("products_bulk_above", "-1"),
    ] {
        let mut vars = base();
        vars.insert(name, bad.into());
        assert_eq!(parse(&vars).unwrap_err().variable, name, "{name}={bad}");
    }
}

#[test]
fn lists_take_semicolons_for_wasmtime_serve() {
    let mut vars = base();
    vars.insert("api_keys", format!("a:{KEY};b:{KEY}-2"));
    vars.insert("ims_scopes", "openid;AdobeID".into());
    vars.insert(
        "passthrough_allow",
        "GET /V1/categories/*; GET /V1/customers/search".into(),
    );
    let s = parse(&vars).unwrap();
    assert_eq!(s.api_keys.len(), 2);
    assert_eq!(s.ims_scopes, ["AdobeID", "commerce.accs", "openid"]);
    assert_eq!(s.passthrough_allow.len(), 2);
}

#[test]
fn rotation_lists_keep_their_order() {
    let mut vars = base();
    vars.insert("ims_client_secret", "new-secret, old-secret".into());
    let s = parse(&vars).unwrap();
    let secrets: Vec<_> = s.ims_client_secrets.iter().map(Secret::expose).collect();
    assert_eq!(secrets, ["new-secret", "old-secret"]);
    assert_eq!(format!("{:?}", s.ims_client_secrets[0]), "Secret(***)");
}

#[test]
fn webhook_secrets_and_passthrough_rules_are_checked() {
    let mut vars = base();
    vars.insert(
        "webhook_secrets",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
    );
    vars.insert(
        "passthrough_allow",
        "GET /V1/categories/*, get /V1/customers/search, POST /V1/carts/**".into(),
    );
    let s = parse(&vars).unwrap();
    assert_eq!(s.webhook_secrets.len(), 1);
    assert_eq!(s.passthrough_allow.len(), 3);
    assert_eq!(s.passthrough_allow[1].method, "GET");
    assert_eq!(s.passthrough_allow[2].segments, ["V1", "carts", "**"]);
    for bad in ["whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!"] {
        let mut v = base();
        v.insert("webhook_secrets", bad.into());
        assert_eq!(parse(&v).unwrap_err().variable, "webhook_secrets");
    }
    for bad in [
        "GET /rest/V1/x",
        "FETCH /V1/x",
        "GET /V1/../x",
        "GET /V1/**/x",
        "GET /V1//x",
    ] {
        let mut v = base();
        v.insert("passthrough_allow", bad.into());
        assert_eq!(
            parse(&v).unwrap_err().variable,
            "passthrough_allow",
            "{bad}"
        );
    }
}

#[test]
fn fingerprint_changes_with_url_client_and_scopes_only() {
    let a = parse(&base()).unwrap().token_fingerprint();
    let mut vars = base();
    vars.insert("ims_client_secret", "another".into());
    vars.insert(
        "ims_scopes",
        DEFAULT_SCOPES
            .split(',')
            .rev()
            .collect::<Vec<_>>()
            .join(","),
    );
    assert_eq!(parse(&vars).unwrap().token_fingerprint(), a);
    for (k, v) in [
        ("ims_client_id", "client-2"),
        ("ims_scopes", "openid"),
        (
            "ims_token_url",
            "https://ims-na1-stg1.adobelogin.com/ims/token/v3",
        ),
    ] {
        let mut vars = base();
        vars.insert(k, v.into());
        assert_ne!(parse(&vars).unwrap().token_fingerprint(), a, "{k}");
    }
}

#[test]
fn api_keys_take_scopes_and_never_echo_a_bad_one() {
    let mut vars = base();
    vars.insert(
        "api_keys",
        format!("erp:{KEY}:inventory.write+orders.read,pim:{KEY}x"),
    );
    let s = parse(&vars).unwrap();
    assert!(s.api_keys[0].scoped);
    assert_eq!(s.api_keys[0].scopes.names(), "inventory.write+orders.read");
    assert!(!s.api_keys[1].scoped);
    assert_eq!(s.api_keys[1].scopes, Scopes::all());
    for bad in [
        format!("erp:{KEY}:inventory.wirte"),
        format!("erp:{KEY}:"),
        format!("erp:{KEY}:orders.read+"),
        format!("erp:{KEY}:{KEY}"),
    ] {
        vars.insert("api_keys", bad.clone());
        let e = parse(&vars).unwrap_err();
        let shown = e.to_string();
        assert_eq!(e.variable, "api_keys");
        assert!(
            shown.contains("entry 1") && shown.contains("scope"),
            "{shown}"
        );
        assert!(
            !shown.contains(&KEY[..8]) && !shown.contains("wirte"),
            "{shown}"
        );
    }
}

/// Every numeric range of CONFIGURATION.md at both edges: min and max are
/// taken and kept, min-1 and max+1 are refused naming the variable. The
/// bounds are the document's, written here as literals.
#[test]
fn every_range_holds_at_both_edges() {
    let kept = |s: &Settings, name: &str| -> u64 {
        match name {
            "accs_timeout_ms" => s.accs_timeout_ms,
            "sync_batch_size" => s.sync_batch_size as u64,
            "sync_concurrency" => s.sync_concurrency as u64,
            "bulk_chunk_size" => s.bulk_chunk_size as u64,
            "products_bulk_above" => s.products_bulk_above.unwrap() as u64,
            "io_events_timeout_ms" => s.io_events.timeout_ms,
            "forward_max_attempts" => u64::from(s.forward.max_attempts),
            "forward_timeout_ms" => s.forward.timeout_ms,
            "jobs_timeout_ms" => s.jobs.timeout_ms,
            "journal_limit" => u64::from(s.jobs.journal_limit),
            "echo_window_s" => s.echo.window_s,
            _ => unreachable!("{name}"),
        }
    };
    // (variable, min, max), from docs/CONFIGURATION.md's table.
    for (name, min, max) in [
        ("accs_timeout_ms", 1_000_i64, 300_000_i64),
        ("sync_batch_size", 1, 5_000),
        ("sync_concurrency", 1, 16),
        ("bulk_chunk_size", 1, 5_000),
        ("products_bulk_above", 0, 10_000),
        ("io_events_timeout_ms", 1_000, 9_000),
        ("forward_max_attempts", 1, 50),
        ("forward_timeout_ms", 500, 9_000),
        ("jobs_timeout_ms", 1_000, 25_000),
        ("journal_limit", 1, 500),
        ("echo_window_s", 0, 86_400),
    ] {
        for ok in [min, max] {
            let mut vars = base();
            vars.insert(name, ok.to_string());
            let s = parse(&vars).unwrap_or_else(|e| panic!("{name}={ok} refused: {e}"));
            assert_eq!(kept(&s, name), ok as u64, "{name}={ok}");
        }
        for bad in [min - 1, max + 1] {
            let mut vars = base();
            vars.insert(name, bad.to_string());
            let Err(e) = parse(&vars) else {
                panic!("{name}={bad} accepted");
            };
            assert_eq!(e.variable, name, "{name}={bad}");
        }
    }
}

/// CONFIGURATION.md: each API key is "at least 32 visible ASCII
/// characters": 32 taken, 31 refused naming `api_keys`.
#[test]
fn an_api_key_of_32_characters_is_taken_and_31_refused() {
    let mut vars = base();
    vars.insert("api_keys", format!("erp:{}", "k".repeat(32)));
    assert_eq!(parse(&vars).map(|s| s.api_keys.len()).ok(), Some(1));
    vars.insert("api_keys", format!("erp:{}", "k".repeat(31)));
    let Err(e) = parse(&vars) else {
        panic!("a 31-character key was accepted");
    };
    assert_eq!(e.variable, "api_keys");
}

// ---- the job routes (config/jobs.rs, the `+query` mark in keys.rs) ----

/// `+query` marks an entry usable as `?key=` on the job routes; it must
/// come with `jobs.run` alone, and the error names the entry by position.
#[test]
fn a_query_key_holds_jobs_run_alone() {
    let mut vars = base();
    vars.insert("api_keys", format!("erp:{KEY},cron:k{KEY}:jobs.run+query"));
    let s = parse(&vars).unwrap();
    assert!(!s.api_keys[0].query);
    let cron = &s.api_keys[1];
    assert!(cron.query && cron.scoped);
    assert_eq!(cron.scopes.names(), "jobs.run");
    // The mark first, spaces around it.
    vars.insert("api_keys", format!("cron:k{KEY}: query + jobs.run"));
    assert!(parse(&vars).unwrap().api_keys[0].query);
    for bad in [
        format!("cron:k{KEY}:jobs.run+query+orders.read"),
        format!("cron:k{KEY}:query"),
        format!("cron:k{KEY}:token.read+query"),
        format!("erp:{KEY},cron:k{KEY}:query+query"),
    ] {
        vars.insert("api_keys", bad.clone());
        let e = parse(&vars).unwrap_err();
        assert_eq!(e.variable, "api_keys", "{bad}");
        let text = e.to_string();
        assert!(
            text.contains("jobs.run") && !text.contains(KEY),
            "{bad}: {text}"
        );
    }
    // Without the mark, jobs.run is a scope like any other.
    vars.insert("api_keys", format!("cron:k{KEY}:jobs.run"));
    assert!(!parse(&vars).unwrap().api_keys[0].query);
}

#[test]
fn the_journal_variables_are_checked() {
    let mut vars = base();
    let s = parse(&vars).unwrap();
    assert_eq!(s.jobs.journal_url, None);
    assert_eq!(
        (s.jobs.timeout_ms, s.jobs.journal_limit, s.jobs.on_gone),
        (20_000, 20, jobs::OnGone::Seek)
    );
    let url = "https://events.adobe.io/events/organizations/1/integrations/2/f89067f2";
    vars.insert("journal_url", url.into());
    vars.insert("journal_on_gone", "latest".into());
    let s = parse(&vars).unwrap();
    assert_eq!(s.jobs.journal_url.as_ref().map(|u| u.as_str()), Some(url));
    assert_eq!(s.jobs.on_gone, jobs::OnGone::Latest);
    for (name, bad) in [
        ("journal_url", "http://events.adobe.io/events/x"),
        ("journal_url", "https://events.adobe.io/events/x?limit=3"),
        ("journal_url", "https://journal.example/"),
        ("journal_url", "https://u:p@events.adobe.io/events/x"),
        ("journal_url", "events.adobe.io/events/x"),
        ("journal_on_gone", "oldest"),
    ] {
        let mut v = base();
        v.insert(name, bad.into());
        let e = parse(&v).unwrap_err();
        assert_eq!(e.variable, name, "{bad}");
        assert!(!e.to_string().contains(bad), "{bad}");
    }
}

#[test]
fn the_core_group_splits_into_its_ten_variables_or_not_at_all() {
    let sep = '\u{1f}';
    let values: Vec<String> = (0..CORE.len()).map(|i| format!("v{i}")).collect();
    let joined = values.join(&sep.to_string());
    let got: Vec<(&str, &str)> = split_core(&joined).unwrap().collect();
    assert_eq!(got.len(), CORE.len());
    for (i, (name, value)) in got.iter().enumerate() {
        assert_eq!((*name, *value), (CORE[i], values[i].as_str()));
    }
    // Unset optional variables resolve to "" and stay fields.
    let empty = vec![""; CORE.len()].join(&sep.to_string());
    assert!(split_core(&empty).unwrap().all(|(_, v)| v.is_empty()));
    // A value holding the separator makes eleven parts: not split.
    let extra = format!("{joined}{sep}x");
    assert!(split_core(&extra).is_none());
    assert!(split_core(&values[..9].join(&sep.to_string())).is_none());
    // Every route but health and the document reads these first, in this
    // order: the WASI 0.2 entry takes the group when the names start so.
    for (method, path) in [
        ("GET", "/v1/products/A"),
        ("PUT", "/v1/products/A"),
        ("POST", "/v1/products/bulk"),
        ("GET", "/v1/orders"),
        ("POST", "/v1/inventory/source-items"),
        ("POST", "/v1/webhooks/inventory"),
        ("POST", "/v1/events"),
        ("POST", "/v1/jobs/journal"),
        ("GET", "/v1/dead-letters"),
        ("GET", "/v1/accs/V1/categories"),
    ] {
        let read: Vec<&str> = crate::routes::variables_for(method, path).collect();
        assert!(read.starts_with(&CORE), "{method} {path}");
    }
}

#[test]
fn the_shipped_spin_manifests_define_the_core_group() {
    let line = core_group_line();
    assert!(
        line.starts_with("accs_edge_core = \"{{ ims_client_id }}\\u001f{{ ims_client_secret }}")
    );
    for manifest in ["spin.toml", "spin.cas.toml", "spin.sim.toml"] {
        let text =
            std::fs::read_to_string(format!("{}/{manifest}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(
            text.lines().any(|l| l == line),
            "{manifest} lacks the line `{line}`"
        );
    }
}

#[test]
fn the_default_key_origin_is_the_one_an_explicit_setting_gives() {
    let unset = io_events::from_lookup(|_| None, false).unwrap();
    let set = io_events::from_lookup(
        |n| (n == "io_events_key_origin").then(|| io_events::DEFAULT_KEY_ORIGIN.to_owned()),
        false,
    )
    .unwrap();
    assert_eq!(unset.origin(), "https://static.adobeioevents.com");
    assert_eq!(unset.origin(), set.origin());
}
