//! The `/oauth2/*` pass-through to a tenant's own oauth2-proxy.
//!
//! Only what the proxy needs crosses: method, normalised path, query, body, the tenant's own
//! cookies and harmless headers. Identity and forwarding headers a client sent are dropped in
//! every spelling; the gateway sets `X-Forwarded-Host`, `-Proto` and `-For` itself. Back come
//! the status, `Location`, every `Set-Cookie` (made host-only when its `Domain` would cover
//! other tenants) and the body.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response};
use http_body_util::Full;

use credless_registry::model::Tenant;
use credless_session::{ProxyFailure, SessionError};

use crate::problem::{Body, Problem};

/// The most a proxy answer may weigh; sign-in pages are small.
const MAX_UPSTREAM_BODY: usize = 1024 * 1024;

/// Request headers that pass to the proxy as they are; everything else is dropped.
const PASSED_REQUEST_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "content-type",
    "user-agent",
    "origin",
    "referer",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-dest",
];

/// Response headers relayed to the browser.
const RELAYED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "expires",
    "pragma",
    "location",
    "www-authenticate",
];

/// What the pass-through needs to know about the incoming request.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    /// Normalised path, starting with `/oauth2/`.
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: Bytes,
    /// The tenant hostname the client used, port included.
    pub(crate) host: &'a str,
    pub(crate) proto: &'a str,
    pub(crate) client: IpAddr,
}

/// Forwards one request and relays the answer.
pub(crate) async fn forward(
    http: &reqwest::Client,
    tenant: &Tenant,
    public_base_domain: &str,
    allow_insecure: bool,
    out: Outgoing<'_>,
) -> Result<Response<Body>, Problem> {
    check_return_targets(out.query)?;
    let base = credless_session::outbound::check_upstream(&tenant.proxy_url, allow_insecure)
        .map_err(|error| Problem::from(&error))?;
    let mut url = base;
    let prefix = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{prefix}{}", out.path));
    url.set_query(out.query);

    let mut request = http.request(out.method.clone(), url).body(out.body);
    for (name, value) in out.headers {
        if PASSED_REQUEST_HEADERS.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    if let Some(cookies) = tenant_cookies(out.headers, &tenant.cookie_name) {
        request = request.header(header::COOKIE, cookies);
    }
    request = request
        .header("x-forwarded-host", out.host)
        .header("x-forwarded-proto", out.proto)
        .header("x-forwarded-for", out.client.to_string());

    let span = tracing::debug_span!("proxy.forward", tenant.id = %tenant.id, http.path = out.path);
    let upstream = tracing::Instrument::instrument(request.send(), span)
        .await
        .map_err(failure)?;
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let body = read_limited(upstream).await?;

    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    for name in RELAYED_RESPONSE_HEADERS {
        for value in headers.get_all(*name) {
            response
                .headers_mut()
                .append(HeaderName::from_static(name), value.clone());
        }
    }
    for cookie in headers.get_all(header::SET_COOKIE) {
        if let Some(safe) = confine_cookie(cookie, public_base_domain) {
            response.headers_mut().append(header::SET_COOKIE, safe);
        }
    }
    Ok(response)
}

/// Reads the proxy's body, refusing one larger than any sign-in page.
async fn read_limited(mut upstream: reqwest::Response) -> Result<Bytes, Problem> {
    let mut body = Vec::new();
    while let Some(chunk) = upstream.chunk().await.map_err(failure)? {
        if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(Problem::from(&SessionError::ProxyUnavailable {
                kind: ProxyFailure::BadAnswer,
                source: None,
            }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

fn failure(error: reqwest::Error) -> Problem {
    let kind = if error.is_timeout() {
        ProxyFailure::Timeout
    } else if error.is_connect() {
        ProxyFailure::Unreachable
    } else {
        ProxyFailure::BadAnswer
    };
    if credless_session::outbound::is_refused_address(&error) {
        return Problem::from(&SessionError::InsecureUpstream {
            reason: "the proxy's hostname resolves to an internal address",
        });
    }
    tracing::info!(error = %crate::problem::DisplayChain(&error), "tenant proxy failed");
    Problem::from(&SessionError::ProxyUnavailable { kind, source: None })
}

/// The tenant's own cookies (`<name>`, `<name>_<n>`, `<name>_csrf`), and nothing else.
pub(crate) fn tenant_cookies(headers: &HeaderMap, cookie_name: &str) -> Option<String> {
    let own = |name: &str| {
        name == cookie_name
            || name
                .strip_prefix(cookie_name)
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|suffix| {
                    suffix == "csrf"
                        || (!suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
                })
    };
    let pairs: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, _)| own(name.trim()))
        })
        .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

/// Refuses `rd` (and oauth2-proxy's other return parameters) unless it is a relative path on
/// this host.
fn check_return_targets(query: Option<&str>) -> Result<(), Problem> {
    let Some(query) = query else { return Ok(()) };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == "rd" && !is_safe_return_path(&value) {
            return Err(Problem::invalid_field(
                "rd",
                "the return address must be a path on this host, such as /portal",
            ));
        }
    }
    Ok(())
}

/// A relative path starting with one `/`, without `\`, dot segments, whitespace or controls,
/// before and after percent-decoding.
pub(crate) fn is_safe_return_path(target: &str) -> bool {
    let check = |t: &str| {
        t.starts_with('/')
            && !t.starts_with("//")
            && !t.contains('\\')
            && !t
                .bytes()
                .any(|b| b.is_ascii_control() || b.is_ascii_whitespace())
            && !t
                .split(['/', '?', '#'])
                .any(|segment| segment == "." || segment == "..")
    };
    let decoded = percent_decode(target);
    check(target) && check(&decoded) && check(&percent_decode(&decoded))
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Drops a `Set-Cookie`'s `Domain` when it is at or above `public_base_domain`, where it would
/// reach every tenant; other cookies pass unchanged.
pub(crate) fn confine_cookie(cookie: &HeaderValue, base: &str) -> Option<HeaderValue> {
    let text = cookie.to_str().ok()?;
    let base = base.to_ascii_lowercase();
    let mut covers_others = false;
    let kept: Vec<&str> = text
        .split(';')
        .filter(|attribute| {
            let Some((name, value)) = attribute.split_once('=') else {
                return true;
            };
            if !name.trim().eq_ignore_ascii_case("domain") {
                return true;
            }
            let domain = value
                .trim()
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            let wide = base == domain || base.ends_with(&format!(".{domain}"));
            covers_others |= wide;
            !wide
        })
        .collect();
    if !covers_others {
        return Some(cookie.clone());
    }
    tracing::info!("made a proxy cookie host-only: its Domain covered other tenants");
    HeaderValue::from_str(&kept.join(";")).ok()
}

#[cfg(test)]
mod tests;
