//! The shared conformance suite of `credless-exchange`, run against the fake Entra.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use credless_exchange::Provider;
use credless_exchange::conformance::{Behaviour, Harness};
use credless_registry::{Account, Tenant};
use credless_session::Identity;
use credless_testkit::entra::EntraFailure;
use support::{CLIENT_ID, DIRECTORY, World};

/// Far enough ahead that every fresh ID token has expired by Entra's clock.
const EXPIRED: Duration = Duration::from_secs(2 * 3600);

/// Azure over the fake Entra: a trusted subject has a federated credential, a denied one
/// has none while the app keeps one for somebody else (so Entra answers `AADSTS700213`).
struct EntraHarness {
    world: World,
    provider: Arc<dyn Provider>,
    subjects: Mutex<BTreeSet<String>>,
    trusting: Mutex<bool>,
}

async fn harness() -> EntraHarness {
    let world = World::start().await;
    world.trust("somebody-else");
    let provider = Arc::new(world.provider(Duration::from_millis(1500)));
    EntraHarness {
        world,
        provider,
        subjects: Mutex::new(BTreeSet::new()),
        trusting: Mutex::new(true),
    }
}

impl EntraHarness {
    /// Adds or removes the federated credentials of every subject seen so far.
    fn set_trusting(&self, trusting: bool) {
        *self.trusting.lock().unwrap() = trusting;
        let issuer = self.world.idp.issuer();
        for subject in self.subjects.lock().unwrap().iter() {
            if trusting {
                self.world.trust(subject);
            } else {
                let entra = &self.world.entra;
                entra.remove_federated_credential(DIRECTORY, CLIENT_ID, &issuer, subject);
            }
        }
    }
}

#[async_trait]
impl Harness for EntraHarness {
    fn provider(&self) -> Arc<dyn Provider> {
        Arc::clone(&self.provider)
    }

    fn tenant(&self) -> Tenant {
        self.world.tenant()
    }

    fn account(&self) -> Account {
        Account::Azure(self.world.account())
    }

    fn identity(&self, subject: &str) -> Identity {
        self.subjects.lock().unwrap().insert(subject.to_owned());
        if *self.trusting.lock().unwrap() {
            self.world.trust(subject);
        }
        self.world.identity(subject)
    }

    fn error_code(&self, behaviour: &Behaviour) -> Option<String> {
        match behaviour {
            Behaviour::Deny => Some("AADSTS700213".to_owned()),
            Behaviour::RejectToken => Some("AADSTS700024".to_owned()),
            _ => None,
        }
    }

    async fn behave(&self, behaviour: Behaviour) {
        let entra = &self.world.entra;
        entra.clear_failures();
        entra.set_clock_ahead(Duration::ZERO);
        entra.set_token_lifetime(Duration::from_secs(3600));
        self.set_trusting(!matches!(behaviour, Behaviour::Deny));
        match behaviour {
            Behaviour::Succeed { lifetime } => entra.set_token_lifetime(lifetime),
            Behaviour::Deny => {}
            Behaviour::RejectToken => entra.set_clock_ahead(EXPIRED),
            Behaviour::ThrottleThenSucceed { times } => {
                let retry_after = Duration::from_secs(1);
                entra.fail_next(times, EntraFailure::Throttle { retry_after });
            }
            Behaviour::Hang => entra.fail_all(EntraFailure::Hang),
            Behaviour::Malformed => entra.fail_all(EntraFailure::Malformed),
            Behaviour::ServerError => entra.fail_all(EntraFailure::ServerError),
        }
    }

    async fn exchanges(&self) -> usize {
        self.world.entra.requests().len()
    }
}

credless_exchange::conformance_tests!(harness);
