//! The data model of the contract: tenants and the cloud accounts they register.
//!
//! These types are plain data. [`crate::validate`] checks them; the store persists them as
//! they are after validation (hostnames lower-cased, trailing dots removed).

use serde::{Deserialize, Serialize};

/// The default name of the oauth2-proxy session cookie.
pub const DEFAULT_COOKIE_NAME: &str = "_oauth2_proxy";

/// An organisation served by Credless, reached by its own hostnames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Stable identifier, `^[a-z0-9][a-z0-9-]{0,62}$`; also the first label of
    /// `<id>.<public_base_domain>`. May be left out of a body whose path names the tenant; it
    /// then reads as empty until [`crate::Registry::replace_tenant`] fills it in.
    #[serde(default)]
    pub id: String,
    /// The email of the organisation's administrator (a tenant admin).
    pub admin_email: String,
    /// Custom hostnames its people use, besides `<id>.<public_base_domain>`.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// Base URL of the organisation's own oauth2-proxy.
    pub proxy_url: String,
    /// Name of the oauth2-proxy session cookie (split cookies add `_0`, `_1`, …).
    #[serde(default = "default_cookie_name")]
    pub cookie_name: String,
    /// The organisation's OpenID Connect provider.
    pub oidc: Oidc,
    /// IdP groups whose members are tenant admins besides `admin_email`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin_groups: Vec<String>,
}

/// Where a tenant's ID tokens come from and whom they must be issued to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Oidc {
    /// The issuer URL, compared exactly with the token's `iss`.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
}

fn default_cookie_name() -> String {
    DEFAULT_COOKIE_NAME.to_owned()
}

/// A cloud account a tenant registers, and who may use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum Account {
    /// An AWS account reached through `AssumeRoleWithWebIdentity`.
    Aws(AwsAccount),
    /// An Azure subscription reached through an Entra federated credential.
    Azure(AzureAccount),
    /// A GCP project reached through Workload Identity Federation.
    Gcp(GcpAccount),
}

/// The cloud an account belongs to; serialized as `aws`, `azure` or `gcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Amazon Web Services.
    Aws,
    /// Microsoft Azure.
    Azure,
    /// Google Cloud.
    Gcp,
}

impl Provider {
    /// The lowercase name used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::Azure => "azure",
            Self::Gcp => "gcp",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Account {
    /// The account's identifier within its tenant.
    pub fn id(&self) -> &str {
        match self {
            Self::Aws(a) => &a.id,
            Self::Azure(a) => &a.id,
            Self::Gcp(a) => &a.id,
        }
    }

    /// Sets the identifier, for a body whose id comes from the request path.
    pub fn set_id(&mut self, id: impl Into<String>) {
        let id = id.into();
        match self {
            Self::Aws(a) => a.id = id,
            Self::Azure(a) => a.id = id,
            Self::Gcp(a) => a.id = id,
        }
    }

    /// The name for people, if one was given.
    pub fn display_name(&self) -> Option<&str> {
        match self {
            Self::Aws(a) => a.display_name.as_deref(),
            Self::Azure(a) => a.display_name.as_deref(),
            Self::Gcp(a) => a.display_name.as_deref(),
        }
    }

    /// IdP groups allowed to use the account; empty means every user of the tenant.
    pub fn allowed_groups(&self) -> &[String] {
        match self {
            Self::Aws(a) => &a.allowed_groups,
            Self::Azure(a) => &a.allowed_groups,
            Self::Gcp(a) => &a.allowed_groups,
        }
    }

    /// Whether a member of `groups` may use the account.
    pub fn allows(&self, groups: &[String]) -> bool {
        let allowed = self.allowed_groups();
        allowed.is_empty() || allowed.iter().any(|group| groups.contains(group))
    }

    /// The default region.
    pub fn region(&self) -> &str {
        match self {
            Self::Aws(a) => &a.region,
            Self::Azure(a) => &a.region,
            Self::Gcp(a) => &a.region,
        }
    }

    /// The cloud the account belongs to.
    pub fn provider(&self) -> Provider {
        match self {
            Self::Aws(_) => Provider::Aws,
            Self::Azure(_) => Provider::Azure,
            Self::Gcp(_) => Provider::Gcp,
        }
    }
}

/// An AWS account binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsAccount {
    /// Identifier within the tenant, same rule as tenant ids. May be left out of a body
    /// whose path names the account.
    #[serde(default)]
    pub id: String,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// IdP groups allowed to use the account; empty means everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_groups: Vec<String>,
    /// `arn:aws:iam::<12 digits>:role/<path/name>` trusted for the tenant's issuer.
    pub role_arn: String,
    /// Default region, such as `us-east-1`.
    pub region: String,
}

/// An Azure subscription binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureAccount {
    /// Identifier within the tenant, same rule as tenant ids. May be left out of a body
    /// whose path names the account.
    #[serde(default)]
    pub id: String,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// IdP groups allowed to use the account; empty means everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_groups: Vec<String>,
    /// The Entra directory (tenant) id, a GUID.
    pub tenant_id: String,
    /// The app registration's client id, a GUID.
    pub client_id: String,
    /// The subscription id, a GUID.
    pub subscription_id: String,
    /// The resource group Credless works in.
    pub resource_group: String,
    /// Default region, such as `westeurope`.
    pub region: String,
}

/// A GCP project binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcpAccount {
    /// Identifier within the tenant, same rule as tenant ids. May be left out of a body
    /// whose path names the account.
    #[serde(default)]
    pub id: String,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// IdP groups allowed to use the account; empty means everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_groups: Vec<String>,
    /// The project id, such as `acme-data`.
    pub project_id: String,
    /// The project number (digits), used in the workload identity audience.
    pub project_number: String,
    /// The workload identity pool id.
    pub pool_id: String,
    /// The workload identity pool provider id.
    pub provider_id: String,
    /// The service account impersonated, `name@project.iam.gserviceaccount.com`.
    pub service_account: String,
    /// Default region, such as `europe-west1`.
    pub region: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

    use super::*;

    const TENANT: &str = r#"{"id": "acme", "admin_email": "ops@acme.example",
        "hostnames": ["cloud.acme.example"], "proxy_url": "https://auth.acme.example",
        "oidc": {"issuer": "https://id.acme.example/", "audiences": ["client"]}"#;

    fn aws() -> serde_json::Value {
        serde_json::json!({"id": "prod-aws", "provider": "aws", "display_name": "Production",
            "role_arn": "arn:aws:iam::123456789012:role/credless", "region": "us-east-1",
            "allowed_groups": ["platform"]})
    }

    fn azure() -> serde_json::Value {
        serde_json::json!({"id": "dev-azure", "provider": "azure",
            "tenant_id": "00000000-0000-0000-0000-000000000001",
            "client_id": "00000000-0000-0000-0000-000000000002",
            "subscription_id": "00000000-0000-0000-0000-000000000003",
            "resource_group": "dev", "region": "westeurope"})
    }

    fn gcp() -> serde_json::Value {
        serde_json::json!({"id": "data-gcp", "provider": "gcp", "project_id": "acme-data",
            "project_number": "123456789", "pool_id": "credless", "provider_id": "acme-idp",
            "service_account": "credless@acme-data.iam.gserviceaccount.com",
            "region": "europe-west1"})
    }

    #[test]
    fn tenant_defaults_the_cookie_name_and_round_trips() {
        let tenant: Tenant = serde_json::from_str(&format!("{TENANT}}}")).unwrap();
        assert_eq!(tenant.cookie_name, DEFAULT_COOKIE_NAME);
        assert!(tenant.admin_groups.is_empty());
        let again: Tenant = serde_json::from_value(serde_json::to_value(&tenant).unwrap()).unwrap();
        assert_eq!(again, tenant);
    }

    #[test]
    fn unknown_tenant_fields_are_rejected() {
        let err = serde_json::from_str::<Tenant>(&format!("{TENANT}, \"admin\": true}}"));
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("unknown field `admin`")
        );
        let nested = TENANT.replace("\"audiences\"", "\"extra\": 1, \"audiences\"");
        let err = serde_json::from_str::<Tenant>(&format!("{nested}}}"));
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("unknown field `extra`")
        );
    }

    #[test]
    fn every_account_kind_parses_and_keeps_its_provider_tag() {
        for (json, provider) in [
            (aws(), Provider::Aws),
            (azure(), Provider::Azure),
            (gcp(), Provider::Gcp),
        ] {
            let account: Account = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(account.provider(), provider);
            assert_eq!(serde_json::to_value(&account).unwrap(), json);
        }
    }

    #[test]
    fn unknown_account_fields_are_rejected_inside_the_tagged_enum() {
        for mut json in [aws(), azure(), gcp()] {
            json["role"] = serde_json::json!("admin");
            let err = serde_json::from_value::<Account>(json).unwrap_err();
            assert!(err.to_string().contains("unknown field `role`"), "{err}");
        }
        let mut json = aws();
        json["provider"] = serde_json::json!("oracle");
        assert!(serde_json::from_value::<Account>(json).is_err());
    }

    #[test]
    fn accessors_read_every_kind() {
        let account: Account = serde_json::from_value(aws()).unwrap();
        assert_eq!(account.id(), "prod-aws");
        assert_eq!(account.display_name(), Some("Production"));
        assert_eq!(account.region(), "us-east-1");
        assert!(account.allows(&["platform".to_owned()]));
        assert!(!account.allows(&["sales".to_owned()]));
        let account: Account = serde_json::from_value(gcp()).unwrap();
        assert!(account.allows(&[]), "no allowed_groups means everyone");
        assert_eq!(Provider::Azure.to_string(), "azure");
    }
}
