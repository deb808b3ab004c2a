//! The gateway's shared state and the pipeline every request goes through: a request id, a
//! span, the limits, the listener's routes, `X-Request-Id` on the answer, and metrics.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::Full;
use tracing::{Instrument, Level};

use credless_exchange::Exchanger;
use credless_registry::Registry;
use credless_resources::ResourceProvider;
use credless_session::outbound::{self, OutboundOptions};
use credless_session::{SessionConfig, SessionValidator};

use crate::api::{self, GatewaySessionLayer};
use crate::config::Config;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::problem::{Body, Problem};
use crate::request::RequestId;
use crate::token::AdminToken;
use crate::{admin, portal, request};

/// Named once: a header name given as text is parsed on every use.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A body error type any hyper or test body can convert into.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The tenants' portal and API.
    Public,
    /// The operator API and health endpoints.
    Admin,
}

impl Listener {
    fn label(self) -> &'static str {
        match self {
            Listener::Public => "public",
            Listener::Admin => "admin",
        }
    }
}

/// A Credless gateway: configuration, registry and metrics, ready to answer requests.
///
/// Cheap to clone. [`crate::Server`] puts it behind real listeners; embedders and tests can
/// also call [`Gateway::handle`] directly, without a socket.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) registry: Arc<Registry>,
    pub(crate) sessions: SessionValidator,
    pub(crate) session_layer: GatewaySessionLayer,
    pub(crate) exchanges: Exchanger,
    pub(crate) resources: Vec<Arc<dyn ResourceProvider>>,
    /// For the `/oauth2/*` pass-through: no redirects, timeouts, guarded addresses.
    pub(crate) upstream: reqwest::Client,
    pub(crate) metrics: Metrics,
    pub(crate) admin_token: AdminToken,
    pub(crate) draining: AtomicBool,
}

/// What a handler knows about the request besides the request itself.
pub(crate) struct Context {
    pub(crate) request_id: RequestId,
    pub(crate) peer: SocketAddr,
    /// The route template, for metrics; handlers set it once they know it.
    pub(crate) route: &'static str,
}

impl Gateway {
    /// Assembles a gateway from its parts.
    ///
    /// Fails when the outbound HTTP client cannot be built (no usable TLS roots).
    pub fn new(
        config: Config,
        registry: Arc<Registry>,
        admin_token: AdminToken,
    ) -> Result<Self, Error> {
        let allow_insecure = config.server.allow_insecure_upstreams;
        let sessions = SessionValidator::new(SessionConfig {
            cache_ttl: config.session.cache_ttl,
            proxy_timeout: config.session.proxy_timeout,
            allow_insecure_upstreams: allow_insecure,
            ..SessionConfig::default()
        })
        .map_err(|error| Error::Client(error.to_string()))?;
        let upstream = outbound::client(&OutboundOptions {
            connect_timeout: config.session.proxy_timeout,
            timeout: config.session.proxy_timeout,
            allow_insecure_upstreams: allow_insecure,
        })
        .map_err(|error| Error::Client(error.to_string()))?;
        let exchanges = crate::clouds::exchanger(&config)?;
        let resources = crate::clouds::resources(&config)?;
        let metrics = Metrics::new();
        metrics.set_tenants(registry.hosts().len());
        let shared = Shared {
            exchanges,
            resources,
            config,
            registry,
            session_layer: api::session_layer(sessions.clone()),
            sessions,
            upstream,
            metrics,
            admin_token,
            draining: false.into(),
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// The token exchange, with its credential cache.
    pub fn exchanges(&self) -> &Exchanger {
        &self.shared.exchanges
    }

    /// The session validator, shared with the portal routes.
    pub fn sessions(&self) -> &SessionValidator {
        &self.shared.sessions
    }

    /// The tenant registry this gateway serves.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.shared.registry
    }

    /// The configuration this gateway runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Marks the gateway as shutting down: `/readyz` answers `503` from now on.
    pub fn start_draining(&self) {
        self.shared.draining.store(true, Ordering::Relaxed);
    }

    /// Requests being answered right now, on both listeners.
    pub fn in_flight(&self) -> i64 {
        self.shared.metrics.in_flight()
    }

    /// Answers one request that arrived on `listener` from `peer`.
    ///
    /// The checks that need no waiting (limits, `Host`, tenant, path, the CSRF rule) run at
    /// once, when this is called; the returned future does the rest. Keeping that future
    /// small matters: hyper moves it once per request, and the warm `/api/v1/me` path is
    /// mostly such bookkeeping.
    pub fn handle<B>(
        &self,
        listener: Listener,
        req: Request<B>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response<Body>> + Send + use<B>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let in_flight = self.shared.metrics.request();
        let request_id = request::new_request_id();
        let method = req.method().clone();
        let mut cx = Context {
            request_id,
            peer,
            route: "unrouted",
        };
        let mut next = self.route(listener, req, &mut cx);
        let tenant = next.as_ref().ok().and_then(Next::tenant_id);
        let span = match next {
            Ok(Next::Api(_)) => request_span(Level::DEBUG, cx.request_id, tenant),
            _ => request_span(Level::INFO, cx.request_id, tenant),
        };
        if let Ok(Next::Api(request)) = &mut next
            && let Some(routed) = request.extensions_mut().get_mut::<api::Routed>()
        {
            routed.span_recorded = !span.is_disabled();
        }

        // One span around the whole answer, entered on each poll, so that what the routes and
        // the crates below them log carries the request's id and tenant (at the level
        // `request_span` explains).
        let gateway = self.clone();
        async move {
            let shared = &gateway.shared;
            let result = match next {
                Err(problem) => Err(problem),
                Ok(Next::Api(request)) => match api::guarded(shared, request).await {
                    Ok(response) => Ok(response),
                    Err(never) => match never {},
                },
                // Boxed, as every route that waits on a remote service or the store: their
                // futures are many times the size of the warm API path's.
                Ok(Next::SignIn(sign_in)) => {
                    Box::pin(portal::sign_in_pass_through(shared, sign_in, &cx)).await
                }
                Ok(Next::Admin(req)) => Box::pin(admin::handle(shared, req, &mut cx)).await,
            };
            let response = gateway.finish(listener, &method, started, &cx, result);
            drop(in_flight);
            response
        }
        .instrument(span)
    }

    /// What a request needs next, decided without waiting: its limits, then its listener's
    /// routing.
    fn route<B>(
        &self,
        listener: Listener,
        req: Request<B>,
        cx: &mut Context,
    ) -> Result<Next<B>, Problem> {
        let limits = &self.shared.config.limits;
        let (parts, body) = req.into_parts();
        request::check_header_size(&parts, limits.max_header_bytes)?;
        request::check_declared_length(&parts.headers, limits.max_body_bytes)?;
        match listener {
            Listener::Public => portal::route(&self.shared, parts, body, cx),
            Listener::Admin => Ok(Next::Admin(Request::from_parts(parts, body))),
        }
    }

    /// Renders a refusal, adds `X-Request-Id`, and records the request's metrics and log
    /// line. Runs inside the request's span.
    fn finish(
        &self,
        listener: Listener,
        method: &Method,
        started: Instant,
        cx: &Context,
        result: Result<Response<Body>, Problem>,
    ) -> Response<Body> {
        let mut response = match result {
            Ok(response) => response,
            Err(problem) => {
                log_problem(&problem);
                problem.into_response(cx.request_id.as_str())
            }
        };
        response
            .headers_mut()
            .insert(X_REQUEST_ID, cx.request_id.header_value());
        let status = response.status();
        let elapsed = started.elapsed();
        self.shared
            .metrics
            .observe(listener.label(), cx.route, method, status, elapsed);
        tracing::debug!(
            listener = listener.label(),
            http.method = %method,
            http.route = cx.route,
            http.status = status.as_u16(),
            elapsed_ms = elapsed.as_millis() as u64,
            "request answered"
        );
        response
    }
}

/// Where [`Gateway::route`] sends a request.
pub(crate) enum Next<B> {
    /// The portal and API, behind the session check.
    Api(Request<B>),
    /// `/oauth2/*`, forwarded to the tenant's proxy.
    SignIn(portal::SignIn<B>),
    /// The operator listener.
    Admin(Request<B>),
}

impl<B> Next<B> {
    /// The tenant a public request was routed to.
    fn tenant_id(&self) -> Option<&str> {
        match self {
            Next::Api(request) => request
                .extensions()
                .get::<api::Routed>()
                .map(|routed| routed.tenant.id.as_str()),
            Next::SignIn(sign_in) => Some(sign_in.tenant_id()),
            Next::Admin(_) => None,
        }
    }
}

/// The span every log line about a request carries, with the request's id and tenant.
///
/// Requests behind the session check get a `debug` one: a log subscriber formats a span's
/// fields each time one is made, which is a noticeable share of a warm request answered from
/// memory. Their routes that wait on the store or a cloud open an `info` one themselves
/// ([`api::Routed::waiting_span`]); the sign-in pass-through and the operator API get an
/// `info` one here.
fn request_span(level: Level, id: RequestId, tenant: Option<&str>) -> tracing::Span {
    // `Display`, not `Debug`: a `Debug` string is escaped character by character.
    let tenant = tenant.map(tracing::field::display);
    if level == Level::DEBUG {
        tracing::debug_span!("request", request.id = %id, tenant.id = tenant)
    } else {
        tracing::info_span!("request", request.id = %id, tenant.id = tenant)
    }
}

/// Client mistakes are answered, not logged above `debug`; server-side failures were
/// already logged where they happened.
fn log_problem(problem: &Problem) {
    if problem.status().is_client_error() {
        tracing::debug!(
            http.status = problem.status().as_u16(),
            code = problem.code(),
            "refused"
        );
    }
}

/// A `200` JSON answer.
pub(crate) fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    // Most answers are small: start big enough to avoid regrowing the buffer several times.
    let mut bytes = Vec::with_capacity(256);
    if serde_json::to_writer(&mut bytes, value).is_err() {
        bytes.clear();
    }
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A plain-text answer.
pub(crate) fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An empty answer, such as `204`.
pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
