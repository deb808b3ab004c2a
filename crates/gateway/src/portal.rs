//! The public listener: every request is routed to exactly one tenant by its `Host`, then to
//! the tenant's portal and API.

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as HttpBody;

use crate::app::{BoxError, Context, Shared};
use crate::problem::{Body, Problem};
use crate::request;

pub(crate) async fn handle<B>(
    shared: &Shared,
    req: Request<B>,
    cx: &mut Context,
) -> Result<Response<Body>, Problem>
where
    B: HttpBody<Data = Bytes> + Send,
    B::Error: Into<BoxError>,
{
    cx.route = "/*";
    let (parts, _body) = req.into_parts();
    let host = request::host(&parts)?;
    let path = request::normalize_path(parts.uri.path())?;
    let Some(tenant) = shared.registry.resolve(&host) else {
        tracing::debug!(host = %truncate(&host), "unknown host");
        return Err(Problem::unknown_host());
    };
    tracing::Span::current().record("tenant.id", tenant.id.as_str());
    let client = request::client_addr(
        cx.peer,
        &parts.headers,
        &shared.config.server.trusted_proxies,
    );
    tracing::debug!(client.address = %client, http.path = %path, "routed to tenant");

    // Not yet: the sign-in pass-through, the session check and the portal API come with the
    // sessions, exchange and resources work; until then a known tenant has no paths.
    Err(Problem::not_found(format!("no resource at {path}")))
}

/// Host values come from clients: log at most a short prefix.
fn truncate(host: &str) -> &str {
    let end = host.char_indices().nth(64).map_or(host.len(), |(at, _)| at);
    &host[..end]
}
