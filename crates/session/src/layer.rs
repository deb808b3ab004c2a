//! [`SessionLayer`]: a tower middleware that admits only requests with a valid session.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use credless_registry::model::Tenant;
use http::header::{ACCEPT, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::{SessionError, SessionValidator};

/// Finds the tenant a request is for.
///
/// Implemented for a fixed `Arc<Tenant>` (single-tenant embedders) and for closures
/// `Fn(&Parts) -> Option<Arc<Tenant>>`.
pub trait TenantResolver: Send + Sync + 'static {
    /// The request's tenant, or `None` to refuse it with [`SessionError::UnknownTenant`].
    fn tenant(&self, request: &Parts) -> Option<Arc<Tenant>>;
}

impl TenantResolver for Arc<Tenant> {
    fn tenant(&self, _request: &Parts) -> Option<Arc<Tenant>> {
        Some(Arc::clone(self))
    }
}

impl<F> TenantResolver for F
where
    F: Fn(&Parts) -> Option<Arc<Tenant>> + Send + Sync + 'static,
{
    fn tenant(&self, request: &Parts) -> Option<Arc<Tenant>> {
        self(request)
    }
}

/// Turns a refused request into the response the client gets.
pub trait ErrorResponder: Send + Sync + 'static {
    /// The response for `error`; `request` is there to tailor it (a redirect for browsers).
    fn respond(&self, request: &Parts, error: &SessionError) -> Response<Bytes>;
}

/// The default responder: an `application/problem+json` body
/// `{type, title, status, detail, code}`, with `login_url` on `login_required`; a browser
/// navigation (`Accept: text/html`) without a session is redirected to `/oauth2/start`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemJson;

impl ErrorResponder for ProblemJson {
    fn respond(&self, request: &Parts, error: &SessionError) -> Response<Bytes> {
        let login_url = "/oauth2/start";
        if matches!(error, SessionError::NoSession) && wants_html(request) {
            let target = format!("{login_url}?rd={}", encode(&return_path(request)));
            if let Ok(location) = HeaderValue::from_str(&target) {
                let mut response = Response::new(Bytes::new());
                *response.status_mut() = StatusCode::FOUND;
                response.headers_mut().insert(LOCATION, location);
                return response;
            }
        }

        let status = error.status();
        let mut body = serde_json::json!({
            "type": format!("urn:credless:problem:{}", error.code()),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": error.detail(),
            "code": error.code(),
        });
        if matches!(error, SessionError::NoSession) {
            body["login_url"] = login_url.into();
        }
        let mut response = Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
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

/// The request's path and query, when it is a safe relative return target; else `/`.
fn return_path(request: &Parts) -> String {
    let Some(target) = request.uri.path_and_query().map(|pq| pq.as_str()) else {
        return "/".to_owned();
    };
    let safe = target.starts_with('/')
        && !target.starts_with("//")
        && !target.contains('\\')
        && !target.bytes().any(|b| b.is_ascii_control() || b == b' ');
    if safe {
        target.to_owned()
    } else {
        "/".to_owned()
    }
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Applies [`Session`] to a service.
#[derive(Clone)]
pub struct SessionLayer<R, E = ProblemJson> {
    validator: SessionValidator,
    resolver: Arc<R>,
    responder: Arc<E>,
}

impl<R: TenantResolver> SessionLayer<R> {
    /// Guards services with `validator`, finding each request's tenant with `resolver`.
    pub fn new(validator: SessionValidator, resolver: R) -> Self {
        Self {
            validator,
            resolver: Arc::new(resolver),
            responder: Arc::new(ProblemJson),
        }
    }
}

impl<R, E> SessionLayer<R, E> {
    /// Answers refused requests with `responder` instead of [`ProblemJson`].
    pub fn with_responder<E2: ErrorResponder>(self, responder: E2) -> SessionLayer<R, E2> {
        SessionLayer {
            validator: self.validator,
            resolver: self.resolver,
            responder: Arc::new(responder),
        }
    }
}

impl<S, R, E> Layer<S> for SessionLayer<R, E> {
    type Service = Session<S, R, E>;

    fn layer(&self, inner: S) -> Self::Service {
        Session {
            inner,
            validator: self.validator.clone(),
            resolver: Arc::clone(&self.resolver),
            responder: Arc::clone(&self.responder),
        }
    }
}

/// A service that validates each request's session before calling `S`.
///
/// On success the inner service sees an `Arc<`[`crate::Identity`]`>` in the request
/// extensions, and refreshed `Set-Cookie` values are appended to its response. On failure `S`
/// is not called; the responder answers.
#[derive(Clone)]
pub struct Session<S, R, E = ProblemJson> {
    inner: S,
    validator: SessionValidator,
    resolver: Arc<R>,
    responder: Arc<E>,
}

impl<S, R, E, ReqBody, ResBody> Service<Request<ReqBody>> for Session<S, R, E>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    R: TenantResolver,
    E: ErrorResponder,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Keep the service that was polled ready; leave a fresh clone in its place.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let validator = self.validator.clone();
        let resolver = Arc::clone(&self.resolver);
        let responder = Arc::clone(&self.responder);

        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let validated = match resolver.tenant(&parts) {
                Some(tenant) => validator.validate(&tenant, &parts.headers).await,
                None => Err(SessionError::UnknownTenant),
            };
            let validated = match validated {
                Ok(validated) => validated,
                Err(error) => return Ok(responder.respond(&parts, &error).map(ResBody::from)),
            };

            parts.extensions.insert(validated.identity);
            let mut response = inner.call(Request::from_parts(parts, body)).await?;
            for cookie in validated.set_cookie {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn parts(uri: &str, accept: Option<&str>) -> Parts {
        let mut builder = Request::builder().uri(uri);
        if let Some(accept) = accept {
            builder = builder.header(ACCEPT, accept);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn api_clients_get_a_problem_with_a_login_url() {
        let response = ProblemJson.respond(&parts("/api/v1/me", None), &SessionError::NoSession);

        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["code"], "login_required");
        assert_eq!(body["status"], 401);
        assert_eq!(body["login_url"], "/oauth2/start");
        assert_eq!(body["type"], "urn:credless:problem:login_required");
    }

    #[test]
    fn browsers_are_sent_to_sign_in_and_back_to_a_safe_path_only() {
        let html = Some("text/html,application/xhtml+xml");
        let response = ProblemJson.respond(&parts("/vms?x=1", html), &SessionError::NoSession);
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(
            response.headers()[LOCATION],
            "/oauth2/start?rd=%2Fvms%3Fx%3D1"
        );

        let sneaky =
            ProblemJson.respond(&parts("//evil.example/x", html), &SessionError::NoSession);
        assert_eq!(sneaky.headers()[LOCATION], "/oauth2/start?rd=%2F");
    }

    #[test]
    fn other_refusals_carry_their_code_and_no_login_url() {
        let response = ProblemJson.respond(&parts("/", None), &SessionError::Forbidden);

        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["code"], "forbidden");
        assert!(body.get("login_url").is_none());
    }
}
