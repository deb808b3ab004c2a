//! Virtual machines and PostgreSQL flexible servers through Azure Resource Manager, with the
//! caller's own Entra access token.
//!
//! [`AzureResources`] implements [`ResourceProvider`] in the account's subscription and
//! resource group. Long-running operations are not awaited: ARM answers `201`/`202` with an
//! `Azure-AsyncOperation` URL, and the resource comes back `pending`, `stopping` or `deleting`;
//! later reads show the state the resource itself reports.
//!
//! # Virtual machines (`Microsoft.Compute`, api-version 2024-07-01)
//!
//! A create ensures a virtual network `credless-vnet` (`credless-vnet-<region>` outside the
//! account's region) with a subnet `default`, creates a network interface `<name>-nic` (no
//! public address) and then the VM, whose NIC and OS disk are deleted with it. Linux only,
//! SSH keys only, password authentication disabled; Credless never sends or holds a password.
//! The public key comes from the request tag `ssh-public-key` (kept out of the Azure tags).
//! Without one, the admin account gets the public half of an Ed25519 key generated and
//! discarded at once, so nobody can sign in until someone with rights on the VM adds a key
//! (`az vm user update --ssh-key-value …`) or enables Entra ID sign-in.
//! `stop` deallocates, so compute billing stops (disks are still billed).
//!
//! | size | `vmSize` |
//! |---|---|
//! | small | `Standard_B2s` |
//! | medium | `Standard_D2s_v5` |
//! | large | `Standard_D4s_v5` |
//!
//! `image` is a `publisher:offer:sku:version` URN (default Ubuntu 22.04 LTS,
//! `Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest`). States, from
//! `provisioningState` and the instance view's `PowerState/*`:
//!
//! | Azure | state |
//! |---|---|
//! | provisioning `Deleting` | deleting |
//! | provisioning `Failed` | error |
//! | provisioning `Creating` | pending |
//! | power `starting` | pending |
//! | power `running` | running |
//! | power `stopping`, `deallocating` | stopping |
//! | power `stopped`, `deallocated` | stopped |
//! | no power state yet, provisioning `Updating`/`Succeeded` | pending |
//! | anything else | unknown |
//!
//! # Databases (`Microsoft.DBforPostgreSQL/flexibleServers`, api-version 2024-08-01)
//!
//! Entra-only authentication (`activeDirectoryAuth: Enabled`, `passwordAuth: Disabled`): no
//! password exists. The server has no administrator until one is added
//! (`az postgres flexible-server ad-admin create`), which needs the server to be ready.
//!
//! | size | SKU | tier |
//! |---|---|---|
//! | small | `Standard_B1ms` | Burstable |
//! | medium | `Standard_D2ds_v5` | GeneralPurpose |
//! | large | `Standard_D4ds_v5` | GeneralPurpose |
//!
//! Native SKUs are accepted: `Standard_B…` is Burstable, `Standard_E…` MemoryOptimized, the
//! rest GeneralPurpose. States from `properties.state`: `Ready` running; `Provisioning`,
//! `Starting`, `Updating` pending; `Stopping` stopping; `Stopped` stopped; `Dropping`
//! deleting; `Disabled` error; anything else unknown.
//!
//! # Errors
//!
//! `404` is not found; `429` throttled (with `Retry-After`); a code or message naming a quota
//! (Compute's `409 OperationNotAllowed` for cores) is quota; `401`/`403` denied; `409`/`412`
//! conflict; `400`/`422` invalid, naming the request field best effort; the rest, timeouts and
//! unreadable answers are unavailable.

mod arm;
mod database;
mod target;
mod vm;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use credless_exchange::{Credentials, ExchangeError};
use credless_registry::{Account, AzureAccount, Provider as ProviderKind};
use credless_resources::{
    Created, Kind, Resource, ResourceContext, ResourceError, ResourceId, ResourceProvider,
    ResourceRequest, State,
};
use credless_session::outbound::{self, OutboundOptions};
use reqwest::Method;
use url::Url;

use arm::Arm;
use target::{Target, check_name, gone, group_segments, portable_id, region_of};

/// Azure Resource Manager in Azure's public cloud.
pub const DEFAULT_MANAGEMENT_ENDPOINT: &str = "https://management.azure.com";

/// The tag every resource Credless creates carries, with the value `credless`.
pub const MANAGED_BY_TAG: &str = "managed-by";

/// Where Azure Resource Manager is and how to call it.
#[derive(Debug, Clone)]
pub struct AzureResourcesConfig {
    /// The management endpoint (`clouds.azure.management_endpoint`).
    pub management_endpoint: String,
    /// Longest wait for one ARM call.
    pub timeout: Duration,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Allow an `http://` or internal endpoint (local development and tests only).
    pub allow_insecure_upstreams: bool,
}

impl Default for AzureResourcesConfig {
    fn default() -> Self {
        Self {
            management_endpoint: DEFAULT_MANAGEMENT_ENDPOINT.to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(3),
            allow_insecure_upstreams: false,
        }
    }
}

/// VMs and PostgreSQL flexible servers in Azure, acting with each caller's access token.
///
/// It keeps no token and no state: cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct AzureResources {
    client: reqwest::Client,
    endpoint: Url,
}

impl AzureResources {
    /// Resources through the management endpoint of `config`.
    ///
    /// Fails with [`ExchangeError::Misconfigured`] when the endpoint is not an `https` URL
    /// (or `http` while insecure upstreams are allowed), names an internal address, has a
    /// path, query or fragment, or when the HTTP client cannot start.
    pub fn new(config: &AzureResourcesConfig) -> Result<Self, ExchangeError> {
        let misconfigured = |reason: String| ExchangeError::Misconfigured {
            reason,
            cloud_code: None,
        };
        let endpoint =
            outbound::check_upstream(&config.management_endpoint, config.allow_insecure_upstreams)
                .map_err(|error| {
                    misconfigured(format!("clouds.azure.management_endpoint: {error}"))
                })?;
        if endpoint.path() != "/" || endpoint.query().is_some() || endpoint.fragment().is_some() {
            let reason = "clouds.azure.management_endpoint must be a bare origin such as \
                          https://management.azure.com";
            return Err(misconfigured(reason.to_owned()));
        }
        let options = OutboundOptions {
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            allow_insecure_upstreams: config.allow_insecure_upstreams,
        };
        let client = outbound::client(&options)
            .map_err(|error| misconfigured(format!("the HTTP client cannot start: {error}")))?;
        Ok(Self { client, endpoint })
    }

    /// The account and an ARM client carrying the caller's token.
    fn open<'a>(
        &'a self,
        cx: &ResourceContext<'a>,
    ) -> Result<(&'a AzureAccount, Arm<'a>), ResourceError> {
        let invalid = |reason: &str| ResourceError::Invalid {
            field: "account".to_owned(),
            reason: reason.to_owned(),
            cloud_code: None,
        };
        let Account::Azure(account) = cx.account else {
            return Err(invalid("the account is not an Azure account"));
        };
        let Credentials::Azure(token) = cx.credentials else {
            return Err(invalid("the credentials are not an Entra access token"));
        };
        let arm = Arm {
            client: &self.client,
            endpoint: &self.endpoint,
            token: token.token.expose(),
        };
        Ok((account, arm))
    }

    /// Starts, stops or deletes, then reads the resource back in its new state.
    async fn act(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
        action: Action,
    ) -> Result<Resource, ResourceError> {
        let (account, arm) = self.open(&cx)?;
        let target = Target::of(account, id)?;
        let method = if action == Action::Delete {
            Method::DELETE
        } else {
            Method::POST
        };
        let mut segments = target.segments(account);
        if let Some(verb) = action.verb(id.kind) {
            segments.push(verb);
        }
        let url = arm.url(&segments, target.api_version());
        let answer = arm.call(method, url, None, &target.name).await?;
        tracing::info!(
            account.id = %account.id, provider = "azure", resource.name = %target.name,
            action = ?action, http.status = answer.status, "azure resource action accepted"
        );
        if action == Action::Delete && answer.status == 204 {
            // ARM answers `204` to a delete of something that does not exist.
            return Ok(gone(account, id, &target.name));
        }

        let url = target.read_url(&arm, account);
        let Some(body) = arm.find(url, &target.name).await? else {
            return Ok(gone(account, id, &target.name));
        };
        let mut resource = target.resource(account, &body);
        resource.state = match (action, resource.state) {
            (Action::Start, State::Running) => State::Running,
            (Action::Start, _) => State::Pending,
            (Action::Stop, State::Stopped) => State::Stopped,
            (Action::Stop, _) => State::Stopping,
            (Action::Delete, _) => State::Deleting,
        };
        Ok(resource)
    }
}

impl fmt::Debug for AzureResources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureResources")
            .field("management_endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ResourceProvider for AzureResources {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Azure
    }

    async fn list(
        &self,
        cx: ResourceContext<'_>,
        kind: Kind,
        managed_only: bool,
    ) -> Result<Vec<Resource>, ResourceError> {
        let (account, arm) = self.open(&cx)?;
        let resources = match kind {
            Kind::Vm => vm::list(&arm, account).await?,
            Kind::Database => database::list(&arm, account).await?,
        };
        Ok(resources
            .into_iter()
            .filter(|r| {
                !managed_only || r.tags.get(MANAGED_BY_TAG).is_some_and(|v| v == "credless")
            })
            .collect())
    }

    async fn get(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        let (account, arm) = self.open(&cx)?;
        let target = Target::of(account, id)?;
        let url = target.read_url(&arm, account);
        let body = arm.call(Method::GET, url, None, &target.name).await?.body;
        Ok(target.resource(account, &body))
    }

    async fn create(
        &self,
        cx: ResourceContext<'_>,
        request: &ResourceRequest,
    ) -> Result<Created, ResourceError> {
        let (account, arm) = self.open(&cx)?;
        check_name(&request.name)?;
        let resource = match request.kind {
            Kind::Vm => vm::create(&arm, account, request).await?,
            Kind::Database => database::create(&arm, account, request).await?,
        };
        tracing::info!(
            account.id = %account.id, provider = "azure", resource.name = %resource.name,
            resource.kind = ?resource.kind, "azure resource creation accepted"
        );
        Ok(Created {
            resource,
            one_time_secret: None,
        })
    }

    async fn start(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        self.act(cx, id, Action::Start).await
    }

    async fn stop(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        self.act(cx, id, Action::Stop).await
    }

    async fn delete(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        self.act(cx, id, Action::Delete).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Stop,
    Delete,
}

impl Action {
    /// The last path segment of the action: VMs deallocate (so billing stops) to stop.
    fn verb(self, kind: Kind) -> Option<&'static str> {
        match (self, kind) {
            (Self::Start, _) => Some("start"),
            (Self::Stop, Kind::Vm) => Some("deallocate"),
            (Self::Stop, Kind::Database) => Some("stop"),
            (Self::Delete, _) => None,
        }
    }
}

#[cfg(test)]
mod tests;
