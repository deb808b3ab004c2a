//! The one error type of this crate, and the HTTP status and contract code of each variant.

use std::sync::Arc;

use http::StatusCode;

/// Why a request has no usable session.
///
/// Every variant fails closed: none of them lets a request through. The messages carry no
/// cookie, token or upstream response text, so they are safe to show and to log.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The browser has no session with the tenant: no tenant cookie, or the tenant's proxy
    /// answered `401` (or `202` without identity). The user should sign in.
    #[error("no session: sign in through the tenant's proxy")]
    NoSession,

    /// The tenant's proxy answered `403`: signed in, but not allowed.
    #[error("the tenant's proxy refused this user")]
    Forbidden,

    /// The proxy vouched for the user but the ID token it passed failed verification.
    #[error("the ID token was refused: {reason}")]
    TokenInvalid {
        /// What was wrong, without any token content (for example `token expired`).
        reason: &'static str,
    },

    /// The tenant's proxy could not give a usable answer.
    #[error("the tenant's proxy is unavailable: {kind}")]
    ProxyUnavailable {
        /// Whether the proxy answered badly, could not be reached, or was too slow.
        kind: ProxyFailure,
        /// The underlying client error, when there was one.
        #[source]
        source: Option<Arc<reqwest::Error>>,
    },

    /// The tenant's identity provider could not supply its signing keys, and none are cached.
    #[error("the tenant's identity provider is unavailable: {reason}")]
    IdpUnavailable {
        /// What failed: discovery, the key set, an unusable document.
        reason: &'static str,
        /// The underlying client error, when there was one.
        #[source]
        source: Option<Arc<reqwest::Error>>,
    },

    /// An upstream URL is not `https`, or names or resolves to an internal address, while
    /// insecure upstreams are not allowed.
    #[error("refused to call an insecure upstream: {reason}")]
    InsecureUpstream {
        /// Which rule the upstream broke.
        reason: &'static str,
    },

    /// No tenant could be found for the request (only raised by [`crate::SessionLayer`]).
    #[error("no tenant serves this host")]
    UnknownTenant,

    /// The outbound HTTP client could not be built (the TLS backend failed to start).
    #[error("the outbound HTTP client could not be built")]
    Client(#[source] Arc<reqwest::Error>),
}

/// How a call to a tenant's proxy failed; decides between `502`, `503` and `504`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyFailure {
    /// The proxy answered, but not with `202`, `401` or `403`, or with headers that cannot
    /// be used (a redirect, a `5xx`, a malformed identity, identity without an ID token).
    BadAnswer,
    /// The proxy could not be reached (connection refused, DNS failure, reset).
    Unreachable,
    /// The proxy did not answer within the configured `proxy_timeout`.
    Timeout,
}

impl std::fmt::Display for ProxyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::BadAnswer => "bad answer",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timed out",
        })
    }
}

impl SessionError {
    /// The HTTP status a gateway should answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoSession | Self::TokenInvalid { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::ProxyUnavailable { kind, .. } => match kind {
                ProxyFailure::BadAnswer => StatusCode::BAD_GATEWAY,
                ProxyFailure::Unreachable => StatusCode::SERVICE_UNAVAILABLE,
                ProxyFailure::Timeout => StatusCode::GATEWAY_TIMEOUT,
            },
            Self::IdpUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsecureUpstream { .. } => StatusCode::BAD_GATEWAY,
            Self::UnknownTenant => StatusCode::NOT_FOUND,
            Self::Client(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The contract's error code (`login_required`, `forbidden`, `token_invalid`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSession => "login_required",
            Self::Forbidden => "forbidden",
            Self::TokenInvalid { .. } => "token_invalid",
            Self::ProxyUnavailable { .. } => "proxy_unavailable",
            Self::IdpUnavailable { .. } | Self::InsecureUpstream { .. } => "unavailable",
            Self::UnknownTenant => "unknown_host",
            Self::Client(_) => "internal",
        }
    }

    /// A sentence for the `detail` member of a problem response: what went wrong and what to
    /// do. It never holds upstream text, cookies or tokens.
    pub fn detail(&self) -> String {
        match self {
            Self::NoSession => "You are not signed in. Sign in and try again.".to_owned(),
            Self::Forbidden => {
                "Your organisation's sign-in service does not allow you here.".to_owned()
            }
            Self::TokenInvalid { reason } => {
                format!("Your sign-in could not be verified ({reason}). Sign in again.")
            }
            Self::ProxyUnavailable { kind, .. } => format!(
                "Your organisation's sign-in service {}. Try again later or tell its operator.",
                match kind {
                    ProxyFailure::BadAnswer => "gave an answer Credless cannot use",
                    ProxyFailure::Unreachable => "cannot be reached",
                    ProxyFailure::Timeout => "did not answer in time",
                }
            ),
            Self::IdpUnavailable { .. } => "Your organisation's identity provider cannot be \
                reached to verify your sign-in. Try again later."
                .to_owned(),
            Self::InsecureUpstream { .. } => "This organisation's sign-in service is configured \
                with an address Credless refuses to call. Tell its operator."
                .to_owned(),
            Self::UnknownTenant => "No organisation is served at this host.".to_owned(),
            Self::Client(_) => "An internal error occurred.".to_owned(),
        }
    }

    pub(crate) fn token(reason: &'static str) -> Self {
        Self::TokenInvalid { reason }
    }

    pub(crate) fn proxy(kind: ProxyFailure, source: Option<reqwest::Error>) -> Self {
        Self::ProxyUnavailable {
            kind,
            source: source.map(Arc::new),
        }
    }

    pub(crate) fn idp(reason: &'static str, source: Option<reqwest::Error>) -> Self {
        Self::IdpUnavailable {
            reason,
            source: source.map(Arc::new),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_follow_the_contract() {
        let cases = [
            (SessionError::NoSession, 401, "login_required"),
            (SessionError::Forbidden, 403, "forbidden"),
            (SessionError::token("token expired"), 401, "token_invalid"),
            (
                SessionError::proxy(ProxyFailure::BadAnswer, None),
                502,
                "proxy_unavailable",
            ),
            (
                SessionError::proxy(ProxyFailure::Unreachable, None),
                503,
                "proxy_unavailable",
            ),
            (
                SessionError::proxy(ProxyFailure::Timeout, None),
                504,
                "proxy_unavailable",
            ),
            (SessionError::UnknownTenant, 404, "unknown_host"),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{error}");
            assert_eq!(error.code(), code, "{error}");
        }
    }

    #[test]
    fn display_is_lowercase_and_names_the_reason() {
        let error = SessionError::token("token expired");
        assert_eq!(error.to_string(), "the ID token was refused: token expired");
        assert!(error.detail().contains("token expired"));
    }
}
