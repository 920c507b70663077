//! The Adobe I/O Events variables, parsed and checked: where the public keys
//! come from (`io_events_key_origin`), which CloudEvent types start which sync
//! (`io_events_actions`), and the route's time budget (`io_events_timeout_ms`).
//!
//! It imports nothing of ours, and its errors name the variable, never the
//! value.

use url::Url;

/// Where I/O Events serves its public keys. AdobeDocs/adobe-io-events,
/// `src/pages/guides/index.md` ("Adobe I/O Events Digital Signature"): the
/// keys are "served from our fixed Adobe domain static.adobeioevents.com";
/// adobe/aio-lib-events `src/signatureUtils.js` (`ADOBE_IOEVENTS_SECURITY_DOMAIN`).
pub const DEFAULT_KEY_ORIGIN: &str = "https://static.adobeioevents.com";
/// I/O Events waits 10 s for an answer, connection set-up included
/// (AdobeDocs/adobe-io-events `src/pages/common/retry-doc.md`): the route
/// stops sending at 8 s, which leaves time to record and answer.
pub const DEFAULT_TIMEOUT_MS: u64 = 8_000;
/// The longest budget that still answers inside I/O Events' 10 s.
pub const MAX_TIMEOUT_MS: u64 = 9_000;

/// What a mapped event starts: the body of the same webhook sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Inventory,
    Products,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Inventory => "inventory",
            Action::Products => "products",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsConfig {
    /// `scheme://host[:port]`, no path: a key path is appended to it.
    /// `None`: unset, Adobe's [`DEFAULT_KEY_ORIGIN`] (not parsed per
    /// instance for the routes that never fetch a key).
    pub key_origin: Option<Url>,
    /// CloudEvent `type` to action; empty: the route is not configured.
    pub actions: Vec<(String, Action)>,
    pub timeout_ms: u64,
}

impl EventsConfig {
    pub fn action(&self, event_type: &str) -> Option<Action> {
        self.actions
            .iter()
            .find(|(t, _)| t == event_type)
            .map(|&(_, a)| a)
    }

    /// The origin as text, without the trailing `/` `Url` gives it.
    pub fn origin(&self) -> &str {
        self.key_origin
            .as_ref()
            .map_or(DEFAULT_KEY_ORIGIN, Url::as_str)
            .trim_end_matches('/')
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn err(variable: &'static str, reason: impl Into<String>) -> EventsConfigError {
    EventsConfigError {
        variable,
        reason: reason.into(),
    }
}

/// From `get` (trimmed, `None` when unset or blank).
pub fn from_lookup(
    get: impl Fn(&'static str) -> Option<String>,
    allow_http: bool,
) -> Result<EventsConfig, EventsConfigError> {
    Ok(EventsConfig {
        key_origin: get("io_events_key_origin")
            .map(|raw| key_origin(&raw, allow_http))
            .transpose()?,
        actions: actions(get("io_events_actions").as_deref().unwrap_or(""))?,
        timeout_ms: match get("io_events_timeout_ms") {
            None => DEFAULT_TIMEOUT_MS,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1_000..=MAX_TIMEOUT_MS).contains(n))
                .ok_or_else(|| {
                    err(
                        "io_events_timeout_ms",
                        format!("must be a whole number from 1000 to {MAX_TIMEOUT_MS} (I/O Events waits 10 s)"),
                    )
                })?,
        },
    })
}

/// An origin only: anything after the host would let a key path be bent.
fn key_origin(raw: &str, allow_http: bool) -> Result<Url, EventsConfigError> {
    const NAME: &str = "io_events_key_origin";
    let url = Url::parse(raw).map_err(|_| err(NAME, "must be an origin like https://host"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err(err(NAME, "must be an https:// origin")),
    }
    let bare = url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    if !bare {
        return Err(err(
            NAME,
            "must be scheme://host[:port] only: no credentials, path, query or fragment",
        ));
    }
    Ok(url)
}

/// `type=action` entries separated by `,` or `;` (as every list: `wasmtime
/// serve -Sconfig-var` splits on commas).
fn actions(raw: &str) -> Result<Vec<(String, Action)>, EventsConfigError> {
    const NAME: &str = "io_events_actions";
    let mut out: Vec<(String, Action)> = Vec::new();
    for entry in raw
        .split([',', ';'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Some((t, a)) = entry.split_once('=') else {
            return Err(err(
                NAME,
                "entries must be `event.type=inventory` or `event.type=products`",
            ));
        };
        let (t, a) = (t.trim(), a.trim());
        if !is_event_type(t) {
            return Err(err(
                NAME,
                "an event type must be 1 to 128 of letters, digits and `._:/-`",
            ));
        }
        let action = match a {
            "inventory" => Action::Inventory,
            "products" => Action::Products,
            _ => return Err(err(NAME, "an action must be `inventory` or `products`")),
        };
        if out.iter().any(|(seen, _)| seen == t) {
            return Err(err(NAME, "names an event type twice"));
        }
        out.push((t.to_owned(), action));
    }
    Ok(out)
}

/// CloudEvent types as publishers write them (`com.acme.stock.updated`,
/// and Commerce's own `com.adobe.commerce.observer.sales_order_save_commit_after`).
pub fn is_event_type(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<EventsConfig, EventsConfigError> {
        from_lookup(
            |n| {
                vars.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            },
            false,
        )
    }

    #[test]
    fn defaults_and_mapping() {
        let c = parse(&[(
            "io_events_actions",
            "com.acme.stock.updated=inventory; com.acme.product.updated=products,",
        )])
        .unwrap();
        // docs/CONFIGURATION.md's defaults, written out.
        assert_eq!(c.origin(), "https://static.adobeioevents.com");
        assert_eq!(c.timeout_ms, 8_000);
        assert_eq!(c.action("com.acme.stock.updated"), Some(Action::Inventory));
        assert_eq!(c.action("com.acme.product.updated"), Some(Action::Products));
        assert_eq!(c.action("com.acme.other"), None);
        assert!(parse(&[]).unwrap().actions.is_empty());
        // Commerce's own types carry `_` (AdobeDocs/commerce-extensibility
        // `src/pages/events/events-reference.md`).
        let commerce = "com.adobe.commerce.observer.catalog_product_save_commit_after";
        let c = parse(&[("io_events_actions", &format!("{commerce}=products"))]).unwrap();
        assert_eq!(c.action(commerce), Some(Action::Products));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("io_events_actions", "com.acme.x"),
            ("io_events_actions", "com.acme.x=orders"),
            ("io_events_actions", "a b=inventory"),
            ("io_events_actions", "a=inventory;a=products"),
            ("io_events_key_origin", "http://static.adobeioevents.com"),
            (
                "io_events_key_origin",
                "https://static.adobeioevents.com/prod",
            ),
            (
                "io_events_key_origin",
                "https://u:p@static.adobeioevents.com",
            ),
            (
                "io_events_key_origin",
                "https://static.adobeioevents.com?x=1",
            ),
            ("io_events_key_origin", "static.adobeioevents.com"),
            ("io_events_timeout_ms", "10000"),
            ("io_events_timeout_ms", "999"),
        ] {
            let e = parse(&[(var, value)]).unwrap_err();
            assert_eq!(e.variable, var, "{value}");
            assert!(!e.reason.contains(value), "{value}");
        }
        let dev = from_lookup(
            |n| (n == "io_events_key_origin").then(|| "http://127.0.0.1:9".to_owned()),
            true,
        )
        .unwrap();
        assert_eq!(dev.origin(), "http://127.0.0.1:9");
    }
}
