//! Where Google's token services are and what the exchange asks them for.

use std::time::Duration;

/// Google's Security Token Service.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.googleapis.com";
/// Google's IAM Service Account Credentials API.
pub const DEFAULT_IAM_CREDENTIALS_ENDPOINT: &str = "https://iamcredentials.googleapis.com";
/// The scope of the service account tokens when none is configured.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The longest lifetime `generateAccessToken` grants, and only where the organisation policy
/// `constraints/iam.allowServiceAccountCredentialLifetimeExtension` lists the service account;
/// elsewhere the limit is one hour.
pub const MAX_LIFETIME: Duration = Duration::from_secs(43_200);

/// How [`GcpProvider`](crate::GcpProvider) reaches Google and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpConfig {
    /// Base URL of the Security Token Service, without a trailing `/v1/token`.
    pub sts_endpoint: String,
    /// Base URL of the IAM Service Account Credentials API.
    pub iam_credentials_endpoint: String,
    /// OAuth scopes of the service account access token.
    pub scopes: Vec<String>,
    /// How long the service account access token lives: 1 s to [`MAX_LIFETIME`], whole
    /// seconds. Default one hour.
    pub lifetime: Duration,
    /// Longest wait for one whole call to Google.
    pub timeout: Duration,
    /// Longest wait for a connection to Google.
    pub connect_timeout: Duration,
    /// Allow `http://` and internal addresses as endpoints (local development and tests only).
    pub allow_insecure_upstreams: bool,
}

impl Default for GcpConfig {
    fn default() -> Self {
        Self {
            sts_endpoint: DEFAULT_STS_ENDPOINT.to_owned(),
            iam_credentials_endpoint: DEFAULT_IAM_CREDENTIALS_ENDPOINT.to_owned(),
            scopes: vec![CLOUD_PLATFORM_SCOPE.to_owned()],
            lifetime: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            allow_insecure_upstreams: false,
        }
    }
}
