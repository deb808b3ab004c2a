//! VMs as Compute Engine instances: zones, machine types, the insert body, and reading an
//! instance back as a portable [`Resource`].

use std::collections::BTreeMap;

use credless_registry::Provider as ProviderKind;
use credless_resources::{
    Kind, Resource, ResourceError, ResourceId, ResourceRequest, SizeClass, State,
};
use serde_json::{Value, json};

use super::labels::{is_native_name, labels_of};

/// The boot image when a request names none: Debian 12's image family.
pub const DEFAULT_IMAGE: &str = "projects/debian-cloud/global/images/family/debian-12";

/// The zone a VM goes to in `region`.
///
/// A region becomes its `-b` zone: Google lists a `b` zone in every current region, while
/// `-a` is missing from some (`europe-west1` and `us-east1` start at `b`) and `-c`/`-d` are
/// missing from others. A zone given as the region (`us-central1-f`, a region followed by one
/// letter) is used as it is.
pub fn zone_for_region(region: &str) -> String {
    if is_zone(region) {
        region.to_owned()
    } else {
        format!("{region}-b")
    }
}

/// Whether `location` is a zone (`<region>-<letter>`) rather than a region (`<area>-<name><n>`).
pub(super) fn is_zone(location: &str) -> bool {
    location.rsplit_once('-').is_some_and(|(region, letter)| {
        letter.len() == 1
            && letter.bytes().all(|b| b.is_ascii_lowercase())
            && region.ends_with(|c: char| c.is_ascii_digit())
    })
}

/// The machine type for a size: `small` → `e2-small` (2 shared vCPUs, 2 GB), `medium` →
/// `e2-standard-2` (2 vCPUs, 8 GB), `large` → `e2-standard-4` (4 vCPUs, 16 GB); any other
/// value is taken as a native machine type name.
///
/// Fails with [`ResourceError::Invalid`] (`size`) for a value that cannot be a machine type
/// name.
pub fn machine_type(size: &str) -> Result<String, ResourceError> {
    match SizeClass::parse(size) {
        Some(SizeClass::Small) => Ok("e2-small".to_owned()),
        Some(SizeClass::Medium) => Ok("e2-standard-2".to_owned()),
        Some(SizeClass::Large) => Ok("e2-standard-4".to_owned()),
        None if is_native_name(size) => Ok(size.to_owned()),
        None => Err(ResourceError::Invalid {
            field: "size".to_owned(),
            reason: "not small, medium, large or a Compute Engine machine type".to_owned(),
            cloud_code: None,
        }),
    }
}

/// The portable state of an instance `status`.
pub fn vm_state(status: &str) -> State {
    match status {
        "PROVISIONING" | "STAGING" | "REPAIRING" => State::Pending,
        "RUNNING" => State::Running,
        "STOPPING" | "SUSPENDING" => State::Stopping,
        "TERMINATED" | "STOPPED" | "SUSPENDED" => State::Stopped,
        _ => State::Unknown,
    }
}

/// The `instances.insert` body: the machine type, one boot disk from `image` that is deleted
/// with the VM, one interface on the `default` network with no external address, no service
/// account, and `labels`.
pub(super) fn insert_body(
    request: &ResourceRequest,
    zone: &str,
    machine_type: &str,
    labels: &BTreeMap<String, String>,
) -> Value {
    let image = request.image.as_deref().unwrap_or(DEFAULT_IMAGE);
    json!({
        "name": request.name,
        "machineType": format!("zones/{zone}/machineTypes/{machine_type}"),
        "labels": labels,
        "disks": [{
            "boot": true,
            "autoDelete": true,
            "initializeParams": {"sourceImage": image},
        }],
        "networkInterfaces": [{"network": "global/networks/default"}],
    })
}

/// A VM as the insert's Operation describes it: `pending`, with what was asked.
pub(super) fn created(
    account: &str,
    request: &ResourceRequest,
    zone: &str,
    machine_type: &str,
    labels: BTreeMap<String, String>,
    operation: &Value,
) -> Resource {
    let id = ResourceId {
        account: account.to_owned(),
        kind: Kind::Vm,
        location: zone.to_owned(),
        native_id: request.name.clone(),
    };
    let self_link = operation["targetLink"].as_str().unwrap_or_default();
    Resource {
        id: id.encode(),
        account: account.to_owned(),
        provider: ProviderKind::Gcp,
        kind: Kind::Vm,
        name: request.name.clone(),
        region: zone.to_owned(),
        size: machine_type.to_owned(),
        native_id: self_link.to_owned(),
        state: State::Pending,
        created_at: None,
        tags: labels,
        details: json!({
            "zone": zone,
            "id": operation["targetId"],
            "operation": operation["name"],
        }),
    }
}

/// Reads an instance as the API returns it.
///
/// Fails with [`ResourceError::Unavailable`] when it has no name or zone.
pub(super) fn resource_of(account: &str, instance: &Value) -> Result<Resource, ResourceError> {
    let text = |key: &str| instance[key].as_str().unwrap_or_default();
    let last = |key: &str| text(key).rsplit('/').next().unwrap_or_default().to_owned();
    let (name, zone) = (text("name"), last("zone"));
    if name.is_empty() || zone.is_empty() {
        return Err(super::http::unreadable(super::http::Api::Compute));
    }
    let status = text("status");
    let id = ResourceId {
        account: account.to_owned(),
        kind: Kind::Vm,
        location: zone.clone(),
        native_id: name.to_owned(),
    };
    let interface = &instance["networkInterfaces"][0];
    Ok(Resource {
        id: id.encode(),
        account: account.to_owned(),
        provider: ProviderKind::Gcp,
        kind: Kind::Vm,
        name: name.to_owned(),
        region: zone.clone(),
        size: last("machineType"),
        native_id: text("selfLink").to_owned(),
        state: vm_state(status),
        created_at: Some(text("creationTimestamp"))
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        tags: labels_of(&instance["labels"]),
        details: json!({
            "status": status,
            "statusMessage": instance["statusMessage"],
            "zone": zone,
            "id": instance["id"],
            "internalIp": interface["networkIP"],
            "externalIp": interface["accessConfigs"][0]["natIP"],
        }),
    })
}

/// The state that the operations of a zone, as `zoneOperations.list` returns them, give the
/// instance whose link ends with `target` (`/projects/<p>/zones/<z>/instances/<name>`), if
/// one of them is not done.
///
/// A pending `delete` wins: a VM being deleted shows as `STOPPING` and `TERMINATED` before it
/// is gone. Otherwise the newest pending start (`insert`, `start`, `resume`) or stop (`stop`,
/// `suspend`) decides; other operations (labels, metadata) leave the instance's status alone.
pub(super) fn pending_state(operations: &Value, target: &str) -> Option<State> {
    let pending = operations["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|operation| operation["status"] != "DONE")
        .filter(|operation| {
            operation["targetLink"]
                .as_str()
                .is_some_and(|link| link.ends_with(target))
        });
    let mut newest: Option<(&str, State)> = None;
    for operation in pending {
        let state = match operation["operationType"].as_str().unwrap_or_default() {
            "delete" => return Some(State::Deleting),
            "insert" | "start" | "resume" => State::Pending,
            "stop" | "suspend" => State::Stopping,
            _ => continue,
        };
        // RFC 3339 times with the one offset Google writes them in sort as text.
        let inserted = operation["insertTime"].as_str().unwrap_or_default();
        if newest.is_none_or(|(time, _)| inserted >= time) {
            newest = Some((inserted, state));
        }
    }
    newest.map(|(_, state)| state)
}

/// The instances of one `aggregatedList` page, across every zone's scope; scopes with no
/// instances carry only a warning and are skipped.
pub(super) fn aggregated_instances(page: &Value) -> impl Iterator<Item = &Value> {
    page["items"]
        .as_object()
        .into_iter()
        .flat_map(|scopes| scopes.values())
        .filter_map(|scope| scope["instances"].as_array())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_take_their_b_zone_and_zones_stay() {
        assert_eq!(zone_for_region("europe-west1"), "europe-west1-b");
        assert_eq!(zone_for_region("us-east1"), "us-east1-b");
        assert_eq!(
            zone_for_region("northamerica-northeast2"),
            "northamerica-northeast2-b"
        );
        assert_eq!(zone_for_region("us-central1-f"), "us-central1-f");
        assert!(!is_zone("me-central2"));
    }

    #[test]
    fn sizes_map_to_e2_types_and_native_types_pass() {
        assert_eq!(machine_type("small").unwrap_or_default(), "e2-small");
        assert_eq!(machine_type("medium").unwrap_or_default(), "e2-standard-2");
        assert_eq!(machine_type("large").unwrap_or_default(), "e2-standard-4");
        assert_eq!(
            machine_type("n2-highmem-8").unwrap_or_default(),
            "n2-highmem-8"
        );
        assert!(machine_type("../../x").is_err());
    }

    #[test]
    fn pending_operations_on_the_instance_decide_its_state() {
        let target = "/projects/p/zones/z-b/instances/web";
        let op = |kind: &str, status: &str, link: &str, time: &str| {
            json!({"operationType": kind, "status": status, "insertTime": time,
                "targetLink": format!("https://www.googleapis.com/compute/v1{link}")})
        };
        let list = |items: Vec<Value>| json!({ "items": items });
        let other = "/projects/p/zones/z-b/instances/myweb";
        let stop = op("stop", "RUNNING", target, "2026-01-01T10:00:00.000-08:00");
        let start = op("start", "PENDING", target, "2026-01-01T10:00:05.000-08:00");
        let delete = op("delete", "RUNNING", target, "2026-01-01T09:00:00.000-08:00");
        assert_eq!(
            pending_state(&list(vec![stop.clone()]), target),
            Some(State::Stopping)
        );
        assert_eq!(
            pending_state(&list(vec![start.clone(), stop.clone()]), target),
            Some(State::Pending)
        );
        assert_eq!(
            pending_state(&list(vec![stop, delete, start]), target),
            Some(State::Deleting)
        );
        let elsewhere = op("delete", "RUNNING", other, "2026-01-01T09:00:00.000-08:00");
        let done = op("delete", "DONE", target, "2026-01-01T09:00:00.000-08:00");
        let labels = op(
            "setLabels",
            "RUNNING",
            target,
            "2026-01-01T09:00:00.000-08:00",
        );
        assert_eq!(
            pending_state(&list(vec![elsewhere, done, labels]), target),
            None
        );
        assert_eq!(pending_state(&Value::Null, target), None);
    }

    #[test]
    fn every_compute_status_has_a_portable_state() {
        let table = [
            ("PROVISIONING", State::Pending),
            ("STAGING", State::Pending),
            ("REPAIRING", State::Pending),
            ("RUNNING", State::Running),
            ("STOPPING", State::Stopping),
            ("SUSPENDING", State::Stopping),
            ("TERMINATED", State::Stopped),
            ("STOPPED", State::Stopped),
            ("SUSPENDED", State::Stopped),
            ("SOMETHING_NEW", State::Unknown),
        ];
        for (status, state) in table {
            assert_eq!(vm_state(status), state, "{status}");
        }
    }
}
