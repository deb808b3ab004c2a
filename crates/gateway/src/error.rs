//! The gateway crate's one error type: why a gateway could not be configured or started.
//!
//! Failures while serving a request are not errors of this kind: they become
//! [`crate::Problem`] answers.

use std::net::SocketAddr;
use std::path::PathBuf;

use credless_registry::RegistryError;

/// Why a gateway could not be configured or started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable; the message names the key, never its value.
    #[error("{0}")]
    Config(String),
    /// The operator token is shorter than [`crate::token::MIN_TOKEN_LEN`].
    #[error(
        "{key}: the admin token must be at least {min} characters",
        min = crate::token::MIN_TOKEN_LEN
    )]
    WeakToken {
        /// The configuration key it came from.
        key: &'static str,
    },
    /// The operator token file could not be read or written.
    #[error("admin token file {}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The system's random source failed while generating a token.
    #[error("the system random source failed")]
    Random,
    /// The store could not be opened or loaded.
    #[error("cannot open the tenant store")]
    Store(#[source] RegistryError),
    /// The outbound HTTP client could not be built.
    #[error("cannot build the outbound HTTP client: {0}")]
    Client(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the operator must fix the configuration (the binary exits with 64).
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config(_) | Error::WeakToken { .. })
    }
}
