//! A stateful fake of Azure Resource Manager for the calls Credless makes: virtual networks,
//! subnets and network interfaces (`Microsoft.Network`, api-version `2024-05-01`), virtual
//! machines (`Microsoft.Compute`, `2024-07-01`) and PostgreSQL flexible servers
//! (`Microsoft.DBforPostgreSQL`, `2024-08-01`).
//!
//! [`FakeArm`] keeps resources per subscription and resource group (every resource group
//! exists). It checks requests as ARM does: a bearer token, the `api-version` of the resource
//! provider, the fields a create needs (a VM's `vmSize`, `imageReference`, a Linux profile that
//! enables SSH or a password, and a network interface that exists; a NIC's existing subnet; a
//! server's SKU, and an administrator login unless password authentication is disabled).
//! Answers use ARM's JSON shapes and `{"error":{"code","message"}}` errors.
//!
//! Long-running operations answer `201`/`202` with `Azure-AsyncOperation` (and, for actions and
//! deletes, `Location`) headers whose URLs the fake serves (`{"status":"InProgress"}` until
//! done). A resource stays in its transitional state (VM `Creating`/`starting`/`deallocating`/
//! `Deleting`; server `Provisioning`/`Starting`/`Stopping`/`Dropping`) for
//! [`set_steps`](FakeArm::set_steps) reads of it or of its operation (default 2), then settles;
//! a deleted resource then answers `404`. Network resources settle at once. A resource being
//! created or changed refuses other actions with `409 OperationNotAllowed`; deletes are always
//! accepted.

mod handler;
mod kinds;
mod routes;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use crate::recording::{RecordedRequest, lock};

/// The api-version of `Microsoft.Network` the fake serves.
pub const NETWORK_API_VERSION: &str = "2024-05-01";
/// The api-version of `Microsoft.Compute` the fake serves.
pub const COMPUTE_API_VERSION: &str = "2024-07-01";
/// The api-version of `Microsoft.DBforPostgreSQL` the fake serves.
pub const POSTGRES_API_VERSION: &str = "2024-08-01";

/// One kind of call the fake serves, for counters and injected failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArmOp {
    /// `GET` a virtual network.
    GetVirtualNetwork,
    /// `PUT` a virtual network.
    PutVirtualNetwork,
    /// `GET` a subnet.
    GetSubnet,
    /// `PUT` a subnet.
    PutSubnet,
    /// `GET` a network interface.
    GetNetworkInterface,
    /// `PUT` a network interface.
    PutNetworkInterface,
    /// `GET` a virtual machine.
    GetVirtualMachine,
    /// `GET` the virtual machines of a resource group.
    ListVirtualMachines,
    /// `PUT` a virtual machine.
    PutVirtualMachine,
    /// `POST …/start` on a virtual machine.
    StartVirtualMachine,
    /// `POST …/deallocate` on a virtual machine.
    DeallocateVirtualMachine,
    /// `DELETE` a virtual machine.
    DeleteVirtualMachine,
    /// `GET` a flexible server.
    GetFlexibleServer,
    /// `GET` the flexible servers of a resource group.
    ListFlexibleServers,
    /// `PUT` a flexible server.
    PutFlexibleServer,
    /// `POST …/start` on a flexible server.
    StartFlexibleServer,
    /// `POST …/stop` on a flexible server.
    StopFlexibleServer,
    /// `DELETE` a flexible server.
    DeleteFlexibleServer,
    /// `GET` an `Azure-AsyncOperation` or `Location` URL.
    OperationStatus,
}

/// A failure [`FakeArm::fail_next`] injects into one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FakeArmFailure {
    /// `429 TooManyRequests` with `Retry-After`, as ARM throttles a subscription.
    Throttle {
        /// The wait `Retry-After` asks for, in whole seconds.
        retry_after: Duration,
    },
    /// `409 OperationNotAllowed` saying a cores quota would be exceeded, as Compute answers.
    Quota,
    /// `403 AuthorizationFailed`, as ARM answers without a role assignment.
    Denied,
    /// `500 InternalServerError`.
    ServerError,
}

/// One request the fake received, with its JSON body when it had one.
#[derive(Clone, PartialEq)]
pub struct ArmRequest {
    /// The call, when the path named one the fake serves.
    pub op: Option<ArmOp>,
    /// Method, path, query and headers.
    pub request: RecordedRequest,
    /// The raw body, lossily decoded as UTF-8.
    pub body: String,
}

impl ArmRequest {
    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

impl fmt::Debug for ArmRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bearer token stays out of test output.
        f.debug_struct("ArmRequest")
            .field("op", &self.op)
            .field("method", &self.request.method)
            .field("path", &self.request.path)
            .field("query", &self.request.query)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

/// A fake Azure Resource Manager on `127.0.0.1` at a random port; use
/// [`management_endpoint`](Self::management_endpoint) as the management endpoint.
/// Cloning gives another handle on the same fake.
#[derive(Clone)]
pub struct FakeArm {
    server: Arc<MockServer>,
    state: Arc<ArmState>,
}

impl FakeArm {
    /// Starts a fake with no resources, accepting any bearer token.
    pub async fn start() -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let state = Arc::new(ArmState {
            endpoint: server.uri(),
            steps: Mutex::new(2),
            ..ArmState::default()
        });
        Mock::given(any())
            .respond_with(handler::Handler {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// The management endpoint, such as `http://127.0.0.1:41234`, without a trailing slash.
    pub fn management_endpoint(&self) -> String {
        self.state.endpoint.clone()
    }

    /// How many reads a long-running operation stays in progress (0: done at once).
    pub fn set_steps(&self, steps: u32) {
        *lock(&self.state.steps) = steps;
    }

    /// Accepts only `Authorization: Bearer <token>` from now on (by default any non-empty
    /// bearer token is accepted).
    pub fn require_token(&self, token: impl Into<String>) {
        *lock(&self.state.token) = Some(token.into());
    }

    /// Answers the next call of `op` with `failure`, after failures queued for it before.
    pub fn fail_next(&self, op: ArmOp, failure: FakeArmFailure) {
        lock(&self.state.failures)
            .entry(op)
            .or_default()
            .push_back(failure);
    }

    /// How many calls of `op` the fake received, failed and refused ones included.
    pub fn calls(&self, op: ArmOp) -> usize {
        lock(&self.state.calls).get(&op).copied().unwrap_or(0)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<ArmRequest> {
        lock(&self.state.requests).clone()
    }

    /// The requests of `op`, in order.
    pub fn requests_of(&self, op: ArmOp) -> Vec<ArmRequest> {
        let requests = lock(&self.state.requests);
        requests
            .iter()
            .filter(|r| r.op == Some(op))
            .cloned()
            .collect()
    }

    /// Adds a running virtual machine that Credless did not create (its tags are `tags`),
    /// together with nothing else: it stands for a VM made by other means.
    pub fn seed_virtual_machine(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
        location: &str,
        tags: Value,
    ) {
        let id = format!(
            "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/\
             Microsoft.Compute/virtualMachines/{name}"
        );
        let body = json!({
            "id": id, "name": name, "type": "Microsoft.Compute/virtualMachines",
            "location": location, "tags": tags,
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_B1s"},
                "provisioningState": "Succeeded",
                "vmId": handler::guid(),
            },
        });
        let stored = Stored::settled(kinds::Kind::VirtualMachine, body, Some("running"));
        lock(&self.state.resources).insert(stored.key(), stored);
    }

    /// Adds a ready flexible server that Credless did not create (its tags are `tags`).
    pub fn seed_flexible_server(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
        location: &str,
        tags: Value,
    ) {
        let id = format!(
            "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/\
             Microsoft.DBforPostgreSQL/flexibleServers/{name}"
        );
        let body = json!({
            "id": id, "name": name, "type": "Microsoft.DBforPostgreSQL/flexibleServers",
            "location": location, "tags": tags,
            "sku": {"name": "Standard_B1ms", "tier": "Burstable"},
            "properties": {"state": "Ready", "version": "16"},
        });
        let stored = Stored::settled(kinds::Kind::FlexibleServer, body, None);
        lock(&self.state.resources).insert(stored.key(), stored);
    }

    /// The stored resource with this ARM id, as a `GET` would show it (without advancing it).
    pub fn resource(&self, id: &str) -> Option<Value> {
        let resources = lock(&self.state.resources);
        resources
            .get(&id.to_ascii_lowercase())
            .map(|r| r.render(true))
    }
}

impl fmt::Debug for FakeArm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeArm")
            .field("management_endpoint", &self.state.endpoint)
            .field("address", self.server.address())
            .finish_non_exhaustive()
    }
}

/// A long-running change in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transition {
    Create,
    Start,
    Stop,
    Delete,
}

/// A stored resource: the JSON a `GET` returns, a VM's power state, and the change under way.
#[derive(Debug, Clone)]
struct Stored {
    kind: kinds::Kind,
    body: Value,
    power: Option<&'static str>,
    transition: Option<(Transition, u32)>,
}

impl Stored {
    fn settled(kind: kinds::Kind, body: Value, power: Option<&'static str>) -> Self {
        Self {
            kind,
            body,
            power,
            transition: None,
        }
    }

    /// The map key: the ARM id, lowercase (ARM ids are case-insensitive).
    fn key(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

/// A long-running operation, whose status follows its resource's transition.
#[derive(Debug, Clone)]
struct Operation {
    resource: String,
    transition: Transition,
}

#[derive(Default)]
struct ArmState {
    endpoint: String,
    steps: Mutex<u32>,
    token: Mutex<Option<String>>,
    /// Resources by lowercase ARM id; ordered so that lists are stable.
    resources: Mutex<BTreeMap<String, Stored>>,
    operations: Mutex<HashMap<String, Operation>>,
    failures: Mutex<HashMap<ArmOp, VecDeque<FakeArmFailure>>>,
    calls: Mutex<HashMap<ArmOp, usize>>,
    requests: Mutex<Vec<ArmRequest>>,
}
