//! A fake Microsoft Entra token endpoint for workload identity federation: the v2
//! `client_credentials` grant with a federated `client_assertion`.
//!
//! [`FakeEntra`] serves `POST /{directory}/oauth2/v2.0/token` for the directories and app
//! registrations a test adds, and accepts an assertion only when a federated identity
//! credential of the app matches its `iss`, `sub` and `aud` exactly and its signature verifies
//! against the keys the issuer publishes (fetched from `{iss}/.well-known/openid-configuration`
//! at each exchange, as Entra does). Answers follow the documented JSON of the Microsoft
//! identity platform, errors included (`error`, `error_description` starting with
//! `AADSTS<code>: `, `error_codes`, `timestamp`, `trace_id`, `correlation_id`).

mod assertion;
mod endpoint;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use crate::recording::{RecordedRequest, lock};

/// The most federated identity credentials Entra allows on one app registration.
pub const MAX_FEDERATED_CREDENTIALS: usize = 20;

/// A failure [`FakeEntra::fail_next`] injects into token requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntraFailure {
    /// `429` with `Retry-After` and an `AADSTS90055` body, as Entra throttles a tenant.
    Throttle {
        /// The wait the `Retry-After` header asks for, in whole seconds.
        retry_after: Duration,
    },
    /// `500` with an `AADSTS50000` `server_error` body.
    ServerError,
    /// No answer for five minutes: the caller's timeout fires first.
    Hang,
    /// `200` with an HTML body, as a captive portal or broken gateway might answer.
    Malformed,
}

/// Why a change to the fake's directories was refused, as Microsoft Graph would refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntraSetupError {
    /// No app with this client id in this directory.
    UnknownApp,
    /// The app already has [`MAX_FEDERATED_CREDENTIALS`] federated credentials.
    LimitReached,
    /// The app already has a federated credential with this issuer and subject.
    Duplicate,
}

impl fmt::Display for EntraSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownApp => f.write_str("no such application in this directory"),
            Self::LimitReached => write!(
                f,
                "the application already has the maximum of {MAX_FEDERATED_CREDENTIALS} \
                 federated identity credentials"
            ),
            Self::Duplicate => f.write_str(
                "a federated identity credential with this issuer and subject already exists",
            ),
        }
    }
}

impl std::error::Error for EntraSetupError {}

/// An access token the fake issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraExchange {
    /// The directory in the request path.
    pub directory: String,
    /// The app registration's client id.
    pub client_id: String,
    /// The object id of the app's service principal (the token's `oid`).
    pub object_id: String,
    /// The assertion's `iss`.
    pub issuer: String,
    /// The assertion's `sub`.
    pub subject: String,
    /// The requested scope.
    pub scope: String,
}

/// One request the token endpoint received, with its form fields.
#[derive(Clone, PartialEq, Eq)]
pub struct EntraRequest {
    /// Method, path and headers.
    pub request: RecordedRequest,
    /// The form fields in order, percent-decoded.
    pub form: Vec<(String, String)>,
}

impl EntraRequest {
    /// The first value of the form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The names of the form fields, in order.
    pub fn field_names(&self) -> Vec<&str> {
        self.form.iter().map(|(name, _)| name.as_str()).collect()
    }
}

impl fmt::Debug for EntraRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form: Vec<(&str, &str)> = self
            .form
            .iter()
            .map(|(name, value)| match name.as_str() {
                "client_assertion" | "client_secret" => (name.as_str(), "<redacted>"),
                _ => (name.as_str(), value.as_str()),
            })
            .collect();
        f.debug_struct("EntraRequest")
            .field("method", &self.request.method)
            .field("path", &self.request.path)
            .field("form", &form)
            .finish_non_exhaustive()
    }
}

/// A fake Entra on `127.0.0.1` at a random port; use [`authority_host`](Self::authority_host)
/// as the authority host.
///
/// Directories and app registrations exist once [`add_app`](Self::add_app) names them, and
/// an app trusts a token once [`add_federated_credential`](Self::add_federated_credential)
/// lists its issuer, subject and audience. Cloning gives another handle on the same fake.
#[derive(Clone)]
pub struct FakeEntra {
    server: Arc<MockServer>,
    state: Arc<EntraState>,
}

impl FakeEntra {
    /// Starts a fake with no directory.
    pub async fn start() -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let state = Arc::new(EntraState {
            authority: server.uri(),
            ..EntraState::default()
        });
        Mock::given(any())
            .respond_with(endpoint::TokenEndpoint {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// The authority host, such as `http://127.0.0.1:41234`, without a trailing slash.
    pub fn authority_host(&self) -> String {
        self.state.authority.clone()
    }

    /// The token endpoint of `directory`.
    pub fn token_endpoint(&self, directory: &str) -> String {
        format!("{}/{directory}/oauth2/v2.0/token", self.state.authority)
    }

    /// Registers the app `client_id` in `directory` (creating the directory) and returns the
    /// object id of its service principal, the `oid` of its access tokens. Adding an app
    /// again keeps it as it is.
    pub fn add_app(&self, directory: &str, client_id: &str) -> String {
        let mut directories = lock(&self.state.directories);
        let apps = directories
            .entry(directory.to_ascii_lowercase())
            .or_default();
        apps.entry(client_id.to_ascii_lowercase())
            .or_insert_with(|| App {
                object_id: endpoint::guid(),
                credentials: Vec::new(),
            })
            .object_id
            .clone()
    }

    /// Adds a federated identity credential to an app: tokens with exactly this `iss`, `sub`
    /// and `aud` are trusted.
    ///
    /// Fails as Microsoft Graph does when the app does not exist, already has
    /// [`MAX_FEDERATED_CREDENTIALS`], or already has a credential with this issuer and subject.
    pub fn add_federated_credential(
        &self,
        directory: &str,
        client_id: &str,
        issuer: &str,
        subject: &str,
        audience: &str,
    ) -> Result<(), EntraSetupError> {
        let mut directories = lock(&self.state.directories);
        let app = directories
            .get_mut(&directory.to_ascii_lowercase())
            .and_then(|apps| apps.get_mut(&client_id.to_ascii_lowercase()))
            .ok_or(EntraSetupError::UnknownApp)?;
        if app.credentials.len() >= MAX_FEDERATED_CREDENTIALS {
            return Err(EntraSetupError::LimitReached);
        }
        if app
            .credentials
            .iter()
            .any(|fic| fic.issuer == issuer && fic.subject == subject)
        {
            return Err(EntraSetupError::Duplicate);
        }
        app.credentials.push(FederatedCredential {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            audience: audience.to_owned(),
        });
        Ok(())
    }

    /// Removes the app's federated credential with this issuer and subject; whether there was
    /// one.
    pub fn remove_federated_credential(
        &self,
        directory: &str,
        client_id: &str,
        issuer: &str,
        subject: &str,
    ) -> bool {
        let mut directories = lock(&self.state.directories);
        let Some(app) = directories
            .get_mut(&directory.to_ascii_lowercase())
            .and_then(|apps| apps.get_mut(&client_id.to_ascii_lowercase()))
        else {
            return false;
        };
        let before = app.credentials.len();
        app.credentials
            .retain(|fic| !(fic.issuer == issuer && fic.subject == subject));
        app.credentials.len() != before
    }

    /// Makes issued access tokens expire after `lifetime` (default one hour).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *lock(&self.state.lifetime) = Some(lifetime);
    }

    /// Answers the next `n` token requests with `failure`, after any failures queued before.
    pub fn fail_next(&self, n: usize, failure: EntraFailure) {
        lock(&self.state.failures).extend(std::iter::repeat_n(failure, n));
    }

    /// Answers every token request with `failure` once the queue of
    /// [`fail_next`](Self::fail_next) is empty, until [`clear_failures`](Self::clear_failures).
    pub fn fail_all(&self, failure: EntraFailure) {
        *lock(&self.state.failing) = Some(failure);
    }

    /// Drops queued failures and the failure of [`fail_all`](Self::fail_all).
    pub fn clear_failures(&self) {
        lock(&self.state.failures).clear();
        *lock(&self.state.failing) = None;
    }

    /// Makes Entra's clock run `ahead` of the real one when it checks an assertion's `nbf` and
    /// `exp` (zero to put it right): an hour or more makes every fresh ID token expired.
    pub fn set_clock_ahead(&self, ahead: Duration) {
        *lock(&self.state.clock_ahead) = ahead;
    }

    /// The access tokens issued, in order.
    pub fn exchanges(&self) -> Vec<EntraExchange> {
        lock(&self.state.exchanges).clone()
    }

    /// Every request received, in order, failed and refused ones included.
    pub fn requests(&self) -> Vec<EntraRequest> {
        lock(&self.state.requests).clone()
    }
}

impl fmt::Debug for FakeEntra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeEntra")
            .field("authority_host", &self.state.authority)
            .field("address", self.server.address())
            .finish_non_exhaustive()
    }
}

/// A federated identity credential, reduced to what Entra matches.
#[derive(Debug, Clone)]
struct FederatedCredential {
    issuer: String,
    subject: String,
    audience: String,
}

/// An app registration and its service principal.
#[derive(Debug, Clone)]
struct App {
    object_id: String,
    credentials: Vec<FederatedCredential>,
}

#[derive(Default)]
struct EntraState {
    authority: String,
    /// Directories by lowercase id, holding apps by lowercase client id.
    directories: Mutex<HashMap<String, HashMap<String, App>>>,
    lifetime: Mutex<Option<Duration>>,
    failures: Mutex<VecDeque<EntraFailure>>,
    failing: Mutex<Option<EntraFailure>>,
    clock_ahead: Mutex<Duration>,
    exchanges: Mutex<Vec<EntraExchange>>,
    requests: Mutex<Vec<EntraRequest>>,
}
