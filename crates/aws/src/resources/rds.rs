//! Databases as RDS DB instances: `CreateDBInstance`, `DescribeDBInstances`,
//! `StartDBInstance`, `StopDBInstance` and `DeleteDBInstance`.

use std::collections::BTreeMap;

use credless_registry::Provider as ProviderKind;
use credless_resources::{Kind, Resource, ResourceError, ResourceRequest, SizeClass, State};
use serde::Deserialize;

use super::query::{Api, Params};
use super::{NAME_TAG, is_managed, tags_for};

/// The engine of a database request that names none.
const DEFAULT_ENGINE: &str = "postgres";

/// The master user RDS creates; its password is generated and kept by RDS.
const MASTER_USERNAME: &str = "credless_admin";

/// The storage every database starts with, in GiB.
const ALLOCATED_STORAGE_GIB: &str = "20";

/// At most this many pages of `DescribeDBInstances` are read for one list (100 each).
const MAX_PAGES: usize = 20;

/// A state change of an existing DB instance.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    /// `StartDBInstance`.
    Start,
    /// `StopDBInstance`.
    Stop,
    /// `DeleteDBInstance`, without a final snapshot.
    Delete,
}

/// The DB instance class of a portable size, or the size itself as a native class.
fn instance_class(size: &str) -> &str {
    match SizeClass::parse(size) {
        Some(SizeClass::Small) => "db.t4g.micro",
        Some(SizeClass::Medium) => "db.t4g.large",
        Some(SizeClass::Large) => "db.m6g.xlarge",
        None => size,
    }
}

/// The portable state of an RDS DB instance status.
fn state(status: &str) -> State {
    match status {
        "creating"
        | "backing-up"
        | "modifying"
        | "starting"
        | "rebooting"
        | "upgrading"
        | "renaming"
        | "resetting-master-credentials"
        | "configuring-enhanced-monitoring"
        | "configuring-iam-database-auth"
        | "configuring-log-exports"
        | "converting-to-vpc"
        | "moving-to-vpc"
        | "maintenance" => State::Pending,
        "available" | "storage-optimization" | "storage-full" => State::Running,
        "stopping" => State::Stopping,
        "stopped" => State::Stopped,
        "deleting" => State::Deleting,
        "failed" | "restore-error" => State::Error,
        _ if status.starts_with("incompatible-") || status.starts_with("inaccessible-") => {
            State::Error
        }
        _ => State::Unknown,
    }
}

/// DB instances in the account and region, only Credless's when `managed_only`.
///
/// `DescribeDBInstances` cannot filter on tags, so the tags are checked here.
pub(super) async fn list(
    api: &Api<'_>,
    managed_only: bool,
) -> Result<Vec<Resource>, ResourceError> {
    let mut resources = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut params = Params::action("DescribeDBInstances");
        params.add("MaxRecords", "100");
        if let Some(marker) = marker.take() {
            params.add("Marker", marker);
        }
        let page: DescribeAnswer = parse(&api.call(params).await?)?;
        let found = page
            .result
            .instances
            .items
            .into_iter()
            .map(|db| resource(api, db));
        resources.extend(found.filter(|resource| !managed_only || is_managed(&resource.tags)));
        match page.result.marker.filter(|marker| !marker.is_empty()) {
            Some(next) => marker = Some(next),
            None => return Ok(resources),
        }
    }
    // Not yet: lists past MAX_PAGES pages are cut; needs a paginated list in the contract.
    Ok(resources)
}

/// One DB instance.
pub(super) async fn get(api: &Api<'_>, identifier: &str) -> Result<Resource, ResourceError> {
    let mut params = Params::action("DescribeDBInstances");
    params.add("DBInstanceIdentifier", identifier);
    let page: DescribeAnswer = parse(&api.call(params).await?)?;
    page.result
        .instances
        .items
        .into_iter()
        .find(|db| db.identifier == identifier)
        .map(|db| resource(api, db))
        .ok_or_else(|| ResourceError::NotFound {
            what: format!("RDS DB instance {identifier}"),
        })
}

/// Creates a DB instance whose master password RDS manages, with IAM authentication.
pub(super) async fn create(
    api: &Api<'_>,
    request: &ResourceRequest,
) -> Result<Resource, ResourceError> {
    if request.size.is_empty() {
        return Err(ResourceError::Invalid {
            field: "size".to_owned(),
            reason: "give `small`, `medium`, `large` or an RDS DB instance class".to_owned(),
            cloud_code: None,
        });
    }
    let engine = request
        .engine
        .as_deref()
        .filter(|engine| !engine.is_empty())
        .unwrap_or(DEFAULT_ENGINE);

    let mut params = Params::action("CreateDBInstance");
    params
        .add("DBInstanceIdentifier", &request.name)
        .add("Engine", engine)
        .add("DBInstanceClass", instance_class(&request.size))
        .add("AllocatedStorage", ALLOCATED_STORAGE_GIB)
        .add("MasterUsername", MASTER_USERNAME)
        .add("ManageMasterUserPassword", "true")
        .add("EnableIAMDatabaseAuthentication", "true");
    if let Some(version) = request.engine_version.as_deref().filter(|v| !v.is_empty()) {
        params.add("EngineVersion", version);
    }
    for (n, (key, value)) in tags_for(request).iter().enumerate() {
        params
            .add(format!("Tags.Tag.{}.Key", n + 1), key)
            .add(format!("Tags.Tag.{}.Value", n + 1), value);
    }

    let created: ChangeAnswer = parse(&api.call(params).await?)?;
    Ok(resource(api, created.result.instance))
}

/// Starts, stops or deletes a DB instance; RDS answers with the instance as it now is.
pub(super) async fn change_state(
    api: &Api<'_>,
    change: Change,
    identifier: &str,
) -> Result<Resource, ResourceError> {
    let mut params = match change {
        Change::Start => Params::action("StartDBInstance"),
        Change::Stop => Params::action("StopDBInstance"),
        Change::Delete => {
            let mut params = Params::action("DeleteDBInstance");
            params
                .add("SkipFinalSnapshot", "true")
                .add("DeleteAutomatedBackups", "true");
            params
        }
    };
    params.add("DBInstanceIdentifier", identifier);
    let changed: ChangeAnswer = parse(&api.call(params).await?)?;
    Ok(resource(api, changed.result.instance))
}

/// The portable view of a DB instance.
fn resource(api: &Api<'_>, db: DbInstance) -> Resource {
    let mut tags: BTreeMap<String, String> = db
        .tags
        .items
        .into_iter()
        .map(|tag| (tag.key, tag.value))
        .collect();
    tags.remove(NAME_TAG);
    let endpoint = db
        .endpoint
        .map(|endpoint| serde_json::json!({ "address": endpoint.address, "port": endpoint.port }));
    let details = serde_json::json!({
        "native_state": db.status,
        "arn": db.arn,
        "engine": db.engine,
        "engine_version": db.engine_version,
        "endpoint": endpoint,
        "master_username": db.master_username,
        "master_user_secret_arn": db.master_user_secret.and_then(|secret| secret.arn),
        "iam_database_authentication": db.iam_authentication,
    });
    Resource {
        id: api.resource_id(Kind::Database, &db.identifier),
        account: api.account().to_owned(),
        provider: ProviderKind::Aws,
        kind: Kind::Database,
        name: db.identifier.clone(),
        region: api.region().to_owned(),
        size: db.class,
        native_id: db.identifier,
        state: state(&db.status),
        created_at: db.created_at,
        tags,
        details,
    }
}

/// Reads an RDS answer; an unreadable success is `Unavailable`.
fn parse<T: for<'de> Deserialize<'de>>(body: &str) -> Result<T, ResourceError> {
    quick_xml::de::from_str(body).map_err(|_| ResourceError::Unavailable {
        cloud_code: None,
        message: "RDS answered something that is not the expected XML".to_owned(),
    })
}

#[derive(Debug, Deserialize)]
struct DescribeAnswer {
    #[serde(rename = "DescribeDBInstancesResult")]
    result: DescribeResult,
}

#[derive(Debug, Deserialize)]
struct DescribeResult {
    #[serde(rename = "DBInstances", default)]
    instances: DbInstances,
    #[serde(rename = "Marker")]
    marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DbInstances {
    #[serde(rename = "DBInstance", default)]
    items: Vec<DbInstance>,
}

/// The answer of a create, start, stop or delete: the DB instance.
#[derive(Debug, Deserialize)]
struct ChangeAnswer {
    #[serde(
        rename = "CreateDBInstanceResult",
        alias = "StartDBInstanceResult",
        alias = "StopDBInstanceResult",
        alias = "DeleteDBInstanceResult"
    )]
    result: ChangeResult,
}

#[derive(Debug, Deserialize)]
struct ChangeResult {
    #[serde(rename = "DBInstance")]
    instance: DbInstance,
}

#[derive(Debug, Deserialize)]
struct DbInstance {
    #[serde(rename = "DBInstanceIdentifier")]
    identifier: String,
    #[serde(rename = "DBInstanceClass", default)]
    class: String,
    #[serde(rename = "DBInstanceStatus", default)]
    status: String,
    #[serde(rename = "DBInstanceArn")]
    arn: Option<String>,
    #[serde(rename = "Engine")]
    engine: Option<String>,
    #[serde(rename = "EngineVersion")]
    engine_version: Option<String>,
    #[serde(rename = "InstanceCreateTime")]
    created_at: Option<String>,
    #[serde(rename = "Endpoint")]
    endpoint: Option<Endpoint>,
    #[serde(rename = "MasterUsername")]
    master_username: Option<String>,
    #[serde(rename = "MasterUserSecret")]
    master_user_secret: Option<MasterUserSecret>,
    #[serde(rename = "IAMDatabaseAuthenticationEnabled")]
    iam_authentication: Option<bool>,
    #[serde(rename = "TagList", default)]
    tags: TagList,
}

#[derive(Debug, Deserialize)]
struct Endpoint {
    #[serde(rename = "Address")]
    address: Option<String>,
    #[serde(rename = "Port")]
    port: Option<u16>,
}

/// Where RDS keeps the generated master password; the ARN is not the secret.
#[derive(Debug, Deserialize)]
struct MasterUserSecret {
    #[serde(rename = "SecretArn")]
    arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct TagList {
    #[serde(rename = "Tag", default)]
    items: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value", default)]
    value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_sizes_map_to_instance_classes_and_native_classes_pass_through() {
        assert_eq!(instance_class("small"), "db.t4g.micro");
        assert_eq!(instance_class("medium"), "db.t4g.large");
        assert_eq!(instance_class("large"), "db.m6g.xlarge");
        assert_eq!(instance_class("db.r7g.large"), "db.r7g.large");
    }

    #[test]
    fn rds_statuses_map_to_portable_states() {
        let cases = [
            ("creating", State::Pending),
            ("backing-up", State::Pending),
            ("modifying", State::Pending),
            ("starting", State::Pending),
            ("available", State::Running),
            ("stopping", State::Stopping),
            ("stopped", State::Stopped),
            ("deleting", State::Deleting),
            ("failed", State::Error),
            ("incompatible-parameters", State::Error),
            ("incompatible-network", State::Error),
            ("inaccessible-encryption-credentials", State::Error),
            ("something-new", State::Unknown),
        ];
        for (status, expected) in cases {
            assert_eq!(state(status), expected, "{status}");
        }
    }
}
