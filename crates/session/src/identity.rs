//! Who a validated session belongs to, and the ID token that proves it.

use std::fmt;
use std::time::SystemTime;

/// The person behind a validated session of one tenant.
///
/// `subject`, `email`, `preferred_username` and `groups` come from the verified ID token when
/// it carries them; only missing ones are taken from the proxy's `X-Auth-Request-*` headers.
/// An `email` the token marks `email_verified: false` is left out entirely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The tenant id the session was validated for.
    pub tenant: String,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `email`, or the proxy's `X-Auth-Request-Email` when the token has none.
    pub email: Option<String>,
    /// The token's `preferred_username`, or the proxy's `X-Auth-Request-Preferred-Username`.
    pub preferred_username: Option<String>,
    /// The token's `groups` claim when present, else `X-Auth-Request-Groups` split on `,`.
    pub groups: Vec<String>,
    /// The verified ID token, for exchanging into cloud credentials.
    pub id_token: IdToken,
    /// When the ID token expires (its `exp`); the session is not cached past it.
    pub expires_at: SystemTime,
}

/// A verified OIDC ID token. Its `Debug` output never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct IdToken(String);

impl IdToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The compact JWT, for passing to a token exchange. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken(<redacted>)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let identity = Identity {
            tenant: "acme".into(),
            subject: "user-1".into(),
            email: Some("a@acme.example".into()),
            preferred_username: None,
            groups: vec!["ops".into()],
            id_token: IdToken::new("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2ln"),
            expires_at: SystemTime::UNIX_EPOCH,
        };

        let printed = format!("{identity:?} {identity:#?}");

        assert!(!printed.contains("eyJ"), "{printed}");
        assert!(printed.contains("IdToken(<redacted>)"));
        assert!(printed.contains("user-1"));
    }
}
