//! What one request did, for its single log line, and its W3C trace context
//! (https://www.w3.org/TR/trace-context/): the caller's `traceparent` when it
//! is valid, a new trace otherwise; every upstream call gets the same trace id
//! and a span id of its own.

use crate::json_write::{put_str, put_uint};
use crate::ports::Ports;
use serde::Serialize;
use std::cell::{Cell, RefCell};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    Memory,
    Kv,
    /// The sealed token file in `token_cache_dir`.
    File,
    Ims,
}

#[derive(Clone, Debug, Serialize)]
pub struct UpstreamCall {
    pub service: &'static str,
    /// The HTTP status, or 0 when no response came back.
    pub status: u16,
    pub ms: u64,
}

/// A W3C trace context: version 00 only, lower-case hex, no all-zero ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// This request's span: the parent of every upstream call.
    pub span_id: [u8; 8],
    pub flags: u8,
    /// The caller's `tracestate`, passed on when it looks well formed.
    pub state: Option<String>,
}

impl TraceContext {
    /// Continues the caller's trace when `traceparent` is valid (with a new
    /// span for this request), else starts one (sampled: the trace id is in
    /// the log line). Invalid headers are ignored, never echoed.
    pub fn start<P: Ports>(traceparent: Option<&str>, tracestate: Option<&str>, ports: &P) -> Self {
        let mut span_id = [0u8; 8];
        random_nonzero(ports, &mut span_id);
        match traceparent.and_then(parse_traceparent) {
            Some((trace_id, flags)) => TraceContext {
                trace_id,
                span_id,
                flags,
                state: tracestate
                    .filter(|s| valid_tracestate(s))
                    .map(str::to_owned),
            },
            None => {
                let mut trace_id = [0u8; 16];
                random_nonzero(ports, &mut trace_id);
                TraceContext {
                    trace_id,
                    span_id,
                    flags: 0x01,
                    state: None,
                }
            }
        }
    }

    /// `00-<trace>-<span>-<flags>` for `span`, in one buffer.
    fn header(&self, span: &[u8; 8]) -> String {
        use crate::config::push_hex;
        let mut h = Vec::with_capacity(55);
        h.extend_from_slice(b"00-");
        push_hex(&mut h, &self.trace_id);
        h.push(b'-');
        push_hex(&mut h, span);
        h.push(b'-');
        push_hex(&mut h, &[self.flags]);
        // Only ASCII was written, so this cannot fail.
        String::from_utf8(h).unwrap_or_default()
    }

    /// This request's `traceparent`, returned on the answer.
    pub fn traceparent(&self) -> String {
        self.header(&self.span_id)
    }

    /// A `traceparent` for one upstream call: same trace, a new span id.
    pub fn child<P: Ports>(&self, ports: &P) -> String {
        let mut span = [0u8; 8];
        random_nonzero(ports, &mut span);
        self.header(&span)
    }
}

fn random_nonzero<P: Ports>(ports: &P, buf: &mut [u8]) {
    ports.fill_random(buf);
    if buf.iter().all(|b| *b == 0) {
        buf[0] = 1;
    }
}

/// The trace id and flags of a valid version-00 `traceparent`
/// (`00-<32 hex>-<16 hex>-<2 hex>`, lower-case, ids not all zero).
fn parse_traceparent(value: &str) -> Option<([u8; 16], u8)> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let [version, trace, parent, flags] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if *version != "00" || !hex(trace, 32) || !hex(parent, 16) || !hex(flags, 2) {
        return None;
    }
    if trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    let mut trace_id = [0u8; 16];
    for (i, byte) in trace_id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&trace[2 * i..2 * i + 2], 16).ok()?;
    }
    Some((trace_id, u8::from_str_radix(flags, 16).ok()?))
}

/// A `tracestate` worth passing on, by W3C Trace Context (Recommendation,
/// section 3.3.1): `list = list-member 0*31( OWS "," OWS list-member )`,
/// a member empty (`OWS`) or `key "=" value`; `key` a simple key
/// (`lcalpha 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" )`) or a
/// multi-tenant one (`tenant-id "@" system-id`: 1 to 241 of those
/// characters starting with `lcalpha / DIGIT`, then 1 to 14 starting with
/// `lcalpha`); `value = 0*255(chr) nblk-chr`, printable ASCII without `,`
/// and `=`, not ending in a space; `OWS` is spaces and tabs only. At most 32
/// members, at least one of them not empty, one member per key (the
/// mutation rules of section 3.5 act on "the" member of a key), and 512
/// characters, the length the specification asks every vendor to pass on
/// whole. Anything else is dropped, never repaired: what is forwarded is
/// exactly what came.
fn valid_tracestate(value: &str) -> bool {
    if value.len() > 512 {
        return false;
    }
    let members: Vec<&str> = value.split(',').map(trim_ows).collect();
    if members.len() > 32 {
        return false;
    }
    let mut keys: Vec<&str> = Vec::with_capacity(members.len());
    for m in members.iter().filter(|m| !m.is_empty()) {
        let Some((key, val)) = m.split_once('=') else {
            return false;
        };
        if !valid_key(key) || !valid_value(val) || keys.contains(&key) {
            return false;
        }
        keys.push(key);
    }
    !keys.is_empty()
}

/// `OWS = *( SP / HTAB )` off both ends; nothing else is whitespace here.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

fn key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b)
}

fn valid_key(key: &str) -> bool {
    let part = |s: &str, first: fn(&u8) -> bool, max: usize| {
        let b = s.as_bytes();
        !b.is_empty() && b.len() <= max && first(&b[0]) && b[1..].iter().all(|&c| key_char(c))
    };
    match key.split_once('@') {
        None => part(key, u8::is_ascii_lowercase, 256),
        Some((tenant, system)) => {
            part(
                tenant,
                |b| b.is_ascii_lowercase() || b.is_ascii_digit(),
                241,
            ) && part(system, u8::is_ascii_lowercase, 14)
        }
    }
}

fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    let nblk = |c: u8| (0x21..=0x7e).contains(&c) && c != b',' && c != b'=';
    (1..=256).contains(&b.len())
        && b.last().is_some_and(|&c| nblk(c))
        && b.iter().all(|&c| c == b' ' || nblk(c))
}

/// The caller's `tracestate`: several fields are one list, joined with `,`
/// as RFC 9110 section 5.3 combines them (W3C Trace Context 3.3.1.1).
fn tracestate(req: &crate::wire::InRequest) -> Option<std::borrow::Cow<'_, str>> {
    let mut fields = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("tracestate"))
        .map(|(_, v)| v.as_str());
    let first = fields.next()?;
    match fields.next() {
        None => Some(std::borrow::Cow::Borrowed(first)),
        Some(second) => {
            let mut all = format!("{first},{second}");
            for f in fields {
                all.push(',');
                all.push_str(f);
            }
            Some(std::borrow::Cow::Owned(all))
        }
    }
}

#[derive(Debug, Default)]
pub struct Trace {
    pub request_id: String,
    pub context: TraceContext,
    pub upstream: RefCell<Vec<UpstreamCall>>,
    pub token_source: RefCell<Option<TokenSource>>,
    /// The `api_keys` entry that authenticated the request (never the key).
    pub key: RefCell<Option<String>>,
    /// For writes: items sent to ACCS, and those that landed.
    pub items: Cell<Option<(usize, usize)>>,
    /// For bulk writes: items ACCS accepted to apply later (not landed yet).
    pub accepted: Cell<Option<usize>>,
}

impl Trace {
    pub fn new(request_id: String) -> Self {
        Trace {
            request_id,
            ..Trace::default()
        }
    }

    /// The trace of an inbound request: its request id and trace context.
    pub fn inbound<P: Ports>(req: &crate::wire::InRequest, ports: &P, request_id: String) -> Self {
        Trace {
            context: TraceContext::start(
                req.header("traceparent"),
                tracestate(req).as_deref(),
                ports,
            ),
            ..Trace::new(request_id)
        }
    }

    /// `traceparent` and, when the caller sent one, `tracestate` for one
    /// upstream call.
    pub fn upstream_headers<P: Ports>(&self, ports: &P) -> Vec<(&'static str, String)> {
        let mut h = vec![("traceparent", self.context.child(ports))];
        if let Some(state) = &self.context.state {
            h.push(("tracestate", state.clone()));
        }
        h
    }

    pub fn key(&self, name: &str) {
        *self.key.borrow_mut() = Some(name.to_owned());
    }

    /// Adds a write's counts (a request may write more than once).
    pub fn items(&self, sent: usize, landed: usize) {
        let (s, l) = self.items.get().unwrap_or((0, 0));
        self.items.set(Some((s + sent, l + landed)));
    }

    /// Adds items ACCS accepted into a bulk (they land later, if at all);
    /// the log line's `items` then carries `accepted` beside `landed`.
    pub fn accepted(&self, n: usize) {
        self.items(0, 0);
        self.accepted
            .set(Some(self.accepted.get().unwrap_or(0) + n));
    }

    pub fn upstream(&self, service: &'static str, status: u16, ms: u64) {
        self.upstream.borrow_mut().push(UpstreamCall {
            service,
            status,
            ms,
        });
    }

    pub fn token(&self, source: TokenSource) {
        *self.token_source.borrow_mut() = Some(source);
    }

    /// The JSON log line. Carries ids, routes, statuses and timings only:
    /// never a header value, body, token or secret.
    ///
    /// Written by hand into one buffer: serde_json spent about 20k
    /// instructions per warm read on it in wasm, most of them tiny copies
    /// (accs-bench figure 8). A test checks it against serde_json's output.
    pub fn log_line(&self, method: &str, route: &str, status: u16, duration_ms: u64) -> String {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"request_id\":");
        put_str(&mut out, &self.request_id);
        out.extend_from_slice(b",\"trace_id\":\"");
        crate::config::push_hex(&mut out, &self.context.trace_id);
        out.push(b'"');
        if let Some(key) = self.key.borrow().as_deref() {
            out.extend_from_slice(b",\"key\":");
            put_str(&mut out, key);
        }
        out.extend_from_slice(b",\"method\":");
        put_str(&mut out, method);
        out.extend_from_slice(b",\"route\":");
        put_str(&mut out, route);
        out.extend_from_slice(b",\"status\":");
        put_uint(&mut out, status);
        out.extend_from_slice(b",\"duration_ms\":");
        put_uint(&mut out, duration_ms);
        out.extend_from_slice(b",\"upstream\":[");
        for (i, call) in self.upstream.borrow().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"service\":");
            put_str(&mut out, call.service);
            out.extend_from_slice(b",\"status\":");
            put_uint(&mut out, call.status);
            out.extend_from_slice(b",\"ms\":");
            put_uint(&mut out, call.ms);
            out.push(b'}');
        }
        out.push(b']');
        if let Some(source) = *self.token_source.borrow() {
            out.extend_from_slice(b",\"token_source\":\"");
            out.extend_from_slice(source.as_str().as_bytes());
            out.push(b'"');
        }
        if let Some((sent, landed)) = self.items.get() {
            out.extend_from_slice(b",\"items\":{\"sent\":");
            put_uint(&mut out, sent);
            out.extend_from_slice(b",\"landed\":");
            put_uint(&mut out, landed);
            if let Some(accepted) = self.accepted.get() {
                out.extend_from_slice(b",\"accepted\":");
                put_uint(&mut out, accepted);
            }
            out.push(b'}');
        }
        out.push(b'}');
        // Only whole UTF-8 strings and ASCII went in, so this cannot fail.
        String::from_utf8(out).unwrap_or_default()
    }
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Memory => "memory",
            TokenSource::Kv => "kv",
            TokenSource::File => "file",
            TokenSource::Ims => "ims",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakePorts;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// What the log line was before it was written by hand: serde_json over
    /// the same members, in the same order.
    fn serde_line(t: &Trace, method: &str, route: &str, status: u16, ms: u64) -> String {
        #[derive(Serialize)]
        struct Items {
            sent: usize,
            landed: usize,
            #[serde(skip_serializing_if = "Option::is_none")]
            accepted: Option<usize>,
        }
        #[derive(Serialize)]
        struct Line<'a> {
            request_id: &'a str,
            trace_id: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            key: Option<&'a str>,
            method: &'a str,
            route: &'a str,
            status: u16,
            duration_ms: u64,
            upstream: &'a [UpstreamCall],
            #[serde(skip_serializing_if = "Option::is_none")]
            token_source: Option<TokenSource>,
            #[serde(skip_serializing_if = "Option::is_none")]
            items: Option<Items>,
        }
        let key = t.key.borrow();
        serde_json::to_string(&Line {
            request_id: &t.request_id,
            trace_id: crate::config::hex(&t.context.trace_id),
            key: key.as_deref(),
            method,
            route,
            status,
            duration_ms: ms,
            upstream: &t.upstream.borrow(),
            token_source: *t.token_source.borrow(),
            items: t.items.get().map(|(sent, landed)| Items {
                sent,
                landed,
                accepted: t.accepted.get(),
            }),
        })
        .unwrap()
    }

    proptest::proptest! {
        #[test]
        fn the_log_line_is_what_serde_json_writes(
            request_id in "\\PC{0,40}|[\"\\\\\\x00-\\x1f\\x7f\u{80}-\u{10ffff}a-z]{0,12}",
            key in proptest::option::of("\\PC{0,20}|[\"\\\\\\x00-\\x1f]{1,4}"),
            method in "[A-Z]{1,8}|-|\\PC{0,6}",
            status in proptest::prelude::any::<u16>(),
            ms in proptest::prelude::any::<u64>(),
            calls in proptest::collection::vec((0usize..3, proptest::prelude::any::<u16>(), proptest::prelude::any::<u64>()), 0..4),
            source in proptest::option::of(0usize..4),
            items in proptest::option::of((proptest::prelude::any::<usize>(), proptest::prelude::any::<usize>())),
            accepted in proptest::option::of(0usize..1_000_000),
        ) {
            let t = Trace::new(request_id);
            if let Some(key) = &key {
                t.key(key);
            }
            for (service, status, ms) in calls {
                t.upstream(["ims", "accs", "we\"ird\\"][service], status, ms);
            }
            if let Some(i) = source {
                t.token([TokenSource::Memory, TokenSource::Kv, TokenSource::File, TokenSource::Ims][i]);
            }
            if let Some((sent, landed)) = items {
                t.items(sent, landed);
            }
            if let Some(n) = accepted {
                t.accepted(n);
            }
            let line = t.log_line(&method, "/v1/products/{sku}", status, ms);
            proptest::prop_assert_eq!(&line, &serde_line(&t, &method, "/v1/products/{sku}", status, ms));
            serde_json::from_str::<serde_json::Value>(&line).unwrap();
        }
    }

    #[test]
    fn a_valid_traceparent_is_continued_with_a_new_span() {
        let ports = FakePorts::new(|_, _| unreachable!());
        let ctx = TraceContext::start(
            Some(VALID),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            &ports,
        );
        assert_eq!(
            crate::config::hex(&ctx.trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(ctx.flags, 1);
        assert_eq!(
            ctx.state.as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        let ours = ctx.traceparent();
        assert!(ours.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(!ours.contains("00f067aa0ba902b7"), "a span of our own");
        let (a, b) = (ctx.child(&ports), ctx.child(&ports));
        assert_ne!(a, b, "each upstream call has its own span id");
        assert_eq!(a[..36], ours[..36]);
        assert!(parse_traceparent(&a).is_some() && parse_traceparent(&ours).is_some());
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        let ports = FakePorts::new(|_, _| unreachable!());
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // lengths
            "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", // upper case
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "",
            "garbage",
        ] {
            let ctx = TraceContext::start(Some(bad), Some("a=b"), &ports);
            assert_ne!(
                crate::config::hex(&ctx.trace_id),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
            assert_eq!(
                ctx.state, None,
                "{bad}: no tracestate without a valid traceparent"
            );
            assert!(parse_traceparent(&ctx.traceparent()).is_some());
        }
    }

    #[test]
    fn odd_tracestates_are_dropped() {
        let ports = FakePorts::new(|_, _| unreachable!());
        for bad in [
            "",
            "novalue",
            "=x",
            "a=b\r\nx: y",
            "A=b",
            &"a=b,".repeat(40),
            &format!("a={}", "x".repeat(600)),
        ] {
            let ctx = TraceContext::start(Some(VALID), Some(bad), &ports);
            assert_eq!(ctx.state, None, "{bad:?}");
        }
    }

    /// Issue 22 (review): the W3C grammar, member by member, and the
    /// string forwarded exactly as it came.
    #[test]
    fn tracestate_follows_the_w3c_grammar_and_is_forwarded_as_sent() {
        let ports = FakePorts::new(|_, _| unreachable!());
        for good in [
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            "a=1 , \tb=2",
            "a=b ",
            "a=1,,b=2",
            "tenant1@vendor=x",
            "0tenant@sys-1*/=v",
            "k=v with spaces",
            "k=!~\"#$%&'()*+-./:;<>?@[]^_`{|}",
            &format!("{}=v", "k".repeat(256)),
            &format!("k={}", "v".repeat(256)),
            &(0..32)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(","),
        ] {
            assert!(valid_tracestate(good), "{good:?}");
            let ctx = TraceContext::start(Some(VALID), Some(good), &ports);
            assert_eq!(ctx.state.as_deref(), Some(good), "forwarded as sent");
        }
        for bad in [
            ",",
            " , ",
            "a=b\n",
            "a=b\r",
            "a=b\u{a0}",
            "a=",
            "a= ",
            "a=b=c",
            "1a=b",
            "a b=c",
            "a=b,a=c",
            "@v=x",
            "t@=x",
            "t@1v=x",
            "t@v@w=x",
            &format!("t@{}=x", "v".repeat(15)),
            &format!("{}@v=x", "t".repeat(242)),
            &format!("{}=v", "k".repeat(257)),
            &format!("k={}", "v".repeat(257)),
            &(0..33)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(","),
            &format!(
                "{},",
                (0..32)
                    .map(|i| format!("k{i}=v"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            &format!("a={},b=1", "v".repeat(250)).repeat(2),
        ] {
            assert!(!valid_tracestate(bad), "{bad:?}");
        }
        assert!(!valid_tracestate(
            &format!("k={},b=1", "v".repeat(256)).repeat(2)[..513]
        ));
    }

    #[test]
    fn several_tracestate_fields_are_one_list() {
        let ports = FakePorts::new(|_, _| unreachable!());
        let req = crate::wire::InRequest {
            headers: vec![
                ("traceparent".into(), VALID.into()),
                ("tracestate".into(), "a=1".into()),
                ("tracestate".into(), "b=2".into()),
            ],
            ..Default::default()
        };
        let t = Trace::inbound(&req, &ports, "r".into());
        assert_eq!(t.context.state.as_deref(), Some("a=1,b=2"));
    }
}
