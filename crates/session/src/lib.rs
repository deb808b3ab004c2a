//! Browser sessions for Credless, validated by each tenant's own oauth2-proxy.
//!
//! Credless never holds a password or an OIDC client secret. Each organisation runs its own
//! oauth2-proxy; for every request [`SessionValidator`] passes only that tenant's session
//! cookies to the proxy's `/oauth2/auth`, takes the ID token the proxy answers with, and
//! verifies it itself against the signing keys the tenant's configured issuer publishes.
//! The result, an [`Identity`], is cached for a short time and never past the token's expiry.
//!
//! The main types are [`SessionValidator`] (with [`SessionConfig`]), [`Identity`] and its
//! redacting [`IdToken`], the one error type [`SessionError`], the tower middleware
//! [`SessionLayer`], and the guarded outbound HTTP client in [`outbound`], which the
//! token-exchange crates reuse.
//!
//! This crate is not a sign-in service: it serves no sign-in pages, runs no OAuth flow and
//! issues no tokens or cookies of its own. It only relays the `Set-Cookie` a proxy sends when
//! it refreshes a session. Logs name sessions by a hash prefix; they hold no cookie or token.

mod cookies;
mod error;
mod identity;
mod jwks;
mod layer;
pub mod outbound;
mod token;
mod validator;

pub use error::{ProxyFailure, SessionError};
pub use identity::{IdToken, Identity};
pub use layer::{ErrorResponder, ProblemJson, Session, SessionLayer, TenantResolver};
pub use validator::{SessionConfig, SessionValidator, Validated};
