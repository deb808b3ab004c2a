//! Testing your own Credless-based code against the testkit's fake identity provider,
//! oauth2-proxy and clouds.
//!
//! Add `credless-testkit` as a dev-dependency. Its fakes are real HTTP servers on `127.0.0.1`
//! at random ports, cheap enough to start one set per test, so tests run in parallel without
//! sharing state. Each fake behaves like the real service where your code can tell (wire
//! formats, error codes, token checks) and records what it received. Each can also be told to
//! fail, so your error handling gets tested too.
//!
//! The "code under test" below is a small piece of an imagined service: it validates a
//! browser's session and returns who the person is on AWS, and it lists a GCP project's VMs
//! with any `gcp_auth::TokenProvider`. The tests in `mod tests` are the point of this file; run
//! them with `cargo test --example mock_clouds_in_tests`. `cargo run --example
//! mock_clouds_in_tests` runs the happy path once.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on the terminal"
)]
#![cfg_attr(
    not(test),
    allow(dead_code, reason = "`main` runs one path; the tests use the rest")
)]

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sts::config::{BehaviorVersion, Region};
use credless::aws::{AwsConfig, AwsProvider, sdk_credentials, sdk_http_client};
use credless::exchange::{Credentials, ExchangeConfig, ExchangeRequest, Exchanger};
use credless::registry::{Account, AwsAccount, Oidc, Tenant};
use credless::session::outbound::{self, OutboundOptions};
use credless::session::{SessionConfig, SessionValidator};
use credless_testkit::aws_sts::FakeSts;
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use http::HeaderMap;

/// Any error of the example; tests downcast it to the library error they expect.
type Error = Box<dyn std::error::Error + Send + Sync>;

// ---- The code under test: what your own service would contain. ----

/// Your service's access to AWS for signed-in people.
struct AwsAccess {
    validator: SessionValidator,
    exchanger: Exchanger,
    sdk_http: aws_sdk_sts::config::SharedHttpClient,
    /// STS's endpoint; `None` in production (the SDK's default).
    sts_endpoint: Option<String>,
}

impl AwsAccess {
    /// Who the browser sending `headers` is on AWS `account`: validates the session, exchanges
    /// its ID token and asks STS `GetCallerIdentity` with the resulting credentials.
    async fn caller_arn(
        &self,
        tenant: &Tenant,
        headers: &HeaderMap,
        account: &Account,
    ) -> Result<String, Error> {
        let validated = self.validator.validate(tenant, headers).await?;
        let request = ExchangeRequest {
            tenant,
            identity: &validated.identity,
            account,
        };
        let credentials = self.exchanger.credentials(request).await?;
        let Credentials::Aws(aws) = credentials.as_ref() else {
            return Err("not an AWS account".into());
        };

        let mut config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .http_client(self.sdk_http.clone())
            .credentials_provider(sdk_credentials(aws));
        if let Some(endpoint) = &self.sts_endpoint {
            config = config.endpoint_url(endpoint);
        }
        let caller = aws_sdk_sts::Client::from_conf(config.build())
            .get_caller_identity()
            .send()
            .await?;
        Ok(caller.arn().unwrap_or_default().to_owned())
    }
}

/// The names of the VMs of `project`, listed from Compute Engine at `compute` with a token of
/// `tokens`.
async fn vm_names(
    tokens: &dyn gcp_auth::TokenProvider,
    compute: &str,
    project: &str,
) -> Result<Vec<String>, Error> {
    let token = tokens
        .token(&["https://www.googleapis.com/auth/compute"])
        .await?;
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{compute}/compute/v1/projects/{project}/aggregated/instances"
        ))
        .bearer_auth(token.as_str())
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut names: Vec<String> = listed["items"]
        .as_object()
        .into_iter()
        .flat_map(|scopes| scopes.values())
        .flat_map(|scope| scope["instances"].as_array().into_iter().flatten())
        .filter_map(|vm| vm["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

// ---- The test fixture: what your tests' support module would contain. ----

/// The IAM role of the AWS account binding.
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/credless-dev";

/// One organisation's identity provider and oauth2-proxy, a fake STS, and the code under test
/// wired to them. Each test starts its own.
struct World {
    idp: OidcProvider,
    proxy: OAuth2Proxy,
    sts: FakeSts,
    tenant: Tenant,
    account: Account,
    access: AwsAccess,
}

impl World {
    /// Starts the fakes; the role trusts the identity provider unless `trust` is false.
    async fn start(trust: bool) -> Result<Self, Error> {
        let (idp, sts) = tokio::join!(OidcProvider::start(), FakeSts::start());
        let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;
        let audience = proxy.options().client_id.clone();
        sts.register_provider(&idp);
        if trust {
            sts.trust_role(ROLE_ARN, &idp.issuer(), &audience, None);
        }

        let tenant = Tenant {
            id: "acme".to_owned(),
            admin_email: "ops@acme.example".to_owned(),
            hostnames: Vec::new(),
            proxy_url: proxy.url(),
            cookie_name: proxy.options().cookie_name.clone(),
            oidc: Oidc {
                issuer: idp.issuer(),
                audiences: vec![audience],
            },
            admin_groups: Vec::new(),
        };
        let account = Account::Aws(AwsAccount {
            id: "dev-aws".to_owned(),
            display_name: None,
            allowed_groups: Vec::new(),
            role_arn: ROLE_ARN.to_owned(),
            region: "us-east-1".to_owned(),
        });

        // Loopback and plain http are refused by default; tests must allow them.
        let provider = AwsProvider::new(AwsConfig {
            sts_endpoint: sts.endpoint(),
            allow_insecure_upstreams: true,
            ..AwsConfig::default()
        })?;
        // Short backoffs keep retrying tests fast.
        let exchange_config = ExchangeConfig {
            base_backoff: Duration::from_millis(10),
            ..ExchangeConfig::default()
        };
        let access = AwsAccess {
            validator: SessionValidator::new(SessionConfig {
                allow_insecure_upstreams: true,
                ..SessionConfig::default()
            })?,
            exchanger: Exchanger::new(vec![Arc::new(provider)], exchange_config),
            sdk_http: sdk_http_client(outbound::client(&OutboundOptions {
                allow_insecure_upstreams: true,
                ..OutboundOptions::default()
            })?),
            sts_endpoint: Some(sts.endpoint()),
        };
        Ok(Self {
            idp,
            proxy,
            sts,
            tenant,
            account,
            access,
        })
    }

    /// Request headers of a browser in which `user` signed in.
    fn browser_of(&self, user: User) -> Result<HeaderMap, Error> {
        let cookies = self.proxy.sign_in(user);
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            OAuth2Proxy::cookie_header(&cookies).parse()?,
        );
        Ok(headers)
    }

    async fn caller_arn(&self, headers: &HeaderMap) -> Result<String, Error> {
        self.access
            .caller_arn(&self.tenant, headers, &self.account)
            .await
    }
}

/// The happy path once, for `main` and the first test.
async fn run() -> Result<String, Error> {
    let world = World::start(true).await?;
    let jane = world.browser_of(User::new("user-jane", "jane@acme.example"))?;
    world.caller_arn(&jane).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    println!("jane acts on AWS as {}", run().await?);
    println!("run the tests with: cargo test --example mock_clouds_in_tests");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use credless::exchange::ExchangeError;
    use credless::gcp::{FederatedTokenProvider, GcpConfig, GcpProvider, subject_member};
    use credless::registry::GcpAccount;
    use credless::session::SessionError;
    use credless_testkit::aws_sts::FakeFailure;
    use credless_testkit::gce::{FakeGce, GceCall, GceFailure};
    use credless_testkit::gcp::{FakeGcp, PoolProvider};
    use credless_testkit::{TokenKey, TokenOptions};

    use super::*;

    #[tokio::test]
    async fn a_signed_in_person_acts_on_aws_as_themselves() {
        let arn = run().await.expect("the happy path works");

        assert_eq!(
            arn,
            "arn:aws:sts::123456789012:assumed-role/credless-dev/jane@acme.example"
        );
    }

    #[tokio::test]
    async fn a_short_sts_outage_is_retried_and_goes_unnoticed() {
        let world = World::start(true).await.unwrap();
        let jane = world.browser_of(User::demo()).unwrap();
        world.sts.fail_next(1, FakeFailure::ServerError(503));

        let arn = world.caller_arn(&jane).await;

        assert!(arn.is_ok(), "{arn:?}");
        assert_eq!(world.sts.exchanges(), 2, "one failed attempt, one retry");
    }

    #[tokio::test]
    async fn a_role_that_does_not_trust_the_organisation_refuses_everyone() {
        let world = World::start(false).await.unwrap();
        let jane = world.browser_of(User::demo()).unwrap();

        let error = world
            .caller_arn(&jane)
            .await
            .expect_err("no trust, no access");

        let exchange = error
            .downcast_ref::<ExchangeError>()
            .expect("an exchange error");
        assert!(
            matches!(exchange, ExchangeError::TrustRefused { .. }),
            "{exchange:?}"
        );
        assert_eq!(exchange.cloud_code(), Some("AccessDenied"));
        assert!(
            world.sts.caller_access_keys().is_empty(),
            "AWS never called"
        );
    }

    #[tokio::test]
    async fn a_revoked_session_never_reaches_aws() {
        let world = World::start(true).await.unwrap();
        let jane = world.browser_of(User::demo()).unwrap();
        world.proxy.revoke_user(&User::demo().sub);

        let error = world.caller_arn(&jane).await.expect_err("revoked");

        assert!(
            matches!(error.downcast_ref(), Some(SessionError::NoSession)),
            "{error:?}"
        );
        assert_eq!(world.sts.exchanges(), 0);
    }

    #[tokio::test]
    async fn a_token_signed_with_an_unpublished_key_is_refused_before_any_exchange() {
        let world = World::start(true).await.unwrap();
        let jane = world.browser_of(User::demo()).unwrap();
        // The proxy now passes a token the identity provider never published a key for.
        let claims = world
            .idp
            .claims_for(&User::demo(), &world.proxy.options().client_id);
        let forged = world
            .idp
            .mint_with(TokenOptions::new(TokenKey::Unpublished), claims);
        world.proxy.set_id_token_override(Some(forged));

        let error = world.caller_arn(&jane).await.expect_err("forged");

        assert!(
            matches!(
                error.downcast_ref(),
                Some(SessionError::TokenInvalid { .. })
            ),
            "{error:?}"
        );
        assert_eq!(world.sts.exchanges(), 0);
    }

    /// A GCP account whose pool trusts `idp` and whose service account `user-1` may use.
    fn gcp_tokens(idp: &OidcProvider, google: &FakeGcp) -> FederatedTokenProvider {
        let account = GcpAccount {
            id: "data-gcp".to_owned(),
            display_name: None,
            allowed_groups: Vec::new(),
            project_id: "acme-data".to_owned(),
            project_number: "123456789".to_owned(),
            pool_id: "credless".to_owned(),
            provider_id: "acme-idp".to_owned(),
            service_account: "credless@acme-data.iam.gserviceaccount.com".to_owned(),
            region: "europe-west1".to_owned(),
        };
        google.add_provider(PoolProvider::new(
            "123456789",
            "credless",
            "acme-idp",
            &idp.issuer(),
            ["credless-client"],
        ));
        google.grant_workload_identity_user(
            &account.service_account,
            &subject_member(&account, "user-1"),
        );
        let provider = GcpProvider::new(GcpConfig {
            sts_endpoint: google.uri(),
            iam_credentials_endpoint: google.uri(),
            allow_insecure_upstreams: true,
            ..GcpConfig::default()
        })
        .unwrap();
        // An identity straight from a minted token: enough when the session is not under test.
        let token = idp.id_token("user-1", "one@acme.example", "credless-client", &[]);
        let identity = credless::session::Identity {
            tenant: "acme".to_owned(),
            subject: "user-1".to_owned(),
            email: Some("one@acme.example".to_owned()),
            preferred_username: None,
            groups: Vec::new(),
            id_token: credless::session::IdToken::new(token),
            expires_at: std::time::SystemTime::now() + Duration::from_secs(3600),
        };
        FederatedTokenProvider::new(provider, &identity, account)
    }

    #[tokio::test]
    async fn vms_are_listed_and_a_denial_surfaces_as_an_error() {
        let (idp, google, compute) =
            tokio::join!(OidcProvider::start(), FakeGcp::start(), FakeGce::start());
        let tokens = gcp_tokens(&idp, &google);
        compute.put_vm("acme-data", "europe-west1-b", "etl-01", &[]);
        compute.put_vm("acme-data", "europe-west1-c", "etl-02", &[]);

        let names = vm_names(&tokens, &compute.uri(), "acme-data").await;
        assert_eq!(
            names.ok(),
            Some(vec!["etl-01".to_owned(), "etl-02".to_owned()])
        );

        compute.fail_next(GceCall::ComputeAggregatedList, GceFailure::Denied);
        let denied = vm_names(&tokens, &compute.uri(), "acme-data").await;
        let status = denied
            .expect_err("denied")
            .downcast_ref::<reqwest::Error>()
            .and_then(reqwest::Error::status);
        assert_eq!(status, Some(reqwest::StatusCode::FORBIDDEN));
        assert_eq!(compute.calls(GceCall::ComputeAggregatedList), 2);
        assert_eq!(google.exchanges().tokens_issued, 1, "the token was reused");
    }
}
