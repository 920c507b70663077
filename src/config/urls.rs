//! The upstream URLs: IMS's token endpoint and the ACCS tenant.

use super::error::{ConfigError, err};
use url::Url;

pub fn upstream_url(name: &'static str, raw: &str, allow_http: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|_| {
        if raw.is_ascii() {
            err(name, "must be an absolute URL")
        } else {
            // The build carries no Unicode tables for host names (`idna_adapter`
            // 1.0, see Cargo.toml): a non-ASCII host does not parse.
            err(
                name,
                "must be an absolute URL in ASCII: write an internationalized host name in its xn-- (punycode) form",
            )
        }
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(err(
                name,
                "must use https:// (set `allow_http` to true for local development only)",
            ));
        }
        _ => return Err(err(name, "must be an https:// URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err(name, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(name, "must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(err(name, "must not have a fragment"));
    }
    Ok(url)
}

pub fn accs_base_url(raw: &str, allow_http: bool) -> Result<Url, ConfigError> {
    const NAME: &str = "accs_base_url";
    let mut url = upstream_url(NAME, raw, allow_http)?;
    if url.query().is_some() {
        return Err(err(NAME, "must not have a query"));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    if path.is_empty() {
        return Err(err(
            NAME,
            "must end with the tenant id, as in https://<region>.api.commerce.adobe.com/<tenant-id>",
        ));
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.eq_ignore_ascii_case("rest") || last.eq_ignore_ascii_case("V1") {
        return Err(err(NAME, "must stop at the tenant id (no /rest or /V1)"));
    }
    url.set_path(&path);
    Ok(url)
}
