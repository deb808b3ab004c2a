//! Credless credentials as the AWS SDK's credentials providers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};
use credless_exchange::{AwsCredentials, Credentials, ExchangeError};

/// The name AWS SDK clients see as the source of these credentials.
const PROVIDER_NAME: &str = "credless";

/// What one exchange returns.
type Exchanged = Result<Arc<Credentials>, ExchangeError>;

/// The exchange behind [`ExchangedCredentials`], boxed.
type Exchange = dyn Fn() -> Pin<Box<dyn Future<Output = Exchanged> + Send>> + Send + Sync;

/// `credentials` in the form AWS SDK clients take; they are used until they expire and never
/// refreshed (use [`ExchangedCredentials`] for that).
///
/// Pass the result to `credentials_provider(..)` of any SDK client's config builder.
pub fn sdk_credentials(credentials: &AwsCredentials) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        credentials.secret_access_key.expose(),
        Some(credentials.session_token.expose().to_owned()),
        Some(credentials.expires_at),
        PROVIDER_NAME,
    )
}

/// A credentials provider for AWS SDK clients that asks an exchange for credentials whenever
/// the SDK needs them: at the first call and again when the SDK's identity cache sees them
/// near their expiry.
///
/// The exchange is usually [`credless_exchange::Exchanger::credentials`] for one tenant, user
/// and account, so that its cache decides whether STS is called again.
#[derive(Clone)]
pub struct ExchangedCredentials {
    exchange: Arc<Exchange>,
}

impl ExchangedCredentials {
    /// A provider calling `exchange` for each set of credentials.
    pub fn new<F, Fut>(exchange: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Exchanged> + Send + 'static,
    {
        Self {
            exchange: Arc::new(move || Box::pin(exchange())),
        }
    }

    async fn load(&self) -> provider::Result {
        let credentials = (self.exchange)()
            .await
            .map_err(CredentialsError::provider_error)?;
        match credentials.as_ref() {
            Credentials::Aws(aws) => Ok(sdk_credentials(aws)),
            _ => Err(CredentialsError::invalid_configuration(
                "the exchange returned credentials of another cloud than AWS",
            )),
        }
    }
}

impl ProvideCredentials for ExchangedCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.load())
    }
}

impl fmt::Debug for ExchangedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangedCredentials")
            .finish_non_exhaustive()
    }
}
