//! One operation of one caller on one account: the URLs, the calls and what their answers mean.

use credless_registry::GcpAccount;
use credless_resources::{Kind, Resource, ResourceError, ResourceId, ResourceRequest, State};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::http::{Api, Caller, join};
use super::{
    Inner, MANAGED_BY_KEY, MANAGED_BY_VALUE, MAX_LIST_PAGES, compute, labels, machine_type,
    sanitize_labels, sql, sql_tier, zone_for_region,
};

/// How many of a database's newest operations a read looks at.
const OPERATIONS_READ: &str = "10";

/// A change to an existing resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Start,
    Stop,
    Delete,
}

impl Change {
    pub(super) fn name(self) -> &'static str {
        match self {
            Change::Start => "start",
            Change::Stop => "stop",
            Change::Delete => "delete",
        }
    }

    /// The state the change ends in, and the state shown while it runs.
    fn states(self) -> (State, State) {
        match self {
            Change::Start => (State::Running, State::Pending),
            Change::Stop => (State::Stopped, State::Stopping),
            Change::Delete => (State::Deleted, State::Deleting),
        }
    }
}

/// One operation of one caller on one account.
pub(super) struct Call<'a> {
    pub(super) inner: &'a Inner,
    pub(super) account: &'a GcpAccount,
    pub(super) caller: Caller<'a>,
}

impl Call<'_> {
    pub(super) fn span(&self, operation: &str, kind: Kind) -> tracing::Span {
        tracing::info_span!(
            "gcp.resources",
            account.id = %self.account.id,
            provider = "gcp",
            resource.operation = operation,
            resource.kind = ?kind,
        )
    }

    /// Refuses ids of another account: they are simply not found here.
    pub(super) fn check_id(&self, id: &ResourceId) -> Result<(), ResourceError> {
        if id.account == self.account.id {
            Ok(())
        } else {
            Err(ResourceError::NotFound {
                what: "resource".to_owned(),
            })
        }
    }

    fn project(&self) -> &str {
        &self.account.project_id
    }

    /// `…/compute/v1/projects/<p>/zones/<zone>/instances/<rest…>`.
    fn instance_url(&self, zone: &str, rest: &[&str]) -> Url {
        let mut segments = vec!["compute", "v1", "projects", self.project(), "zones", zone];
        segments.push("instances");
        segments.extend_from_slice(rest);
        join(&self.inner.compute, &segments)
    }

    /// `…/v1/projects/<p>/instances/<rest…>`.
    fn database_url(&self, rest: &[&str]) -> Url {
        let mut segments = vec!["v1", "projects", self.project(), "instances"];
        segments.extend_from_slice(rest);
        join(&self.inner.sql, &segments)
    }

    pub(super) async fn list(
        &self,
        kind: Kind,
        managed_only: bool,
    ) -> Result<Vec<Resource>, ResourceError> {
        let account = &self.account.id;
        match kind {
            Kind::Vm => {
                let segments = ["compute", "v1", "projects", self.project(), "aggregated"];
                let base = join(&join(&self.inner.compute, &segments), &["instances"]);
                let mut resources = Vec::new();
                let mut page_token: Option<String> = None;
                for _ in 0..MAX_LIST_PAGES {
                    let mut url = base.clone();
                    if managed_only {
                        let filter = format!("labels.{MANAGED_BY_KEY}={MANAGED_BY_VALUE}");
                        url.query_pairs_mut().append_pair("filter", &filter);
                    }
                    if let Some(token) = &page_token {
                        url.query_pairs_mut().append_pair("pageToken", token);
                    }
                    let page = self
                        .send(Api::Compute, Method::GET, url, None, "VMs")
                        .await?;
                    for instance in compute::aggregated_instances(&page) {
                        resources.push(compute::resource_of(account, instance)?);
                    }
                    page_token = page["nextPageToken"].as_str().map(str::to_owned);
                    if page_token.is_none() {
                        break;
                    }
                }
                Ok(retain_managed(resources, managed_only))
            }
            Kind::Database => {
                let mut url = self.database_url(&[]);
                if managed_only {
                    let filter = format!("settings.userLabels.{MANAGED_BY_KEY}:{MANAGED_BY_VALUE}");
                    url.query_pairs_mut().append_pair("filter", &filter);
                }
                let page = self
                    .send(Api::SqlAdmin, Method::GET, url, None, "databases")
                    .await?;
                // Not yet: `nextPageToken`; Cloud SQL pages at 500 instances per project.
                let items = page["items"].as_array().into_iter().flatten();
                let resources = items
                    .map(|instance| sql::resource_of(account, instance))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(retain_managed(resources, managed_only))
            }
        }
    }

    /// Reads a resource and its pending operations, which decide its state while they run.
    ///
    /// Both APIs show a change late: Compute Engine shows a VM being deleted as `STOPPING`,
    /// then `TERMINATED`, and Cloud SQL keeps the old `activationPolicy` until its `UPDATE` is
    /// done. The operations are read before the instance, so an operation seen pending was
    /// pending when the instance was read too: an instance read later can only be further on.
    pub(super) async fn get(&self, id: &ResourceId) -> Result<Resource, ResourceError> {
        let account = &self.account.id;
        let name = id.native_id.as_str();
        match id.kind {
            Kind::Vm => {
                let operations = self.pending_vm_operations(&id.location).await?;
                let url = self.instance_url(&id.location, &[name]);
                let what = format!("VM {name} in {}", id.location);
                let instance = self
                    .send(Api::Compute, Method::GET, url, None, &what)
                    .await?;
                let mut resource = compute::resource_of(account, &instance)?;
                let target = format!(
                    "/projects/{}/zones/{}/instances/{name}",
                    self.project(),
                    id.location
                );
                if let Some(state) = compute::pending_state(&operations, &target) {
                    resource.state = state;
                }
                Ok(resource)
            }
            Kind::Database => {
                let mut url = join(
                    &self.inner.sql,
                    &["v1", "projects", self.project(), "operations"],
                );
                url.query_pairs_mut()
                    .append_pair("instance", name)
                    .append_pair("maxResults", OPERATIONS_READ);
                let operations = self.operations(Api::SqlAdmin, url).await?;
                let url = self.database_url(&[name]);
                let what = format!("database {name}");
                let instance = self
                    .send(Api::SqlAdmin, Method::GET, url, None, &what)
                    .await?;
                let mut resource = sql::resource_of(account, &instance)?;
                if let Some(state) = sql::pending_state(&operations, &resource.details) {
                    resource.state = state;
                }
                Ok(resource)
            }
        }
    }

    /// The operations of `zone` that are not done, for every instance: Compute Engine filters
    /// operations on their own fields, and few run at once in one zone.
    async fn pending_vm_operations(&self, zone: &str) -> Result<Value, ResourceError> {
        let segments = ["compute", "v1", "projects", self.project(), "zones", zone];
        let mut url = join(&join(&self.inner.compute, &segments), &["operations"]);
        url.query_pairs_mut()
            .append_pair("filter", "status != DONE")
            .append_pair("maxResults", "500");
        self.operations(Api::Compute, url).await
    }

    /// An operation list; none when the API finds nothing to list them for, since reading the
    /// instance then tells what is missing.
    async fn operations(&self, api: Api, url: Url) -> Result<Value, ResourceError> {
        match self.send(api, Method::GET, url, None, "operations").await {
            Err(ResourceError::NotFound { .. }) => Ok(Value::Null),
            outcome => outcome,
        }
    }

    pub(super) async fn create(
        &self,
        request: &ResourceRequest,
    ) -> Result<Resource, ResourceError> {
        if !labels::is_resource_name(&request.name) {
            return Err(ResourceError::Invalid {
                field: "name".to_owned(),
                reason: "1-63 of a-z, 0-9 and -, starting with a letter, not ending with -"
                    .to_owned(),
                cloud_code: None,
            });
        }
        let labels = sanitize_labels(&request.tags, &request.name);
        let account = &self.account.id;
        let what = format!("the project {}", self.project());
        match request.kind {
            Kind::Vm => {
                let zone = zone_for_region(&request.region);
                let machine_type = machine_type(&request.size)?;
                let body = compute::insert_body(request, &zone, &machine_type, &labels);
                let url = self.instance_url(&zone, &[]);
                let op = self
                    .send(Api::Compute, Method::POST, url, Some(&body), &what)
                    .await?;
                tracing::info!(resource.name = %request.name, zone = %zone, "VM creation started");
                Ok(compute::created(
                    account,
                    request,
                    &zone,
                    &machine_type,
                    labels,
                    &op,
                ))
            }
            Kind::Database => {
                let tier = sql_tier(&request.size)?;
                let version = sql::database_version(request)?;
                let body = sql::insert_body(request, &version, &tier, &labels);
                let url = self.database_url(&[]);
                let op = self
                    .send(Api::SqlAdmin, Method::POST, url, Some(&body), &what)
                    .await?;
                tracing::info!(resource.name = %request.name, "database creation started");
                Ok(sql::created(account, request, &tier, labels, &op))
            }
        }
    }

    /// Reads the resource, asks for the change, and returns it in its transitional state.
    pub(super) async fn change(
        &self,
        id: &ResourceId,
        change: Change,
    ) -> Result<Resource, ResourceError> {
        let mut resource = self.get(id).await?;
        let name = id.native_id.as_str();
        let what = format!("{:?} {name}", id.kind).to_lowercase();
        let operation = match (id.kind, change) {
            (Kind::Vm, Change::Delete) => {
                let url = self.instance_url(&id.location, &[name]);
                self.send(Api::Compute, Method::DELETE, url, None, &what)
                    .await?
            }
            (Kind::Vm, _) => {
                let url = self.instance_url(&id.location, &[name, change.name()]);
                self.send(Api::Compute, Method::POST, url, None, &what)
                    .await?
            }
            (Kind::Database, Change::Delete) => {
                let url = self.database_url(&[name]);
                self.send(Api::SqlAdmin, Method::DELETE, url, None, &what)
                    .await?
            }
            (Kind::Database, _) => {
                let policy = if change == Change::Start {
                    "ALWAYS"
                } else {
                    "NEVER"
                };
                let body = json!({"settings": {"activationPolicy": policy}});
                let url = self.database_url(&[name]);
                self.send(Api::SqlAdmin, Method::PATCH, url, Some(&body), &what)
                    .await?
            }
        };
        tracing::info!(resource.name = %name, change = change.name(), "change started");

        let (done, transitional) = change.states();
        if resource.state != done {
            resource.state = transitional;
        }
        resource.details["operation"] = operation["name"].clone();
        Ok(resource)
    }

    async fn send(
        &self,
        api: Api,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, ResourceError> {
        let outcome = self.caller.send(api, method, url, body, what).await;
        if let Err(error) = &outcome {
            tracing::info!(
                error.code = error.cloud_code().unwrap_or("none"),
                "Google refused"
            );
        }
        outcome
    }
}

/// Keeps only resources labelled `managed-by=credless` when asked, whatever the API's filter
/// did.
fn retain_managed(mut resources: Vec<Resource>, managed_only: bool) -> Vec<Resource> {
    if managed_only {
        resources.retain(|resource| {
            resource.tags.get(MANAGED_BY_KEY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        });
    }
    resources
}
