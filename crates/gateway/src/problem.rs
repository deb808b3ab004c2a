//! The one place where failures become HTTP answers: `application/problem+json` bodies
//! (RFC 9457) with the contract's `code` member.
//!
//! Handlers return [`Problem`]s; errors of the library crates turn into them through the
//! `From` impls below, so every mapping from an error kind to a status lives in this file.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value};

use credless_exchange::ExchangeError;
use credless_registry::RegistryError;
use credless_resources::ResourceError;
use credless_session::SessionError;

/// The response body type of every Credless answer.
pub type Body = Full<Bytes>;

/// A failure as the client sees it.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
    members: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem with a contract `code` and a `detail` that says what to do.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            members: Map::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a member to the body, such as `login_url` or `field`.
    pub fn with(mut self, member: &str, value: impl Into<Value>) -> Self {
        self.members.insert(member.to_owned(), value.into());
        self
    }

    /// Adds a response header, such as `Allow` or `Retry-After`.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// One line for the audit trail: code, status and the cloud's code when there is one;
    /// never anything a client sent.
    pub fn summary(&self) -> String {
        match self.members.get("cloud_code").and_then(Value::as_str) {
            Some(cloud) => format!(
                "{} ({}), cloud code {cloud}",
                self.code,
                self.status.as_u16()
            ),
            None => format!("{} ({})", self.code, self.status.as_u16()),
        }
    }

    /// `404 unknown_host`: no tenant answers to this `Host`.
    pub fn unknown_host() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_host",
            "no tenant is registered for this host name; check the address you used",
        )
    }

    /// `404 not_found`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// `400 invalid_request`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    /// `400 invalid_request` naming the field at fault.
    pub fn invalid_field(field: impl Into<String>, reason: impl AsRef<str>) -> Self {
        let field = field.into();
        Self::invalid(format!("{field}: {}", reason.as_ref())).with("field", field)
    }

    /// `413 payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }

    /// `431` for a header block over the limit.
    pub fn headers_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            format!("the request headers exceed the limit of {limit} bytes"),
        )
    }

    /// `405` with the methods the path accepts.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            format!("this path accepts {allow}"),
        )
        .with_header(http::header::ALLOW, HeaderValue::from_static(allow))
    }

    /// `401` for a missing or wrong operator token.
    pub fn admin_token_invalid() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "token_invalid",
            "send the operator token as `Authorization: Bearer <token>`",
        )
        .with_header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        )
    }

    /// `503 unavailable`: a dependency of the gateway cannot answer right now.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// `500 internal`: the body never carries the cause, which is logged instead.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an unexpected error occurred; the request id identifies it in the gateway's logs",
        )
    }

    /// Renders the problem, tagged with the request id.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        self.into_bytes_response(request_id).map(Full::new)
    }

    /// Renders the problem with a plain `Bytes` body, for middleware that needs one.
    pub fn into_bytes_response(self, request_id: &str) -> Response<Bytes> {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            format!("urn:credless:problem:{}", self.code).into(),
        );
        body.insert("title".into(), title(self.status).into());
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("detail".into(), self.detail.into());
        body.insert("code".into(), self.code.into());
        body.insert("request_id".into(), request_id.into());
        body.extend(self.members);

        let bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
        let mut response = Response::new(Bytes::from(bytes));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

fn title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl From<RegistryError> for Problem {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Invalid { field, reason } => Problem::invalid_field(field, reason),
            RegistryError::NotFound { kind, id } => {
                Problem::not_found(format!("no {kind} with id `{id}`"))
            }
            RegistryError::Conflict { reason } => {
                Problem::new(StatusCode::CONFLICT, "conflict", reason)
            }
            RegistryError::Unavailable { .. } => {
                tracing::warn!(error = %DisplayChain(&error), "store unavailable");
                Problem::unavailable("the tenant store cannot be reached; try again shortly")
            }
            other => {
                tracing::error!(error = %DisplayChain(&other), "registry failure");
                Problem::internal()
            }
        }
    }
}

impl From<&SessionError> for Problem {
    fn from(error: &SessionError) -> Self {
        if error.status().is_server_error() {
            tracing::warn!(error = %DisplayChain(error), "session check failed upstream");
        }
        Problem::new(error.status(), error.code(), error.detail())
    }
}

impl Problem {
    /// `403 forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// `403 csrf_rejected`.
    pub fn csrf_rejected() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_rejected",
            "this request came from another site; send it from the portal's own pages",
        )
    }
}

impl From<&ExchangeError> for Problem {
    fn from(error: &ExchangeError) -> Self {
        let with_cloud = |problem: Problem| match error.cloud_code() {
            Some(code) => problem.with("cloud_code", code),
            None => problem,
        };
        match error {
            ExchangeError::TrustRefused { .. } | ExchangeError::TokenRejected { .. } => with_cloud(
                Problem::new(StatusCode::FORBIDDEN, "exchange_denied", error.to_string()),
            ),
            ExchangeError::Throttled { retry_after, .. } => {
                let seconds = retry_after.map_or(5, |d| d.as_secs().max(1));
                let problem = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "exchange_failed",
                    format!("{error}; retry in {seconds} s"),
                )
                .with("retry_after", seconds)
                .with_header(http::header::RETRY_AFTER, HeaderValue::from(seconds));
                with_cloud(problem)
            }
            ExchangeError::Unavailable { .. } => {
                tracing::warn!(error = %DisplayChain(error), "cloud unavailable");
                let problem = Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "exchange_failed",
                    format!("{error}; try again shortly"),
                );
                with_cloud(problem)
            }
            _ => with_cloud(Problem::new(
                StatusCode::BAD_GATEWAY,
                "exchange_failed",
                error.to_string(),
            )),
        }
    }
}

impl From<&ResourceError> for Problem {
    fn from(error: &ResourceError) -> Self {
        let detail = error.to_string();
        let problem = match error {
            ResourceError::NotFound { .. } => Problem::not_found(detail),
            ResourceError::Conflict { .. } => {
                Problem::new(StatusCode::CONFLICT, "conflict", detail)
            }
            ResourceError::Quota { .. } => {
                Problem::new(StatusCode::CONFLICT, "cloud_error", detail)
            }
            ResourceError::Denied { .. } => {
                Problem::new(StatusCode::FORBIDDEN, "cloud_error", detail)
            }
            ResourceError::Invalid { field, reason, .. } => {
                Problem::invalid_field(field.clone(), reason)
            }
            ResourceError::Throttled { retry_after, .. } => {
                let seconds = retry_after.map_or(5, |d| d.as_secs().max(1));
                Problem::new(StatusCode::TOO_MANY_REQUESTS, "cloud_error", detail)
                    .with("retry_after", seconds)
                    .with_header(http::header::RETRY_AFTER, HeaderValue::from(seconds))
            }
            _ => {
                tracing::warn!(error = %DisplayChain(error), "cloud unavailable");
                Problem::new(StatusCode::BAD_GATEWAY, "cloud_error", detail)
            }
        };
        match error.cloud_code() {
            Some(code) => problem.with("cloud_code", code),
            None => problem,
        }
    }
}

/// Displays an error with its sources, for logs only.
pub(crate) struct DisplayChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
