//! The one test suite every [`ResourceProvider`] passes against its own fake cloud.
//!
//! Each cloud crate enables the `conformance` feature in its dev-dependencies, implements
//! [`Harness`] over its fakes, and runs every case of [`cases`] — most simply with
//! [`conformance_tests!`](crate::conformance_tests), which writes one `#[tokio::test]` per case:
//!
//! ```text
//! // crates/gcp/tests/resources_conformance.rs
//! async fn harness() -> GceHarness { GceHarness::start().await }
//! credless_resources::conformance_tests!(harness);
//! ```
//!
//! The cases check what a user of the API would notice whatever the cloud: a VM and a database
//! go through create, list, start, stop and delete along the one [`State`](crate::State)
//! machine; refusals arrive as the same [`ResourceError`](crate::ResourceError) variants with
//! the cloud's own code; a missing resource is not found; an id of another account is not found
//! and never reaches the cloud. Cases never sleep: the fakes advance their resources on reads.
//! Cases panic on failure.
//!
//! This is test support, not a way to check a real cloud account.

use std::sync::Arc;

use async_trait::async_trait;
use credless_exchange::Credentials;
use credless_registry::Account;

use crate::{Kind, ResourceId, ResourceProvider, ResourceRequest};

pub mod cases;
mod support;

/// A refusal [`Harness::faulty`] makes the cloud answer, with the cloud's own status, body
/// and error code.
///
/// Deliberately exhaustive: a new fault must be taught to every harness. Not-found needs no
/// injection: the cases ask for a resource that does not exist ([`Harness::missing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The credentials lack the permission (EC2 `UnauthorizedOperation`, RDS `AccessDenied`,
    /// ARM `AuthorizationFailed`, Google `403 forbidden`).
    Denied,
    /// A quota would be exceeded (EC2 `InstanceLimitExceeded`, RDS `InstanceQuotaExceeded`,
    /// a Compute cores quota on ARM, Google `quotaExceeded`).
    Quota,
    /// The cloud throttles the caller (EC2 `RequestLimitExceeded`, RDS `Throttling`, ARM
    /// `429`, Google `rateLimitExceeded`).
    Throttled,
}

/// The portable operation that [`Harness::faulty`] makes fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// [`ResourceProvider::create`] of this kind.
    Create(Kind),
    /// [`ResourceProvider::list`] of this kind.
    List(Kind),
    /// [`ResourceProvider::get`] of a resource of this kind.
    Get(Kind),
}

/// A resource provider wired to fakes of its cloud that a test can steer.
///
/// The fakes must be faithful to the cloud's wire format and check requests as the cloud
/// does; their resources move through their states as they are read, so no case waits.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The provider under test, configured for the fake cloud.
    fn provider(&self) -> Arc<dyn ResourceProvider>;

    /// The account binding the cases act on, of the provider's cloud.
    fn account(&self) -> Account;

    /// Credentials for [`Harness::account`] that the fake cloud accepts.
    fn credentials(&self) -> Credentials;

    /// A valid request for a VM called `name` in the account's region, with at least one tag
    /// that survives the cloud's tag rules unchanged.
    fn vm_request(&self, name: &str) -> ResourceRequest;

    /// A valid request for a database called `name`, tagged as [`Harness::vm_request`] is.
    fn database_request(&self, name: &str) -> ResourceRequest;

    /// A well-formed id, of [`Harness::account`], of a resource of `kind` that does not exist.
    fn missing(&self, kind: Kind) -> ResourceId;

    /// A provider for the same account whose next `operation` fails with `fault` as the cloud
    /// answers it. Cloud calls the operation makes before the failing one may succeed (a VM's
    /// network may be created before its quota is refused); whether later calls succeed is
    /// unspecified. It may be [`Harness::provider`] itself with the fake told to fail, or a
    /// provider pointed at a separate fake that only refuses, for clouds whose fake cannot.
    async fn faulty(&self, fault: Fault, operation: Operation) -> Arc<dyn ResourceProvider>;

    /// How many reads a transition may take to settle in the fake, including the read that
    /// sees it settled.
    fn max_reads(&self) -> usize {
        10
    }
}

/// Runs every case of [`cases`] in turn, each on a fresh harness from `harness`.
pub async fn run_all<H, F, Fut>(harness: F)
where
    H: Harness,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = H>,
{
    cases::vm_lifecycle(&harness().await).await;
    cases::database_lifecycle(&harness().await).await;
    cases::denied(&harness().await).await;
    cases::quota(&harness().await).await;
    cases::not_found(&harness().await).await;
    cases::throttled(&harness().await).await;
    cases::foreign_id(&harness().await).await;
}

/// Writes one `#[tokio::test]` per conformance case, each on a fresh harness from the async
/// function `$harness` (which returns a [`Harness`]).
///
/// `conformance_tests!(harness)` writes every case. `conformance_tests!(harness; denied, quota)`
/// writes only the cases named, for a cloud that fails some case for a reason its test file
/// states next to an `#[ignore]`d test of that case.
///
/// Call it at the top of an integration test file, or in a module of its own.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:path) => {
        $crate::conformance_tests!($harness;
            vm_lifecycle, database_lifecycle, denied, quota, not_found, throttled, foreign_id);
    };
    ($harness:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let harness = $harness().await;
                $crate::conformance::cases::$case(&harness).await;
            }
        )*
    };
}
