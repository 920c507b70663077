//! The journal's `Link: <…>; rel="next"` (RFC 8288), the only way the job
//! moves on: Adobe "strongly recommend[s]" following it instead of building
//! positions (AdobeDocs/adobe-io-events
//! `src/pages/guides/api/journaling-api.md`, "Fetching the next batch"), and
//! its links are relative (`</events/organizations/…?since=…>`). A link is
//! resolved against the configured journal URL and kept only when it stays
//! on that URL's origin: a response never sends the token anywhere else.

use url::Url;

/// Why a `next` link is not followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The answer has no `rel="next"` link.
    Missing,
    /// It does not parse as a URI reference against the journal URL.
    Malformed,
    /// It leads off the journal URL's origin (scheme, host, port).
    OffOrigin,
}

/// The `next` link among `values` (every `link` header of the answer, each
/// possibly holding several links), resolved against `journal`.
pub fn next<'v>(journal: &Url, values: impl Iterator<Item = &'v str>) -> Result<Url, LinkError> {
    let target = values
        .flat_map(links)
        .find(|(_, params)| is_next(params))
        .map(|(target, _)| target)
        .ok_or(LinkError::Missing)?;
    resolve(journal, target)
}

/// `target` against `journal`, kept only on its origin and without a
/// fragment or credentials.
pub fn resolve(journal: &Url, target: &str) -> Result<Url, LinkError> {
    if target.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(LinkError::Malformed);
    }
    let url = journal.join(target).map_err(|_| LinkError::Malformed)?;
    if url.origin() != journal.origin()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.fragment().is_some()
    {
        return Err(LinkError::OffOrigin);
    }
    Ok(url)
}

/// The links of one header value: `<target>` and the parameter text after
/// it, split on the commas between links (a comma inside `<…>` or a quoted
/// parameter does not split).
fn links(value: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let target = &rest[open + 1..open + close];
        let after = &rest[open + close + 1..];
        // The parameters run to the next comma outside quotes.
        let mut quoted = false;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == ',' && !quoted
            })
            .map_or(after.len(), |(i, _)| i);
        out.push((target, &after[..end]));
        rest = &after[end..];
    }
    out
}

/// Whether the parameters hold `rel=next` (quoted or not, case-insensitive,
/// among space-separated relation types).
fn is_next(params: &str) -> bool {
    params.split(';').any(|p| {
        let Some((name, value)) = p.split_once('=') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("next"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal() -> Url {
        Url::parse("https://events.adobe.io/events/organizations/1/integrations/2/reg").unwrap()
    }

    #[test]
    fn adobes_relative_next_link_resolves_on_the_journal_origin() {
        let j = journal();
        let v = [
            "</events/organizations/1/integrations/2/reg?since=rabbit:f9:7d&limit=3>; rel=\"next\"",
            "</events/organizations/1/integrations/2/reg/validate?since=rabbit:f9:7d>; rel=\"validate\"",
        ];
        let n = next(&j, v.iter().copied()).unwrap();
        assert_eq!(
            n.as_str(),
            "https://events.adobe.io/events/organizations/1/integrations/2/reg?since=rabbit:f9:7d&limit=3"
        );
        // Both links in one header value, `validate` first, rel unquoted.
        let one = "</x/validate?since=a>; rel=\"validate\", </events/organizations/1/integrations/2/reg?since=a>; rel=next";
        assert!(
            next(&j, [one].into_iter())
                .unwrap()
                .as_str()
                .ends_with("reg?since=a")
        );
        // A relation list.
        let list = "<?since=b>; rel=\"prev next\"";
        assert!(
            next(&j, [list].into_iter())
                .unwrap()
                .as_str()
                .ends_with("reg?since=b")
        );
    }

    #[test]
    fn links_off_the_journal_origin_or_missing_are_refused() {
        let j = journal();
        for bad in [
            "<https://evil.example/steal>; rel=\"next\"",
            "<//evil.example/steal>; rel=\"next\"",
            "<http://events.adobe.io/events/x>; rel=\"next\"",
            "<https://events.adobe.io:8443/events/x>; rel=\"next\"",
            "<https://user:pw@events.adobe.io/events/x>; rel=\"next\"",
        ] {
            assert_eq!(
                next(&j, [bad].into_iter()),
                Err(LinkError::OffOrigin),
                "{bad}"
            );
        }
        assert_eq!(
            next(&j, ["</a b>; rel=\"next\""].into_iter()),
            Err(LinkError::Malformed)
        );
        for none in ["", "</x>; rel=\"validate\"", "</x>", "garbage"] {
            assert_eq!(
                next(&j, [none].into_iter()),
                Err(LinkError::Missing),
                "{none}"
            );
        }
        assert_eq!(next(&j, std::iter::empty()), Err(LinkError::Missing));
    }
}
