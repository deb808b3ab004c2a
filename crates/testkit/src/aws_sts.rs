//! A fake AWS STS speaking the query protocol: `AssumeRoleWithWebIdentity` and
//! `GetCallerIdentity`.

mod endpoints;
mod verify;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::OidcProvider;
use crate::recording::{RecordedRequest, lock};

/// The default `MaxSessionDuration` of an IAM role.
const DEFAULT_MAX_SESSION: Duration = Duration::from_secs(3600);

/// A failure [`FakeSts::fail_next`] injects into `AssumeRoleWithWebIdentity` calls.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FakeFailure {
    /// `400 Throttling: Rate exceeded`, as STS throttles.
    Throttle,
    /// This HTTP status with an STS `Receiver` error body (`ServiceUnavailable` for 503,
    /// `InternalFailure` otherwise).
    ServerError(u16),
    /// No answer for five minutes: the caller's timeout fires first.
    Hang,
    /// `200 text/xml` with a truncated success document (it carries a secret access key, so
    /// tests can check it never leaks into errors).
    Malformed,
    /// Any STS error document with this code, HTTP status and message.
    Error {
        /// The error code, such as `IDPCommunicationError`.
        code: String,
        /// The HTTP status, such as 400.
        status: u16,
        /// The message.
        message: String,
    },
}

/// One request STS received, with its form (or query) parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct StsRequest {
    /// Method, path and headers.
    pub request: RecordedRequest,
    /// The parameters in order, from the query string then the form body.
    pub params: Vec<(String, String)>,
}

impl StsRequest {
    /// The first value of the parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(candidate, _)| candidate == name)
            .map(|(_, value)| value.as_str())
    }

    /// The `Action` parameter, empty when missing.
    pub fn action(&self) -> &str {
        self.param("Action").unwrap_or_default()
    }
}

impl fmt::Debug for StsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(name, value)| match name.as_str() {
                "WebIdentityToken" => (name.as_str(), "<redacted>"),
                _ => (name.as_str(), value.as_str()),
            })
            .collect();
        f.debug_struct("StsRequest")
            .field("method", &self.request.method)
            .field("path", &self.request.path)
            .field("params", &params)
            .finish_non_exhaustive()
    }
}

/// A fake AWS STS on `127.0.0.1` at a random port, serving `POST /` in the query protocol.
///
/// Like IAM and STS together, it knows OIDC providers
/// ([`register_provider`](Self::register_provider)) and roles that trust them
/// ([`trust_role`](Self::trust_role)). `AssumeRoleWithWebIdentity`
/// checks its parameters as STS does, verifies the token's RS256 or ES256 signature against the
/// issuer's JWKS, its expiry, its audience among the issuer's client ids and the role's trust
/// conditions, and answers STS's documented XML. `GetCallerIdentity` accepts only requests
/// signed with credentials it issued. Cloning gives another handle on the same fake.
#[derive(Clone)]
pub struct FakeSts {
    server: Arc<MockServer>,
    state: Arc<StsState>,
}

impl FakeSts {
    /// Starts a fake with no providers and no roles.
    pub async fn start() -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let state = Arc::new(StsState::default());
        Mock::given(method("POST"))
            .and(path("/"))
            .respond_with(endpoints::StsResponder {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// The endpoint URL, such as `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        self.server.uri()
    }

    /// Registers `provider` as an IAM OIDC identity provider: tokens of its issuer are
    /// verified against its JWKS as it is at the time of each call.
    pub fn register_provider(&self, provider: &OidcProvider) {
        lock(&self.state.issuers).insert(provider.issuer(), Keys::Live(provider.clone()));
    }

    /// Registers an issuer whose tokens are verified against this fixed JWKS.
    pub fn register_issuer(&self, issuer: &str, jwks: Value) {
        lock(&self.state.issuers).insert(issuer.to_owned(), Keys::Fixed(jwks));
    }

    /// Forgets the issuer, as deleting its IAM OIDC provider does: its tokens are then refused
    /// with `InvalidIdentityToken`.
    pub fn deregister_issuer(&self, issuer: &str) {
        lock(&self.state.issuers).remove(issuer);
    }

    /// Makes `role_arn` trust tokens of `issuer` whose `aud` is `audience` and, when given,
    /// whose `sub` is `subject`; `audience` also becomes a client id of the issuer's provider.
    /// The role's maximum session duration is one hour, as IAM's default.
    pub fn trust_role(&self, role_arn: &str, issuer: &str, audience: &str, subject: Option<&str>) {
        let trust = RoleTrust {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            subject: subject.map(str::to_owned),
            max_session: DEFAULT_MAX_SESSION,
        };
        lock(&self.state.roles).insert(role_arn.to_owned(), trust);
    }

    /// Sets the maximum session duration of a trusted role.
    pub fn set_max_session_duration(&self, role_arn: &str, max: Duration) {
        if let Some(trust) = lock(&self.state.roles).get_mut(role_arn) {
            trust.max_session = max;
        }
    }

    /// Makes issued credentials expire after `lifetime` whatever `DurationSeconds` asked;
    /// `None` goes back to honouring it.
    pub fn set_credential_lifetime(&self, lifetime: Option<Duration>) {
        *lock(&self.state.lifetime) = lifetime;
    }

    /// Answers the next `n` `AssumeRoleWithWebIdentity` calls with `failure`, after any
    /// failures queued before.
    pub fn fail_next(&self, n: usize, failure: FakeFailure) {
        let mut queue = lock(&self.state.failures);
        queue.extend(std::iter::repeat_n(failure, n));
    }

    /// Answers every `AssumeRoleWithWebIdentity` call with `failure` (after the queued ones of
    /// [`fail_next`](Self::fail_next)) until [`stop_failing`](Self::stop_failing).
    pub fn fail_always(&self, failure: FakeFailure) {
        *lock(&self.state.always) = Some(failure);
    }

    /// Drops every queued and standing failure: calls are answered normally again.
    pub fn stop_failing(&self) {
        lock(&self.state.failures).clear();
        *lock(&self.state.always) = None;
    }

    /// How many `AssumeRoleWithWebIdentity` calls arrived, failed ones included.
    pub fn exchanges(&self) -> usize {
        self.state.exchanges.load(Ordering::SeqCst)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<StsRequest> {
        lock(&self.state.requests).clone()
    }

    /// The access key ids that signed accepted `GetCallerIdentity` calls, in order.
    pub fn caller_access_keys(&self) -> Vec<String> {
        lock(&self.state.callers).clone()
    }
}

impl fmt::Debug for FakeSts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeSts")
            .field("endpoint", &self.endpoint())
            .field("exchanges", &self.exchanges())
            .finish_non_exhaustive()
    }
}

/// Where the keys of a registered issuer come from.
enum Keys {
    Live(OidcProvider),
    Fixed(Value),
}

impl Keys {
    fn jwks(&self) -> Value {
        match self {
            Keys::Live(provider) => provider.jwks(),
            Keys::Fixed(jwks) => jwks.clone(),
        }
    }
}

/// The trust policy of a role, reduced to what STS checks for web identities.
#[derive(Clone)]
struct RoleTrust {
    issuer: String,
    audience: String,
    subject: Option<String>,
    max_session: Duration,
}

/// Credentials the fake issued, by access key id.
struct Issued {
    session_token: String,
    arn: String,
    user_id: String,
    expires_at: SystemTime,
}

#[derive(Default)]
struct StsState {
    issuers: Mutex<HashMap<String, Keys>>,
    roles: Mutex<HashMap<String, RoleTrust>>,
    lifetime: Mutex<Option<Duration>>,
    failures: Mutex<VecDeque<FakeFailure>>,
    always: Mutex<Option<FakeFailure>>,
    exchanges: AtomicUsize,
    requests: Mutex<Vec<StsRequest>>,
    issued: Mutex<HashMap<String, Issued>>,
    callers: Mutex<Vec<String>>,
}
