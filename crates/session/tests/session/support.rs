//! A tenant wired to a fake IdP and a fake proxy, and helpers to sign in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use credless_registry::model::{Oidc, Tenant};
use credless_session::{SessionConfig, SessionError, SessionValidator, Validated};
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

/// The audience every fake proxy's tokens carry.
pub(crate) const AUDIENCE: &str = "credless-client";

/// A config for tests: loopback upstreams allowed, short timeouts.
pub(crate) fn config() -> SessionConfig {
    SessionConfig {
        allow_insecure_upstreams: true,
        proxy_timeout: Duration::from_secs(2),
        ..SessionConfig::default()
    }
}

/// One tenant, its IdP and its proxy, and a validator.
pub(crate) struct World {
    pub(crate) idp: OidcProvider,
    pub(crate) proxy: OAuth2Proxy,
    pub(crate) tenant: Arc<Tenant>,
    pub(crate) validator: SessionValidator,
}

impl World {
    pub(crate) async fn start() -> Self {
        Self::with(config(), ProxyOptions::default()).await
    }

    pub(crate) async fn with_config(config: SessionConfig) -> Self {
        Self::with(config, ProxyOptions::default()).await
    }

    pub(crate) async fn with(config: SessionConfig, options: ProxyOptions) -> Self {
        let idp = OidcProvider::start().await;
        let proxy = OAuth2Proxy::start(&idp, options).await;
        let tenant = Arc::new(tenant("acme", &idp, &proxy));
        let validator = SessionValidator::new(config).unwrap();
        Self {
            idp,
            proxy,
            tenant,
            validator,
        }
    }

    /// Request headers carrying a fresh session of `user`.
    pub(crate) fn signed_in(&self, user: User) -> HeaderMap {
        cookie_headers(&OAuth2Proxy::cookie_header(&self.proxy.sign_in(user)))
    }

    pub(crate) async fn validate(&self, headers: &HeaderMap) -> Result<Validated, SessionError> {
        self.validator.validate(&self.tenant, headers).await
    }
}

pub(crate) fn tenant(id: &str, idp: &OidcProvider, proxy: &OAuth2Proxy) -> Tenant {
    Tenant {
        id: id.to_owned(),
        admin_email: format!("ops@{id}.example"),
        hostnames: vec![format!("cloud.{id}.example")],
        proxy_url: proxy.url(),
        cookie_name: proxy.options().cookie_name.clone(),
        oidc: Oidc {
            issuer: idp.issuer(),
            audiences: vec![AUDIENCE.to_owned()],
        },
        admin_groups: Vec::new(),
    }
}

pub(crate) fn cookie_headers(cookie: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    headers
}

/// Polls `check` every 20 ms until it holds, failing after `deadline`.
pub(crate) async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < deadline,
            "not within {deadline:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The reason of a `TokenInvalid`, failing the test on anything else.
pub(crate) fn token_reason(outcome: Result<Validated, SessionError>) -> &'static str {
    match outcome {
        Err(SessionError::TokenInvalid { reason }) => reason,
        Err(other) => panic!("expected a refused token, got {other:?}"),
        Ok(validated) => panic!(
            "a bad token was accepted for {}",
            validated.identity.subject
        ),
    }
}
