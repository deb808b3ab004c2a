//! The conformance suite against an in-memory provider that behaves as a correct cloud crate
//! does, and against two faulty ones that the suite must catch.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use credless_exchange::conformance::{Behaviour, Harness, cases};
use credless_exchange::{
    AwsCredentials, Credentials, ExchangeError, ExchangeRequest, Provider, Secret,
};
use credless_registry::{Account, AwsAccount, Oidc, Provider as ProviderKind, Tenant};
use credless_session::{IdToken, Identity};

credless_exchange::conformance_tests!(harness);

async fn harness() -> Memory {
    Memory::new(Fault::None)
}

#[tokio::test]
async fn run_all_passes_on_one_shared_harness() {
    credless_exchange::conformance::run_all(&Memory::new(Fault::None)).await;
}

#[tokio::test]
#[should_panic(expected = "the cloud's code is kept")]
async fn a_provider_that_drops_the_clouds_code_fails() {
    cases::denied(&Memory::new(Fault::GenericCodes)).await;
}

#[tokio::test]
#[should_panic(expected = "two people, one secret")]
async fn a_provider_that_hands_everyone_the_same_secret_fails() {
    cases::subjects_isolated(&Memory::new(Fault::SameSecret)).await;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Reports every refusal as `Denied` instead of the cloud's code.
    GenericCodes,
    /// Issues one fixed secret to everybody.
    SameSecret,
}

/// The fake cloud and the provider in one: the state both see.
struct Memory {
    cloud: Arc<Cloud>,
}

struct Cloud {
    fault: Fault,
    behaviour: Mutex<(Behaviour, usize)>,
    exchanges: AtomicUsize,
    issued_tokens: Mutex<HashSet<String>>,
}

impl Memory {
    fn new(fault: Fault) -> Self {
        let cloud = Cloud {
            fault,
            behaviour: Mutex::new((Behaviour::Succeed { lifetime: hour() }, 0)),
            exchanges: AtomicUsize::new(0),
            issued_tokens: Mutex::new(HashSet::new()),
        };
        Self {
            cloud: Arc::new(cloud),
        }
    }
}

fn hour() -> Duration {
    Duration::from_secs(3600)
}

#[async_trait]
impl Harness for Memory {
    fn provider(&self) -> Arc<dyn Provider> {
        self.cloud.clone()
    }

    fn tenant(&self) -> Tenant {
        Tenant {
            id: "acme".to_owned(),
            admin_email: "ops@acme.example".to_owned(),
            hostnames: Vec::new(),
            proxy_url: "https://auth.acme.example".to_owned(),
            cookie_name: "_oauth2_proxy".to_owned(),
            oidc: Oidc {
                issuer: "https://id.acme.example/".to_owned(),
                audiences: vec!["credless".to_owned()],
            },
            admin_groups: Vec::new(),
        }
    }

    fn account(&self) -> Account {
        Account::Aws(AwsAccount {
            id: "prod".to_owned(),
            display_name: None,
            allowed_groups: Vec::new(),
            role_arn: "arn:aws:iam::123456789012:role/credless".to_owned(),
            region: "us-east-1".to_owned(),
        })
    }

    fn identity(&self, subject: &str) -> Identity {
        let token =
            format!("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ7c3ViamVjdH0ifQ-{subject}.c2lnbmF0dXJl");
        self.cloud
            .issued_tokens
            .lock()
            .unwrap()
            .insert(token.clone());
        Identity {
            tenant: "acme".to_owned(),
            subject: subject.to_owned(),
            email: None,
            preferred_username: None,
            groups: Vec::new(),
            id_token: IdToken::new(token),
            expires_at: SystemTime::now() + hour(),
        }
    }

    fn error_code(&self, behaviour: &Behaviour) -> Option<String> {
        match behaviour {
            Behaviour::Deny => Some("AccessDenied".to_owned()),
            Behaviour::RejectToken => Some("InvalidIdentityToken".to_owned()),
            _ => None,
        }
    }

    async fn behave(&self, behaviour: Behaviour) {
        let throttles = match behaviour {
            Behaviour::ThrottleThenSucceed { times } => times,
            _ => 0,
        };
        *self.cloud.behaviour.lock().unwrap() = (behaviour, throttles);
    }

    async fn exchanges(&self) -> usize {
        self.cloud.exchanges.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Provider for Cloud {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    async fn exchange(&self, request: ExchangeRequest<'_>) -> Result<Credentials, ExchangeError> {
        if !matches!(request.account, Account::Aws(_)) {
            return Err(ExchangeError::Misconfigured {
                reason: "not an AWS account".to_owned(),
                cloud_code: None,
            });
        }
        let call = self.exchanges.fetch_add(1, Ordering::SeqCst) + 1;
        let known = self
            .issued_tokens
            .lock()
            .unwrap()
            .contains(request.identity.id_token.expose());

        let behaviour = {
            let mut state = self.behaviour.lock().unwrap();
            match state.0 {
                Behaviour::ThrottleThenSucceed { .. } if state.1 > 0 => {
                    state.1 -= 1;
                    return Err(throttled());
                }
                Behaviour::ThrottleThenSucceed { .. } => Behaviour::Succeed { lifetime: hour() },
                ref other => other.clone(),
            }
        };
        match behaviour {
            Behaviour::Hang => {
                let never = std::future::pending::<()>();
                let _ = tokio::time::timeout(Duration::from_millis(200), never).await;
                Err(unavailable("the cloud did not answer in time", true))
            }
            Behaviour::Malformed => Err(unavailable("the cloud's answer is unreadable", false)),
            Behaviour::ServerError => Err(unavailable("the cloud answered 503", true)),
            Behaviour::Deny if known => Err(ExchangeError::TrustRefused {
                cloud_code: self.code("AccessDenied"),
                message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".to_owned(),
            }),
            Behaviour::Succeed { lifetime } if known => Ok(self.issue(request, call, lifetime)),
            _ => Err(ExchangeError::TokenRejected {
                cloud_code: self.code("InvalidIdentityToken"),
                message: "Couldn't verify the token's signature".to_owned(),
            }),
        }
    }
}

impl Cloud {
    fn code(&self, code: &str) -> String {
        match self.fault {
            Fault::GenericCodes => "Denied".to_owned(),
            _ => code.to_owned(),
        }
    }

    fn issue(&self, request: ExchangeRequest<'_>, call: usize, lifetime: Duration) -> Credentials {
        let unique = match self.fault {
            Fault::SameSecret => "fixed".to_owned(),
            _ => format!("{}-{call}", request.identity.subject),
        };
        Credentials::Aws(AwsCredentials {
            access_key_id: format!("ASIAMEMORY{call:06}"),
            secret_access_key: Secret::new(format!("secret-{unique}")),
            session_token: Secret::new(format!("session-{unique}")),
            expires_at: SystemTime::now() + lifetime,
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/credless/alice".to_owned(),
        })
    }
}

fn throttled() -> ExchangeError {
    ExchangeError::Throttled {
        retry_after: Some(Duration::from_millis(10)),
        cloud_code: "Throttling".to_owned(),
        message: "Rate exceeded".to_owned(),
    }
}

fn unavailable(message: &str, transient: bool) -> ExchangeError {
    ExchangeError::Unavailable {
        cloud_code: None,
        message: message.to_owned(),
        transient,
        source: None,
    }
}
