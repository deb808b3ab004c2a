//! A fake Google and a fake identity provider wired to a `GcpProvider`, shared by the tests.

#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use credless_gcp::{GcpConfig, GcpProvider, subject_member};
use credless_registry::{GcpAccount, Oidc, Tenant};
use credless_session::{IdToken, Identity};
use credless_testkit::OidcProvider;
use credless_testkit::gcp::{FakeGcp, PoolProvider};
use serde_json::Value;

pub(crate) const CLIENT: &str = "credless-client";
pub(crate) const SA: &str = "credless@acme-data.iam.gserviceaccount.com";

pub(crate) struct World {
    pub(crate) oidc: OidcProvider,
    pub(crate) gcp: FakeGcp,
    pub(crate) account: GcpAccount,
}

impl World {
    /// A pool provider trusting the fake IdP for `CLIENT`, and `user-1` allowed to impersonate
    /// the service account.
    pub(crate) async fn start() -> Self {
        let oidc = OidcProvider::start().await;
        let gcp = FakeGcp::start().await;
        let account = account();
        gcp.add_provider(pool_provider(&oidc));
        gcp.grant_workload_identity_user(SA, &subject_member(&account, "user-1"));
        Self { oidc, gcp, account }
    }

    pub(crate) fn config(&self) -> GcpConfig {
        GcpConfig {
            sts_endpoint: self.gcp.uri(),
            iam_credentials_endpoint: self.gcp.uri(),
            timeout: Duration::from_secs(1),
            allow_insecure_upstreams: true,
            ..GcpConfig::default()
        }
    }

    pub(crate) fn provider(&self) -> GcpProvider {
        GcpProvider::new(self.config()).unwrap()
    }

    pub(crate) fn tenant(&self) -> Tenant {
        Tenant {
            id: "acme".into(),
            admin_email: "ops@acme.example".into(),
            hostnames: vec!["cloud.acme.example".into()],
            proxy_url: "https://auth.acme.example".into(),
            cookie_name: "_oauth2_proxy".into(),
            oidc: Oidc {
                issuer: self.oidc.issuer(),
                audiences: vec![CLIENT.into()],
            },
            admin_groups: Vec::new(),
        }
    }

    /// An identity carrying a fresh ID token for `sub`.
    pub(crate) fn identity(&self, sub: &str) -> Identity {
        let token = self
            .oidc
            .id_token(sub, &format!("{sub}@acme.example"), CLIENT, &["ops"]);
        identity_with(sub, token)
    }

    /// An identity carrying an ID token minted from `claims` as they are.
    pub(crate) fn identity_with_claims(&self, sub: &str, claims: Value) -> Identity {
        identity_with(sub, self.oidc.mint(claims))
    }
}

pub(crate) fn identity_with(sub: &str, token: String) -> Identity {
    Identity {
        tenant: "acme".into(),
        subject: sub.into(),
        email: None,
        preferred_username: None,
        groups: vec!["ops".into()],
        id_token: IdToken::new(token),
        expires_at: SystemTime::now() + Duration::from_secs(3600),
    }
}

pub(crate) fn pool_provider(oidc: &OidcProvider) -> PoolProvider {
    PoolProvider::new(
        "123456789",
        "credless",
        "acme-idp",
        &oidc.issuer(),
        [CLIENT],
    )
}

pub(crate) fn account() -> GcpAccount {
    GcpAccount {
        id: "data-gcp".into(),
        display_name: None,
        allowed_groups: Vec::new(),
        project_id: "acme-data".into(),
        project_number: "123456789".into(),
        pool_id: "credless".into(),
        provider_id: "acme-idp".into(),
        service_account: SA.into(),
        region: "europe-west1".into(),
    }
}

pub(crate) fn unix(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}
