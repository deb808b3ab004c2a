//! The shared conformance suite, run against the fake STS and IAM Credentials API.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use credless_exchange::Provider;
use credless_exchange::conformance::{Behaviour, Harness};
use credless_gcp::{GcpConfig, GcpProvider, MAX_LIFETIME};
use credless_registry::{Account, Tenant};
use credless_session::Identity;
use credless_testkit::gcp::{GcpEndpoint, GcpFailure};
use support::World;

/// The fakes, with every identity of the pool allowed to impersonate the service account
/// while the behaviour is not `Deny`.
struct GcpHarness {
    world: World,
    provider: Arc<GcpProvider>,
}

async fn harness() -> GcpHarness {
    let world = World::start().await;
    let config = GcpConfig {
        lifetime: MAX_LIFETIME,
        ..world.config()
    };
    let provider = Arc::new(GcpProvider::new(config).unwrap());
    GcpHarness { world, provider }
}

impl GcpHarness {
    fn everyone(&self) -> String {
        format!(
            "principalSet://iam.googleapis.com/projects/{}/locations/global/\
             workloadIdentityPools/{}/*",
            self.world.account.project_number, self.world.account.pool_id
        )
    }
}

#[async_trait]
impl Harness for GcpHarness {
    fn provider(&self) -> Arc<dyn Provider> {
        Arc::clone(&self.provider) as Arc<dyn Provider>
    }

    fn tenant(&self) -> Tenant {
        self.world.tenant()
    }

    fn account(&self) -> Account {
        Account::Gcp(self.world.account.clone())
    }

    fn identity(&self, subject: &str) -> Identity {
        self.world.identity(subject)
    }

    fn error_code(&self, behaviour: &Behaviour) -> Option<String> {
        match behaviour {
            Behaviour::Deny => Some("PERMISSION_DENIED".to_owned()),
            Behaviour::RejectToken => Some("invalid_grant".to_owned()),
            _ => None,
        }
    }

    async fn behave(&self, behaviour: Behaviour) {
        let gcp = &self.world.gcp;
        let sa = &self.world.account.service_account;
        gcp.clear_failures();
        gcp.set_lifetime_cap(None);
        gcp.add_provider(support::pool_provider(&self.world.oidc));
        gcp.revoke_workload_identity_user(sa, &self.everyone());
        gcp.grant_workload_identity_user(sa, &self.everyone());

        match behaviour {
            Behaviour::Succeed { lifetime } => gcp.set_lifetime_cap(Some(lifetime)),
            Behaviour::Deny => gcp.revoke_workload_identity_user(sa, &self.everyone()),
            Behaviour::RejectToken => {
                // Keys uploaded to the provider that never signed the IdP's tokens.
                let keys = serde_json::json!({"keys": []});
                gcp.add_provider(support::pool_provider(&self.world.oidc).with_jwks(keys));
            }
            Behaviour::ThrottleThenSucceed { times } => {
                gcp.set_lifetime_cap(Some(Duration::from_secs(3600)));
                for _ in 0..times {
                    gcp.fail_next(GcpEndpoint::Sts, GcpFailure::Throttle);
                }
            }
            Behaviour::Hang => gcp.set_failing(GcpEndpoint::Sts, Some(GcpFailure::Hang)),
            Behaviour::Malformed => {
                gcp.set_failing(GcpEndpoint::Sts, Some(GcpFailure::Malformed));
            }
            Behaviour::ServerError => {
                gcp.set_failing(GcpEndpoint::Sts, Some(GcpFailure::ServerError));
            }
        }
    }

    async fn exchanges(&self) -> usize {
        self.world.gcp.exchanges().sts
    }
}

credless_exchange::conformance_tests!(harness);
