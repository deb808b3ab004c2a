//! The portal API behind the session check: the same [`SessionLayer`] any embedder can put in
//! front of a hyper or axum app, with the gateway's own responder so that refusals are
//! rendered in one place like every other error.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, HeaderValue, LOCATION};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Body as HttpBody;
use serde::Serialize;
use smallvec::SmallVec;
use tracing::Instrument;

use credless_registry::model::Tenant;
use credless_session::{ErrorResponder, Identity, SessionError, SessionLayer, TenantResolver};

use crate::accounts;
use crate::app::{BoxError, Shared, json};
use crate::audit::Audit;
use crate::forward::is_safe_return_path;
use crate::problem::{Body, Problem};
use crate::request::{RequestId, read_body};

/// What the portal learnt before the session check, carried in one request extension to the
/// layer's resolver, the responder and the routes.
#[derive(Clone)]
pub(crate) struct Routed {
    /// The tenant `Host` named.
    pub(crate) tenant: Arc<Tenant>,
    /// The request id, for problem documents.
    pub(crate) request_id: RequestId,
    /// The normalised path and query.
    pub(crate) target: String,
    /// Whether the request's own span is recorded (it is opened at `debug`).
    pub(crate) span_recorded: bool,
}

impl Routed {
    /// The span for a route that waits on the store or a cloud, or for a refusal: an `info`
    /// request span, unless the request's own span is recorded and says it all already.
    pub(crate) fn waiting_span(&self) -> tracing::Span {
        if self.span_recorded {
            tracing::Span::none()
        } else {
            tracing::info_span!(
                "request",
                request.id = %self.request_id,
                tenant.id = %self.tenant.id,
            )
        }
    }
}

/// The session layer as the gateway uses it.
pub(crate) type GatewaySessionLayer = SessionLayer<TenantFromExtensions, GatewayResponder>;

/// Builds the layer once; requests only clone its `Arc`s.
pub(crate) fn session_layer(validator: credless_session::SessionValidator) -> GatewaySessionLayer {
    SessionLayer::new(validator, TenantFromExtensions).with_responder(GatewayResponder)
}

/// The tenant was resolved from `Host` before the layer runs; it travels in extensions.
pub(crate) struct TenantFromExtensions;

impl TenantResolver for TenantFromExtensions {
    fn tenant(&self, request: &Parts) -> Option<Arc<Tenant>> {
        request
            .extensions
            .get::<Routed>()
            .map(|routed| Arc::clone(&routed.tenant))
    }
}

/// Renders session refusals through [`Problem`]: `401 login_required` with a `login_url` for
/// API calls, a `302` to sign-in for browser navigations.
pub(crate) struct GatewayResponder;

impl ErrorResponder for GatewayResponder {
    fn respond(&self, request: &Parts, error: &SessionError) -> Response<Bytes> {
        let routed = request.extensions.get::<Routed>();
        let request_id = routed.map_or("", |routed| routed.request_id.as_str());
        let target = routed.map_or("/", |routed| routed.target.as_str());
        if !matches!(error, SessionError::NoSession) {
            // What is logged about a refusal names the request, whatever the log level.
            let span = routed.map_or_else(tracing::Span::none, Routed::waiting_span);
            let _in_request = span.enter();
            tracing::info!(code = error.code(), reason = %error, "session refused");
            return Problem::from(error).into_bytes_response(request_id);
        }

        let return_to = if is_safe_return_path(target) {
            target
        } else {
            "/"
        };
        let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        let login_url = format!("/oauth2/start?rd={encoded}");
        if !target.starts_with("/api/") && wants_html(request) {
            let mut response = Response::new(Bytes::new());
            *response.status_mut() = StatusCode::FOUND;
            if let Ok(location) = HeaderValue::from_str(&login_url) {
                response.headers_mut().insert(LOCATION, location);
            }
            return response;
        }
        Problem::from(error)
            .with("login_url", login_url)
            .into_bytes_response(request_id)
    }
}

fn wants_html(request: &Parts) -> bool {
    request
        .headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("text/html"))
}

/// Calls `route` behind the session layer. The returned future is the layer's call itself,
/// with nothing wrapped around it.
pub(crate) fn guarded<B>(
    shared: &Arc<Shared>,
    request: Request<B>,
) -> impl Future<Output = Result<Response<Body>, Infallible>> + Send + use<B>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    use tower::{Layer, ServiceExt};

    let handler_state = Arc::clone(shared);
    let inner = tower::service_fn(move |request: Request<B>| {
        let shared = Arc::clone(&handler_state);
        async move { Ok::<_, Infallible>(route(&shared, request).await) }
    });
    shared.session_layer.layer(inner).oneshot(request)
}

/// The routes of a signed-in user.
async fn route<B>(shared: &Shared, mut request: Request<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let identity = request.extensions_mut().remove::<Arc<Identity>>();
    let Some(routed) = request.extensions_mut().remove::<Routed>() else {
        return Problem::internal().into_response("");
    };
    let answer = match identity {
        Some(identity) => dispatch(shared, request, &routed, &identity).await,
        None => Err(Problem::internal()),
    };
    answer.unwrap_or_else(|problem| problem.into_response(routed.request_id.as_str()))
}

async fn dispatch<B>(
    shared: &Shared,
    request: Request<B>,
    routed: &Routed,
    identity: &Identity,
) -> Result<Response<Body>, Problem>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (tenant, request_id, target) =
        (&*routed.tenant, routed.request_id.as_str(), &*routed.target);
    let path = target.split('?').next().unwrap_or("/");
    let segments: SmallVec<[&str; 8]> = path.trim_start_matches('/').split('/').collect();
    let method = request.method().clone();
    match segments.as_slice() {
        ["api", "v1", "me"] => {
            if !matches!(method, Method::GET | Method::HEAD) {
                return Err(Problem::method_not_allowed("GET, HEAD"));
            }
            Ok(json(StatusCode::OK, &Me::of(tenant, identity)))
        }
        ["api", "v1", "accounts"] => {
            if method != Method::GET {
                return Err(Problem::method_not_allowed("GET"));
            }
            let span = routed.waiting_span();
            Box::pin(accounts::list(shared, tenant, identity))
                .instrument(span)
                .await
        }
        ["api", "v1", "accounts", id, rest @ ..] if !id.is_empty() => {
            // Boxed, like the other routes that wait on the store or a cloud, so that the
            // future of a warm `/api/v1/me` stays small.
            let span = routed.waiting_span();
            Box::pin(async {
                let limits = &shared.config.limits;
                let (parts, body) = request.into_parts();
                let body = read_body(body, limits.max_body_bytes, limits.body_read_timeout).await?;
                let query = target.split_once('?').map(|(_, q)| q);
                let audit = Audit {
                    shared,
                    tenant,
                    identity,
                    request_id,
                };
                accounts::one(&audit, &method, id, rest, query, &parts.headers, body).await
            })
            .instrument(span)
            .await
        }
        ["api", "v1", "audit"] => {
            if method != Method::GET {
                return Err(Problem::method_not_allowed("GET"));
            }
            if !is_tenant_admin(tenant, identity) {
                return Err(Problem::forbidden(
                    "only tenant admins may read the audit log",
                ));
            }
            let limit = audit_limit(target.split_once('?').map(|(_, q)| q))?;
            let span = routed.waiting_span();
            let events = Box::pin(shared.registry.audit(&tenant.id, limit))
                .instrument(span)
                .await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "events": events }),
            ))
        }
        _ if !path.starts_with("/api/") => {
            crate::console::respond(&method, path, request.headers())
        }
        _ => Err(Problem::not_found(format!("no resource at {path}"))),
    }
}

/// `GET /api/v1/me`.
#[derive(Serialize)]
struct Me<'a> {
    tenant: &'a str,
    subject: &'a str,
    email: Option<&'a str>,
    preferred_username: Option<&'a str>,
    groups: &'a [String],
    tenant_admin: bool,
}

impl<'a> Me<'a> {
    fn of(tenant: &'a Tenant, identity: &'a Identity) -> Self {
        Self {
            tenant: &tenant.id,
            subject: &identity.subject,
            email: identity.email.as_deref(),
            preferred_username: identity.preferred_username.as_deref(),
            groups: &identity.groups,
            tenant_admin: is_tenant_admin(tenant, identity),
        }
    }
}

/// The tenant's `admin_email`, or a member of one of its `admin_groups`.
pub(crate) fn is_tenant_admin(tenant: &Tenant, identity: &Identity) -> bool {
    let by_email = identity
        .email
        .as_deref()
        .is_some_and(|email| email.eq_ignore_ascii_case(&tenant.admin_email));
    by_email
        || identity
            .groups
            .iter()
            .any(|group| tenant.admin_groups.contains(group))
}

/// `?limit=N`: 1 to 1000, 100 by default.
fn audit_limit(query: Option<&str>) -> Result<u32, Problem> {
    let Some(query) = query else { return Ok(100) };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == "limit" {
            return match value.parse::<u32>() {
                Ok(limit @ 1..=1000) => Ok(limit),
                _ => Err(Problem::invalid_field(
                    "limit",
                    "use a number from 1 to 1000",
                )),
            };
        }
    }
    Ok(100)
}
