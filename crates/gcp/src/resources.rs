//! VMs and databases in a GCP project through the one resource interface: [`GcpResources`]
//! implements [`ResourceProvider`] over the Compute Engine and Cloud SQL Admin REST APIs, as
//! the caller's own service account token (`Authorization: Bearer`), in the account's
//! `project_id`.
//!
//! | size     | VM machine type | database tier       |
//! |----------|-----------------|---------------------|
//! | `small`  | `e2-small`      | `db-custom-1-3840`  |
//! | `medium` | `e2-standard-2` | `db-custom-2-7680`  |
//! | `large`  | `e2-standard-4` | `db-custom-4-15360` |
//!
//! Any other size is taken as a native machine type or tier. VMs go to the region's `-b` zone
//! ([`zone_for_region`]) unless the request names a zone. Databases are Cloud SQL for
//! PostgreSQL with IAM database authentication and no password; nothing secret is created, so
//! [`Created::one_time_secret`] is always `None`. Tags become labels under Google's rules
//! ([`sanitize_labels`]), with `managed-by=credless` and `name=<name>` added.
//!
//! Long-running operations are not awaited: a change returns the resource in its transitional
//! state (`pending`, `stopping`, `deleting`) and later reads show progress. A read also looks
//! at the resource's pending operations (Compute `zoneOperations.list`, needing
//! `compute.zoneOperations.list`; Cloud SQL `operations.list`), since both APIs show a change
//! late, so the state never steps back while one runs. Listing covers the whole project (every
//! zone, every region), not just the account's default region; it shows the instances' own
//! states.

mod call;
mod compute;
mod http;
mod labels;
mod sql;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use credless_exchange::Credentials;
use credless_registry::{Account, Provider as ProviderKind};
use credless_resources::{
    Created, Kind, Resource, ResourceContext, ResourceError, ResourceId, ResourceProvider,
    ResourceRequest,
};
use credless_session::outbound::{self, OutboundOptions};
use reqwest::Url;
use tracing::Instrument as _;

pub use compute::{DEFAULT_IMAGE, machine_type, vm_state, zone_for_region};
pub use labels::{MANAGED_BY_KEY, MANAGED_BY_VALUE, sanitize_labels};
pub use sql::{DEFAULT_POSTGRES_VERSION, IAM_AUTHENTICATION_FLAG, database_state, sql_tier};

use call::{Call, Change};
use http::Caller;

/// The Compute Engine API.
pub const DEFAULT_COMPUTE_ENDPOINT: &str = "https://compute.googleapis.com";
/// The Cloud SQL Admin API.
pub const DEFAULT_SQL_ADMIN_ENDPOINT: &str = "https://sqladmin.googleapis.com";
/// The most `aggregatedList` pages one list reads (500 instances each).
const MAX_LIST_PAGES: usize = 20;

/// Where [`GcpResources`] reaches Google and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcesConfig {
    /// Base URL of the Compute Engine API, without `/compute/v1`.
    pub compute_endpoint: String,
    /// Base URL of the Cloud SQL Admin API, without `/v1`.
    pub sql_admin_endpoint: String,
    /// Longest wait for one whole call.
    pub timeout: Duration,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Allow `http://` and internal addresses as endpoints (local development and tests only).
    pub allow_insecure_upstreams: bool,
}

impl Default for ResourcesConfig {
    fn default() -> Self {
        Self {
            compute_endpoint: DEFAULT_COMPUTE_ENDPOINT.to_owned(),
            sql_admin_endpoint: DEFAULT_SQL_ADMIN_ENDPOINT.to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            allow_insecure_upstreams: false,
        }
    }
}

/// Compute Engine VMs and Cloud SQL databases of GCP accounts. Cloning is cheap and shares
/// the HTTP client.
#[derive(Clone)]
pub struct GcpResources {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    config: ResourcesConfig,
    compute: Url,
    sql: Url,
}

impl GcpResources {
    /// A provider calling the endpoints of `config` through Credless's guarded client.
    ///
    /// Fails with [`ResourceError::Invalid`] (field `compute_endpoint` or
    /// `sql_admin_endpoint`) when an endpoint is not `https` or names an internal address
    /// while insecure upstreams are not allowed, and with [`ResourceError::Unavailable`] when
    /// the TLS backend cannot start.
    pub fn new(config: ResourcesConfig) -> Result<Self, ResourceError> {
        let insecure = config.allow_insecure_upstreams;
        let endpoint = |field: &str, url: &str| {
            outbound::check_upstream(url, insecure).map_err(|error| ResourceError::Invalid {
                field: field.to_owned(),
                reason: error.to_string(),
                cloud_code: None,
            })
        };
        let compute = endpoint("compute_endpoint", &config.compute_endpoint)?;
        let sql = endpoint("sql_admin_endpoint", &config.sql_admin_endpoint)?;
        let client = outbound::client(&OutboundOptions {
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            allow_insecure_upstreams: insecure,
        })
        .map_err(|_| ResourceError::Unavailable {
            cloud_code: None,
            message: "the HTTP client for Google could not start".to_owned(),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                config,
                compute,
                sql,
            }),
        })
    }

    /// The configuration this provider was built with.
    pub fn config(&self) -> &ResourcesConfig {
        &self.inner.config
    }
}

impl fmt::Debug for GcpResources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpResources")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ResourceProvider for GcpResources {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gcp
    }

    async fn list(
        &self,
        cx: ResourceContext<'_>,
        kind: Kind,
        managed_only: bool,
    ) -> Result<Vec<Resource>, ResourceError> {
        let call = self.call(cx)?;
        call.list(kind, managed_only)
            .instrument(call.span("list", kind))
            .await
    }

    async fn get(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        let call = self.call(cx)?;
        call.check_id(id)?;
        call.get(id).instrument(call.span("get", id.kind)).await
    }

    async fn create(
        &self,
        cx: ResourceContext<'_>,
        request: &ResourceRequest,
    ) -> Result<Created, ResourceError> {
        let call = self.call(cx)?;
        let resource = call
            .create(request)
            .instrument(call.span("create", request.kind))
            .await?;
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
        self.change(cx, id, Change::Start).await
    }

    async fn stop(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        self.change(cx, id, Change::Stop).await
    }

    async fn delete(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
    ) -> Result<Resource, ResourceError> {
        self.change(cx, id, Change::Delete).await
    }
}

impl GcpResources {
    fn call<'a>(&'a self, cx: ResourceContext<'a>) -> Result<Call<'a>, ResourceError> {
        let wrong = |field: &str, reason: &str| ResourceError::Invalid {
            field: field.to_owned(),
            reason: reason.to_owned(),
            cloud_code: None,
        };
        let Account::Gcp(account) = cx.account else {
            return Err(wrong("account", "not a GCP account"));
        };
        let Credentials::Gcp(token) = cx.credentials else {
            return Err(wrong("credentials", "not GCP credentials"));
        };
        Ok(Call {
            inner: &self.inner,
            account,
            caller: Caller {
                client: &self.inner.client,
                token: &token.token,
            },
        })
    }

    async fn change(
        &self,
        cx: ResourceContext<'_>,
        id: &ResourceId,
        change: Change,
    ) -> Result<Resource, ResourceError> {
        let call = self.call(cx)?;
        call.check_id(id)?;
        call.change(id, change)
            .instrument(call.span(change.name(), id.kind))
            .await
    }
}
