//! A fake oauth2-proxy v7 in front of the fake OIDC provider.

mod endpoints;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use crate::cookies::CookieJar;
use crate::keys::random_token;
use crate::recording::{RecordedRequest, lock};
use crate::{OidcProvider, User};

/// How a fake proxy is set up, like the flags of a real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyOptions {
    /// The OIDC client id, which becomes the ID token's `aud`. Default `credless-client`.
    pub client_id: String,
    /// The session cookie's name. Default `_oauth2_proxy`.
    pub cookie_name: String,
    /// The `Domain` attribute of every cookie it sets; `None` (the default) for host-only.
    pub cookie_domain: Option<String>,
    /// Makes each session value about 9000 bytes, so that it is split into `<name>_0`,
    /// `<name>_1`, `<name>_2` as the real proxy does for sessions over 4000 bytes.
    pub split_cookies: bool,
    /// Whether `/oauth2/callback` demands the CSRF cookie (`<cookie_name>_csrf`) that
    /// `/oauth2/start` set, as the real proxy does. Default `true`.
    pub enforce_csrf: bool,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            client_id: "credless-client".to_owned(),
            cookie_name: "_oauth2_proxy".to_owned(),
            cookie_domain: None,
            split_cookies: false,
            enforce_csrf: true,
        }
    }
}

/// How the fake proxy answers every request, to test how its callers cope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProxyMode {
    /// Behaves like oauth2-proxy.
    #[default]
    Normal,
    /// Answers `503` to everything.
    Unavailable503,
    /// Answers normally, but only after the given delay.
    Hang(Duration),
    /// Answers `200` with a binary body and an `Authorization` header that is no JWT.
    Garbage,
    /// Answers `302` to `<url>/__followed_redirect`, which answers like `/oauth2/auth` for a
    /// valid session of the demo user: a caller that follows redirects lets that user in.
    Redirect,
    /// Answers `202` with no identity headers and no token, like a skip-auth route.
    AcceptWithoutIdentity,
    /// Answers this status with an empty body (`500` if it is no valid status).
    Status(u16),
}

/// A fake oauth2-proxy on `127.0.0.1` at a random port.
///
/// It follows the oauth2-proxy v7 contract: `/oauth2/start`, `/oauth2/callback`,
/// `/oauth2/sign_in`, `/oauth2/sign_out`, `/oauth2/auth` and `/oauth2/userinfo`, configured as
/// `--set-xauthrequest --set-authorization-header --reverse-proxy` against an
/// [`OidcProvider`]. Sessions are kept in memory and the cookie holds an opaque random value.
/// Cloning gives another handle on the same proxy.
#[derive(Clone)]
pub struct OAuth2Proxy {
    server: Arc<MockServer>,
    state: Arc<ProxyState>,
}

impl OAuth2Proxy {
    /// Starts a proxy that signs users in through `provider`.
    pub async fn start(provider: &OidcProvider, options: ProxyOptions) -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let state = Arc::new(ProxyState {
            url: server.uri(),
            jar: CookieJar::new(&options.cookie_name, options.cookie_domain.as_deref()),
            options,
            provider: provider.clone(),
            mode: Mutex::new(ProxyMode::Normal),
            refresh: AtomicBool::new(false),
            sessions: Mutex::new(HashMap::new()),
            csrf: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            auth_calls: AtomicUsize::new(0),
            id_token_override: Mutex::new(None),
        });
        Mock::given(any())
            .respond_with(endpoints::ProxyResponder::new(Arc::clone(&state)))
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// The proxy's base URL without a trailing slash, such as `http://127.0.0.1:41235`.
    pub fn url(&self) -> String {
        self.state.url.clone()
    }

    /// The address the server listens on.
    pub fn address(&self) -> std::net::SocketAddr {
        *self.server.address()
    }

    /// The options it was started with.
    pub fn options(&self) -> &ProxyOptions {
        &self.state.options
    }

    /// Creates a session for `user` without the browser dance and returns the cookies a browser
    /// would now hold, as name/value pairs (several when the session is split).
    pub fn sign_in(&self, user: User) -> Vec<(String, String)> {
        let value = self.state.create_session(user);
        self.state.jar.session_cookies(&value)
    }

    /// Ends every session of the user `sub`, as if the IdP had removed them: their cookies now
    /// get `401`. Later sign-ins work again.
    pub fn revoke_user(&self, sub: &str) {
        lock(&self.state.sessions).retain(|_, session| session.user.sub != sub);
    }

    /// Ends every session.
    pub fn revoke_all(&self) {
        lock(&self.state.sessions).clear();
    }

    /// How many sessions are alive.
    pub fn session_count(&self) -> usize {
        lock(&self.state.sessions).len()
    }

    /// Switches how every later request is answered.
    pub fn set_mode(&self, mode: ProxyMode) {
        *lock(&self.state.mode) = mode;
    }

    /// While `true`, every `202` from `/oauth2/auth` refreshes the session: it carries a
    /// `Set-Cookie` with a new value and a newly minted ID token. Older values keep working,
    /// as with the real proxy's cookie sessions.
    pub fn set_refresh(&self, refresh: bool) {
        self.state.refresh.store(refresh, Ordering::SeqCst);
    }

    /// Makes every `202` from `/oauth2/auth` carry `token` as its bearer instead of the
    /// session's ID token (`None` to stop), to feed forged or expired tokens to a caller.
    pub fn set_id_token_override(&self, token: Option<String>) {
        *lock(&self.state.id_token_override) = token;
    }

    /// How many requests reached `/oauth2/auth`, whatever the answer.
    pub fn auth_calls(&self) -> usize {
        self.state.auth_calls.load(Ordering::SeqCst)
    }

    /// Every request received so far, in order, headers included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// Forgets the recorded requests and resets [`auth_calls`](Self::auth_calls).
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
        self.state.auth_calls.store(0, Ordering::SeqCst);
    }

    /// A `Cookie` header value carrying `cookies`, such as those [`sign_in`](Self::sign_in)
    /// returns.
    pub fn cookie_header(cookies: &[(String, String)]) -> String {
        cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Debug for OAuth2Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Proxy")
            .field("url", &self.state.url)
            .field("options", &self.state.options)
            .finish_non_exhaustive()
    }
}

/// Everything the proxy's handlers share.
struct ProxyState {
    url: String,
    options: ProxyOptions,
    jar: CookieJar,
    provider: OidcProvider,
    mode: Mutex<ProxyMode>,
    refresh: AtomicBool,
    /// Sessions by cookie value.
    sessions: Mutex<HashMap<String, Session>>,
    /// CSRF cookie values and the nonce each one vouches for.
    csrf: Mutex<HashMap<String, String>>,
    requests: Mutex<Vec<RecordedRequest>>,
    auth_calls: AtomicUsize,
    id_token_override: Mutex<Option<String>>,
}

#[derive(Clone)]
struct Session {
    user: User,
    id_token: String,
}

impl ProxyState {
    /// Stores a session for `user` with a fresh ID token and returns its cookie value.
    fn create_session(&self, user: User) -> String {
        let id_token = self.provider.id_token_for(&user, &self.options.client_id);
        self.store_session(Session { user, id_token })
    }

    fn store_session(&self, session: Session) -> String {
        let mut value = random_token(32);
        if self.options.split_cookies {
            value.push('.');
            value.push_str(&random_token(6750));
        }
        lock(&self.sessions).insert(value.clone(), session);
        value
    }
}
