//! GCP Workload Identity Federation for Credless: a verified OIDC ID token in, a short-lived
//! access token of a service account out.
//!
//! [`GcpProvider`] implements [`credless_exchange::Provider`]: it exchanges the ID token at
//! Google's Security Token Service for a federated token of the account's workload identity
//! pool provider, then trades that token at the IAM Credentials API for an access token of the
//! account's service account (`generateAccessToken`). Google's refusals become
//! [`ExchangeError`](credless_exchange::ExchangeError) variants that keep Google's own code and
//! message. [`trust_guidance`] tells an organisation what to configure in Google Cloud for an
//! account. With the default feature `gcp-auth`, [`FederatedTokenProvider`] offers the same
//! exchange as a `gcp_auth::TokenProvider` for Google client crates.
//!
//! [`resources::GcpResources`] lists, creates, starts, stops and deletes Compute Engine VMs and
//! Cloud SQL databases with such a token, through `credless_resources::ResourceProvider`.
//!
//! This crate does not cache or retry (that is `credless_exchange::Exchanger`'s job) and does
//! not verify the ID token (the session layer did).

mod config;
mod errors;
mod provider;
pub mod resources;
#[cfg(feature = "gcp-auth")]
mod token_provider;
mod trust;

pub use config::{
    CLOUD_PLATFORM_SCOPE, DEFAULT_IAM_CREDENTIALS_ENDPOINT, DEFAULT_STS_ENDPOINT, GcpConfig,
    MAX_LIFETIME,
};
pub use provider::{GcpProvider, provider_audience};
#[cfg(feature = "gcp-auth")]
pub use token_provider::FederatedTokenProvider;
pub use trust::{
    ATTRIBUTE_MAPPING, TrustGuidance, WORKLOAD_IDENTITY_USER, email_member, group_member,
    subject_member, trust_guidance,
};
