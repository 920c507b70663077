//! The last check before anything leaves for ACCS: the URL must be the
//! configured origin, under the tenant's `/V1/` prefix, whatever a route
//! built. Routes encode caller input already (`path.rs`); this guard is the
//! backstop that makes a bug in a route a 400, never an open proxy.

use crate::problem::Problem;
use url::Url;

/// `base` joined with `path_and_query` (already encoded, starting `/V1/`),
/// or a 400 `invalid_request` naming the rule it broke. What is sent is the
/// URL as parsing would serialize it, so the query goes out normalized.
///
/// Most paths pass the textual rules and hold no character URL parsing
/// would escape: for those (and a base as configuration leaves it: no
/// trailing `/`, query or fragment) the URL is the base's text followed by
/// the path, which [`joined`] would give too (a property test compares the
/// two on arbitrary paths). The parse cost about 3 % of a warm read's
/// instructions on `wasmtime serve`. Anything else goes through [`joined`].
pub fn upstream_url(base: &Url, path_and_query: &str) -> Result<String, Problem> {
    check(path_and_query).map_err(refuse)?;
    let text = base.as_str();
    if !path_and_query.contains(PARSING_ESCAPES)
        && !text.ends_with('/')
        && base.query().is_none()
        && base.fragment().is_none()
    {
        let mut url = String::with_capacity(text.len() + path_and_query.len());
        url.push_str(text);
        url.push_str(path_and_query);
        return Ok(url);
    }
    joined(base, path_and_query).map(String::from)
}

/// The printable ASCII characters that URL parsing escapes in the path
/// (`"`, `<`, `>`, `` ` ``, `{`, `}`) or in an http(s) query (`"`, `<`,
/// `>`, `'`): the WHATWG URL Standard's path and special-query
/// percent-encode sets, which the `url` crate implements. Space, `#` and
/// controls are refused by [`check`] already.
const PARSING_ESCAPES: [char; 7] = ['"', '<', '>', '`', '{', '}', '\''];

/// The parsing path: `path_and_query` resolved against `base` as a relative
/// reference (`./<tenant>/V1/...`: the `./` keeps a `:` in the tenant from
/// reading as a scheme) rather than parsing a whole new URL: scheme and host
/// come from `base` as they are, with no second host parse (its IDNA pass
/// was most of the cost). Then the origin, the tenant prefix and the path
/// are checked against what parsing made of them.
fn joined(base: &Url, path_and_query: &str) -> Result<Url, Problem> {
    let base_path = base.path().trim_end_matches('/');
    let relative = if base.path().ends_with('/') {
        format!(".{path_and_query}")
    } else {
        let tenant = base_path.rsplit('/').next().unwrap_or_default();
        format!("./{tenant}{path_and_query}")
    };
    let url = base
        .join(&relative)
        .map_err(|_| refuse("it does not form a valid URL"))?;
    // The origin part by part: `Url::origin` copies scheme and host on every
    // call. Both are http(s) (the config refuses other schemes), whose origin
    // is exactly (scheme, host, port or its default).
    if url.scheme() != base.scheme()
        || url.host() != base.host()
        || url.port_or_known_default() != base.port_or_known_default()
    {
        return Err(refuse("it leaves the configured ACCS origin"));
    }
    let under_tenant = url.path().strip_prefix(base_path);
    if !under_tenant.is_some_and(|rest| rest.starts_with("/V1/")) {
        return Err(refuse("it leaves the tenant's /V1/ prefix"));
    }
    // Dot segments or stray characters that URL parsing would rewrite in the
    // path were not what the route meant: refuse rather than send elsewhere.
    // The query may only gain percent-escapes (`'`, `"`, `<`, `>`), which
    // change no meaning.
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    if under_tenant != Some(path) || !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("URL parsing would rewrite its path"));
    }
    Ok(url)
}

fn refuse(why: &str) -> Problem {
    Problem::bad_request(format!(
        "refused to call ACCS outside the tenant's /V1/ API: {why}"
    ))
}

/// The textual rules. `@` and `//` matter only in the path: in the query
/// they are ordinary characters (an e-mail, a URL in a filter value) and the
/// origin check above covers the whole URL anyway.
fn check(path_and_query: &str) -> Result<(), &'static str> {
    if !path_and_query.starts_with("/V1/") {
        return Err("the path must start with /V1/");
    }
    if !path_and_query.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("it has control characters, spaces or non-ASCII characters");
    }
    if path_and_query.contains(['\\', '#']) {
        return Err("it has a backslash or a fragment");
    }
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    if path.contains('@') {
        return Err("the path has an `@`");
    }
    // Bytes, not `str::contains`: its substring searcher was most of this
    // function's cost.
    if path.as_bytes().windows(2).any(|w| w == b"//") {
        return Err("the path has an empty segment (`//`)");
    }
    for segment in path.split('/').skip(1) {
        let decoded = decoded(segment).ok_or("the path has a malformed percent escape")?;
        let (mut len, mut dots) = (0, 0);
        for b in decoded.clone() {
            len += 1;
            dots += usize::from(b == b'.');
        }
        if len == dots && (len == 1 || len == 2) {
            return Err("the path has a `.` or `..` segment, plain or encoded");
        }
        if decoded.into_iter().any(|b| b.is_ascii_control()) {
            return Err("the path has an encoded control character");
        }
    }
    Ok(())
}

/// Strict percent-decoding, without a copy: `None` for a `%` not followed by
/// two hex digits, else the decoded bytes.
fn decoded(segment: &str) -> Option<impl Iterator<Item = u8> + Clone> {
    let bytes = segment.as_bytes();
    let escapes_ok = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).copied().and_then(hex_digit).is_some()
                && bytes.get(i + 2).copied().and_then(hex_digit).is_some())
    });
    escapes_ok.then_some(Decoded { bytes, i: 0 })
}

/// The bytes of a segment whose escapes were checked by [`decoded`].
#[derive(Clone)]
struct Decoded<'a> {
    bytes: &'a [u8],
    i: usize,
}

impl Iterator for Decoded<'_> {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.i)?;
        if b == b'%' {
            let hi = self.bytes.get(self.i + 1).copied().and_then(hex_digit)?;
            let lo = self.bytes.get(self.i + 2).copied().and_then(hex_digit)?;
            self.i += 3;
            Some(hi << 4 | lo)
        } else {
            self.i += 1;
            Some(b)
        }
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://na1.api.commerce.adobe.com/T1").unwrap()
    }

    #[test]
    fn encoded_paths_under_v1_pass_unchanged() {
        for pq in [
            "/V1/products/SKU-0001",
            "/V1/products/a%2Fb%20c",
            "/V1/products/..%2Fadmin",
            "/V1/products/dot.sku",
            "/V1/products/...",
            "/V1/products/100%25",
            "/V1/products?searchCriteria%5BpageSize%5D=20&searchCriteria[currentPage]=1",
            "/V1/products?q=a@b.example&u=https://x.example/",
            "/V1/inventory/source-items",
        ] {
            let url = upstream_url(&base(), pq).unwrap_or_else(|p| panic!("{pq}: {}", p.detail));
            assert_eq!(
                url.as_str(),
                format!("https://na1.api.commerce.adobe.com/T1{pq}")
            );
        }
        // A passthrough query may carry characters URL parsing escapes.
        let url = upstream_url(&base(), "/V1/customers/search?q='x\"<y>").unwrap();
        assert_eq!(
            url,
            "https://na1.api.commerce.adobe.com/T1/V1/customers/search?q=%27x%22%3Cy%3E"
        );
    }

    /// Joining is an optimisation: it must give exactly the URL a full parse
    /// of base and path gives, for every kind of base config allows.
    #[test]
    fn joining_gives_the_same_url_as_parsing_the_whole() {
        let bases = [
            "https://na1.api.commerce.adobe.com/T1",
            "https://na1.api.commerce.adobe.com/T1/",
            "http://127.0.0.1:8081/tenant-bench",
            "http://[::1]:9000/a/b/tenant",
            "https://h.example/t:1",
            "https://h.example/t%20x",
            "https://h.example/t.x",
        ];
        let paths = [
            "/V1/products/SKU-0001",
            "/V1/products/a%2Fb%20c?x=1&y=%5B%5D",
            "/V1/products?searchCriteria[currentPage]=1&q=a@b.example",
            "/V1/customers/search?q='x\"<y>",
            "/V1/orders/7",
        ];
        for b in bases {
            let base = Url::parse(b).unwrap();
            for pq in paths {
                let whole = format!("{}{pq}", base.as_str().trim_end_matches('/'));
                let expected = Url::parse(&whole).unwrap();
                let got =
                    upstream_url(&base, pq).unwrap_or_else(|p| panic!("{b} {pq}: {}", p.detail));
                assert_eq!(got, expected.as_str(), "{b} {pq}");
            }
        }
    }

    proptest::proptest! {
        /// The text-only path is an optimisation: for any path that passes
        /// the textual rules, on every kind of base configuration allows, it
        /// must give what parsing gives, refusals included.
        #[test]
        fn appending_gives_what_parsing_gives(
            base in proptest::sample::select(vec![
                "https://na1.api.commerce.adobe.com/T1",
                "http://127.0.0.1:8081/tenant-bench",
                "http://[::1]:9000/a/b/tenant",
                "https://h.example:8443/t:1",
                "https://h.example/t%20x",
                "https://h.example/t.x",
            ]),
            // Printable ASCII weighted towards what matters to parsing.
            rest in "([!-~]|%2[eE]|%[0-9a-fA-F]{2}|\\.|/|\\?|%|[\"<>`{}'|^\\[\\]]){0,24}",
        ) {
            let base = Url::parse(base).unwrap();
            let pq = format!("/V1/{rest}");
            let parsed = check(&pq)
                .map_err(refuse)
                .and_then(|()| joined(&base, &pq))
                .map(String::from);
            let got = upstream_url(&base, &pq);
            match (&got, &parsed) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
                (Err(a), Err(b)) => proptest::prop_assert_eq!(&a.detail, &b.detail),
                _ => proptest::prop_assert!(false, "{pq}: {got:?} against {parsed:?}"),
            }
        }
    }

    #[test]
    fn each_textual_rule_names_itself() {
        for (pq, why) in [
            ("/v1/products", "start with /V1/"),
            ("/V1/products/a b", "control characters, spaces"),
            ("/V1/products/é", "non-ASCII"),
            ("/V1/products\\x", "backslash"),
            ("/V1/products#x", "fragment"),
            ("/V1/a@b", "`@`"),
            ("/V1//x", "`//`"),
            ("/V1/products/%2", "malformed percent"),
            ("/V1/../x", "`..` segment"),
            ("/V1/%2E%2e/x", "`..` segment"),
            ("/V1/.%2E/x", "`..` segment"),
            ("/V1/%2e/x", "`..` segment"),
            ("/V1/products/%0A", "encoded control"),
            ("/V1/products/%7f", "encoded control"),
        ] {
            let err = check(pq).unwrap_err();
            assert!(err.contains(why), "{pq}: {err}");
        }
        assert_eq!(check("/V1/products?q=a@b//c"), Ok(()));
    }

    #[test]
    fn decode_is_strict() {
        assert_eq!(decoded("a%2Fb").unwrap().collect::<Vec<_>>(), b"a/b");
        assert_eq!(decoded("%2e%2E").unwrap().collect::<Vec<_>>(), b"..");
        for bad in ["%", "%2", "%zz", "%2g", "a%", "%é", "%+1", "%-1"] {
            assert!(decoded(bad).is_none(), "{bad}");
        }
    }
}
