//! The exchange itself: the ID token for a federated token at the STS, then the federated
//! token for a service account's access token at the IAM Credentials API.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use credless_exchange::{AccessToken, Credentials, ExchangeError, ExchangeRequest, Secret};
use credless_registry::{Account, GcpAccount, Provider as ProviderKind};
use credless_session::IdToken;
use credless_session::outbound::{self, OutboundOptions};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use tracing::Instrument as _;

use crate::config::{GcpConfig, MAX_LIFETIME};
use crate::errors::{self, Service};

const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The scope Google's own clients ask the STS for when impersonation follows.
const IAM_SCOPE: &str = "https://www.googleapis.com/auth/iam";

/// The STS audience naming an account's workload identity pool provider:
/// `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/`
/// `providers/<provider>`.
pub fn provider_audience(account: &GcpAccount) -> String {
    format!(
        "//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/providers/{}",
        account.project_number, account.pool_id, account.provider_id
    )
}

/// Exchanges verified ID tokens for service account access tokens through Workload Identity
/// Federation. Cloning is cheap and shares the HTTP client.
#[derive(Clone)]
pub struct GcpProvider {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    config: GcpConfig,
    token_url: reqwest::Url,
    iam_base: reqwest::Url,
}

impl GcpProvider {
    /// A provider calling the endpoints of `config` through Credless's guarded client.
    ///
    /// Fails with [`ExchangeError::Misconfigured`] when an endpoint is not `https` (or names
    /// an internal address) while insecure upstreams are not allowed, when the lifetime is not
    /// a whole number of seconds between 1 s and 12 h, when no scope is configured, or when
    /// the TLS backend cannot start.
    pub fn new(config: GcpConfig) -> Result<Self, ExchangeError> {
        let insecure = config.allow_insecure_upstreams;
        let sts = checked_endpoint("sts_endpoint", &config.sts_endpoint, insecure)?;
        let iam_base = checked_endpoint(
            "iam_credentials_endpoint",
            &config.iam_credentials_endpoint,
            insecure,
        )?;
        let lifetime = config.lifetime;
        if lifetime.is_zero() || lifetime > MAX_LIFETIME || lifetime.subsec_nanos() != 0 {
            return Err(misconfigured(
                "lifetime must be whole seconds from 1s to 43200s",
            ));
        }
        if config.scopes.is_empty() {
            return Err(misconfigured("at least one scope must be configured"));
        }

        let client = outbound::client(&OutboundOptions {
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            allow_insecure_upstreams: insecure,
        })
        .map_err(|_| misconfigured("the HTTP client for Google could not start"))?;
        let token_url = join(&sts, &["v1", "token"]);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                config,
                token_url,
                iam_base,
            }),
        })
    }

    /// The configuration this provider was built with.
    pub fn config(&self) -> &GcpConfig {
        &self.inner.config
    }

    /// Exchanges `id_token` for an access token of the account's service account carrying
    /// `scopes` (the configured scopes when empty).
    ///
    /// Fails as [`ExchangeError`] describes: `TokenRejected` when the STS rejects the token
    /// itself, `TrustRefused` when the pool provider or the service account's IAM policy does
    /// not admit it, `Misconfigured` for a missing pool, provider or service account,
    /// `Throttled` and `Unavailable` when Google cannot serve the call.
    pub async fn access_token(
        &self,
        id_token: &IdToken,
        account: &GcpAccount,
        scopes: &[&str],
    ) -> Result<AccessToken, ExchangeError> {
        let federated = self
            .federated_token(id_token, account)
            .instrument(tracing::debug_span!("gcp.sts.token"))
            .await?;
        let configured: Vec<&str>;
        let scopes = if scopes.is_empty() {
            configured = self
                .inner
                .config
                .scopes
                .iter()
                .map(String::as_str)
                .collect();
            &configured
        } else {
            scopes
        };
        self.impersonate(&federated, account, scopes)
            .instrument(tracing::debug_span!(
                "gcp.iamcredentials.generate_access_token"
            ))
            .await
    }

    /// Step one: the ID token for a federated access token of the pool.
    async fn federated_token(
        &self,
        id_token: &IdToken,
        account: &GcpAccount,
    ) -> Result<Secret, ExchangeError> {
        let audience = provider_audience(account);
        let form = [
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("audience", audience.as_str()),
            ("scope", IAM_SCOPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
            ("subject_token", id_token.expose()),
            ("subject_token_type", JWT_TOKEN_TYPE),
        ];
        let request = self
            .inner
            .client
            .post(self.inner.token_url.clone())
            .form(&form);
        let body = send(Service::Sts, request).await?;

        let token: StsToken = serde_json::from_slice(&body)
            .map_err(|_| errors::unreadable(Service::Sts, "token response"))?;
        if !token.token_type.eq_ignore_ascii_case("bearer") || token.access_token.is_empty() {
            return Err(errors::unreadable(Service::Sts, "token response"));
        }
        Ok(Secret::new(token.access_token))
    }

    /// Step two: the federated token for the service account's own access token.
    async fn impersonate(
        &self,
        federated: &Secret,
        account: &GcpAccount,
        scopes: &[&str],
    ) -> Result<AccessToken, ExchangeError> {
        let method = format!("{}:generateAccessToken", account.service_account);
        let url = join(
            &self.inner.iam_base,
            &["v1", "projects", "-", "serviceAccounts", &method],
        );
        let lifetime = format!("{}s", self.inner.config.lifetime.as_secs());
        let body = serde_json::json!({ "scope": scopes, "lifetime": lifetime });
        let request = self
            .inner
            .client
            .post(url)
            .bearer_auth(federated.expose())
            .json(&body);
        let body = send(Service::IamCredentials, request).await?;

        let generated: GeneratedToken = serde_json::from_slice(&body)
            .map_err(|_| errors::unreadable(Service::IamCredentials, "access token response"))?;
        let expires_at = humantime::parse_rfc3339(&generated.expire_time)
            .map_err(|_| errors::unreadable(Service::IamCredentials, "expireTime"))?;
        if generated.access_token.is_empty() {
            return Err(errors::unreadable(
                Service::IamCredentials,
                "access token response",
            ));
        }
        Ok(AccessToken {
            token: Secret::new(generated.access_token),
            expires_at,
            cloud_identity: account.service_account.clone(),
        })
    }
}

#[async_trait]
impl credless_exchange::Provider for GcpProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gcp
    }

    async fn exchange(&self, request: ExchangeRequest<'_>) -> Result<Credentials, ExchangeError> {
        let Account::Gcp(account) = request.account else {
            return Err(misconfigured("the account is not a GCP account"));
        };
        let span = tracing::info_span!(
            "gcp.exchange",
            tenant.id = %request.tenant.id,
            account.id = %account.id,
            provider = "gcp",
        );
        async {
            let outcome = self
                .access_token(&request.identity.id_token, account, &[])
                .await;
            match &outcome {
                Ok(_) => tracing::debug!("service account token issued"),
                Err(error) => tracing::info!(
                    error.code = error.cloud_code().unwrap_or("none"),
                    "exchange refused or failed"
                ),
            }
            outcome.map(Credentials::Gcp)
        }
        .instrument(span)
        .await
    }
}

impl fmt::Debug for GcpProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpProvider")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The STS token response. No `Debug`: it holds the federated token.
#[derive(Deserialize)]
struct StsToken {
    access_token: String,
    token_type: String,
}

/// The `generateAccessToken` response. No `Debug`: it holds the access token.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeneratedToken {
    access_token: String,
    expire_time: String,
}

/// Sends `request`, returning the body of a success and classifying anything else.
async fn send(
    service: Service,
    request: reqwest::RequestBuilder,
) -> Result<Vec<u8>, ExchangeError> {
    let response = request
        .send()
        .await
        .map_err(|error| errors::from_transport(service, error))?;
    let status = response.status();
    tracing::debug!(http.status = status.as_u16(), "Google answered");
    let retry_after = retry_after(response.headers());
    let body = response
        .bytes()
        .await
        .map_err(|error| errors::from_transport(service, error))?;
    if status.is_success() {
        Ok(body.to_vec())
    } else {
        Err(errors::from_response(service, status, retry_after, &body))
    }
}

/// A `Retry-After` given in seconds. Not yet: the HTTP-date form, which Google does not send.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_secs)
}

fn checked_endpoint(
    key: &str,
    url: &str,
    allow_insecure: bool,
) -> Result<reqwest::Url, ExchangeError> {
    outbound::check_upstream(url, allow_insecure).map_err(|error| ExchangeError::Misconfigured {
        reason: format!("clouds.gcp.{key}: {error}"),
        cloud_code: None,
    })
}

/// `base` with `segments` appended to its path, each percent-encoded as one segment.
fn join(base: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

fn misconfigured(reason: &str) -> ExchangeError {
    ExchangeError::Misconfigured {
        reason: reason.to_owned(),
        cloud_code: None,
    }
}
