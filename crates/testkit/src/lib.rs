//! Fakes of the outside world that Credless talks to, for tests and local development.
//!
//! [`OidcProvider`] is an OpenID Connect identity provider: discovery, a JWKS with an RSA and
//! an EC key, an auto-approving authorize endpoint, a token endpoint, and token minting that can
//! also forge (`alg: none`, HMAC with the public key, unpublished keys, lying headers).
//! [`OAuth2Proxy`] is an oauth2-proxy v7 in front of such a provider: the sign-in dance,
//! session cookies (split past 4000 bytes like the real one), `/oauth2/auth` with identity
//! headers and a bearer ID token, `/oauth2/userinfo`, sign-out, and switches for its failure
//! modes. Both are real HTTP servers on `127.0.0.1` at a random port, built on `wiremock`, and
//! record what they receive.
//!
//! [`aws_sts::FakeSts`] is AWS STS (`AssumeRoleWithWebIdentity`, `GetCallerIdentity`) checking
//! tokens against registered issuers and role trust; [`moto::MotoServer`] runs the real moto.
//! [`gce::FakeGce`] is a stateful Compute Engine and Cloud SQL Admin API.
//!
//! [`arm::FakeArm`] is a stateful Azure Resource Manager for VMs, their network and
//! PostgreSQL flexible servers.
//!
//! [`LogBuffer`] keeps what a `tracing_subscriber::fmt` subscriber writes, for tests of what
//! log lines hold and never hold.
//!
//! Nothing here is secure: keys are generated at start and kept in memory, sessions are a map,
//! every login is approved. Never use this crate in production.

pub mod arm;
mod aws_query;
pub mod aws_sts;
mod cookies;
pub mod ec2;
pub mod entra;
pub mod gce;
pub mod gcp;
mod jwt;
mod keys;
mod logs;
pub mod moto;
mod oauth2_proxy;
mod oidc;
pub mod rds;
mod recording;
pub mod tcp_relay;

pub use aws_query::AwsFailure;
pub use jwt::{PublicKeyBytes, TokenKey, TokenOptions};
pub use logs::LogBuffer;
pub use oauth2_proxy::{OAuth2Proxy, ProxyMode, ProxyOptions};
pub use oidc::{OidcProvider, Redeemed, UNPUBLISHED_KID};
pub use recording::RecordedRequest;

/// A person known to the fake identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The stable subject identifier, the token's `sub`.
    pub sub: String,
    /// The email address; empty means the token carries none.
    pub email: String,
    /// The `preferred_username` claim; empty means the token carries none.
    pub preferred_username: String,
    /// The `groups` claim.
    pub groups: Vec<String>,
}

impl User {
    /// A user with `sub` and `email`, no groups, and the email's local part as username.
    pub fn new(sub: impl Into<String>, email: impl Into<String>) -> Self {
        let email = email.into();
        let preferred_username = email.split('@').next().unwrap_or_default().to_owned();
        Self {
            sub: sub.into(),
            email,
            preferred_username,
            groups: Vec::new(),
        }
    }

    /// The same user in `groups`, replacing any groups it had.
    pub fn with_groups(mut self, groups: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// The same user with another `preferred_username`.
    pub fn with_preferred_username(mut self, name: impl Into<String>) -> Self {
        self.preferred_username = name.into();
        self
    }

    /// The demo user who signs in when a test names nobody: `demo-user`, `demo@example.com`,
    /// username `demo`, groups `engineers` and `platform`.
    pub fn demo() -> Self {
        Self::new("demo-user", "demo@example.com").with_groups(["engineers", "platform"])
    }
}

impl Default for User {
    fn default() -> Self {
        Self::demo()
    }
}
