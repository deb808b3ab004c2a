//! The one test suite every [`Provider`] passes against its own fake cloud.
//!
//! Each cloud crate enables the `conformance` feature in its dev-dependencies, implements
//! [`Harness`] over its fake cloud, and runs every case of [`cases`] — most simply with
//! [`conformance_tests!`](crate::conformance_tests), which writes one `#[tokio::test]` per case:
//!
//! ```text
//! // crates/aws/tests/conformance.rs
//! async fn harness() -> FakeStsHarness { FakeStsHarness::start().await }
//! credless_exchange::conformance_tests!(harness);
//! ```
//!
//! The cases drive the provider directly (one attempt, the cloud's answer classified) and
//! through an [`Exchanger`](crate::Exchanger) (retries, cache), and check what a user would
//! notice: the right kind of credentials, the cloud's own error codes, no secret in `Debug`,
//! no exchange reused across people or past its expiry. Cases panic on failure.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use credless_registry::{Account, Tenant};
use credless_session::Identity;

use crate::Provider;

pub mod cases;
mod support;

/// How the fake cloud answers exchanges from now on, until the next [`Harness::behave`].
///
/// Deliberately exhaustive: a new behaviour must be taught to every fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Every exchange succeeds with fresh credentials, different on every exchange, that the
    /// cloud says expire `lifetime` from now (in its own format: `Expiration`, `expires_in`,
    /// `expireTime`).
    Succeed {
        /// How long the issued credentials live.
        lifetime: Duration,
    },
    /// The cloud refuses to trust the identity, as it does when the trust policy, federated
    /// credential or IAM binding does not match, with the code [`Harness::error_code`] names.
    Deny,
    /// The cloud rejects the ID token itself (invalid or expired), with the code
    /// [`Harness::error_code`] names.
    RejectToken,
    /// The next `times` exchanges are throttled as the cloud throttles (its status, error
    /// code and, if it sends one, a `Retry-After` of at most one second); later ones succeed
    /// as [`Behaviour::Succeed`] with a one-hour lifetime.
    ThrottleThenSucceed {
        /// How many exchanges are throttled.
        times: usize,
    },
    /// The cloud accepts the request but never answers, for far longer than the provider's
    /// client timeout (which the harness sets to a second or two).
    Hang,
    /// The cloud answers success with a body the provider cannot use (truncated, or missing
    /// the credentials).
    Malformed,
    /// The cloud fails with a server error (`500` or `503` and its error body).
    ServerError,
}

/// A provider wired to a fake of its cloud that a test can steer.
///
/// The fake must be faithful to the cloud's wire format and check requests as the cloud
/// does. In every behaviour that answers, it accepts only the ID tokens of
/// [`Harness::identity`] and answers any other token as the cloud answers an invalid one.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The provider under test, configured for the fake cloud (endpoints, a client timeout
    /// of a second or two).
    fn provider(&self) -> Arc<dyn Provider>;

    /// The tenant whose identities are exchanged.
    fn tenant(&self) -> Tenant;

    /// An account binding of the provider's cloud that the fake cloud trusts.
    fn account(&self) -> Account;

    /// A verified identity of [`Harness::tenant`] for `subject`, carrying a real, signed ID
    /// token that the fake cloud accepts and valid for at least ten minutes.
    fn identity(&self, subject: &str) -> Identity;

    /// The error code the fake cloud answers [`Behaviour::Deny`] and
    /// [`Behaviour::RejectToken`] with (such as `AccessDenied` or `AADSTS700213`), which the
    /// provider must keep; `None` for the other behaviours.
    fn error_code(&self, behaviour: &Behaviour) -> Option<String>;

    /// Makes the fake cloud answer as `behaviour` from now on.
    async fn behave(&self, behaviour: Behaviour);

    /// How many exchanges the fake cloud has received so far. For a cloud that needs two
    /// calls per exchange, count the first.
    async fn exchanges(&self) -> usize;
}

/// Runs every case of [`cases`] in turn on one harness.
pub async fn run_all<H: Harness + ?Sized>(harness: &H) {
    cases::success(harness).await;
    cases::denied(harness).await;
    cases::token_rejected(harness).await;
    cases::forged_token(harness).await;
    cases::throttled_then_recovered(harness).await;
    cases::timeout(harness).await;
    cases::malformed(harness).await;
    cases::server_error(harness).await;
    cases::expiry_refresh(harness).await;
    cases::subjects_isolated(harness).await;
    cases::failures_not_cached(harness).await;
    cases::foreign_account(harness).await;
}

/// Writes one `#[tokio::test]` per conformance case, each on a fresh harness from the async
/// function `$harness` (which returns a [`Harness`]).
///
/// Call it at the top of an integration test file, or in a module of its own.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:path) => {
        $crate::conformance_tests!(@cases $harness;
            success, denied, token_rejected, forged_token, throttled_then_recovered, timeout,
            malformed, server_error, expiry_refresh, subjects_isolated, failures_not_cached,
            foreign_account);
    };
    (@cases $harness:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let harness = $harness().await;
                $crate::conformance::cases::$case(&harness).await;
            }
        )*
    };
}
