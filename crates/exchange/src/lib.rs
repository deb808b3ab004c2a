//! Credential-less cloud access: a verified OIDC ID token in, short-lived cloud credentials out.
//!
//! [`Provider`] is the one interface every cloud implements (`credless-aws`, `credless-azure`,
//! `credless-gcp`); [`Credentials`] holds what it returns and never prints a secret;
//! [`ExchangeError`] says what the caller can do about a failure while keeping the cloud's own
//! error code and message. [`Exchanger`] puts the providers behind one cache and one retry
//! policy: credentials are cached per tenant, account binding and person, concurrent requests
//! share one exchange, and transient failures are retried with jittered backoff.
//!
//! With the `conformance` feature, `conformance` holds the one test suite every provider must
//! pass against its own fake cloud (a dev-dependency of the cloud crates, never of the gateway).
//!
//! This crate talks to no cloud itself and stores nothing on disk: credentials live in memory
//! until shortly before they expire. Logs name tenants, accounts and providers, never a token
//! or a credential.

mod cache;
#[cfg(feature = "conformance")]
pub mod conformance;
mod credentials;
mod error;
mod exchanger;
mod provider;
mod retry;

pub use credentials::{AccessToken, AwsCredentials, Credentials, Secret};
pub use error::{BoxError, ExchangeError};
pub use exchanger::{ExchangeConfig, Exchanger};
pub use provider::{ExchangeRequest, Provider};
