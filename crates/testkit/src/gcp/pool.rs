//! The workload identity pool providers the fake STS trusts.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// A workload identity pool provider of the fake STS.
#[derive(Clone)]
pub struct PoolProvider {
    pub(super) project_number: String,
    pub(super) pool_id: String,
    pub(super) provider_id: String,
    pub(super) issuer: String,
    pub(super) allowed_audiences: Vec<String>,
    pub(super) condition: Option<AttributeCondition>,
    pub(super) jwks: Option<Value>,
    pub(super) disabled: bool,
}

/// A pool provider's attribute condition: which otherwise valid tokens it admits.
#[derive(Clone)]
#[non_exhaustive]
pub enum AttributeCondition {
    /// Only tokens whose `sub` is one of these.
    Subjects(Vec<String>),
    /// Only tokens whose claims make the function return `true`, like a CEL expression over
    /// `assertion`.
    Custom(Arc<dyn Fn(&Value) -> bool + Send + Sync>),
}

impl PoolProvider {
    /// A provider trusting tokens of `issuer` whose `aud` is one of `allowed_audiences`; with
    /// none, Google's default audience `https://iam.googleapis.com/projects/<number>/…/
    /// providers/<provider>` is the only one allowed. No attribute condition.
    pub fn new(
        project_number: &str,
        pool_id: &str,
        provider_id: &str,
        issuer: &str,
        allowed_audiences: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            project_number: project_number.to_owned(),
            pool_id: pool_id.to_owned(),
            provider_id: provider_id.to_owned(),
            issuer: issuer.to_owned(),
            allowed_audiences: allowed_audiences.into_iter().map(Into::into).collect(),
            condition: None,
            jwks: None,
            disabled: false,
        }
    }

    /// The same provider with an attribute condition.
    pub fn with_condition(mut self, condition: AttributeCondition) -> Self {
        self.condition = Some(condition);
        self
    }

    /// The same provider verifying signatures with these uploaded keys (a JWKS document, as
    /// `gcloud … create-oidc --jwk-json-path` uploads) instead of fetching the issuer's.
    pub fn with_jwks(mut self, jwks: Value) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// The STS audience naming this provider.
    pub fn audience(&self) -> String {
        audience(&self.project_number, &self.pool_id, &self.provider_id)
    }

    pub(super) fn admits_audience(&self, aud: &str) -> bool {
        if self.allowed_audiences.is_empty() {
            return aud == format!("https:{}", self.audience());
        }
        self.allowed_audiences.iter().any(|allowed| allowed == aud)
    }
}

impl fmt::Debug for PoolProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolProvider")
            .field("audience", &self.audience())
            .field("issuer", &self.issuer)
            .field("allowed_audiences", &self.allowed_audiences)
            .field("condition", &self.condition)
            .field("uploaded_jwks", &self.jwks.is_some())
            .field("disabled", &self.disabled)
            .finish()
    }
}

impl AttributeCondition {
    /// Only tokens whose `sub` is one of `subjects`.
    pub fn subjects(subjects: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::Subjects(subjects.into_iter().map(Into::into).collect())
    }

    /// Only tokens whose claims satisfy `condition`.
    pub fn custom(condition: impl Fn(&Value) -> bool + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(condition))
    }

    pub(super) fn admits(&self, claims: &Value) -> bool {
        match self {
            Self::Subjects(subjects) => {
                let sub = claims.get("sub").and_then(Value::as_str);
                sub.is_some_and(|sub| subjects.iter().any(|allowed| allowed == sub))
            }
            Self::Custom(condition) => condition(claims),
        }
    }
}

impl fmt::Debug for AttributeCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subjects(subjects) => f.debug_tuple("Subjects").field(subjects).finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

pub(super) fn audience(project_number: &str, pool: &str, provider: &str) -> String {
    format!(
        "//iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/\
         {pool}/providers/{provider}"
    )
}
