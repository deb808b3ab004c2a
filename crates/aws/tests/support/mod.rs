//! What the AWS tests share: a tenant, an identity and an account bound to a fake STS.

#![allow(
    dead_code,
    reason = "each test binary uses a part of the support module"
)]

use std::time::{Duration, SystemTime};

use credless_aws::{AwsConfig, AwsProvider};
use credless_exchange::{Credentials, ExchangeError, ExchangeRequest, Provider as _};
use credless_registry::{Account, AwsAccount, Oidc, Tenant};
use credless_session::{IdToken, Identity};
use credless_testkit::OidcProvider;
use credless_testkit::aws_sts::FakeSts;

pub(crate) const AUDIENCE: &str = "credless-client-id";
pub(crate) const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/credless";

/// A fake IdP and a fake STS whose role trusts the IdP's tokens for [`AUDIENCE`].
pub(crate) struct World {
    pub(crate) idp: OidcProvider,
    pub(crate) sts: FakeSts,
    pub(crate) provider: AwsProvider,
    pub(crate) tenant: Tenant,
    pub(crate) account: Account,
}

impl World {
    pub(crate) async fn start() -> Self {
        let (idp, sts) = tokio::join!(OidcProvider::start(), FakeSts::start());
        sts.register_provider(&idp);
        sts.trust_role(ROLE_ARN, &idp.issuer(), AUDIENCE, None);
        let provider = AwsProvider::new(config_for(&sts.endpoint())).unwrap();
        let tenant = tenant(&idp.issuer());
        Self {
            idp,
            sts,
            provider,
            tenant,
            account: account(ROLE_ARN),
        }
    }

    /// An identity with a fresh ID token for `sub` and `email`.
    pub(crate) fn identity(&self, sub: &str, email: Option<&str>) -> Identity {
        let token = self
            .idp
            .id_token(sub, email.unwrap_or_default(), AUDIENCE, &[]);
        identity(sub, email, token)
    }
}

pub(crate) fn config_for(endpoint: &str) -> AwsConfig {
    AwsConfig {
        sts_endpoint: endpoint.to_owned(),
        timeout: Duration::from_secs(2),
        allow_insecure_upstreams: true,
        ..AwsConfig::default()
    }
}

pub(crate) fn tenant(issuer: &str) -> Tenant {
    Tenant {
        id: "acme".into(),
        admin_email: "ops@acme.example".into(),
        hostnames: Vec::new(),
        proxy_url: "https://auth.acme.example".into(),
        cookie_name: "_oauth2_proxy".into(),
        oidc: Oidc {
            issuer: issuer.into(),
            audiences: vec![AUDIENCE.into()],
        },
        admin_groups: Vec::new(),
    }
}

pub(crate) fn account(role_arn: &str) -> Account {
    Account::Aws(AwsAccount {
        id: "prod-aws".into(),
        display_name: None,
        allowed_groups: Vec::new(),
        role_arn: role_arn.into(),
        region: "us-east-1".into(),
    })
}

pub(crate) fn identity(sub: &str, email: Option<&str>, token: String) -> Identity {
    Identity {
        tenant: "acme".into(),
        subject: sub.into(),
        email: email.map(str::to_owned),
        preferred_username: None,
        groups: Vec::new(),
        id_token: IdToken::new(token),
        expires_at: SystemTime::now() + Duration::from_secs(3600),
    }
}

/// One exchange for `identity` on the world's account.
pub(crate) async fn exchange(
    world: &World,
    identity: &credless_session::Identity,
) -> Result<Credentials, ExchangeError> {
    let request = ExchangeRequest {
        tenant: &world.tenant,
        identity,
        account: &world.account,
    };
    world.provider.exchange(request).await
}
