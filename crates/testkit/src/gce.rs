//! A stateful fake of the Compute Engine API (zonal VM instances) and the Cloud SQL Admin API
//! (database instances), on one server.
//!
//! It serves exactly the calls a resource provider makes: Compute `insert`, `get`, `start`,
//! `stop`, `delete` and `aggregatedList` under `/compute/v1/projects/<p>/…`, and Cloud SQL
//! `insert`, `get`, `list`, `patch` and `delete` under `/v1/projects/<p>/instances`. Every
//! change answers with an Operation object, as Google's do, and the instance then moves through
//! its states as reads observe it. The operations are kept, pending until the change they
//! started has settled and `DONE` after, and listed by Compute `zoneOperations.list` and Cloud
//! SQL `operations.list`.

mod checks;
mod compute;
mod operations;
mod sql;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::recording::{RecordedRequest, lock};

use checks::{check_labels, has_label, valid_name};
use compute::Vm;
use operations::Recorded;
use sql::SqlInstance;

/// A fake of Compute Engine and Cloud SQL Admin on `127.0.0.1` at a random port.
///
/// Both APIs answer at [`uri`](Self::uri), so it serves as the Compute endpoint and the SQL
/// Admin endpoint alike. Requests must carry `Authorization: Bearer <anything>`; bodies are
/// checked as Google checks them (instance names, machine type, boot disk and network
/// interface, label format; database version, tier against the edition). Creations, starts,
/// stops and deletions are not instant: an instance stays in each intermediate state for
/// [`set_gets_per_step`](Self::set_gets_per_step) reads (one by default), so a client polling
/// with `get` sees `PROVISIONING`, then `STAGING`, then `RUNNING`. Errors have Google's status
/// codes and `{"error": {"code", "message", "errors": [{"reason"}], "status"}}` bodies; their
/// messages follow Google's where known and are close paraphrases otherwise.
#[derive(Clone)]
pub struct FakeGce {
    server: Arc<MockServer>,
    state: Arc<GceState>,
}

/// One API call the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GceCall {
    /// `POST /compute/v1/projects/<p>/zones/<z>/instances`.
    ComputeInsert,
    /// `GET …/zones/<z>/instances/<name>`.
    ComputeGet,
    /// `GET /compute/v1/projects/<p>/aggregated/instances`.
    ComputeAggregatedList,
    /// `POST …/instances/<name>/start`.
    ComputeStart,
    /// `POST …/instances/<name>/stop`.
    ComputeStop,
    /// `DELETE …/instances/<name>`.
    ComputeDelete,
    /// `GET /compute/v1/projects/<p>/zones/<z>/operations`.
    ComputeOperationsList,
    /// `POST /v1/projects/<p>/instances`.
    SqlInsert,
    /// `GET /v1/projects/<p>/instances/<name>`.
    SqlGet,
    /// `GET /v1/projects/<p>/instances`.
    SqlList,
    /// `PATCH /v1/projects/<p>/instances/<name>`.
    SqlPatch,
    /// `DELETE /v1/projects/<p>/instances/<name>`.
    SqlDelete,
    /// `GET /v1/projects/<p>/operations`.
    SqlOperationsList,
}

impl GceCall {
    fn is_sql(self) -> bool {
        matches!(
            self,
            Self::SqlInsert
                | Self::SqlGet
                | Self::SqlList
                | Self::SqlPatch
                | Self::SqlDelete
                | Self::SqlOperationsList
        )
    }
}

/// A failure the fake answers a call with instead of serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GceFailure {
    /// `429` `RESOURCE_EXHAUSTED`, reason `rateLimitExceeded`, with `Retry-After: 2`.
    Throttle,
    /// `403`, reason `quotaExceeded`: a project quota (CPUs, instances) is used up.
    Quota,
    /// `403`, reason `forbidden` (`notAuthorized` for Cloud SQL): a missing IAM permission.
    Denied,
    /// `503` `UNAVAILABLE`, reason `backendError`.
    ServerError,
}

/// A request the fake received, with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GceRequest {
    /// The call it was, `None` for a path or method the fake does not serve.
    pub call: Option<GceCall>,
    /// Method, path, query and headers.
    pub request: RecordedRequest,
    /// The body as sent.
    pub body: Vec<u8>,
}

impl GceRequest {
    /// The body read as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl FakeGce {
    /// Starts the fake with no instances.
    pub async fn start() -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let state = Arc::new(GceState {
            base: server.uri(),
            gets_per_step: AtomicUsize::new(1),
            next_id: AtomicU64::new(4_511_000_000_000_000_001),
            vms: Mutex::default(),
            databases: Mutex::default(),
            operations: Mutex::default(),
            failures: Mutex::default(),
            calls: Mutex::default(),
            requests: Mutex::default(),
        });
        Mock::given(any())
            .respond_with(GceResponder {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// The base URL of both APIs, such as `http://127.0.0.1:41234`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// How many reads (`get` or a list showing it) an instance stays in each intermediate
    /// state; at least one.
    pub fn set_gets_per_step(&self, reads: usize) {
        self.state
            .gets_per_step
            .store(reads.max(1), Ordering::SeqCst);
    }

    /// Adds a `RUNNING` VM directly, as if made outside Credless, with `labels`.
    pub fn put_vm(&self, project: &str, zone: &str, name: &str, labels: &[(&str, &str)]) {
        let id = self.state.next_id();
        let vm = Vm::running(id, name, zone, labels);
        lock(&self.state.vms).insert(key3(project, zone, name), vm);
    }

    /// Adds a `RUNNABLE` PostgreSQL instance directly, as if made outside Credless.
    pub fn put_database(&self, project: &str, region: &str, name: &str, labels: &[(&str, &str)]) {
        let database = SqlInstance::runnable(name, region, labels);
        lock(&self.state.databases).insert(key2(project, name), database);
    }

    /// The status of a VM (`PROVISIONING`, `RUNNING`, …), `None` once it is gone.
    pub fn vm_status(&self, project: &str, zone: &str, name: &str) -> Option<String> {
        let vms = lock(&self.state.vms);
        vms.get(&key3(project, zone, name))
            .map(|vm| vm.status.to_owned())
    }

    /// The state and activation policy of a Cloud SQL instance, `None` once it is gone.
    pub fn database_state(&self, project: &str, name: &str) -> Option<(String, String)> {
        let databases = lock(&self.state.databases);
        databases
            .get(&key2(project, name))
            .map(|database| (database.state.to_owned(), database.policy.clone()))
    }

    /// Answers the next `call` with `failure`; calls queue up in order.
    pub fn fail_next(&self, call: GceCall, failure: GceFailure) {
        lock(&self.state.failures)
            .entry(call)
            .or_default()
            .push_back(failure);
    }

    /// How many requests of `call` arrived, failed ones included.
    pub fn calls(&self, call: GceCall) -> usize {
        lock(&self.state.calls).get(&call).copied().unwrap_or(0)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<GceRequest> {
        lock(&self.state.requests).clone()
    }
}

impl fmt::Debug for FakeGce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeGce")
            .field("uri", &self.server.uri())
            .finish_non_exhaustive()
    }
}

/// Intermediate states still ahead of an instance, each held for some reads.
#[derive(Debug)]
struct Progress<S> {
    steps: VecDeque<S>,
    reads: usize,
}

impl<S> Default for Progress<S> {
    fn default() -> Self {
        Self::new([])
    }
}

impl<S> Progress<S> {
    fn new(steps: impl IntoIterator<Item = S>) -> Self {
        Self {
            steps: steps.into_iter().collect(),
            reads: 0,
        }
    }

    fn busy(&self) -> bool {
        !self.steps.is_empty()
    }

    /// Counts one read; returns the next step once the current one was read often enough.
    fn observe(&mut self, reads_per_step: usize) -> Option<S> {
        if self.steps.is_empty() {
            return None;
        }
        self.reads += 1;
        if self.reads < reads_per_step {
            return None;
        }
        self.reads = 0;
        self.steps.pop_front()
    }
}

struct GceState {
    base: String,
    gets_per_step: AtomicUsize,
    next_id: AtomicU64,
    /// (project, zone, name) to VM.
    vms: Mutex<HashMap<(String, String, String), Vm>>,
    /// (project, name) to database.
    databases: Mutex<HashMap<(String, String), SqlInstance>>,
    /// Every operation a change created, oldest first. Locked after `vms` or `databases`.
    operations: Mutex<Vec<Recorded>>,
    failures: Mutex<HashMap<GceCall, VecDeque<GceFailure>>>,
    calls: Mutex<HashMap<GceCall, usize>>,
    requests: Mutex<Vec<GceRequest>>,
}

impl GceState {
    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    fn reads_per_step(&self) -> usize {
        self.gets_per_step.load(Ordering::SeqCst)
    }

    fn record(&self, operation: Recorded) {
        lock(&self.operations).push(operation);
    }
}

struct GceResponder {
    state: Arc<GceState>,
}

impl Respond for GceResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path: Vec<&str> = request
            .url
            .path()
            .trim_start_matches('/')
            .split('/')
            .collect();
        let method = request.method.as_str();
        let routed = compute::route(method, &path).or_else(|| sql::route(method, &path));
        lock(&self.state.requests).push(GceRequest {
            call: routed.as_ref().map(|route| route.call),
            request: RecordedRequest::from_request(request),
            body: request.body.clone(),
        });
        let Some(route) = routed else {
            return google_error(404, "Not Found", "notFound", "NOT_FOUND");
        };
        *lock(&self.state.calls).entry(route.call).or_default() += 1;

        let bearer = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|token| !token.trim().is_empty());
        if !bearer {
            return unauthenticated();
        }
        let failure = lock(&self.state.failures)
            .get_mut(&route.call)
            .and_then(VecDeque::pop_front);
        if let Some(failure) = failure {
            return failed(route.call, failure, &route);
        }
        if route.call.is_sql() {
            self.state.serve_sql(&route, request)
        } else {
            self.state.serve_compute(&route, request)
        }
    }
}

/// A request matched to a call, with the names its path gave.
#[derive(Debug)]
struct Route {
    call: GceCall,
    project: String,
    /// The zone, for zonal Compute calls.
    zone: String,
    /// The instance name, for calls on one instance.
    name: String,
}

fn failed(call: GceCall, failure: GceFailure, route: &Route) -> ResponseTemplate {
    match failure {
        GceFailure::Throttle => {
            let service = if call.is_sql() { "sqladmin" } else { "compute" };
            let message = format!(
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of \
                 service '{service}.googleapis.com' for consumer 'project_number:123456789'."
            );
            google_error(429, &message, "rateLimitExceeded", "RESOURCE_EXHAUSTED")
                .insert_header("retry-after", "2")
        }
        GceFailure::Quota => {
            let message = if call.is_sql() {
                "Quota limit 'cloudsql.instances' exceeded for the project.".to_owned()
            } else {
                let region = route.zone.rsplit_once('-').map_or("", |(region, _)| region);
                format!("Quota 'CPUS' exceeded.  Limit: 8.0 in region {region}.")
            };
            google_error(403, &message, "quotaExceeded", "")
        }
        GceFailure::Denied if call.is_sql() => google_error(
            403,
            "The client is not authorized to make this request.",
            "notAuthorized",
            "",
        ),
        GceFailure::Denied => {
            let message = format!(
                "Required 'compute.instances.{}' permission for \
                 'projects/{}/zones/{}/instances/{}'",
                permission(call),
                route.project,
                route.zone,
                route.name
            );
            google_error(403, &message, "forbidden", "")
        }
        GceFailure::ServerError => google_error(
            503,
            "The service is currently unavailable.",
            "backendError",
            "UNAVAILABLE",
        ),
    }
}

fn permission(call: GceCall) -> &'static str {
    match call {
        GceCall::ComputeInsert => "create",
        GceCall::ComputeAggregatedList => "list",
        GceCall::ComputeStart => "start",
        GceCall::ComputeStop => "stop",
        GceCall::ComputeDelete => "delete",
        _ => "get",
    }
}

fn unauthenticated() -> ResponseTemplate {
    let message = "Request is missing required authentication credential. Expected OAuth 2 \
                   access token, login cookie or other valid authentication credential.";
    google_error(401, message, "required", "UNAUTHENTICATED")
}

/// A Google API error: `{"error": {"code", "message", "errors": [{…, "reason"}], "status"}}`;
/// an empty `status` is left out, as Compute Engine leaves it out of most errors.
fn google_error(code: u16, message: &str, reason: &str, status: &str) -> ResponseTemplate {
    let mut error = json!({
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
    });
    if !status.is_empty() {
        error["status"] = json!(status);
    }
    json_response(code, &json!({ "error": error }))
}

/// `400` with reason `invalid`, Compute Engine's answer to a bad field.
fn invalid(message: &str) -> ResponseTemplate {
    google_error(400, message, "invalid", "")
}

fn json_response(code: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(code)
        .insert_header("content-type", "application/json; charset=UTF-8")
        .set_body_string(body.to_string())
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn key2(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

fn key3(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.to_owned(), b.to_owned(), c.to_owned())
}
