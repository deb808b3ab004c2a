//! Short-lived cloud credentials, which never print their secrets.

use std::fmt;
use std::time::SystemTime;

/// A secret string: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, to hand to a cloud SDK. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Credentials for one cloud account, as the cloud issued them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// AWS temporary credentials from `AssumeRoleWithWebIdentity`.
    Aws(AwsCredentials),
    /// An Entra access token for Azure Resource Manager (or the configured scope).
    Azure(AccessToken),
    /// A Google OAuth 2.0 access token of the impersonated service account.
    Gcp(AccessToken),
}

impl Credentials {
    /// When the cloud stops accepting these credentials.
    pub fn expires_at(&self) -> SystemTime {
        match self {
            Credentials::Aws(aws) => aws.expires_at,
            Credentials::Azure(token) | Credentials::Gcp(token) => token.expires_at,
        }
    }

    /// Who the cloud sees: the assumed-role ARN, the Entra app, the service account.
    pub fn cloud_identity(&self) -> &str {
        match self {
            Credentials::Aws(aws) => &aws.assumed_role_arn,
            Credentials::Azure(token) | Credentials::Gcp(token) => &token.cloud_identity,
        }
    }
}

/// AWS temporary credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// `ASIA…` access key id (not secret on its own, shown in CloudTrail).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token.
    pub session_token: Secret,
    /// When they expire.
    pub expires_at: SystemTime,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session name>`.
    pub assumed_role_arn: String,
}

/// A bearer access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The token.
    pub token: Secret,
    /// When it expires.
    pub expires_at: SystemTime,
    /// Who the cloud sees, for people: an Entra app and directory, or a service account.
    pub cloud_identity: String,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn debug_and_display_never_show_a_secret() {
        let expires_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let aws = Credentials::Aws(AwsCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: Secret::new("FwoGZXIvYXdzEXAMPLESESSIONTOKEN"),
            expires_at,
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/credless/alice".into(),
        });
        let token = AccessToken {
            token: Secret::new("eyJ0eXAiOiJKV1QiEXAMPLEACCESSTOKEN"),
            expires_at,
            cloud_identity: "credless@acme-data.iam.gserviceaccount.com".into(),
        };
        let azure = Credentials::Azure(token.clone());
        let gcp = Credentials::Gcp(token.clone());

        let printed = format!("{aws:?} {aws:#?} {azure:?} {gcp:#?} {}", token.token);

        for secret in ["wJalrXUtnFEMI", "FwoGZXIvYXdz", "eyJ0eXAiOiJKV1Qi"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("<redacted>"));
        assert!(
            printed.contains("ASIAEXAMPLE"),
            "the key id is not secret: {printed}"
        );
        assert!(printed.contains("credless@acme-data.iam.gserviceaccount.com"));
    }

    #[test]
    fn expiry_and_cloud_identity_read_the_same_for_every_cloud() {
        let expires_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = AccessToken {
            token: Secret::new("token"),
            expires_at,
            cloud_identity: "app 11111111-2222 in directory 3333".into(),
        };

        let azure = Credentials::Azure(token);

        assert_eq!(azure.expires_at(), expires_at);
        assert_eq!(
            azure.cloud_identity(),
            "app 11111111-2222 in directory 3333"
        );
    }
}
