//! PostgreSQL flexible servers with Entra-only authentication: no password exists.

use std::collections::BTreeMap;

use credless_registry::{AzureAccount, Provider as ProviderKind};
use credless_resources::{Kind, Resource, ResourceError, ResourceRequest, SizeClass, State};
use reqwest::Method;
use serde_json::{Value, json};

use super::arm::Arm;
use super::{MANAGED_BY_TAG, group_segments, portable_id, region_of};

/// The api-version of `Microsoft.DBforPostgreSQL` used.
pub(super) const API_VERSION: &str = "2024-08-01";
const DEFAULT_VERSION: &str = "16";
const STORAGE_GB: u32 = 32;

/// The SKU name and tier of a portable class or a native SKU.
pub(super) fn native_sku(size: &str) -> (String, &'static str) {
    match SizeClass::parse(size) {
        Some(SizeClass::Small) => ("Standard_B1ms".to_owned(), "Burstable"),
        Some(SizeClass::Medium) => ("Standard_D2ds_v5".to_owned(), "GeneralPurpose"),
        Some(SizeClass::Large) => ("Standard_D4ds_v5".to_owned(), "GeneralPurpose"),
        None if size.starts_with("Standard_B") => (size.to_owned(), "Burstable"),
        None if size.starts_with("Standard_E") => (size.to_owned(), "MemoryOptimized"),
        None => (size.to_owned(), "GeneralPurpose"),
    }
}

/// The portable state of a server, from `properties.state`.
pub(super) fn state(native: &str) -> State {
    match native {
        "Ready" => State::Running,
        "Provisioning" | "Starting" | "Updating" => State::Pending,
        "Stopping" => State::Stopping,
        "Stopped" => State::Stopped,
        "Dropping" => State::Deleting,
        "Disabled" => State::Error,
        _ => State::Unknown,
    }
}

/// Lists the flexible servers of the account's resource group.
pub(super) async fn list(
    arm: &Arm<'_>,
    account: &AzureAccount,
) -> Result<Vec<Resource>, ResourceError> {
    let mut segments = group_segments(account);
    segments.extend(["Microsoft.DBforPostgreSQL", "flexibleServers"]);
    let items = arm
        .list(arm.url(&segments, API_VERSION), "databases")
        .await?;
    Ok(items.iter().map(|item| resource(account, item)).collect())
}

/// Asks ARM for an Entra-only server; it comes back `pending`.
pub(super) async fn create(
    arm: &Arm<'_>,
    account: &AzureAccount,
    request: &ResourceRequest,
) -> Result<Resource, ResourceError> {
    let invalid = |field: &str, reason: &str| ResourceError::Invalid {
        field: field.to_owned(),
        reason: reason.to_owned(),
        cloud_code: None,
    };
    match request.engine.as_deref() {
        None | Some("postgres" | "postgresql") => {}
        Some(_) => {
            return Err(invalid(
                "engine",
                "Azure databases are PostgreSQL: use postgres",
            ));
        }
    }
    let version = request.engine_version.as_deref().unwrap_or(DEFAULT_VERSION);
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "engine_version",
            "use a PostgreSQL major version such as 16",
        ));
    }
    let region = region_of(account, request);
    let (sku, tier) = native_sku(&request.size);
    let mut tags: BTreeMap<String, String> = request.tags.clone();
    tags.insert(MANAGED_BY_TAG.to_owned(), "credless".to_owned());
    tags.insert("Name".to_owned(), request.name.clone());

    let mut segments = group_segments(account);
    segments.extend([
        "Microsoft.DBforPostgreSQL",
        "flexibleServers",
        request.name.as_str(),
    ]);
    let url = arm.url(&segments, API_VERSION);
    if arm.find(url.clone(), &request.name).await?.is_some() {
        return Err(ResourceError::Conflict {
            cloud_code: "ResourceExists".to_owned(),
            message: format!("a database server named {} already exists", request.name),
        });
    }
    let body = json!({
        "location": region,
        "tags": tags,
        "sku": { "name": sku, "tier": tier },
        "properties": {
            "version": version,
            "createMode": "Create",
            "storage": { "storageSizeGB": STORAGE_GB, "autoGrow": "Enabled" },
            "authConfig": {
                "activeDirectoryAuth": "Enabled",
                "passwordAuth": "Disabled",
                "tenantId": account.tenant_id,
            },
            "highAvailability": { "mode": "Disabled" },
            "backup": { "backupRetentionDays": 7, "geoRedundantBackup": "Disabled" },
        },
    });
    let answer = arm
        .call(Method::PUT, url, Some(&body), &request.name)
        .await?;

    // The service usually answers `202` with no body: the request describes the server.
    let mut shown = if answer.body.is_object() {
        answer.body
    } else {
        body
    };
    shown["name"] = json!(request.name);
    if shown["properties"]["state"].is_null() {
        shown["properties"]["state"] = json!("Provisioning");
    }
    let mut resource = resource(account, &shown);
    if resource.state != State::Pending {
        resource.state = State::Pending;
    }
    Ok(resource)
}

/// A server as the portable model shows it.
pub(super) fn resource(account: &AzureAccount, body: &Value) -> Resource {
    let properties = &body["properties"];
    let name = body["name"].as_str().unwrap_or_default();
    let location = body["location"].as_str().unwrap_or_default();
    let native_state = properties["state"].as_str().unwrap_or_default();
    let (id, native_id) = portable_id(account, Kind::Database, location, name);
    Resource {
        id,
        account: account.id.clone(),
        provider: ProviderKind::Azure,
        kind: Kind::Database,
        name: name.to_owned(),
        region: location.to_owned(),
        size: body["sku"]["name"].as_str().unwrap_or_default().to_owned(),
        native_id,
        state: state(native_state),
        created_at: body["systemData"]["createdAt"].as_str().map(str::to_owned),
        tags: tags_of(body),
        details: json!({
            "state": native_state,
            "engine": "postgres",
            "engine_version": properties["version"],
            "tier": body["sku"]["tier"],
            "host": properties["fullyQualifiedDomainName"],
            "authentication": "entra",
            "password_auth": properties["authConfig"]["passwordAuth"],
        }),
    }
}

/// The string tags of an ARM resource.
pub(super) fn tags_of(body: &Value) -> BTreeMap<String, String> {
    body["tags"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect()
}
