//! A fake of Google's token services for Workload Identity Federation: the Security Token
//! Service (`POST /v1/token`) and the IAM Service Account Credentials API
//! (`POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken`), on one server.

mod iam;
mod pool;
mod sts;
mod verify;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::recording::{RecordedRequest, lock};

pub use pool::{AttributeCondition, PoolProvider};

/// A fake of Google's STS and IAM Credentials API on `127.0.0.1` at a random port.
///
/// Both services answer at [`uri`](Self::uri), so it serves as the `sts_endpoint` and the
/// `iam_credentials_endpoint` alike. The STS checks requests as Google's does: the token
/// exchange grant and token types, the audience naming a pool provider added with
/// [`add_provider`](Self::add_provider), no `Authorization` header, and the subject token's
/// signature (against the keys its issuer publishes, fetched through the issuer's discovery
/// document on every exchange), issuer, audience, expiry and the provider's attribute
/// condition. The IAM Credentials API accepts only federated tokens the STS issued, and
/// issues access tokens only to principals granted `roles/iam.workloadIdentityUser` on the
/// service account. Errors have Google's status codes and JSON shapes; the error descriptions
/// follow Google's where known and are otherwise close paraphrases.
///
/// The provider's attribute mapping is fixed: `google.subject` is `sub`, `google.groups` is
/// `groups`, and `attribute.<name>` is the claim `<name>` when it is a string.
#[derive(Clone)]
pub struct FakeGcp {
    server: Arc<MockServer>,
    state: Arc<GcpState>,
}

/// Which of the two services a failure or a request concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GcpEndpoint {
    /// The STS, `POST /v1/token`.
    Sts,
    /// The IAM Credentials API, `generateAccessToken`.
    IamCredentials,
}

/// A failure the fake answers a request with instead of serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcpFailure {
    /// `429` with Google's `RESOURCE_EXHAUSTED` error and `Retry-After: 1`.
    Throttle,
    /// `503` with Google's `UNAVAILABLE` error.
    ServerError,
    /// No answer for a minute, longer than any sensible client timeout.
    Hang,
    /// `200` with a body that is not JSON.
    Malformed,
}

/// How many requests reached each service, failed ones included, and how many service
/// account tokens were issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GcpExchanges {
    /// Requests to the STS.
    pub sts: usize,
    /// Requests to the IAM Credentials API.
    pub iam_credentials: usize,
    /// Service account access tokens issued.
    pub tokens_issued: usize,
}

/// A request the fake received, with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpRequest {
    /// The service it was addressed to, `None` for an unknown path.
    pub endpoint: Option<GcpEndpoint>,
    /// Method, path, query and headers.
    pub request: RecordedRequest,
    /// The body as sent.
    pub body: Vec<u8>,
}

impl GcpRequest {
    /// The body read as an `application/x-www-form-urlencoded` form.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    /// The body read as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl FakeGcp {
    /// Starts the fake with no pool provider and no service account.
    pub async fn start() -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let state = Arc::new(GcpState::default());
        Mock::given(any())
            .respond_with(GcpResponder {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// The base URL of both services, such as `http://127.0.0.1:41234`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Adds (or replaces) a pool provider.
    pub fn add_provider(&self, provider: PoolProvider) {
        let mut providers = lock(&self.state.providers);
        providers.retain(|known| known.audience() != provider.audience());
        providers.push(provider);
    }

    /// Disables or re-enables a pool provider; a disabled one answers `invalid_target`.
    pub fn set_provider_disabled(
        &self,
        project_number: &str,
        pool: &str,
        provider: &str,
        on: bool,
    ) {
        let audience = pool::audience(project_number, pool, provider);
        for known in lock(&self.state.providers).iter_mut() {
            if known.audience() == audience {
                known.disabled = on;
            }
        }
    }

    /// Creates a service account with no IAM bindings, if it does not exist.
    pub fn add_service_account(&self, email: &str) {
        lock(&self.state.service_accounts)
            .entry(email.to_owned())
            .or_default();
    }

    /// Grants `roles/iam.workloadIdentityUser` on `service_account` (created if needed) to
    /// `member`: `principal://…/subject/<sub>`, `principalSet://…/group/<group>`,
    /// `principalSet://…/attribute.<name>/<value>` or `principalSet://…/*`.
    pub fn grant_workload_identity_user(&self, service_account: &str, member: &str) {
        lock(&self.state.service_accounts)
            .entry(service_account.to_owned())
            .or_default()
            .push(member.to_owned());
    }

    /// Removes every binding of `member` on `service_account`.
    pub fn revoke_workload_identity_user(&self, service_account: &str, member: &str) {
        if let Some(members) = lock(&self.state.service_accounts).get_mut(service_account) {
            members.retain(|known| known != member);
        }
    }

    /// Answers the next request to `endpoint` with `failure`; calls queue up in order.
    pub fn fail_next(&self, endpoint: GcpEndpoint, failure: GcpFailure) {
        lock(&self.state.failures)
            .entry(endpoint)
            .or_default()
            .push_back(failure);
    }

    /// Answers every request to `endpoint` with `failure` until called again with `None`;
    /// failures queued by [`fail_next`](Self::fail_next) come first.
    pub fn set_failing(&self, endpoint: GcpEndpoint, failure: Option<GcpFailure>) {
        match failure {
            Some(failure) => lock(&self.state.failing).insert(endpoint, failure),
            None => lock(&self.state.failing).remove(&endpoint),
        };
    }

    /// Drops every queued and persistent failure: both services answer normally again.
    pub fn clear_failures(&self) {
        lock(&self.state.failures).clear();
        lock(&self.state.failing).clear();
    }

    /// Issues service account tokens living at most `cap`, whatever lifetime was asked;
    /// `None` (the default) grants the asked lifetime, as Google does. For tests of expiry.
    pub fn set_lifetime_cap(&self, cap: Option<Duration>) {
        *lock(&self.state.lifetime_cap) = cap;
    }

    /// The request counters.
    pub fn exchanges(&self) -> GcpExchanges {
        GcpExchanges {
            sts: self.state.sts_requests.load(Ordering::SeqCst),
            iam_credentials: self.state.iam_requests.load(Ordering::SeqCst),
            tokens_issued: self.state.tokens_issued.load(Ordering::SeqCst),
        }
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<GcpRequest> {
        lock(&self.state.requests).clone()
    }
}

impl fmt::Debug for FakeGcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeGcp")
            .field("uri", &self.server.uri())
            .finish_non_exhaustive()
    }
}

/// What the STS knows about a federated token it issued.
struct FederatedToken {
    project_number: String,
    pool_id: String,
    claims: Value,
    expires_at: SystemTime,
}

#[derive(Default)]
struct GcpState {
    providers: Mutex<Vec<PoolProvider>>,
    /// Service account email to the members granted `roles/iam.workloadIdentityUser`.
    service_accounts: Mutex<HashMap<String, Vec<String>>>,
    federated: Mutex<HashMap<String, FederatedToken>>,
    failures: Mutex<HashMap<GcpEndpoint, VecDeque<GcpFailure>>>,
    failing: Mutex<HashMap<GcpEndpoint, GcpFailure>>,
    lifetime_cap: Mutex<Option<Duration>>,
    requests: Mutex<Vec<GcpRequest>>,
    sts_requests: AtomicUsize,
    iam_requests: AtomicUsize,
    tokens_issued: AtomicUsize,
}

struct GcpResponder {
    state: Arc<GcpState>,
}

impl Respond for GcpResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = &self.state;
        let endpoint = if request.url.path() == "/v1/token" {
            Some(GcpEndpoint::Sts)
        } else if request.url.path().ends_with(":generateAccessToken") {
            Some(GcpEndpoint::IamCredentials)
        } else {
            None
        };
        lock(&state.requests).push(GcpRequest {
            endpoint,
            request: RecordedRequest::from_request(request),
            body: request.body.clone(),
        });

        let Some(endpoint) = endpoint else {
            return ResponseTemplate::new(404).set_body_string("Not Found");
        };
        let counter = match endpoint {
            GcpEndpoint::Sts => &state.sts_requests,
            GcpEndpoint::IamCredentials => &state.iam_requests,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        let failure = lock(&state.failures)
            .get_mut(&endpoint)
            .and_then(VecDeque::pop_front)
            .or_else(|| lock(&state.failing).get(&endpoint).copied());
        if let Some(failure) = failure {
            return failed(failure);
        }
        if request.method.as_str() != "POST" {
            return google_error(405, "Method Not Allowed", "METHOD_NOT_ALLOWED");
        }
        match endpoint {
            GcpEndpoint::Sts => state.token(request),
            GcpEndpoint::IamCredentials => state.generate_access_token(request),
        }
    }
}

fn failed(failure: GcpFailure) -> ResponseTemplate {
    match failure {
        GcpFailure::Throttle => {
            let message = "Quota exceeded for quota metric 'Token requests' of service \
                           'sts.googleapis.com'.";
            google_error(429, message, "RESOURCE_EXHAUSTED").insert_header("retry-after", "1")
        }
        GcpFailure::ServerError => {
            google_error(503, "The service is currently unavailable.", "UNAVAILABLE")
        }
        GcpFailure::Hang => ResponseTemplate::new(200)
            .set_body_string("{}")
            .set_delay(Duration::from_secs(60)),
        GcpFailure::Malformed => ResponseTemplate::new(200)
            .insert_header("content-type", "application/json; charset=UTF-8")
            .set_body_string("<html>not json"),
    }
}

/// A Google API error: `{"error": {"code", "message", "status"}}`.
fn google_error(code: u16, message: &str, status: &str) -> ResponseTemplate {
    let body = serde_json::json!({"error": {"code": code, "message": message, "status": status}});
    ResponseTemplate::new(code)
        .insert_header("content-type", "application/json; charset=UTF-8")
        .set_body_string(body.to_string())
}
