//! The shared conformance suite, run against the fake STS and the fake identity provider.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use credless_aws::AwsProvider;
use credless_exchange::Provider;
use credless_exchange::conformance::{Behaviour, Harness};
use credless_registry::{Account, Tenant};
use credless_session::Identity;
use credless_testkit::aws_sts::FakeFailure;
use support::{AUDIENCE, ROLE_ARN, World, config_for};

/// The AWS provider over a fake STS whose role trusts a fake identity provider.
struct FakeStsHarness {
    world: World,
    provider: Arc<AwsProvider>,
}

impl FakeStsHarness {
    async fn start() -> Self {
        let world = World::start().await;
        let config = credless_aws::AwsConfig {
            timeout: Duration::from_secs(1),
            ..config_for(&world.sts.endpoint())
        };
        let provider = Arc::new(AwsProvider::new(config).unwrap());
        Self { world, provider }
    }

    /// The trust a successful exchange needs: the issuer registered, the role trusting it.
    fn trust(&self, subject: Option<&str>) {
        let sts = &self.world.sts;
        sts.stop_failing();
        sts.register_provider(&self.world.idp);
        sts.trust_role(ROLE_ARN, &self.world.idp.issuer(), AUDIENCE, subject);
    }
}

#[async_trait]
impl Harness for FakeStsHarness {
    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn tenant(&self) -> Tenant {
        self.world.tenant.clone()
    }

    fn account(&self) -> Account {
        self.world.account.clone()
    }

    fn identity(&self, subject: &str) -> Identity {
        self.world
            .identity(subject, Some(&format!("{subject}@acme.example")))
    }

    fn error_code(&self, behaviour: &Behaviour) -> Option<String> {
        match behaviour {
            Behaviour::Deny => Some("AccessDenied".to_owned()),
            Behaviour::RejectToken => Some("InvalidIdentityToken".to_owned()),
            _ => None,
        }
    }

    async fn behave(&self, behaviour: Behaviour) {
        let sts = &self.world.sts;
        self.trust(None);
        sts.set_credential_lifetime(None);
        match behaviour {
            Behaviour::Succeed { lifetime } => sts.set_credential_lifetime(Some(lifetime)),
            // The role's trust policy names another subject: STS's own check refuses.
            Behaviour::Deny => self.trust(Some("somebody-else")),
            // The account no longer knows the issuer: STS cannot verify the token.
            Behaviour::RejectToken => sts.deregister_issuer(&self.world.idp.issuer()),
            Behaviour::ThrottleThenSucceed { times } => sts.fail_next(times, FakeFailure::Throttle),
            Behaviour::Hang => sts.fail_always(FakeFailure::Hang),
            Behaviour::Malformed => sts.fail_always(FakeFailure::Malformed),
            Behaviour::ServerError => sts.fail_always(FakeFailure::ServerError(503)),
        }
    }

    async fn exchanges(&self) -> usize {
        self.world.sts.exchanges()
    }
}

async fn harness() -> FakeStsHarness {
    FakeStsHarness::start().await
}

credless_exchange::conformance_tests!(harness);
