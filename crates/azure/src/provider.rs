//! The Entra token endpoint client: one `client_credentials` request per exchange.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use credless_exchange::{AccessToken, Credentials, ExchangeError, ExchangeRequest, Provider};
use credless_registry::{Account, AzureAccount, Provider as ProviderKind};
use credless_session::Identity;
use credless_session::outbound::{self, OutboundOptions};
use reqwest::header::{ACCEPT, RETRY_AFTER};
use url::Url;

use crate::response;

/// Entra's authority host in Azure's public cloud.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// The scope asked for by default: Azure Resource Manager.
pub const DEFAULT_SCOPE: &str = "https://management.azure.com/.default";

/// The `client_assertion_type` of a JWT presented as a client credential (RFC 7523).
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The most of a response body read; Entra's answers are a few kilobytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where Entra is and how to call it.
#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// Entra's authority host (`clouds.azure.authority_host`), such as
    /// [`DEFAULT_AUTHORITY_HOST`] or a sovereign cloud's.
    pub authority_host: String,
    /// The scope of the access tokens [`Provider::exchange`] asks for: one resource followed
    /// by `/.default`.
    pub scope: String,
    /// Longest wait for a whole token request.
    pub timeout: Duration,
    /// Longest wait for a connection to Entra.
    pub connect_timeout: Duration,
    /// Allow an `http://` or internal authority host (local development and tests only).
    pub allow_insecure_upstreams: bool,
}

impl Default for AzureConfig {
    fn default() -> Self {
        Self {
            authority_host: DEFAULT_AUTHORITY_HOST.to_owned(),
            scope: DEFAULT_SCOPE.to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            allow_insecure_upstreams: false,
        }
    }
}

/// Exchanges users' ID tokens for Entra access tokens.
///
/// One provider serves every tenant and account: nothing in it depends on the user, and it
/// keeps no token. Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct AzureProvider {
    client: reqwest::Client,
    authority: Url,
    config: AzureConfig,
}

impl AzureProvider {
    /// A provider calling Entra as `config` says.
    ///
    /// Fails with [`ExchangeError::Misconfigured`] when the authority host is not an `https`
    /// URL (or `http` while insecure upstreams are allowed), names an internal address, or
    /// when the HTTP client cannot start.
    pub fn new(config: AzureConfig) -> Result<Self, ExchangeError> {
        let authority =
            outbound::check_upstream(&config.authority_host, config.allow_insecure_upstreams)
                .map_err(|error| misconfigured(format!("clouds.azure.authority_host: {error}")))?;
        if authority.query().is_some() || authority.fragment().is_some() {
            let reason = "clouds.azure.authority_host must not have a query or a fragment";
            return Err(misconfigured(reason.to_owned()));
        }
        let options = OutboundOptions {
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            allow_insecure_upstreams: config.allow_insecure_upstreams,
        };
        let client = outbound::client(&options)
            .map_err(|error| misconfigured(format!("the HTTP client cannot start: {error}")))?;
        Ok(Self {
            client,
            authority,
            config,
        })
    }

    /// The configuration this provider was built with.
    pub fn config(&self) -> &AzureConfig {
        &self.config
    }

    /// Exchanges `identity`'s ID token for an access token to `scope` (one resource followed
    /// by `/.default`, such as `https://vault.azure.net/.default`) as the app of `account`.
    ///
    /// Makes exactly one request, without caching or retrying. Fails with
    /// [`ExchangeError::TrustRefused`] when no federated credential of the app matches the
    /// token, [`ExchangeError::TokenRejected`] when Entra refuses the token itself,
    /// [`ExchangeError::Misconfigured`] when the directory or app does not exist or the scope
    /// is invalid, [`ExchangeError::Throttled`] on `429`, and [`ExchangeError::Unavailable`]
    /// when Entra cannot be reached, fails, times out or answers something unreadable.
    pub async fn exchange_for_scope(
        &self,
        identity: &Identity,
        account: &AzureAccount,
        scope: &str,
    ) -> Result<AccessToken, ExchangeError> {
        let endpoint = self.token_endpoint(&account.tenant_id)?;
        let form = [
            ("client_id", account.client_id.as_str()),
            ("scope", scope),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", identity.id_token.expose()),
            ("grant_type", "client_credentials"),
        ];

        let response = self
            .client
            .post(endpoint)
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = read_limited(response).await?;

        let outcome = if (200..300).contains(&status) {
            response::parse_success(&body, account, SystemTime::now())
        } else {
            Err(response::classify_error(status, retry_after, &body))
        };
        match &outcome {
            Ok(token) => tracing::debug!(
                tenant.id = %identity.tenant,
                account.id = %account.id,
                provider = "azure",
                cloud.identity = %token.cloud_identity,
                "entra issued an access token"
            ),
            Err(error) => tracing::info!(
                tenant.id = %identity.tenant,
                account.id = %account.id,
                provider = "azure",
                http.status = status,
                cloud.code = error.cloud_code().unwrap_or_default(),
                "entra refused the exchange"
            ),
        }
        outcome
    }

    /// `{authority}/{directory}/oauth2/v2.0/token`, refusing a directory that is not a single
    /// plain path segment (a GUID or a domain name).
    fn token_endpoint(&self, directory: &str) -> Result<Url, ExchangeError> {
        let plain = !directory.is_empty()
            && !directory.starts_with('.')
            && directory
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.');
        if !plain {
            let reason = "the account's tenant_id must be a directory GUID or domain name";
            return Err(misconfigured(reason.to_owned()));
        }
        let mut endpoint = self.authority.clone();
        endpoint
            .path_segments_mut()
            .map_err(|()| misconfigured("clouds.azure.authority_host cannot be a base".into()))?
            .pop_if_empty()
            .extend([directory, "oauth2", "v2.0", "token"]);
        Ok(endpoint)
    }
}

#[async_trait]
impl Provider for AzureProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Azure
    }

    async fn exchange(&self, request: ExchangeRequest<'_>) -> Result<Credentials, ExchangeError> {
        let Account::Azure(account) = request.account else {
            let reason = format!(
                "account {} is a {} account, not an Azure one",
                request.account.id(),
                request.account.provider()
            );
            return Err(misconfigured(reason));
        };
        self.exchange_for_scope(request.identity, account, &self.config.scope)
            .await
            .map(Credentials::Azure)
    }
}

impl fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureProvider")
            .field("authority", &self.authority.as_str())
            .field("scope", &self.config.scope)
            .finish_non_exhaustive()
    }
}

fn misconfigured(reason: String) -> ExchangeError {
    ExchangeError::Misconfigured {
        reason,
        cloud_code: None,
    }
}

/// Reads at most [`MAX_BODY_BYTES`] of the body; a longer body is unreadable.
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, ExchangeError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ExchangeError::Unavailable {
                cloud_code: None,
                message: "Entra answered with an oversized body".to_owned(),
                transient: false,
                source: None,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Classifies a failure to get any answer from Entra.
fn transport_error(error: reqwest::Error) -> ExchangeError {
    if outbound::is_refused_address(&error) {
        let reason = "clouds.azure.authority_host resolves to an internal address";
        return misconfigured(reason.to_owned());
    }
    let message = if error.is_timeout() {
        "Entra did not answer in time"
    } else if error.is_connect() {
        "Entra could not be reached"
    } else {
        "the request to Entra failed"
    };
    ExchangeError::Unavailable {
        cloud_code: None,
        message: message.to_owned(),
        transient: true,
        source: Some(Box::new(error)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn provider(authority_host: &str) -> Result<AzureProvider, ExchangeError> {
        AzureProvider::new(AzureConfig {
            authority_host: authority_host.to_owned(),
            ..AzureConfig::default()
        })
    }

    #[test]
    fn the_token_endpoint_is_built_per_directory() {
        let plain = provider("https://login.microsoftonline.com").unwrap();
        let slashed = provider("https://login.example.us/").unwrap();

        assert_eq!(
            plain
                .token_endpoint("contoso.onmicrosoft.com")
                .unwrap()
                .as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            slashed.token_endpoint("0000-1").unwrap().as_str(),
            "https://login.example.us/0000-1/oauth2/v2.0/token"
        );
    }

    #[test]
    fn a_directory_that_is_not_one_plain_segment_is_refused() {
        let provider = provider(DEFAULT_AUTHORITY_HOST).unwrap();

        for directory in ["", "..", "a/b", "a?b", "common%2f..", ".hidden"] {
            let error = provider.token_endpoint(directory).unwrap_err();
            assert!(
                matches!(error, ExchangeError::Misconfigured { .. }),
                "{directory}"
            );
        }
    }

    #[test]
    fn an_insecure_authority_is_refused_unless_allowed() {
        for host in ["http://login.example.com", "https://10.0.0.1", "not a url"] {
            assert!(
                matches!(provider(host), Err(ExchangeError::Misconfigured { .. })),
                "{host}"
            );
        }
        let local = AzureProvider::new(AzureConfig {
            authority_host: "http://127.0.0.1:1".to_owned(),
            allow_insecure_upstreams: true,
            ..AzureConfig::default()
        });
        assert!(local.is_ok());
    }
}
