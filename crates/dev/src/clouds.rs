//! The three fake clouds of the dev environment, with trust set up for the demo user, and the
//! demo tenant's account in each.

use credless_gateway::Config;
use credless_registry::Account;
use credless_testkit::arm::FakeArm;
use credless_testkit::aws_sts::FakeSts;
use credless_testkit::ec2::FakeEc2;
use credless_testkit::entra::FakeEntra;
use credless_testkit::gce::FakeGce;
use credless_testkit::gcp::{FakeGcp, PoolProvider};
use credless_testkit::rds::FakeRds;
use credless_testkit::{OidcProvider, User};
use serde_json::json;

/// The AWS role the demo account assumes.
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/credless-demo";
/// The Entra directory and app registration of the demo Azure account.
const DIRECTORY: &str = "11111111-2222-3333-4444-555555555555";
const APP: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const SUBSCRIPTION: &str = "99999999-8888-7777-6666-555555555555";
/// The GCP project and Workload Identity pool of the demo GCP account.
const PROJECT: &str = "credless-demo";
const PROJECT_NUMBER: &str = "123456789012";
const POOL: &str = "credless";
const POOL_PROVIDER: &str = "demo-idp";
const SERVICE_ACCOUNT: &str = "credless@credless-demo.iam.gserviceaccount.com";

/// Fake AWS, Azure and GCP, each trusting the dev IdP's tokens for the demo user.
pub(crate) struct Clouds {
    sts: FakeSts,
    ec2: FakeEc2,
    rds: FakeRds,
    entra: FakeEntra,
    arm: FakeArm,
    gcp: FakeGcp,
    gce: FakeGce,
}

impl Clouds {
    /// The demo tenant's account ids, one per cloud.
    pub(crate) const ACCOUNTS: [&'static str; 3] = ["demo-aws", "demo-azure", "demo-gcp"];

    /// Starts the fakes and sets up the trust an organisation would: the role trusts the
    /// issuer and audience, the app has a federated credential for the user's subject (Entra
    /// matches subjects exactly), the pool's provider accepts the issuer and the user may
    /// impersonate the service account.
    pub(crate) async fn start(idp: &OidcProvider, audience: &str, user: &User) -> Self {
        let (sts, ec2, rds) = tokio::join!(FakeSts::start(), FakeEc2::start(), FakeRds::start());
        let (entra, arm) = tokio::join!(FakeEntra::start(), FakeArm::start());
        let (gcp, gce) = tokio::join!(FakeGcp::start(), FakeGce::start());
        let issuer = idp.issuer();

        sts.register_provider(idp);
        sts.trust_role(ROLE_ARN, &issuer, audience, None);

        entra.add_app(DIRECTORY, APP);
        if let Err(error) =
            entra.add_federated_credential(DIRECTORY, APP, &issuer, &user.sub, audience)
        {
            tracing::warn!(%error, "the demo Azure account's federated credential is missing");
        }

        gcp.add_provider(PoolProvider::new(
            PROJECT_NUMBER,
            POOL,
            POOL_PROVIDER,
            &issuer,
            [audience],
        ));
        gcp.add_service_account(SERVICE_ACCOUNT);
        gcp.grant_workload_identity_user(
            SERVICE_ACCOUNT,
            &format!(
                "principal://iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/\
                 workloadIdentityPools/{POOL}/subject/{}",
                user.sub
            ),
        );
        Self {
            sts,
            ec2,
            rds,
            entra,
            arm,
            gcp,
            gce,
        }
    }

    /// Points every cloud endpoint of `config` at the fakes.
    pub(crate) fn point(&self, config: &mut Config) {
        let clouds = &mut config.clouds;
        clouds.aws.sts_endpoint = self.sts.endpoint();
        clouds.aws.ec2_endpoint = self.ec2.endpoint();
        clouds.aws.rds_endpoint = self.rds.endpoint();
        clouds.azure.authority_host = self.entra.authority_host();
        clouds.azure.management_endpoint = self.arm.management_endpoint();
        clouds.gcp.sts_endpoint = self.gcp.uri();
        clouds.gcp.iam_credentials_endpoint = self.gcp.uri();
        clouds.gcp.compute_endpoint = self.gce.uri();
        clouds.gcp.sql_admin_endpoint = self.gce.uri();
    }

    /// The demo tenant's accounts, in the order of [`Self::ACCOUNTS`].
    pub(crate) fn accounts(&self) -> Vec<Account> {
        let [aws, azure, gcp] = Self::ACCOUNTS;
        [
            json!({"id": aws, "provider": "aws", "display_name": "Demo AWS account",
                   "role_arn": ROLE_ARN, "region": "us-east-1"}),
            json!({"id": azure, "provider": "azure", "display_name": "Demo Azure subscription",
                   "tenant_id": DIRECTORY, "client_id": APP, "subscription_id": SUBSCRIPTION,
                   "resource_group": "demo", "region": "westeurope"}),
            json!({"id": gcp, "provider": "gcp", "display_name": "Demo GCP project",
                   "project_id": PROJECT, "project_number": PROJECT_NUMBER, "pool_id": POOL,
                   "provider_id": POOL_PROVIDER, "service_account": SERVICE_ACCOUNT,
                   "region": "europe-west1"}),
        ]
        .into_iter()
        .filter_map(|account| match serde_json::from_value(account) {
            Ok(account) => Some(account),
            Err(error) => {
                tracing::warn!(%error, "a demo account does not parse");
                None
            }
        })
        .collect()
    }
}
