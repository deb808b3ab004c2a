//! [`AwsProvider`]: one unsigned STS `AssumeRoleWithWebIdentity` call per exchange.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region, SharedHttpClient};
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput;
use credless_exchange::{
    AwsCredentials, Credentials, ExchangeError, ExchangeRequest, Provider, Secret,
};
use credless_registry::{Account, Provider as ProviderKind};
use credless_session::outbound::{self, OutboundOptions};
use tracing::Instrument as _;

use crate::{AwsConfig, errors, role_session_name, sdk_http_client};

/// Exchanges ID tokens for AWS temporary credentials with STS `AssumeRoleWithWebIdentity`.
///
/// The call is unsigned, sends the configured duration and a session name derived from the
/// caller's email ([`role_session_name`]), and never sends `ProviderId`. The SDK makes exactly
/// one attempt: retries belong to [`credless_exchange::Exchanger`].
#[derive(Debug, Clone)]
pub struct AwsProvider {
    config: AwsConfig,
    http: SharedHttpClient,
}

impl AwsProvider {
    /// A provider calling STS as `config` says.
    ///
    /// Fails with [`ExchangeError::Misconfigured`] when the configuration is invalid (see
    /// [`AwsConfig::validate`]) or the TLS backend cannot start.
    pub fn new(config: AwsConfig) -> Result<Self, ExchangeError> {
        config.validate()?;
        let options = OutboundOptions {
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            allow_insecure_upstreams: config.allow_insecure_upstreams,
        };
        let client = outbound::client(&options).map_err(|error| ExchangeError::Misconfigured {
            reason: format!("the HTTP client for AWS STS cannot start: {error}"),
            cloud_code: None,
        })?;
        Ok(Self {
            config,
            http: sdk_http_client(client),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &AwsConfig {
        &self.config
    }

    /// An STS client for `region`, sending through the guarded HTTP client.
    fn sts_client(&self, region: &str) -> aws_sdk_sts::Client {
        let mut builder = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .http_client(self.http.clone())
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(self.config.timeout)
                    .build(),
            );
        if !self.config.sts_endpoint.is_empty() {
            builder = builder.endpoint_url(&self.config.sts_endpoint);
        }
        aws_sdk_sts::Client::from_conf(builder.build())
    }
}

#[async_trait]
impl Provider for AwsProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    async fn exchange(&self, request: ExchangeRequest<'_>) -> Result<Credentials, ExchangeError> {
        let Account::Aws(account) = request.account else {
            return Err(ExchangeError::Misconfigured {
                reason: format!(
                    "account {} is a {} account, not an AWS account",
                    request.account.id(),
                    request.account.provider()
                ),
                cloud_code: None,
            });
        };
        let session_name = role_session_name(request.identity);
        let span = tracing::debug_span!(
            "aws.assume_role_with_web_identity",
            tenant.id = %request.tenant.id,
            account.id = %account.id,
            provider = "aws",
            aws.role_arn = %account.role_arn,
            aws.session_name = %session_name,
        );

        let answer = self
            .sts_client(&account.region)
            .assume_role_with_web_identity()
            .role_arn(&account.role_arn)
            .role_session_name(&session_name)
            .web_identity_token(request.identity.id_token.expose())
            .duration_seconds(self.config.duration_seconds())
            .send()
            .instrument(span.clone())
            .await;

        let _entered = span.enter();
        match answer.map_err(errors::classify).and_then(credentials_from) {
            Ok(credentials) => {
                let arn = &credentials.assumed_role_arn;
                tracing::debug!(aws.assumed_role_arn = %arn, "assumed role");
                Ok(Credentials::Aws(credentials))
            }
            Err(error) => {
                tracing::info!(cloud.code = error.cloud_code(), %error, "STS refused or failed");
                Err(error)
            }
        }
    }
}

/// Reads the credentials out of a successful answer.
fn credentials_from(
    output: AssumeRoleWithWebIdentityOutput,
) -> Result<AwsCredentials, ExchangeError> {
    let unreadable = |what: &str| ExchangeError::Unavailable {
        cloud_code: None,
        message: format!("AWS STS answered without {what}"),
        transient: true,
        source: None,
    };
    let assumed_role_arn = output
        .assumed_role_user
        .map(|user| user.arn)
        .ok_or_else(|| unreadable("the assumed role"))?;
    let credentials = output
        .credentials
        .ok_or_else(|| unreadable("credentials"))?;
    let expires_at = SystemTime::try_from(credentials.expiration)
        .map_err(|_| unreadable("a usable expiry time"))?;
    Ok(AwsCredentials {
        access_key_id: credentials.access_key_id,
        secret_access_key: Secret::new(credentials.secret_access_key),
        session_token: Secret::new(credentials.session_token),
        expires_at,
        assumed_role_arn,
    })
}
