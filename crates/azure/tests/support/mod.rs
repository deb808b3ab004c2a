//! A fake Entra and identity provider wired to an `AzureProvider`, shared by the test files.

#![allow(dead_code, reason = "each test file uses part of the support")]

use std::time::{Duration, SystemTime};

use credless_azure::{AzureConfig, AzureProvider};
use credless_registry::{AzureAccount, Oidc, Tenant};
use credless_session::{IdToken, Identity};
use credless_testkit::OidcProvider;
use credless_testkit::entra::FakeEntra;

pub(crate) const DIRECTORY: &str = "11111111-2222-3333-4444-555555555555";
pub(crate) const CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
pub(crate) const AUDIENCE: &str = "credless-client";
pub(crate) const TENANT: &str = "acme";

/// A fake Entra with one app registration (no federated credential yet) and an identity
/// provider whose tokens it can verify.
pub(crate) struct World {
    pub(crate) entra: FakeEntra,
    pub(crate) idp: OidcProvider,
    /// The `oid` of the app's service principal.
    pub(crate) object_id: String,
}

impl World {
    pub(crate) async fn start() -> Self {
        let (entra, idp) = tokio::join!(FakeEntra::start(), OidcProvider::start());
        let object_id = entra.add_app(DIRECTORY, CLIENT_ID);
        Self {
            entra,
            idp,
            object_id,
        }
    }

    /// Adds a federated credential for `subject`, as an administrator following the trust
    /// guidance would. Adding one twice keeps one.
    pub(crate) fn trust(&self, subject: &str) {
        let issuer = self.idp.issuer();
        let _ = self
            .entra
            .add_federated_credential(DIRECTORY, CLIENT_ID, &issuer, subject, AUDIENCE);
    }

    pub(crate) fn provider(&self, timeout: Duration) -> AzureProvider {
        AzureProvider::new(AzureConfig {
            authority_host: self.entra.authority_host(),
            timeout,
            connect_timeout: Duration::from_secs(1),
            allow_insecure_upstreams: true,
            ..AzureConfig::default()
        })
        .unwrap()
    }

    pub(crate) fn tenant(&self) -> Tenant {
        Tenant {
            id: TENANT.to_owned(),
            admin_email: "ops@acme.example".to_owned(),
            hostnames: Vec::new(),
            proxy_url: "https://auth.acme.example".to_owned(),
            cookie_name: "_oauth2_proxy".to_owned(),
            oidc: Oidc {
                issuer: self.idp.issuer(),
                audiences: vec![AUDIENCE.to_owned()],
            },
            admin_groups: Vec::new(),
        }
    }

    pub(crate) fn account(&self) -> AzureAccount {
        AzureAccount {
            id: "dev-azure".to_owned(),
            display_name: None,
            allowed_groups: Vec::new(),
            tenant_id: DIRECTORY.to_owned(),
            client_id: CLIENT_ID.to_owned(),
            subscription_id: "00000000-0000-0000-0000-000000000003".to_owned(),
            resource_group: "dev".to_owned(),
            region: "westeurope".to_owned(),
        }
    }

    /// A verified identity of `subject` carrying a fresh ID token of the identity provider.
    pub(crate) fn identity(&self, subject: &str) -> Identity {
        let email = format!("{subject}@acme.example");
        let token = self.idp.id_token(subject, &email, AUDIENCE, &["engineers"]);
        Identity {
            tenant: TENANT.to_owned(),
            subject: subject.to_owned(),
            email: Some(email),
            preferred_username: None,
            groups: vec!["engineers".to_owned()],
            id_token: IdToken::new(token),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
        }
    }
}
