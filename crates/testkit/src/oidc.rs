//! A fake OpenID Connect provider served over HTTP.

mod endpoints;
mod sign_in;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use crate::User;
use crate::jwt::{self, Signers, TokenOptions};
use crate::keys::{EcKey, RsaKey, random_token};
use crate::recording::lock;

/// The `kid` of the RSA key that [`TokenKey::Unpublished`](crate::TokenKey::Unpublished) signs
/// with; no JWKS ever lists it.
pub const UNPUBLISHED_KID: &str = "unpublished-rsa";

/// How long the ID tokens of [`OidcProvider::id_token`] stay valid.
const ID_TOKEN_LIFETIME_SECS: u64 = 3600;

const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
const JWKS_PATH: &str = "/jwks";
const AUTHORIZE_PATH: &str = "/authorize";
const TOKEN_PATH: &str = "/token";

/// A fake OpenID Connect provider on `127.0.0.1` at a random port.
///
/// It serves `/.well-known/openid-configuration`, a JWKS at `/jwks` with one current RSA key
/// (RS256) and one EC key (ES256), `GET /authorize` that approves everyone as the user set by
/// [`set_next_user`](Self::set_next_user), and `POST /token` that redeems those codes (without
/// checking client credentials). With [`set_sign_in_page`](Self::set_sign_in_page) on,
/// `GET /authorize` shows a browser an HTML sign-in page for that user instead, and the form's
/// `POST /authorize` approves the login. Cloning gives another handle on the same provider;
/// the server stops when the last handle is dropped.
#[derive(Clone)]
pub struct OidcProvider {
    server: Arc<MockServer>,
    state: Arc<ProviderState>,
}

/// An authorization code turned into its user and a fresh ID token.
#[derive(Clone, PartialEq, Eq)]
pub struct Redeemed {
    /// Who approved the login.
    pub user: User,
    /// An RS256 ID token for that user, its `aud` the `client_id` of the authorize request.
    pub id_token: String,
}

impl fmt::Debug for Redeemed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redeemed")
            .field("user", &self.user)
            .field("id_token", &"<redacted>")
            .finish()
    }
}

impl OidcProvider {
    /// Starts a provider with freshly generated keys and the demo user.
    pub async fn start() -> Self {
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let state = Arc::new(ProviderState {
            issuer: server.uri(),
            keys: Mutex::new(KeyRing {
                current: Arc::new(RsaKey::generate(fresh_kid("rsa"))),
                retired: Vec::new(),
                ec: Arc::new(EcKey::generate(fresh_kid("ec"))),
            }),
            unpublished: OnceLock::new(),
            jwks_requests: AtomicUsize::new(0),
            discovery_requests: AtomicUsize::new(0),
            jwks_failing: AtomicBool::new(false),
            sign_in_page: AtomicBool::new(false),
            jwks_delay: Mutex::new(Duration::ZERO),
            next_user: Mutex::new(User::demo()),
            grants: Mutex::new(HashMap::new()),
        });
        Mock::given(any())
            .respond_with(endpoints::ProviderResponder {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    /// The issuer: the server's base URL without a trailing slash, such as
    /// `http://127.0.0.1:41234`. Every `iss` claim and the discovery document use exactly this.
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    /// The URL of the JWKS, as the discovery document publishes it.
    pub fn jwks_uri(&self) -> String {
        format!("{}{JWKS_PATH}", self.state.issuer)
    }

    /// The address the server listens on.
    pub fn address(&self) -> std::net::SocketAddr {
        *self.server.address()
    }

    /// Signs `claims` as they are with the current RSA key (RS256, current `kid`).
    pub fn mint(&self, claims: Value) -> String {
        self.mint_with(TokenOptions::default(), claims)
    }

    /// Signs `claims` as `options` ask: another key, another header, or a forgery.
    pub fn mint_with(&self, options: TokenOptions, claims: Value) -> String {
        self.state.mint_with(&options, &claims)
    }

    /// An RS256 ID token valid for an hour with `iss`, `aud`, `sub`, `email`, `groups`, `iat`,
    /// `nbf` and `exp`.
    pub fn id_token(&self, sub: &str, email: &str, audience: &str, groups: &[&str]) -> String {
        let user = User::new(sub, email).with_groups(groups.iter().copied());
        let mut claims = self.claims_for(&user, audience);
        if let Value::Object(members) = &mut claims {
            members.remove("preferred_username");
        }
        self.mint(claims)
    }

    /// An RS256 ID token for `user`, as [`claims_for`](Self::claims_for) describes.
    pub fn id_token_for(&self, user: &User, audience: &str) -> String {
        self.mint(self.claims_for(user, audience))
    }

    /// The claims of an ID token for `user`, valid from now for an hour, for tests that change
    /// a claim before minting. `email` and `preferred_username` are left out when empty.
    pub fn claims_for(&self, user: &User, audience: &str) -> Value {
        self.state.claims_for(user, audience)
    }

    /// Makes a new RSA key current and drops every older RSA key from the JWKS.
    pub async fn rotate(&self) {
        self.state.rotate(false);
    }

    /// Makes a new RSA key current and keeps publishing the older ones.
    pub async fn rotate_keep_old(&self) {
        self.state.rotate(true);
    }

    /// The `kid` of the current RSA key.
    pub fn current_kid(&self) -> String {
        self.state.signing_keys().0.kid().to_owned()
    }

    /// The `kid` of the EC key.
    pub fn ec_kid(&self) -> String {
        self.state.signing_keys().1.kid().to_owned()
    }

    /// The current RSA public key as PEM, the secret of
    /// [`PublicKeyBytes::Pem`](crate::PublicKeyBytes::Pem).
    pub fn rsa_public_key_pem(&self) -> String {
        self.state.signing_keys().0.public_pem()
    }

    /// The current RSA public key as `SubjectPublicKeyInfo` DER.
    pub fn rsa_public_key_der(&self) -> Vec<u8> {
        self.state.signing_keys().0.public_der()
    }

    /// The JWKS as it is served now.
    pub fn jwks(&self) -> Value {
        self.state.jwks()
    }

    /// How many requests reached the JWKS endpoint, failed ones included.
    pub fn jwks_requests(&self) -> usize {
        self.state.jwks_requests.load(Ordering::SeqCst)
    }

    /// How many requests reached the discovery document.
    pub fn discovery_requests(&self) -> usize {
        self.state.discovery_requests.load(Ordering::SeqCst)
    }

    /// While `true`, the JWKS endpoint answers `503`.
    pub fn set_jwks_failing(&self, failing: bool) {
        self.state.jwks_failing.store(failing, Ordering::SeqCst);
    }

    /// Delays every JWKS answer by `delay` (zero for none).
    pub fn set_jwks_delay(&self, delay: Duration) {
        *lock(&self.state.jwks_delay) = delay;
    }

    /// The user that `/authorize` approves from now on, until set again.
    pub fn set_next_user(&self, user: User) {
        *lock(&self.state.next_user) = user;
    }

    /// While `true`, `GET /authorize` answers with an HTML sign-in page naming the next user and
    /// a `Sign in` button, whose form posts to `/authorize` to approve; while `false` (the
    /// default) it approves at once.
    pub fn set_sign_in_page(&self, on: bool) {
        self.state.sign_in_page.store(on, Ordering::SeqCst);
    }

    /// Redeems an authorization code once, as the token endpoint does; `None` for an unknown
    /// or already used code.
    pub fn redeem_code(&self, code: &str) -> Option<Redeemed> {
        self.state.redeem(code)
    }
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider")
            .field("issuer", &self.state.issuer)
            .field("current_kid", &self.current_kid())
            .finish_non_exhaustive()
    }
}

struct ProviderState {
    issuer: String,
    keys: Mutex<KeyRing>,
    unpublished: OnceLock<RsaKey>,
    jwks_requests: AtomicUsize,
    discovery_requests: AtomicUsize,
    jwks_failing: AtomicBool,
    sign_in_page: AtomicBool,
    jwks_delay: Mutex<Duration>,
    next_user: Mutex<User>,
    grants: Mutex<HashMap<String, Grant>>,
}

struct KeyRing {
    current: Arc<RsaKey>,
    retired: Vec<Arc<RsaKey>>,
    ec: Arc<EcKey>,
}

/// An approved login waiting for its code to be redeemed.
struct Grant {
    user: User,
    client_id: String,
    nonce: Option<String>,
}

impl ProviderState {
    fn signing_keys(&self) -> (Arc<RsaKey>, Arc<EcKey>) {
        let keys = lock(&self.keys);
        (Arc::clone(&keys.current), Arc::clone(&keys.ec))
    }

    fn mint_with(&self, options: &TokenOptions, claims: &Value) -> String {
        let (rsa, ec) = self.signing_keys();
        let unpublished = self
            .unpublished
            .get_or_init(|| RsaKey::generate(UNPUBLISHED_KID.to_owned()));
        let signers = Signers {
            rsa: &rsa,
            ec: &ec,
            unpublished,
        };
        jwt::sign(&signers, options, claims)
    }

    fn claims_for(&self, user: &User, audience: &str) -> Value {
        let now = now_secs();
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(audience));
        claims.insert("sub".into(), json!(user.sub));
        if !user.email.is_empty() {
            claims.insert("email".into(), json!(user.email));
            claims.insert("email_verified".into(), json!(true));
        }
        if !user.preferred_username.is_empty() {
            claims.insert("preferred_username".into(), json!(user.preferred_username));
        }
        claims.insert("groups".into(), json!(user.groups));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(now + ID_TOKEN_LIFETIME_SECS));
        Value::Object(claims)
    }

    fn redeem(&self, code: &str) -> Option<Redeemed> {
        let grant = lock(&self.grants).remove(code)?;
        let mut claims = self.claims_for(&grant.user, &grant.client_id);
        if let (Value::Object(members), Some(nonce)) = (&mut claims, grant.nonce) {
            members.insert("nonce".into(), json!(nonce));
        }
        let id_token = self.mint_with(&TokenOptions::default(), &claims);
        Some(Redeemed {
            user: grant.user,
            id_token,
        })
    }

    fn rotate(&self, keep_old: bool) {
        // Generated outside the lock: key generation takes a while.
        let fresh = Arc::new(RsaKey::generate(fresh_kid("rsa")));
        let mut keys = lock(&self.keys);
        let previous = std::mem::replace(&mut keys.current, fresh);
        if keep_old {
            keys.retired.push(previous);
        } else {
            keys.retired.clear();
        }
    }

    fn jwks(&self) -> Value {
        let keys = lock(&self.keys);
        let mut published = vec![keys.current.jwk(), keys.ec.jwk()];
        published.extend(keys.retired.iter().map(|key| key.jwk()));
        json!({ "keys": published })
    }
}

/// A key id that differs between keys and between provider instances.
fn fresh_kid(prefix: &str) -> String {
    format!("{prefix}-{}", random_token(6))
}

/// Seconds since the Unix epoch.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
