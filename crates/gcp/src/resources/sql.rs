//! Databases as Cloud SQL for PostgreSQL instances with IAM database authentication: tiers,
//! the insert body, and reading an instance back as a portable [`Resource`].

use std::collections::BTreeMap;

use credless_registry::Provider as ProviderKind;
use credless_resources::{
    Kind, Resource, ResourceError, ResourceId, ResourceRequest, SizeClass, State,
};
use serde_json::{Value, json};

use super::compute::is_zone;
use super::labels::{is_native_name, labels_of};

/// The PostgreSQL major version when a request names none.
pub const DEFAULT_POSTGRES_VERSION: &str = "16";
/// The database flag that lets IAM principals sign in with access tokens instead of passwords.
pub const IAM_AUTHENTICATION_FLAG: &str = "cloudsql.iam_authentication";

/// The tier for a size: `small` → `db-custom-1-3840` (1 vCPU, 3.75 GB), `medium` →
/// `db-custom-2-7680` (2 vCPUs, 7.5 GB), `large` → `db-custom-4-15360` (4 vCPUs, 15 GB);
/// any other value is taken as a native tier.
///
/// Dedicated-core custom tiers rather than the shared-core `db-f1-micro`/`db-g1-small`, which
/// Google excludes from the Cloud SQL SLA. Custom tiers belong to the Enterprise edition, so
/// instances are created with `edition: ENTERPRISE` (PostgreSQL 16 and later default to
/// Enterprise Plus, which refuses them).
///
/// Fails with [`ResourceError::Invalid`] (`size`) for a value that cannot be a tier.
pub fn sql_tier(size: &str) -> Result<String, ResourceError> {
    match SizeClass::parse(size) {
        Some(SizeClass::Small) => Ok("db-custom-1-3840".to_owned()),
        Some(SizeClass::Medium) => Ok("db-custom-2-7680".to_owned()),
        Some(SizeClass::Large) => Ok("db-custom-4-15360".to_owned()),
        None if size.starts_with("db-") && is_native_name(size) => Ok(size.to_owned()),
        None => Err(invalid(
            "size",
            "not small, medium, large or a Cloud SQL tier (db-…)",
        )),
    }
}

/// The portable state of an instance's `state` and `settings.activationPolicy`.
pub fn database_state(state: &str, activation_policy: &str) -> State {
    match (state, activation_policy) {
        ("PENDING_CREATE" | "MAINTENANCE" | "ONLINE_MAINTENANCE" | "REPAIRING", _) => {
            State::Pending
        }
        ("RUNNABLE", "NEVER") | ("SUSPENDED", _) => State::Stopped,
        ("RUNNABLE", _) => State::Running,
        ("FAILED", _) => State::Error,
        ("PENDING_DELETE", _) => State::Deleting,
        _ => State::Unknown,
    }
}

/// The Cloud SQL `databaseVersion` for a request: `postgres` (or `postgresql`, the default)
/// with `engine_version` as a major version (`16`) or a native version (`POSTGRES_16`).
///
/// Fails with [`ResourceError::Invalid`] for another engine or a malformed version.
pub(super) fn database_version(request: &ResourceRequest) -> Result<String, ResourceError> {
    let engine = request.engine.as_deref().unwrap_or("postgres");
    if !matches!(engine, "postgres" | "postgresql") {
        return Err(invalid("engine", "only postgres is offered on GCP"));
    }
    let version = request
        .engine_version
        .as_deref()
        .unwrap_or(DEFAULT_POSTGRES_VERSION);
    let major = version.strip_prefix("POSTGRES_").unwrap_or(version);
    if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return Err(invalid(
            "engine_version",
            "a PostgreSQL major version such as 16",
        ));
    }
    Ok(format!("POSTGRES_{major}"))
}

/// The `instances.insert` body: PostgreSQL with IAM database authentication on and no
/// `rootPassword` (the API does not require one: the `postgres` user simply has no password
/// until someone sets it, so nobody signs in with one), TLS required, and `labels`. A zone
/// given as the region becomes the instance's preferred zone.
pub(super) fn insert_body(
    request: &ResourceRequest,
    version: &str,
    tier: &str,
    labels: &BTreeMap<String, String>,
) -> Value {
    let (region, zone) = region_and_zone(&request.region);
    let mut body = json!({
        "name": request.name,
        "region": region,
        "databaseVersion": version,
        "settings": {
            "tier": tier,
            "edition": "ENTERPRISE",
            "activationPolicy": "ALWAYS",
            "userLabels": labels,
            "databaseFlags": [{"name": IAM_AUTHENTICATION_FLAG, "value": "on"}],
            "ipConfiguration": {"ipv4Enabled": true, "sslMode": "ENCRYPTED_ONLY"},
        },
    });
    if let Some(zone) = zone {
        body["settings"]["locationPreference"] = json!({ "zone": zone });
    }
    body
}

/// The region of a request's `region`, which may be a zone.
pub(super) fn region_and_zone(location: &str) -> (&str, Option<&str>) {
    match location.rsplit_once('-') {
        Some((region, _)) if is_zone(location) => (region, Some(location)),
        _ => (location, None),
    }
}

/// A database as the insert's Operation describes it: `pending`, with what was asked.
pub(super) fn created(
    account: &str,
    request: &ResourceRequest,
    tier: &str,
    labels: BTreeMap<String, String>,
    operation: &Value,
) -> Resource {
    let (region, _) = region_and_zone(&request.region);
    let id = ResourceId {
        account: account.to_owned(),
        kind: Kind::Database,
        location: region.to_owned(),
        native_id: request.name.clone(),
    };
    Resource {
        id: id.encode(),
        account: account.to_owned(),
        provider: ProviderKind::Gcp,
        kind: Kind::Database,
        name: request.name.clone(),
        region: region.to_owned(),
        size: tier.to_owned(),
        native_id: operation["targetLink"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        state: State::Pending,
        created_at: None,
        tags: labels,
        details: json!({
            "state": "PENDING_CREATE",
            "iamAuthentication": true,
            "operation": operation["name"],
        }),
    }
}

/// Reads an instance as the API returns it.
///
/// Fails with [`ResourceError::Unavailable`] when it has no name.
pub(super) fn resource_of(account: &str, instance: &Value) -> Result<Resource, ResourceError> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let settings = &instance["settings"];
    let (name, region) = (text(&instance["name"]), text(&instance["region"]));
    if name.is_empty() {
        return Err(super::http::unreadable(super::http::Api::SqlAdmin));
    }
    let (state, policy) = (
        text(&instance["state"]),
        text(&settings["activationPolicy"]),
    );
    let iam_authentication = settings["databaseFlags"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|flag| flag["name"] == IAM_AUTHENTICATION_FLAG && flag["value"] == "on");
    let id = ResourceId {
        account: account.to_owned(),
        kind: Kind::Database,
        location: region.clone(),
        native_id: name.clone(),
    };
    Ok(Resource {
        id: id.encode(),
        account: account.to_owned(),
        provider: ProviderKind::Gcp,
        kind: Kind::Database,
        name,
        region,
        size: text(&settings["tier"]),
        native_id: text(&instance["selfLink"]),
        state: database_state(&state, &policy),
        created_at: instance["createTime"].as_str().map(str::to_owned),
        tags: labels_of(&settings["userLabels"]),
        details: json!({
            "state": state,
            "activationPolicy": policy,
            "databaseVersion": instance["databaseVersion"],
            "connectionName": instance["connectionName"],
            "ipAddresses": instance["ipAddresses"],
            "iamAuthentication": iam_authentication,
        }),
    })
}

/// The state that an instance's operations, newest first as `operations.list` returns them,
/// give it, if one of them is not done; `details` are the instance's as [`resource_of`] wrote
/// them.
///
/// A pending `DELETE` is `deleting` and a pending `CREATE` is `pending`. Starting and stopping
/// are `UPDATE`s of `settings.activationPolicy`, which keeps its old value until the update is
/// done, so a pending `UPDATE` of a `RUNNABLE` instance is read as the policy turning over:
/// `stopping` from `ALWAYS`, `pending` from `NEVER`. Not yet: telling those from other updates
/// (a tier or label change reads as a stop while it runs); the Operation does not say which
/// settings it changes.
pub(super) fn pending_state(operations: &Value, details: &Value) -> Option<State> {
    let mut pending = operations["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|operation| matches!(operation["status"].as_str(), Some("PENDING" | "RUNNING")));
    if pending
        .clone()
        .any(|operation| operation["operationType"] == "DELETE")
    {
        return Some(State::Deleting);
    }
    pending.find_map(|operation| match operation["operationType"].as_str()? {
        "CREATE" => Some(State::Pending),
        "UPDATE" if details["state"] == "RUNNABLE" => match details["activationPolicy"].as_str() {
            Some("NEVER") => Some(State::Pending),
            _ => Some(State::Stopping),
        },
        _ => None,
    })
}

fn invalid(field: &str, reason: &str) -> ResourceError {
    ResourceError::Invalid {
        field: field.to_owned(),
        reason: reason.to_owned(),
        cloud_code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_sql_state_has_a_portable_state() {
        let table = [
            ("PENDING_CREATE", "ALWAYS", State::Pending),
            ("MAINTENANCE", "ALWAYS", State::Pending),
            ("RUNNABLE", "ALWAYS", State::Running),
            ("RUNNABLE", "NEVER", State::Stopped),
            ("SUSPENDED", "ALWAYS", State::Stopped),
            ("FAILED", "ALWAYS", State::Error),
            ("PENDING_DELETE", "NEVER", State::Deleting),
            ("SQL_INSTANCE_STATE_UNSPECIFIED", "ALWAYS", State::Unknown),
        ];
        for (state, policy, portable) in table {
            assert_eq!(database_state(state, policy), portable, "{state} {policy}");
        }
    }

    #[test]
    fn pending_operations_show_the_change_under_way() {
        let list = |items: &[(&str, &str)]| {
            let items: Vec<Value> = items
                .iter()
                .map(|(kind, status)| json!({"operationType": kind, "status": status}))
                .collect();
            json!({ "items": items })
        };
        let running = json!({"state": "RUNNABLE", "activationPolicy": "ALWAYS"});
        let stopped = json!({"state": "RUNNABLE", "activationPolicy": "NEVER"});
        let update = list(&[("UPDATE", "RUNNING"), ("CREATE", "DONE")]);
        assert_eq!(pending_state(&update, &running), Some(State::Stopping));
        assert_eq!(pending_state(&update, &stopped), Some(State::Pending));
        let delete = list(&[("UPDATE", "PENDING"), ("DELETE", "RUNNING")]);
        assert_eq!(pending_state(&delete, &running), Some(State::Deleting));
        let settled = list(&[("UPDATE", "DONE"), ("BACKUP_VOLUME", "RUNNING")]);
        assert_eq!(pending_state(&settled, &running), None);
        assert_eq!(pending_state(&Value::Null, &running), None);
    }

    #[test]
    fn sizes_map_to_custom_tiers_and_native_tiers_pass() {
        assert_eq!(sql_tier("small").unwrap_or_default(), "db-custom-1-3840");
        assert_eq!(sql_tier("medium").unwrap_or_default(), "db-custom-2-7680");
        assert_eq!(sql_tier("large").unwrap_or_default(), "db-custom-4-15360");
        assert_eq!(sql_tier("db-g1-small").unwrap_or_default(), "db-g1-small");
        assert!(sql_tier("e2-small").is_err());
    }

    #[test]
    fn zones_given_as_region_become_a_location_preference() {
        assert_eq!(
            region_and_zone("europe-west1-c"),
            ("europe-west1", Some("europe-west1-c"))
        );
        assert_eq!(region_and_zone("europe-west1"), ("europe-west1", None));
    }
}
