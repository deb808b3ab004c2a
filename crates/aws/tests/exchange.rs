//! The AWS provider against the fake STS: what it sends and what it returns.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use std::time::{Duration, SystemTime};

use credless_aws::{AwsConfig, AwsProvider};
use credless_exchange::{Credentials, ExchangeError, ExchangeRequest, Provider as _};
use credless_registry::{Account, GcpAccount};
use support::{ROLE_ARN, World, config_for, exchange};

fn aws(credentials: Credentials) -> credless_exchange::AwsCredentials {
    match credentials {
        Credentials::Aws(aws) => aws,
        other => panic!("not AWS credentials: {other:?}"),
    }
}

#[tokio::test]
async fn a_trusted_identity_gets_credentials_of_the_assumed_role() {
    let world = World::start().await;
    let jane = world.identity("user-1", Some("jane@acme.example"));

    let credentials = exchange(&world, &jane).await.unwrap();

    let arn = "arn:aws:sts::123456789012:assumed-role/credless/jane@acme.example";
    assert_eq!(credentials.cloud_identity(), arn);
    let aws = aws(credentials);
    assert!(
        aws.access_key_id.starts_with("ASIA"),
        "{}",
        aws.access_key_id
    );
    assert!(!aws.secret_access_key.expose().is_empty());
    assert!(!aws.session_token.expose().is_empty());
    let lifetime = aws.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime > Duration::from_secs(3590) && lifetime <= Duration::from_secs(3600));
}

#[tokio::test]
async fn the_call_is_unsigned_names_the_person_and_sends_the_configured_duration() {
    let world = World::start().await;
    let jane = world.identity("user-1", Some("Jane Doe@acme.example"));

    exchange(&world, &jane).await.unwrap();

    let requests = world.sts.requests();
    assert_eq!(requests.len(), 1);
    let call = &requests[0];
    assert_eq!(call.action(), "AssumeRoleWithWebIdentity");
    assert_eq!(call.param("Version"), Some("2011-06-15"));
    assert_eq!(call.param("RoleArn"), Some(ROLE_ARN));
    assert_eq!(call.param("RoleSessionName"), Some("Jane-Doe@acme.example"));
    assert_eq!(call.param("DurationSeconds"), Some("3600"));
    assert_eq!(call.param("WebIdentityToken"), Some(jane.id_token.expose()));
    assert_eq!(call.param("ProviderId"), None);
    assert_eq!(call.request.header("authorization"), None);
    assert_eq!(call.request.header("x-amz-security-token"), None);
}

#[tokio::test]
async fn the_subject_names_the_session_when_the_token_has_no_email() {
    let world = World::start().await;
    let nobody = world.identity("auth0|42", None);

    let credentials = exchange(&world, &nobody).await.unwrap();

    assert!(credentials.cloud_identity().ends_with("/credless/auth0-42"));
}

#[tokio::test]
async fn a_longer_duration_is_asked_for_and_refused_past_the_role_maximum() {
    let world = World::start().await;
    let config = AwsConfig {
        duration: Duration::from_secs(7200),
        ..config_for(&world.sts.endpoint())
    };
    let provider = AwsProvider::new(config).unwrap();
    let jane = world.identity("user-1", Some("jane@acme.example"));
    let request = ExchangeRequest {
        tenant: &world.tenant,
        identity: &jane,
        account: &world.account,
    };

    let error = provider.exchange(request).await.unwrap_err();
    assert!(
        matches!(error, ExchangeError::Misconfigured { .. }),
        "{error:?}"
    );
    assert_eq!(error.cloud_code(), Some("ValidationError"));
    assert!(error.to_string().contains("MaxSessionDuration"), "{error}");

    world
        .sts
        .set_max_session_duration(ROLE_ARN, Duration::from_secs(7200));
    let credentials = provider.exchange(request).await.unwrap();
    let lifetime = credentials
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(lifetime > Duration::from_secs(7190), "{lifetime:?}");
}

#[tokio::test]
async fn insecure_endpoints_and_bad_durations_are_refused_at_construction() {
    let insecure = AwsConfig::with_endpoint("http://127.0.0.1:4566");
    assert!(matches!(
        AwsProvider::new(insecure),
        Err(ExchangeError::Misconfigured { .. })
    ));
    let internal = AwsConfig::with_endpoint("https://169.254.169.254/");
    assert!(AwsProvider::new(internal).is_err());
    let short = AwsConfig {
        duration: Duration::from_secs(60),
        ..AwsConfig::default()
    };
    let error = AwsProvider::new(short).unwrap_err();
    assert!(error.to_string().contains("900"), "{error}");
}

#[tokio::test]
async fn a_non_aws_account_is_refused_without_calling_sts() {
    let world = World::start().await;
    let jane = world.identity("user-1", Some("jane@acme.example"));
    let account = Account::Gcp(GcpAccount {
        id: "data-gcp".into(),
        display_name: None,
        allowed_groups: Vec::new(),
        project_id: "acme-data".into(),
        project_number: "123456789".into(),
        pool_id: "credless".into(),
        provider_id: "acme-idp".into(),
        service_account: "credless@acme-data.iam.gserviceaccount.com".into(),
        region: "europe-west1".into(),
    });
    let request = ExchangeRequest {
        tenant: &world.tenant,
        identity: &jane,
        account: &account,
    };

    let error = world.provider.exchange(request).await.unwrap_err();

    assert!(matches!(error, ExchangeError::Misconfigured { .. }));
    assert_eq!(world.sts.exchanges(), 0);
}

#[tokio::test]
async fn debug_output_never_shows_credentials_or_the_token() {
    let world = World::start().await;
    let jane = world.identity("user-1", Some("jane@acme.example"));
    let aws = aws(exchange(&world, &jane).await.unwrap());

    let printed = format!(
        "{aws:?} {:?} {:?} {:?} {:?}",
        world.provider,
        credless_aws::sdk_credentials(&aws),
        world.sts.requests(),
        credless_aws::ExchangedCredentials::new(|| async {
            Err(ExchangeError::Misconfigured {
                reason: "unused".into(),
                cloud_code: None,
            })
        }),
    );

    assert!(
        !printed.contains(aws.secret_access_key.expose()),
        "{printed}"
    );
    assert!(!printed.contains(aws.session_token.expose()), "{printed}");
    assert!(!printed.contains(jane.id_token.expose()), "{printed}");
    assert!(printed.contains(&aws.access_key_id));
}
