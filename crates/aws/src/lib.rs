//! AWS for Credless: a verified OIDC ID token in, temporary AWS credentials out.
//!
//! [`AwsProvider`] implements [`credless_exchange::Provider`] with STS
//! `AssumeRoleWithWebIdentity`, sent unsigned through the official `aws-sdk-sts` client over
//! Credless's guarded outbound HTTP client. Its [`AwsConfig`] sets the STS endpoint (any
//! endpoint, for sovereign regions and fakes), the session duration and the timeouts. The role
//! session name comes from the caller's email, so CloudTrail shows who acted
//! ([`role_session_name`]). [`sdk_credentials`] and [`ExchangedCredentials`] hand the result to
//! any AWS SDK client, the second one exchanging again whenever the SDK needs fresh credentials.
//! [`resources::AwsResources`] lists, creates, starts, stops and deletes EC2 instances and RDS
//! databases with such credentials, through signed Query API requests.
//!
//! This crate does not cache or retry: [`credless_exchange::Exchanger`] owns both, so the SDK's
//! own retries are switched off. It never signs a request with long-lived keys and stores
//! nothing.

mod config;
mod errors;
mod http;
mod provider;
mod sdk_credentials;
mod session_name;

pub mod resources;
pub mod trust;

pub use config::AwsConfig;
pub use http::sdk_http_client;
pub use provider::AwsProvider;
pub use sdk_credentials::{ExchangedCredentials, sdk_credentials};
pub use session_name::role_session_name;
