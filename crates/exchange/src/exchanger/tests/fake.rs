//! A scripted provider and the requests the exchanger tests send it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use credless_registry::{Account, AwsAccount, Oidc, Provider as ProviderKind, Tenant};
use credless_session::{IdToken, Identity};
use tokio::sync::{Notify, Semaphore};

use crate::{AwsCredentials, Credentials, ExchangeError, ExchangeRequest, Provider, Secret};

/// What one exchange answers.
pub(super) enum Answer {
    /// Fresh credentials living this long.
    Issue(Duration),
    Fail(ExchangeError),
}

/// An AWS-like provider that counts exchanges, answers from a script (then issues one-hour
/// credentials), and can hold every exchange at a gate until the test opens it.
#[derive(Default)]
pub(super) struct FakeProvider {
    calls: AtomicUsize,
    script: Mutex<VecDeque<Answer>>,
    gate: Option<Semaphore>,
    entered: Notify,
}

impl FakeProvider {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// A provider whose exchanges wait until [`FakeProvider::open`].
    pub(super) fn gated() -> Self {
        Self {
            gate: Some(Semaphore::new(0)),
            ..Self::default()
        }
    }

    /// Answers the next exchanges in this order.
    pub(super) fn script(self, answers: impl IntoIterator<Item = Answer>) -> Self {
        self.push(answers);
        self
    }

    pub(super) fn push(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().unwrap().extend(answers);
    }

    pub(super) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Waits until an exchange has started.
    pub(super) async fn entered(&self) {
        self.entered.notified().await;
    }

    /// Lets every waiting and future exchange through.
    pub(super) fn open(&self) {
        if let Some(gate) = &self.gate {
            gate.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }
}

#[async_trait]
impl Provider for FakeProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    async fn exchange(&self, request: ExchangeRequest<'_>) -> Result<Credentials, ExchangeError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.entered.notify_one();
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await.unwrap();
        }

        let answer = self.script.lock().unwrap().pop_front();
        let lifetime = match answer {
            Some(Answer::Fail(error)) => return Err(error),
            Some(Answer::Issue(lifetime)) => lifetime,
            None => Duration::from_secs(3600),
        };
        let subject = &request.identity.subject;
        Ok(Credentials::Aws(AwsCredentials {
            access_key_id: format!("ASIAFAKE{call:08}"),
            secret_access_key: Secret::new(format!("secret-{subject}-{call}")),
            session_token: Secret::new(format!("session-{subject}-{call}")),
            expires_at: SystemTime::now() + lifetime,
            assumed_role_arn: format!("arn:aws:sts::123456789012:assumed-role/credless/{subject}"),
        }))
    }
}

pub(super) fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.to_owned(),
        admin_email: format!("ops@{id}.example"),
        hostnames: Vec::new(),
        proxy_url: format!("https://auth.{id}.example"),
        cookie_name: "_oauth2_proxy".to_owned(),
        oidc: Oidc {
            issuer: format!("https://id.{id}.example/"),
            audiences: vec!["credless".to_owned()],
        },
        admin_groups: Vec::new(),
    }
}

pub(super) fn account(id: &str) -> Account {
    Account::Aws(AwsAccount {
        id: id.to_owned(),
        display_name: None,
        allowed_groups: Vec::new(),
        role_arn: "arn:aws:iam::123456789012:role/credless".to_owned(),
        region: "us-east-1".to_owned(),
    })
}

/// A verified identity whose ID token expires in `expires_in`.
pub(super) fn identity_for(tenant: &str, subject: &str, expires_in: Duration) -> Identity {
    Identity {
        tenant: tenant.to_owned(),
        subject: subject.to_owned(),
        email: Some(format!("{subject}@{tenant}.example")),
        preferred_username: None,
        groups: Vec::new(),
        id_token: IdToken::new(format!("eyJhbGciOiJSUzI1NiJ9.{subject}-token.c2ln")),
        expires_at: SystemTime::now() + expires_in,
    }
}

pub(super) fn identity(tenant: &str, subject: &str) -> Identity {
    identity_for(tenant, subject, Duration::from_secs(3600))
}

pub(super) fn request<'a>(
    tenant: &'a Tenant,
    identity: &'a Identity,
    account: &'a Account,
) -> ExchangeRequest<'a> {
    ExchangeRequest {
        tenant,
        identity,
        account,
    }
}

pub(super) fn unavailable(transient: bool) -> ExchangeError {
    ExchangeError::Unavailable {
        cloud_code: Some("ServiceUnavailable".to_owned()),
        message: "the cloud answered 503 Service Unavailable".to_owned(),
        transient,
        source: Some("connection reset by peer".into()),
    }
}

pub(super) fn denied() -> ExchangeError {
    ExchangeError::TrustRefused {
        cloud_code: "AccessDenied".to_owned(),
        message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".to_owned(),
    }
}

pub(super) fn throttled(retry_after: Duration) -> ExchangeError {
    ExchangeError::Throttled {
        retry_after: Some(retry_after),
        cloud_code: "Throttling".to_owned(),
        message: "Rate exceeded".to_owned(),
    }
}
