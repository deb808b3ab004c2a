//! Credless credentials in an AWS SDK client: requests are signed with the exchanged keys.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sts::config::{BehaviorVersion, Region};
use credless_aws::{ExchangedCredentials, sdk_credentials, sdk_http_client};
use credless_exchange::{Credentials, ExchangeRequest, Provider as _};
use credless_session::outbound::{self, OutboundOptions};
use credless_testkit::aws_sts::FakeSts;
use support::World;

/// An STS client for `endpoint` whose requests are signed by `credentials`.
fn signed_client(
    endpoint: &str,
    credentials: impl aws_sdk_sts::config::ProvideCredentials + 'static,
) -> aws_sdk_sts::Client {
    let http = outbound::client(&OutboundOptions {
        allow_insecure_upstreams: true,
        ..OutboundOptions::default()
    })
    .unwrap();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .http_client(sdk_http_client(http))
        .credentials_provider(credentials)
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// A provider exchanging for Jane through `world`, counting its exchanges.
fn exchanged_for_jane(world: &World, count: Arc<AtomicUsize>) -> ExchangedCredentials {
    let provider = world.provider.clone();
    let tenant = world.tenant.clone();
    let account = world.account.clone();
    let jane = world.identity("user-1", Some("jane@acme.example"));
    ExchangedCredentials::new(move || {
        let (provider, tenant, account, jane) = (
            provider.clone(),
            tenant.clone(),
            account.clone(),
            jane.clone(),
        );
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            let request = ExchangeRequest {
                tenant: &tenant,
                identity: &jane,
                account: &account,
            };
            provider.exchange(request).await.map(Arc::new)
        }
    })
}

#[tokio::test]
async fn a_client_with_exchanged_credentials_signs_with_their_access_key() {
    let world = World::start().await;
    let jane = world.identity("user-1", Some("jane@acme.example"));
    let request = ExchangeRequest {
        tenant: &world.tenant,
        identity: &jane,
        account: &world.account,
    };
    let Credentials::Aws(aws) = world.provider.exchange(request).await.unwrap() else {
        panic!("not AWS credentials");
    };
    let client = signed_client(&world.sts.endpoint(), sdk_credentials(&aws));

    let caller = client.get_caller_identity().send().await.unwrap();

    assert_eq!(caller.arn(), Some(aws.assumed_role_arn.as_str()));
    assert_eq!(caller.account(), Some("123456789012"));
    assert_eq!(
        world.sts.caller_access_keys(),
        vec![aws.access_key_id.clone()]
    );
    let signed = world.sts.requests().pop().unwrap();
    let authorization = signed.request.header("authorization").unwrap();
    assert!(authorization.contains(&format!("Credential={}/", aws.access_key_id)));
}

#[tokio::test]
async fn credentials_are_exchanged_once_while_valid_and_again_when_expiring() {
    let world = World::start().await;
    let count = Arc::new(AtomicUsize::new(0));
    let client = signed_client(
        &world.sts.endpoint(),
        exchanged_for_jane(&world, count.clone()),
    );

    client.get_caller_identity().send().await.unwrap();
    client.get_caller_identity().send().await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // Credentials within the SDK's refresh buffer of their expiry are fetched again.
    world
        .sts
        .set_credential_lifetime(Some(Duration::from_secs(5)));
    let count = Arc::new(AtomicUsize::new(0));
    let client = signed_client(
        &world.sts.endpoint(),
        exchanged_for_jane(&world, count.clone()),
    );
    client.get_caller_identity().send().await.unwrap();
    client.get_caller_identity().send().await.unwrap();

    assert_eq!(count.load(Ordering::SeqCst), 2);
    let callers = world.sts.caller_access_keys();
    assert_eq!(callers.len(), 4);
    assert_ne!(callers[2], callers[3]);
}

#[tokio::test]
async fn a_failed_exchange_fails_the_sdk_call_without_reaching_the_service() {
    let world = World::start().await;
    world.sts.fail_next(
        1,
        credless_testkit::aws_sts::FakeFailure::Error {
            code: "AccessDenied".into(),
            status: 403,
            message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
        },
    );
    let count = Arc::new(AtomicUsize::new(0));
    let client = signed_client(&world.sts.endpoint(), exchanged_for_jane(&world, count));

    let error = client.get_caller_identity().send().await.unwrap_err();

    let mut printed = format!("{error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        printed.push_str(&inner.to_string());
        source = inner.source();
    }
    assert!(printed.contains("AccessDenied"), "{printed}");
    assert!(world.sts.caller_access_keys().is_empty());
}

#[tokio::test]
async fn credentials_the_fake_never_issued_are_refused() {
    let sts = FakeSts::start().await;
    let forged = aws_sdk_sts::config::Credentials::new("ASIAFORGED", "secret", None, None, "test");
    let client = signed_client(&sts.endpoint(), forged);

    let error = client.get_caller_identity().send().await.unwrap_err();

    let service_error = error.into_service_error();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&service_error),
        Some("InvalidClientTokenId")
    );
}
