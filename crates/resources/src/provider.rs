//! The one interface every cloud implements for resources.

use async_trait::async_trait;

use credless_exchange::Credentials;
use credless_registry::{Account, Provider as ProviderKind};

use crate::{Kind, Resource, ResourceError, ResourceId, ResourceRequest};

/// Who acts, on which account: the caller's own short-lived credentials for it.
#[derive(Debug, Clone, Copy)]
pub struct ResourceContext<'a> {
    /// The account binding, of the provider's own cloud.
    pub account: &'a Account,
    /// The caller's credentials for that account, from the exchange.
    pub credentials: &'a Credentials,
}

/// What a create returns: the resource, and a secret shown once when one was unavoidable.
#[derive(Debug, Clone)]
pub struct Created {
    /// The resource, usually `pending`.
    pub resource: Resource,
    /// A generated database password, only where the cloud offers no passwordless way. It
    /// is returned to the caller once and never stored or logged.
    pub one_time_secret: Option<credless_exchange::Secret>,
}

/// Lists, creates, starts, stops and deletes VMs and databases in one cloud.
///
/// Implementations make one attempt per call and classify failures precisely (see
/// [`ResourceError`]), keeping the cloud's code and message. Long-running cloud operations
/// are not awaited: the resource comes back `pending`/`stopping`/`deleting` and later reads
/// show its progress.
#[async_trait]
pub trait ResourceProvider: Send + Sync + 'static {
    /// The cloud this provider serves.
    fn kind(&self) -> ProviderKind;

    /// Resources of `kind` in the account; `managed_only` limits them to those Credless
    /// created (tagged `managed-by=credless`).
    async fn list(
        &self,
        cx: ResourceContext<'_>,
        kind: Kind,
        managed_only: bool,
    ) -> Result<Vec<Resource>, ResourceError>;

    /// One resource.
    async fn get(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError>;

    /// Creates a resource; it comes back as the cloud first reports it (usually `pending`).
    async fn create(
        &self,
        cx: ResourceContext<'_>,
        request: &ResourceRequest,
    ) -> Result<Created, ResourceError>;

    /// Starts a stopped resource.
    async fn start(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError>;

    /// Stops a running resource.
    async fn stop(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError>;

    /// Deletes a resource; it comes back `deleting` (or `deleted`).
    async fn delete(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError>;
}
