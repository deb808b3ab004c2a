//! The public listener: every request is routed to exactly one tenant by its `Host`, then to
//! the sign-in pass-through or, behind the session check, the portal API.

use std::sync::Arc;

use bytes::Bytes;
use credless_registry::model::Tenant;
use http::header::ORIGIN;
use http::request::Parts;
use http::{Method, Request, Response};
use http_body::Body as HttpBody;

use crate::api::Routed;
use crate::app::{BoxError, Context, Next, Shared};
use crate::forward::{self, Outgoing};
use crate::problem::{Body, Problem};
use crate::request;

/// Routes a request of the public listener, without waiting: to the sign-in pass-through,
/// or to the API and portal behind the session check.
pub(crate) fn route<B>(
    shared: &Shared,
    mut parts: Parts,
    body: B,
    cx: &mut Context,
) -> Result<Next<B>, Problem> {
    cx.route = "/*";
    let host = request::host(&parts)?;
    let path = request::normalize_path(parts.uri.path())?;
    let Some(tenant) = shared.registry.resolve(&host) else {
        tracing::debug!(request.id = %cx.request_id, host = %truncate(&host), "unknown host");
        return Err(Problem::unknown_host());
    };

    if path == "/oauth2" || path.starts_with("/oauth2/") {
        cx.route = "/oauth2/*";
        let host = host.into_owned();
        return Ok(Next::SignIn(SignIn {
            parts,
            body,
            host,
            path,
            tenant,
        }));
    }

    cx.route = route_label(&path);
    if path.starts_with("/api/") && is_unsafe(&parts.method) && is_cross_site(&parts, &host) {
        let trusted = &shared.config.server.trusted_proxies;
        let client = request::client_addr(cx.peer, &parts.headers, trusted);
        tracing::info!(
            request.id = %cx.request_id,
            tenant.id = %tenant.id,
            client.address = %client,
            "cross-site request refused"
        );
        return Err(Problem::csrf_rejected());
    }
    let target = match parts.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    parts.extensions.insert(Routed {
        tenant,
        request_id: cx.request_id,
        target,
        span_recorded: false,
    });
    Ok(Next::Api(Request::from_parts(parts, body)))
}

/// A request for the tenant's own oauth2-proxy, as it arrived.
pub(crate) struct SignIn<B> {
    parts: Parts,
    body: B,
    /// `Host`, lower-cased.
    host: String,
    /// The normalised path.
    path: String,
    tenant: Arc<Tenant>,
}

impl<B> SignIn<B> {
    pub(crate) fn tenant_id(&self) -> &str {
        &self.tenant.id
    }
}

/// `/oauth2/*`: forwarded to the tenant's proxy, forgetting the cached session first on a
/// sign-out so that it ends at once.
pub(crate) async fn sign_in_pass_through<B>(
    shared: &Shared,
    sign_in: SignIn<B>,
    cx: &Context,
) -> Result<Response<Body>, Problem>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let SignIn {
        parts,
        body,
        host,
        path,
        tenant,
    } = sign_in;
    if path == "/oauth2/sign_out" {
        shared
            .sessions
            .invalidate_session(&tenant, &parts.headers)
            .await;
    }
    let limits = &shared.config.limits;
    let body = request::read_body(body, limits.max_body_bytes, limits.body_read_timeout).await?;
    let trusted = &shared.config.server.trusted_proxies;
    let outgoing = Outgoing {
        method: &parts.method,
        path: &path,
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
        host: &host,
        proto: request::forwarded_proto(cx.peer, &parts.headers, trusted),
        client: request::client_addr(cx.peer, &parts.headers, trusted),
    };
    let base = &shared.config.server.public_base_domain;
    let insecure = shared.config.server.allow_insecure_upstreams;
    forward::forward(&shared.upstream, &tenant, base, insecure, outgoing).await
}

/// Route templates for metrics: known routes by name, the rest by area.
fn route_label(path: &str) -> &'static str {
    // No route has more than seven segments: longer paths only need their area.
    let mut segments = [""; 8];
    let mut parts = path.trim_start_matches('/').split('/');
    let mut count = 0;
    for slot in &mut segments {
        let Some(segment) = parts.next() else { break };
        *slot = segment;
        count += 1;
    }
    if parts.next().is_some() {
        return if path.starts_with("/api/") {
            "/api/*"
        } else {
            "/*"
        };
    }
    match &segments[..count] {
        ["api", "v1", "me"] => "/api/v1/me",
        ["api", "v1", "accounts"] => "/api/v1/accounts",
        ["api", "v1", "accounts", _] => "/api/v1/accounts/{id}",
        ["api", "v1", "accounts", _, "verify"] => "/api/v1/accounts/{id}/verify",
        ["api", "v1", "accounts", _, "trust"] => "/api/v1/accounts/{id}/trust",
        ["api", "v1", "accounts", _, "resources"] => "/api/v1/accounts/{id}/resources",
        ["api", "v1", "accounts", _, "resources", _] => "/api/v1/accounts/{id}/resources/{rid}",
        ["api", "v1", "accounts", _, "resources", _, "start"] => {
            "/api/v1/accounts/{id}/resources/{rid}/start"
        }
        ["api", "v1", "accounts", _, "resources", _, "stop"] => {
            "/api/v1/accounts/{id}/resources/{rid}/stop"
        }
        ["api", "v1", "audit"] => "/api/v1/audit",
        ["api", ..] => "/api/*",
        _ => "/*",
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `Origin` naming another origin, or `Sec-Fetch-Site: cross-site`.
fn is_cross_site(parts: &Parts, host: &str) -> bool {
    let cross_fetch = parts
        .headers
        .get("sec-fetch-site")
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    let foreign_origin = parts.headers.get_all(ORIGIN).iter().any(|origin| {
        let origin = origin.to_str().unwrap_or("null");
        let authority = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        !authority.eq_ignore_ascii_case(host)
            && !authority.eq_ignore_ascii_case(host.trim_end_matches(":80"))
            && !authority.eq_ignore_ascii_case(host.trim_end_matches(":443"))
    });
    cross_fetch || foreign_origin
}

/// Host values come from clients: log at most a short prefix.
fn truncate(host: &str) -> &str {
    let end = host.char_indices().nth(64).map_or(host.len(), |(at, _)| at);
    &host[..end]
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn routes_are_labelled_by_template_and_long_paths_by_area() {
        assert_eq!(route_label("/api/v1/me"), "/api/v1/me");
        assert_eq!(
            route_label("/api/v1/accounts/a/resources/r/stop"),
            "/api/v1/accounts/{id}/resources/{rid}/stop"
        );
        assert_eq!(route_label("/api/v1/accounts/a/b/c/d/e/f/g"), "/api/*");
        assert_eq!(route_label("/api/v2"), "/api/*");
        assert_eq!(route_label("/"), "/*");
        assert_eq!(route_label("/a/b/c/d/e/f/g/h/i"), "/*");
    }
}
