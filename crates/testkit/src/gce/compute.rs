//! The fake Compute Engine API: zonal instances and the aggregated list.

use serde_json::{Map, Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{
    GceCall, GceState, Progress, Recorded, Route, check_labels, google_error, has_label, invalid,
    json_response, key3, now, valid_name,
};
use crate::recording::{lock, query_param};

/// Machine types the fake knows, in every zone.
const MACHINE_TYPES: &[&str] = &[
    "e2-micro",
    "e2-small",
    "e2-medium",
    "e2-standard-2",
    "e2-standard-4",
    "e2-standard-8",
    "n2-standard-2",
    "n2-standard-4",
    "n1-standard-1",
];

/// What a step of a VM's progress does: become a status, or disappear.
type Step = Option<&'static str>;

/// One VM instance.
pub(super) struct Vm {
    id: u64,
    name: String,
    zone: String,
    machine_type: String,
    pub(super) status: &'static str,
    labels: Map<String, Value>,
    created: String,
    disks: Value,
    network_interfaces: Value,
    progress: Progress<Step>,
    /// The name of the operation that set `progress` going.
    pub(super) operation: String,
}

impl Vm {
    /// A running `e2-small` VM, as if made outside Credless.
    pub(super) fn running(id: u64, name: &str, zone: &str, labels: &[(&str, &str)]) -> Self {
        Self {
            id,
            name: name.to_owned(),
            zone: zone.to_owned(),
            machine_type: "e2-small".to_owned(),
            status: "RUNNING",
            labels: labels
                .iter()
                .map(|(key, value)| ((*key).to_owned(), json!(value)))
                .collect(),
            created: now(),
            disks: json!([{"boot": true, "autoDelete": true}]),
            network_interfaces: json!([{"network": "global/networks/default"}]),
            progress: Progress::default(),
            operation: String::new(),
        }
    }

    fn json(&self, base: &str, project: &str) -> Value {
        let zone_url = format!("{base}/compute/v1/projects/{project}/zones/{}", self.zone);
        let mut interfaces = self.network_interfaces.clone();
        if let Some(first) = interfaces.get_mut(0) {
            first["networkIP"] = json!(format!("10.128.0.{}", self.id % 250 + 2));
            first["name"] = json!("nic0");
        }
        json!({
            "kind": "compute#instance",
            "id": self.id.to_string(),
            "name": self.name,
            "status": self.status,
            "machineType": format!("{zone_url}/machineTypes/{}", self.machine_type),
            "zone": zone_url,
            "labels": self.labels,
            "selfLink": format!("{zone_url}/instances/{}", self.name),
            "creationTimestamp": self.created,
            "disks": self.disks,
            "networkInterfaces": interfaces,
        })
    }

    /// The operation still moving this instance, if any.
    pub(super) fn driving(&self) -> Option<&str> {
        self.progress.busy().then_some(self.operation.as_str())
    }

    /// Counts one read and moves on a step when due; `false` when the VM is now gone.
    fn observe(&mut self, reads_per_step: usize) -> bool {
        match self.progress.observe(reads_per_step) {
            Some(Some(status)) => {
                self.status = status;
                true
            }
            Some(None) => false,
            None => true,
        }
    }
}

/// Matches a Compute Engine path and method.
pub(super) fn route(method: &str, path: &[&str]) -> Option<Route> {
    let route = |call, project: &str, zone: &str, name: &str| Route {
        call,
        project: project.to_owned(),
        zone: zone.to_owned(),
        name: name.to_owned(),
    };
    let call = match (method, path) {
        (
            "GET",
            [
                "compute",
                "v1",
                "projects",
                project,
                "aggregated",
                "instances",
            ],
        ) => {
            return Some(route(GceCall::ComputeAggregatedList, project, "", ""));
        }
        (
            "POST",
            [
                "compute",
                "v1",
                "projects",
                project,
                "zones",
                zone,
                "instances",
            ],
        ) => {
            return Some(route(GceCall::ComputeInsert, project, zone, ""));
        }
        (
            "GET",
            [
                "compute",
                "v1",
                "projects",
                project,
                "zones",
                zone,
                "operations",
            ],
        ) => {
            return Some(route(GceCall::ComputeOperationsList, project, zone, ""));
        }
        ("GET", [.., "instances", _]) => GceCall::ComputeGet,
        ("DELETE", [.., "instances", _]) => GceCall::ComputeDelete,
        ("POST", [.., "instances", _, "start"]) => GceCall::ComputeStart,
        ("POST", [.., "instances", _, "stop"]) => GceCall::ComputeStop,
        _ => return None,
    };
    match path {
        [
            "compute",
            "v1",
            "projects",
            project,
            "zones",
            zone,
            "instances",
            name,
            ..,
        ] => Some(route(call, project, zone, name)),
        _ => None,
    }
}

impl GceState {
    pub(super) fn serve_compute(&self, route: &Route, request: &Request) -> ResponseTemplate {
        if route.call != GceCall::ComputeAggregatedList && !valid_zone(&route.zone) {
            let message = format!(
                "Invalid value for field 'zone': '{}'. Unknown zone.",
                route.zone
            );
            return invalid(&message);
        }
        match route.call {
            GceCall::ComputeInsert => self.insert_vm(route, request),
            GceCall::ComputeAggregatedList => self.aggregated_list(route, request),
            GceCall::ComputeGet => self.get_vm(route),
            GceCall::ComputeOperationsList => self.compute_operations(route, request),
            _ => self.change_vm(route),
        }
    }

    fn insert_vm(&self, route: &Route, request: &Request) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return google_error(400, "Invalid JSON payload received.", "parseError", "");
        };
        let field = |name: &str| body.get(name).cloned().unwrap_or(Value::Null);
        let name = field("name").as_str().unwrap_or_default().to_owned();
        if !valid_name(&name) {
            return invalid(&format!(
                "Invalid value for field 'resource.name': '{name}'. Must be a match of regex \
                 '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'"
            ));
        }
        let machine_type = field("machineType").as_str().unwrap_or_default().to_owned();
        let Some(machine_type) = machine_type_in(&machine_type, &route.zone) else {
            return invalid(&format!(
                "Invalid value for field 'resource.machineType': '{machine_type}'. Machine type \
                 with name '{machine_type}' does not exist in zone '{}'.",
                route.zone
            ));
        };
        let disks = field("disks");
        let boot_disks = disks.as_array().map_or(0, |disks| {
            disks
                .iter()
                .filter(|disk| disk["boot"] == json!(true))
                .filter(|disk| {
                    disk["initializeParams"]["sourceImage"].is_string()
                        || disk["source"].is_string()
                })
                .count()
        });
        if boot_disks != 1 {
            return invalid(
                "Invalid value for field 'resource.disks': ''. Exactly one boot disk with a \
                 source image or source disk must be specified.",
            );
        }
        let interfaces = field("networkInterfaces");
        if interfaces.as_array().is_none_or(Vec::is_empty) {
            return invalid(
                "Invalid value for field 'resource.networkInterfaces': ''. At least one \
                 network interface must be specified.",
            );
        }
        let labels = field("labels").as_object().cloned().unwrap_or_default();
        if let Err(message) = check_labels(&labels) {
            return invalid(&format!(
                "Invalid value for field 'resource.labels': ''. {message}"
            ));
        }

        let key = key3(&route.project, &route.zone, &name);
        let mut vms = lock(&self.vms);
        if vms.contains_key(&key) {
            let message = format!(
                "The resource 'projects/{}/zones/{}/instances/{name}' already exists",
                route.project, route.zone
            );
            return google_error(409, &message, "alreadyExists", "");
        }
        let mut vm = Vm {
            id: self.next_id(),
            name: name.clone(),
            zone: route.zone.clone(),
            machine_type,
            status: "PROVISIONING",
            labels,
            created: now(),
            disks,
            network_interfaces: interfaces,
            progress: Progress::new([Some("STAGING"), Some("RUNNING")]),
            operation: String::new(),
        };
        let answer = self.compute_operation(route, &mut vm, "insert");
        vms.insert(key, vm);
        answer
    }

    fn get_vm(&self, route: &Route) -> ResponseTemplate {
        let key = key3(&route.project, &route.zone, &route.name);
        let mut vms = lock(&self.vms);
        let Some(vm) = vms.get_mut(&key) else {
            return not_found(route);
        };
        let answer = json_response(200, &vm.json(&self.base, &route.project));
        if !vm.observe(self.reads_per_step()) {
            vms.remove(&key);
        }
        answer
    }

    /// Start, stop and delete.
    fn change_vm(&self, route: &Route) -> ResponseTemplate {
        let key = key3(&route.project, &route.zone, &route.name);
        let mut vms = lock(&self.vms);
        let Some(vm) = vms.get_mut(&key) else {
            return not_found(route);
        };
        let (kind, status, steps): (_, _, &[Step]) = match (route.call, vm.status) {
            // A VM being deleted shows as stopping, then terminated, then is gone.
            (GceCall::ComputeDelete, "TERMINATED") => ("delete", "TERMINATED", &[None]),
            (GceCall::ComputeDelete, _) => ("delete", "STOPPING", &[Some("TERMINATED"), None]),
            (_, status) if vm.progress.busy() => {
                let message = format!(
                    "The resource 'projects/{}/zones/{}/instances/{}' is not ready ({status})",
                    route.project, route.zone, route.name
                );
                return google_error(400, &message, "resourceNotReady", "");
            }
            (GceCall::ComputeStop, "RUNNING") => ("stop", "STOPPING", &[Some("TERMINATED")]),
            (GceCall::ComputeStart, "TERMINATED") => ("start", "STAGING", &[Some("RUNNING")]),
            // Google accepts stopping a stopped VM or starting a running one as a no-op.
            (GceCall::ComputeStop, status) => ("stop", status, &[]),
            (_, status) => ("start", status, &[]),
        };
        vm.status = status;
        vm.progress = Progress::new(steps.iter().copied());
        self.compute_operation(route, vm, kind)
    }

    fn aggregated_list(&self, route: &Route, request: &Request) -> ResponseTemplate {
        let filter = match query_param(request, "filter").as_deref().map(label_filter) {
            None => None,
            Some(Some(filter)) => Some(filter),
            Some(None) => {
                return invalid(
                    "Invalid value for field 'filter'. Invalid list filter expression.",
                );
            }
        };
        let reads_per_step = self.reads_per_step();
        let mut vms = lock(&self.vms);
        let mut items = Map::new();
        let mut gone = Vec::new();
        for (key, vm) in vms.iter_mut() {
            let (project, zone, _) = key;
            let matches = filter
                .as_ref()
                .is_none_or(|(name, value)| has_label(&vm.labels, name, value));
            if project != &route.project || !matches {
                continue;
            }
            let scope = items
                .entry(format!("zones/{zone}"))
                .or_insert_with(|| json!({"instances": []}));
            if let Some(instances) = scope["instances"].as_array_mut() {
                instances.push(vm.json(&self.base, project));
            }
            if !vm.observe(reads_per_step) {
                gone.push(key.clone());
            }
        }
        for key in gone {
            vms.remove(&key);
        }
        // Google lists every zone; the empty ones carry a warning instead of instances.
        let empty = "zones/me-west1-b";
        items.entry(empty).or_insert_with(|| {
            json!({"warning": {
                "code": "NO_RESULTS_ON_PAGE",
                "message": format!("There are no results for scope '{empty}' on this page."),
                "data": [{"key": "scope", "value": empty}],
            }})
        });
        let body = json!({
            "kind": "compute#instanceAggregatedList",
            "id": format!("projects/{}/aggregated/instances", route.project),
            "items": items,
            "selfLink": format!(
                "{}/compute/v1/projects/{}/aggregated/instances", self.base, route.project
            ),
        });
        json_response(200, &body)
    }

    /// The Operation a change answers with, recorded as the one driving `vm`.
    fn compute_operation(&self, route: &Route, vm: &mut Vm, kind: &str) -> ResponseTemplate {
        let zone_url = format!(
            "{}/compute/v1/projects/{}/zones/{}",
            self.base, route.project, vm.zone
        );
        let op_id = self.next_id();
        let name = format!("operation-{op_id}-{kind}");
        let body = json!({
            "kind": "compute#operation",
            "id": op_id.to_string(),
            "name": name,
            "zone": zone_url,
            "operationType": kind,
            "targetLink": format!("{zone_url}/instances/{}", vm.name),
            "targetId": vm.id.to_string(),
            "status": "RUNNING",
            "progress": 0,
            "insertTime": now(),
            "startTime": now(),
            "selfLink": format!("{zone_url}/operations/{name}"),
        });
        let answer = json_response(200, &body);
        self.record(Recorded::new(
            false,
            &route.project,
            &vm.zone,
            &vm.name,
            body,
        ));
        vm.operation = name;
        answer
    }
}

fn not_found(route: &Route) -> ResponseTemplate {
    let message = format!(
        "The resource 'projects/{}/zones/{}/instances/{}' was not found",
        route.project, route.zone, route.name
    );
    google_error(404, &message, "notFound", "")
}

/// Whether `zone` looks like a Compute Engine zone: `<area>-<location><n>-<letter>`.
fn valid_zone(zone: &str) -> bool {
    let Some((region, letter)) = zone.rsplit_once('-') else {
        return false;
    };
    letter.len() == 1
        && letter.bytes().all(|b| b.is_ascii_lowercase())
        && region.contains('-')
        && region.ends_with(|c: char| c.is_ascii_digit())
}

/// The machine type named by a full or partial URL, if it is known in `zone`.
fn machine_type_in(url: &str, zone: &str) -> Option<String> {
    let (prefix, name) = url.rsplit_once("machineTypes/")?;
    let zone_matches = prefix
        .trim_end_matches('/')
        .ends_with(&format!("zones/{zone}"));
    (zone_matches && MACHINE_TYPES.contains(&name)).then(|| name.to_owned())
}

/// Reads `labels.<key>=<value>` (spaces and quotes around the value allowed).
fn label_filter(filter: &str) -> Option<(String, String)> {
    let (left, right) = filter.split_once('=')?;
    let key = left.trim().strip_prefix("labels.")?;
    let value = right.trim().trim_matches('"');
    (!key.is_empty()).then(|| (key.to_owned(), value.to_owned()))
}
