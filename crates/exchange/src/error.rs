//! The one error type of a token exchange, by what the caller can do about it.

use std::time::Duration;

/// Boxed source errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an exchange failed. Variants keep the cloud's own error code and message (never a
/// token or credential), so that users can fix their trust setup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The cloud refused to trust this identity for this account (trust policy, federated
    /// credential or IAM binding does not match): fix the trust setup.
    #[error("the cloud refused the exchange ({cloud_code}): {message}")]
    TrustRefused {
        /// The cloud's error code, such as `AccessDenied` or `AADSTS700213`.
        cloud_code: String,
        /// The cloud's message.
        message: String,
    },
    /// The cloud rejected the ID token itself (invalid, expired, unknown issuer): sign in
    /// again, or fix the identity provider registration in the cloud.
    #[error("the cloud rejected the identity token ({cloud_code}): {message}")]
    TokenRejected {
        /// The cloud's error code.
        cloud_code: String,
        /// The cloud's message.
        message: String,
    },
    /// The cloud is throttling: retry later.
    #[error("the cloud is throttling requests ({cloud_code})")]
    Throttled {
        /// How long the cloud asked to wait, when it said.
        retry_after: Option<Duration>,
        /// The cloud's error code.
        cloud_code: String,
        /// The cloud's message.
        message: String,
    },
    /// The cloud could not be reached, timed out, failed, or answered something unreadable:
    /// retry later. `transient` says whether an automatic retry may help.
    #[error("the cloud is unavailable: {message}")]
    Unavailable {
        /// The cloud's error code, when it gave one.
        cloud_code: Option<String>,
        /// What happened, safe to show.
        message: String,
        /// Whether retrying soon may succeed (5xx, timeouts, `IDPCommunicationError`).
        transient: bool,
        /// The underlying error, for logs.
        #[source]
        source: Option<BoxError>,
    },
    /// The account binding or Credless's configuration cannot work (wrong provider, region
    /// disabled, invalid endpoint): fix the configuration.
    #[error("the account cannot be used as configured: {reason}")]
    Misconfigured {
        /// What to fix.
        reason: String,
        /// The cloud's error code, when the cloud said so.
        cloud_code: Option<String>,
    },
}

impl ExchangeError {
    /// Whether an automatic retry with backoff may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ExchangeError::Throttled { .. } => true,
            ExchangeError::Unavailable { transient, .. } => *transient,
            _ => false,
        }
    }

    /// The cloud's own error code, when there is one.
    pub fn cloud_code(&self) -> Option<&str> {
        match self {
            ExchangeError::TrustRefused { cloud_code, .. }
            | ExchangeError::TokenRejected { cloud_code, .. }
            | ExchangeError::Throttled { cloud_code, .. } => Some(cloud_code),
            ExchangeError::Unavailable { cloud_code, .. }
            | ExchangeError::Misconfigured { cloud_code, .. } => cloud_code.as_deref(),
        }
    }

    /// The cloud's own message, when there is one.
    pub fn cloud_message(&self) -> Option<&str> {
        match self {
            ExchangeError::TrustRefused { message, .. }
            | ExchangeError::TokenRejected { message, .. }
            | ExchangeError::Throttled { message, .. } => Some(message),
            _ => None,
        }
    }
}
