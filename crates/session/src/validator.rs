//! [`SessionValidator`]: asks a tenant's oauth2-proxy who the browser is, verifies the ID token
//! it passes, and caches the answer briefly.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use credless_registry::model::Tenant;
use http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use moka::Expiry;
use tracing::Instrument;

use crate::cookies::{self, TenantCookies};
use crate::jwks::KeyStore;
use crate::outbound::{self, OutboundOptions, check_upstream, is_refused_address};
use crate::{IdToken, Identity, ProxyFailure, SessionError, token};

/// How sessions are validated and cached.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// How long a validated session is reused without asking the proxy again: the bound on
    /// how long an offboarded user keeps access. Never past the ID token's `exp`.
    pub cache_ttl: Duration,
    /// Longest wait for one call to the tenant's proxy, and for each fetch from its IdP.
    pub proxy_timeout: Duration,
    /// Most sessions cached at once; the least useful are evicted beyond it.
    pub max_sessions: u64,
    /// Allow `http://` and internal upstream addresses (local development and tests only).
    pub allow_insecure_upstreams: bool,
    /// Clock skew tolerated on `exp` and `nbf`, in whole seconds.
    pub leeway: Duration,
    /// Least time between two key-set refetches of one issuer on unknown `kid`s.
    pub jwks_refetch_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(30),
            proxy_timeout: Duration::from_secs(3),
            max_sessions: 100_000,
            allow_insecure_upstreams: false,
            leeway: Duration::from_secs(60),
            jwks_refetch_interval: Duration::from_secs(10),
        }
    }
}

/// A session that passed validation.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Who the session belongs to.
    pub identity: Arc<Identity>,
    /// `Set-Cookie` values the proxy sent while refreshing the session; the caller must pass
    /// them to the browser. Empty when the answer came from the cache.
    pub set_cookie: Vec<HeaderValue>,
}

/// Validates browser sessions against each tenant's own oauth2-proxy. Cheap to clone.
#[derive(Clone)]
pub struct SessionValidator {
    inner: Arc<Inner>,
}

struct Inner {
    config: SessionConfig,
    http: reqwest::Client,
    keys: KeyStore,
    sessions: moka::future::Cache<SessionKey, Arc<Identity>>,
}

/// A cached session: a SHA-256 over the tenant's id, the tenant settings that shape the
/// answer, and the tenant cookies the browser sent. The identity cached under it names the
/// tenant, which is how a tenant's sessions are found to drop them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SessionKey([u8; 32]);

impl SessionValidator {
    /// Builds a validator with its own outbound client.
    ///
    /// Fails with [`SessionError::Client`] only when the TLS backend cannot start.
    pub fn new(config: SessionConfig) -> Result<Self, SessionError> {
        let http = outbound::client(&OutboundOptions {
            connect_timeout: config.proxy_timeout,
            timeout: config.proxy_timeout,
            allow_insecure_upstreams: config.allow_insecure_upstreams,
        })?;
        let keys = KeyStore::new(
            http.clone(),
            config.allow_insecure_upstreams,
            config.jwks_refetch_interval,
        );
        let sessions = moka::future::Cache::builder()
            .max_capacity(config.max_sessions)
            // Recency is what matters for sessions, and plain LRU spares every read the
            // frequency bookkeeping of the default policy.
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .expire_after(SessionExpiry {
                ttl: config.cache_ttl,
            })
            .support_invalidation_closures()
            .build();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                keys,
                sessions,
            }),
        })
    }

    /// Validates the session the request `headers` carry for `tenant`.
    ///
    /// Only the tenant's cookies are sent, and only to its proxy's `/oauth2/auth`. Concurrent
    /// calls with the same cookies share one proxy call; failures are not cached. Fails with
    /// [`SessionError::NoSession`] when there is no tenant cookie (without calling the proxy)
    /// or the proxy knows no session, and with the other variants as documented there.
    pub async fn validate(
        &self,
        tenant: &Tenant,
        headers: &HeaderMap,
    ) -> Result<Validated, SessionError> {
        let Some(cookies) = cookies::tenant_cookies(&tenant.cookie_name, headers) else {
            return Err(SessionError::NoSession);
        };
        let key = session_key(tenant, &cookies);
        // The common case, a warm session, needs no initialisation future.
        if let Some(identity) = self.inner.sessions.get(&key).await {
            return Ok(Validated {
                identity,
                set_cookie: Vec::new(),
            });
        }
        let cookie = cookies.header_value().ok_or(SessionError::NoSession)?;
        // A first request waits on the proxy and the IdP: a future many times the size of the
        // warm path's, boxed so that warm requests neither build nor move it.
        Box::pin(self.validate_uncached(tenant, key, cookie)).await
    }

    /// Asks the proxy, verifies its token and caches the identity, sharing the work with
    /// concurrent requests for the same `key`.
    async fn validate_uncached(
        &self,
        tenant: &Tenant,
        key: SessionKey,
        cookie: HeaderValue,
    ) -> Result<Validated, SessionError> {
        let refreshed = Mutex::new(Vec::new());

        let identity = self
            .inner
            .sessions
            .try_get_with_by_ref(&key, async {
                let outcome = self.authenticate(tenant, &cookie).await;
                log_outcome(tenant, &key, &outcome);
                let (identity, set_cookie) = outcome?;
                *refreshed
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = set_cookie;
                Ok::<_, SessionError>(Arc::new(identity))
            })
            .await
            .map_err(|shared| SessionError::clone(&shared))?;

        let set_cookie = refreshed
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(Validated {
            identity,
            set_cookie,
        })
    }

    /// Forgets the cached session the request `headers` carry (for a sign-out through
    /// Credless), so that the next request asks the proxy again.
    pub async fn invalidate_session(&self, tenant: &Tenant, headers: &HeaderMap) {
        if let Some(cookies) = cookies::tenant_cookies(&tenant.cookie_name, headers) {
            self.inner
                .sessions
                .invalidate(&session_key(tenant, &cookies))
                .await;
        }
    }

    /// Forgets every cached session of a tenant, for when it is removed or replaced.
    pub fn invalidate_tenant(&self, tenant_id: &str) {
        let tenant_id = tenant_id.to_owned();
        let dropped = self
            .inner
            .sessions
            .invalidate_entries_if(move |_, identity| identity.tenant == tenant_id);
        if let Err(error) = dropped {
            tracing::error!(%error, "could not invalidate a tenant's sessions");
        }
    }

    /// How many sessions are cached, after the cache's pending housekeeping (expiries,
    /// evictions, invalidations) has run.
    pub async fn cached_sessions(&self) -> u64 {
        self.inner.sessions.run_pending_tasks().await;
        self.inner.sessions.entry_count()
    }

    /// One proxy call, then verification of the token it passed.
    async fn authenticate(
        &self,
        tenant: &Tenant,
        cookie: &HeaderValue,
    ) -> Result<(Identity, Vec<HeaderValue>), SessionError> {
        let answer = self.ask_proxy(tenant, cookie).await?;
        let config = &self.inner.config;
        let verified =
            token::verify(&self.inner.keys, &tenant.oidc, &answer.token, config.leeway).await?;

        let identity = Identity {
            tenant: tenant.id.clone(),
            subject: verified.subject,
            email: if verified.email_refused {
                None
            } else {
                verified.email.or(answer.email)
            },
            preferred_username: verified.preferred_username.or(answer.preferred_username),
            groups: verified.groups.unwrap_or(answer.groups),
            id_token: IdToken::new(answer.token),
            expires_at: verified.expires_at,
        };
        Ok((identity, answer.set_cookie))
    }

    async fn ask_proxy(
        &self,
        tenant: &Tenant,
        cookie: &HeaderValue,
    ) -> Result<ProxyAnswer, SessionError> {
        let mut url = check_upstream(
            &tenant.proxy_url,
            self.inner.config.allow_insecure_upstreams,
        )?;
        let path = format!("{}/oauth2/auth", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_query(None);
        url.set_fragment(None);

        let span = tracing::info_span!(
            "proxy_auth",
            tenant.id = %tenant.id,
            http.status = tracing::field::Empty,
        );
        async {
            let response = self
                .inner
                .http
                .get(url)
                .header(COOKIE, cookie.clone())
                .send()
                .await
                .map_err(proxy_failure)?;
            tracing::Span::current().record("http.status", response.status().as_u16());
            match response.status() {
                StatusCode::ACCEPTED => ProxyAnswer::read(response.headers()),
                StatusCode::UNAUTHORIZED => Err(SessionError::NoSession),
                StatusCode::FORBIDDEN => Err(SessionError::Forbidden),
                _ => Err(SessionError::proxy(ProxyFailure::BadAnswer, None)),
            }
        }
        .instrument(span)
        .await
    }
}

/// What a `202` from `/oauth2/auth` carried.
struct ProxyAnswer {
    email: Option<String>,
    preferred_username: Option<String>,
    groups: Vec<String>,
    token: String,
    set_cookie: Vec<HeaderValue>,
}

impl ProxyAnswer {
    /// Reads the identity headers; a `202` without identity is no session.
    fn read(headers: &HeaderMap) -> Result<Self, SessionError> {
        let bad = || SessionError::proxy(ProxyFailure::BadAnswer, None);
        let text = |name: &str| match headers.get(name) {
            None => Ok(None),
            Some(value) => {
                let value = value.to_str().map_err(|_| bad())?.trim();
                Ok((!value.is_empty()).then(|| value.to_owned()))
            }
        };
        let user = text("x-auth-request-user")?;
        let email = text("x-auth-request-email")?;
        if user.is_none() && email.is_none() {
            tracing::debug!("proxy answered 202 without identity");
            return Err(SessionError::NoSession);
        }

        let bearer = text(AUTHORIZATION.as_str())?.and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
        });
        let Some(token) = bearer else {
            tracing::warn!(
                "proxy vouched for a user without an ID token: run it with \
                 --set-authorization-header and without --session-cookie-minimal"
            );
            return Err(bad());
        };

        let groups = text("x-auth-request-groups")?
            .map(|groups| {
                groups
                    .split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(Into::into)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            email,
            preferred_username: text("x-auth-request-preferred-username")?,
            groups,
            token,
            set_cookie: headers.get_all(SET_COOKIE).iter().cloned().collect(),
        })
    }
}

fn proxy_failure(error: reqwest::Error) -> SessionError {
    if is_refused_address(&error) {
        return SessionError::InsecureUpstream {
            reason: "the proxy resolves to an internal address",
        };
    }
    let kind = if error.is_timeout() {
        ProxyFailure::Timeout
    } else if error.is_connect() {
        ProxyFailure::Unreachable
    } else {
        ProxyFailure::BadAnswer
    };
    SessionError::proxy(kind, Some(error))
}

/// SHA-256 over the tenant's id, the settings that shape the answer and the cookie line its
/// proxy would get, each field length-prefixed.
///
/// The input is gathered in a buffer each thread keeps, then digested in one call: setting up
/// a digest context and feeding it piece by piece costs more than hashing the few hundred
/// bytes to a few kilobytes (oauth2-proxy's cookies carry the whole ID token) of a session.
fn session_key(tenant: &Tenant, cookies: &TenantCookies<'_>) -> SessionKey {
    thread_local! {
        static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    /// Beyond this, a buffer grown by an unusually large cookie is given back.
    const KEEP: usize = 16 * 1024;

    INPUT.with_borrow_mut(|input| {
        input.clear();
        let mut field = |bytes: &[u8]| {
            input.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            input.extend_from_slice(bytes);
        };
        field(tenant.id.as_bytes());
        field(tenant.proxy_url.as_bytes());
        field(tenant.oidc.issuer.as_bytes());
        field(&(tenant.oidc.audiences.len() as u64).to_be_bytes());
        for audience in &tenant.oidc.audiences {
            field(audience.as_bytes());
        }
        field(tenant.cookie_name.as_bytes());
        // The cookie line as sent (`a=1; b=2`), written pair by pair without building it.
        let pairs = cookies.pairs();
        let line_len =
            pairs.iter().map(|pair| pair.len()).sum::<usize>() + 2 * pairs.len().saturating_sub(1);
        input.extend_from_slice(&(line_len as u64).to_be_bytes());
        for (index, pair) in pairs.iter().enumerate() {
            if index > 0 {
                input.extend_from_slice(b"; ");
            }
            input.extend_from_slice(pair.as_bytes());
        }

        let mut bytes = [0u8; 32];
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input);
        bytes.copy_from_slice(digest.as_ref());
        if input.capacity() > KEEP {
            *input = Vec::new();
        }
        SessionKey(bytes)
    })
}

/// Logs the outcome of one proxy call and verification, naming the session only by a prefix
/// of its hash.
fn log_outcome<T>(tenant: &Tenant, key: &SessionKey, outcome: &Result<T, SessionError>) {
    let session = format!(
        "{:02x}{:02x}{:02x}{:02x}",
        key.0[0], key.0[1], key.0[2], key.0[3]
    );
    match outcome {
        Ok(_) => tracing::debug!(tenant.id = %tenant.id, session, "session validated"),
        Err(SessionError::NoSession) => {
            tracing::debug!(tenant.id = %tenant.id, session, "no session")
        }
        Err(error @ (SessionError::Forbidden | SessionError::TokenInvalid { .. })) => {
            tracing::info!(tenant.id = %tenant.id, session, %error, "session refused")
        }
        Err(error) => {
            tracing::warn!(tenant.id = %tenant.id, session, %error, "session could not be checked")
        }
    }
}

/// Keeps a session for `cache_ttl`, but never past its ID token's expiry.
struct SessionExpiry {
    ttl: Duration,
}

impl Expiry<SessionKey, Arc<Identity>> for SessionExpiry {
    fn expire_after_create(
        &self,
        _key: &SessionKey,
        identity: &Arc<Identity>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let left = identity
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        Some(self.ttl.min(left))
    }
}
