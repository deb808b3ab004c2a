//! From a signed-in person to an AWS SDK call made as that person, with no AWS keys stored.
//!
//! The session layer verifies the person's ID token (here through `SessionValidator` directly).
//! An `Exchanger` over `AwsProvider` trades that token at STS (`AssumeRoleWithWebIdentity`) for
//! temporary credentials of a role that trusts the organisation's identity provider, and
//! `ExchangedCredentials` hands them to any `aws-sdk-*` client as its credentials provider.
//! The SDK asks for credentials at its first call and again when they near their expiry; the
//! exchanger's cache answers in between. The session name in the assumed-role ARN is the
//! person's email, so CloudTrail shows who acted.
//!
//! STS, the identity provider and the oauth2-proxy are the testkit's fakes, so this runs
//! anywhere: `cargo run --example aws_credentials`. The fake STS answers `GetCallerIdentity`
//! only when the request's SigV4 `Authorization` names an access key it issued and carries that
//! key's session token.

#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on the terminal"
)]

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sts::config::{BehaviorVersion, Region};
use credless::aws::{AwsConfig, AwsProvider, ExchangedCredentials, sdk_http_client};
use credless::exchange::{Credentials, ExchangeConfig, ExchangeRequest, Exchanger};
use credless::registry::{Account, AwsAccount, Oidc, Tenant};
use credless::session::outbound::{self, OutboundOptions};
use credless::session::{Identity, SessionConfig, SessionValidator};
use credless_testkit::aws_sts::FakeSts;
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};
use http::HeaderMap;

/// Any error of the example, shown by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The IAM role people assume; its trust policy names the organisation's identity provider.
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/credless-dev";

/// What the example found out.
#[derive(Debug)]
struct Outcome {
    /// The ARN STS's `GetCallerIdentity` reported for the signed call.
    caller_arn: String,
    /// The AWS account of that caller.
    account: String,
    /// The access key id the exchange returned (an id, not a secret).
    access_key_id: String,
    /// The access key ids the fake STS saw signing `GetCallerIdentity` calls.
    signing_keys_seen: Vec<String>,
    /// How many `AssumeRoleWithWebIdentity` calls were made for the two SDK calls.
    exchanges: usize,
}

/// Jane signs in; her verified identity is what Credless's session layer would hand you.
async fn signed_in_identity(proxy: &OAuth2Proxy, tenant: &Tenant) -> Result<Identity, Error> {
    let validator = SessionValidator::new(SessionConfig {
        allow_insecure_upstreams: true, // the fakes are plain http on loopback
        ..SessionConfig::default()
    })?;
    let cookies = proxy.sign_in(User::new("user-jane", "jane@acme.example"));
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        OAuth2Proxy::cookie_header(&cookies).parse()?,
    );
    let validated = validator.validate(tenant, &headers).await?;
    Ok(validated.identity.as_ref().clone())
}

async fn run() -> Result<Outcome, Error> {
    let (idp, sts) = tokio::join!(OidcProvider::start(), FakeSts::start());
    let proxy = OAuth2Proxy::start(&idp, ProxyOptions::default()).await;
    let audience = proxy.options().client_id.clone();

    // What an AWS administrator sets up once: an IAM OIDC identity provider for the issuer,
    // and a role whose trust policy accepts its tokens for Credless's client id.
    sts.register_provider(&idp);
    sts.trust_role(ROLE_ARN, &idp.issuer(), &audience, None);

    // What Credless knows: the tenant and the AWS account binding its people may use.
    let tenant = Arc::new(Tenant {
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
    });
    let account = Arc::new(Account::Aws(AwsAccount {
        id: "dev-aws".to_owned(),
        display_name: None,
        allowed_groups: Vec::new(),
        role_arn: ROLE_ARN.to_owned(),
        region: "us-east-1".to_owned(),
    }));
    let identity = Arc::new(signed_in_identity(&proxy, &tenant).await?);

    // One exchanger per process: it caches credentials per tenant, account and person, and
    // retries transient STS failures. In production `AwsConfig::default()` calls real STS.
    let provider = AwsProvider::new(AwsConfig {
        sts_endpoint: sts.endpoint(),
        allow_insecure_upstreams: true,
        ..AwsConfig::default()
    })?;
    let exchanger = Arc::new(Exchanger::new(
        vec![Arc::new(provider)],
        ExchangeConfig::default(),
    ));

    // The SDK calls this closure whenever it needs credentials for Jane.
    let credentials = {
        let (exchanger, tenant, identity, account) = (
            Arc::clone(&exchanger),
            Arc::clone(&tenant),
            Arc::clone(&identity),
            Arc::clone(&account),
        );
        ExchangedCredentials::new(move || {
            let (exchanger, tenant, identity, account) = (
                Arc::clone(&exchanger),
                Arc::clone(&tenant),
                Arc::clone(&identity),
                Arc::clone(&account),
            );
            async move {
                let request = ExchangeRequest {
                    tenant: &tenant,
                    identity: &identity,
                    account: &account,
                };
                exchanger.credentials(request).await
            }
        })
    };

    // Any aws-sdk client works the same way; STS's GetCallerIdentity shows who we are.
    // The HTTP client is Credless's guarded one (rustls); the SDK is built without its own.
    let http = outbound::client(&OutboundOptions {
        allow_insecure_upstreams: true,
        ..OutboundOptions::default()
    })?;
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(sts.endpoint()) // leave out in production
        .http_client(sdk_http_client(http))
        .credentials_provider(credentials)
        .timeout_config(
            aws_sdk_sts::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    let client = aws_sdk_sts::Client::from_conf(config);

    let caller = client.get_caller_identity().send().await?;
    // A second call reuses the credentials: no second exchange.
    client.get_caller_identity().send().await?;

    // The same cached credentials, to show which access key signed the calls.
    let request = ExchangeRequest {
        tenant: &tenant,
        identity: &identity,
        account: &account,
    };
    let access_key_id = match exchanger.credentials(request).await?.as_ref() {
        Credentials::Aws(aws) => aws.access_key_id.clone(),
        _ => return Err("the exchange returned credentials of another cloud".into()),
    };

    Ok(Outcome {
        caller_arn: caller.arn().unwrap_or_default().to_owned(),
        account: caller.account().unwrap_or_default().to_owned(),
        access_key_id,
        signing_keys_seen: sts.caller_access_keys(),
        exchanges: sts.exchanges(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let outcome = run().await?;
    println!("caller:     {}", outcome.caller_arn);
    println!("account:    {}", outcome.account);
    println!("access key: {}", outcome.access_key_id);
    println!(
        "{} signed calls, {} exchange(s) with STS",
        outcome.signing_keys_seen.len(),
        outcome.exchanges
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sdk_call_is_made_as_the_signed_in_person() {
        let outcome = run().await.expect("the example runs");

        assert_eq!(
            outcome.caller_arn,
            "arn:aws:sts::123456789012:assumed-role/credless-dev/jane@acme.example"
        );
        assert_eq!(outcome.account, "123456789012");
        assert!(outcome.access_key_id.starts_with("ASIA"));
        assert_eq!(
            outcome.signing_keys_seen,
            vec![outcome.access_key_id.clone(), outcome.access_key_id.clone()]
        );
        assert_eq!(outcome.exchanges, 1);
    }
}
