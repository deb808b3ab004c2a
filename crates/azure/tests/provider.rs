//! `AzureProvider` against the fake Entra: the request it sends and how it reads every answer.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

use std::time::{Duration, SystemTime};

use credless_azure::{AzureConfig, AzureProvider};
use credless_exchange::{Credentials, ExchangeError, ExchangeRequest, Provider};
use credless_registry::{Account, AwsAccount, AzureAccount};
use credless_testkit::entra::EntraFailure;
use support::{CLIENT_ID, DIRECTORY, World};

const TIMEOUT: Duration = Duration::from_secs(5);

/// One exchange of `subject`'s fresh ID token for `account` through `provider`.
async fn exchange_with(
    world: &World,
    provider: &AzureProvider,
    account: &AzureAccount,
    subject: &str,
) -> Result<Credentials, ExchangeError> {
    let (tenant, identity) = (world.tenant(), world.identity(subject));
    let account = Account::Azure(account.clone());
    let request = ExchangeRequest {
        tenant: &tenant,
        identity: &identity,
        account: &account,
    };
    provider.exchange(request).await
}

async fn exchange(world: &World, subject: &str) -> Result<Credentials, ExchangeError> {
    exchange_with(world, &world.provider(TIMEOUT), &world.account(), subject).await
}

#[tokio::test]
async fn a_trusted_user_gets_an_access_token_naming_the_app() {
    let world = World::start().await;
    world.trust("alice");

    let credentials = exchange(&world, "alice").await.unwrap();

    let Credentials::Azure(token) = &credentials else {
        panic!("not Azure credentials: {credentials:?}");
    };
    assert_eq!(
        token.cloud_identity,
        format!(
            "app {CLIENT_ID} (service principal {}) in directory {DIRECTORY}",
            world.object_id
        )
    );
    let expected = SystemTime::now() + Duration::from_secs(3599);
    let expires_in = expected
        .duration_since(token.expires_at)
        .unwrap_or_default();
    assert!(
        expires_in < Duration::from_secs(30),
        "{:?}",
        token.expires_at
    );
    assert_eq!(token.token.expose().split('.').count(), 3);
}

#[tokio::test]
async fn the_request_is_a_federated_client_credentials_grant() {
    let world = World::start().await;
    world.trust("alice");
    let identity = world.identity("alice");
    let provider = world.provider(TIMEOUT);

    provider
        .exchange_for_scope(
            &identity,
            &world.account(),
            "https://vault.azure.net/.default",
        )
        .await
        .unwrap();

    let requests = world.entra.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.request.method, "POST");
    assert_eq!(
        request.request.path,
        format!("/{DIRECTORY}/oauth2/v2.0/token")
    );
    assert_eq!(
        request.request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.request.header("accept"), Some("application/json"));
    let form: Vec<(&str, &str)> = request
        .form
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        form,
        [
            ("client_id", CLIENT_ID),
            ("scope", "https://vault.azure.net/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ),
            ("client_assertion", identity.id_token.expose()),
            ("grant_type", "client_credentials"),
        ]
    );
    assert_eq!(request.request.header("authorization"), None);
}

#[tokio::test]
async fn the_provider_asks_for_the_configured_scope() {
    let world = World::start().await;
    world.trust("alice");
    let provider = AzureProvider::new(AzureConfig {
        scope: "https://storage.azure.com/.default".to_owned(),
        authority_host: world.entra.authority_host(),
        allow_insecure_upstreams: true,
        ..AzureConfig::default()
    })
    .unwrap();

    exchange_with(&world, &provider, &world.account(), "alice")
        .await
        .unwrap();

    assert_eq!(
        world.entra.exchanges()[0].scope,
        "https://storage.azure.com/.default"
    );
}

#[tokio::test]
async fn another_users_token_is_refused_because_entra_matches_the_subject_exactly() {
    let world = World::start().await;
    world.trust("alice");

    let error = exchange(&world, "alice-2").await.unwrap_err();

    assert!(
        matches!(error, ExchangeError::TrustRefused { .. }),
        "{error:?}"
    );
    assert_eq!(error.cloud_code(), Some("AADSTS700213"));
    assert!(
        error.cloud_message().unwrap().contains("'alice-2'"),
        "{error}"
    );
    assert!(world.entra.exchanges().is_empty());
}

#[tokio::test]
async fn an_app_without_federated_credentials_says_a_new_one_takes_time() {
    let world = World::start().await;

    let error = exchange(&world, "alice").await.unwrap_err();

    assert!(
        matches!(error, ExchangeError::TrustRefused { .. }),
        "{error:?}"
    );
    assert_eq!(error.cloud_code(), Some("AADSTS70021"));
    let message = error.cloud_message().unwrap();
    assert!(
        message.contains("No matching federated identity record"),
        "{message}"
    );
    assert!(message.contains("propagate"), "{message}");
    assert!(!message.contains("Trace ID"), "{message}");
}

#[tokio::test]
async fn unknown_apps_and_directories_are_misconfigurations() {
    let world = World::start().await;
    world.trust("alice");
    let provider = world.provider(TIMEOUT);
    let with = |tenant_id: &str, client_id: &str| AzureAccount {
        tenant_id: tenant_id.to_owned(),
        client_id: client_id.to_owned(),
        ..world.account()
    };
    let cases = [
        (
            with(DIRECTORY, "99999999-bbbb-cccc-dddd-eeeeeeeeeeee"),
            "AADSTS700016",
        ),
        (
            with("99999999-2222-3333-4444-555555555555", CLIENT_ID),
            "AADSTS90002",
        ),
        (with("contoso", CLIENT_ID), "AADSTS900023"),
    ];

    for (account, code) in cases {
        let error = exchange_with(&world, &provider, &account, "alice")
            .await
            .unwrap_err();
        assert!(
            matches!(error, ExchangeError::Misconfigured { .. }),
            "{code}: {error:?}"
        );
        assert_eq!(error.cloud_code(), Some(code));
        assert!(!error.is_transient());
    }
}

#[tokio::test]
async fn expired_and_forged_tokens_are_rejected() {
    let world = World::start().await;
    world.trust("alice");
    let provider = world.provider(TIMEOUT);
    let mut forged = world.identity("alice");
    let token = forged.id_token.expose().to_owned();
    let (signed, _) = token.rsplit_once('.').unwrap();
    forged.id_token = credless_session::IdToken::new(format!("{signed}.AAAA"));

    let forged = provider
        .exchange_for_scope(&forged, &world.account(), credless_azure::DEFAULT_SCOPE)
        .await
        .unwrap_err();
    world.entra.set_clock_ahead(Duration::from_secs(7200));
    let expired = exchange(&world, "alice").await.unwrap_err();

    assert!(
        matches!(forged, ExchangeError::TokenRejected { .. }),
        "{forged:?}"
    );
    assert_eq!(forged.cloud_code(), Some("AADSTS50013"));
    assert!(
        matches!(expired, ExchangeError::TokenRejected { .. }),
        "{expired:?}"
    );
    assert_eq!(expired.cloud_code(), Some("AADSTS700024"));
}

#[tokio::test]
async fn a_scope_entra_refuses_is_a_misconfiguration() {
    let world = World::start().await;
    world.trust("alice");
    let identity = world.identity("alice");

    let error = world
        .provider(TIMEOUT)
        .exchange_for_scope(
            &identity,
            &world.account(),
            "https://management.azure.com/read",
        )
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExchangeError::Misconfigured { .. }),
        "{error:?}"
    );
    assert_eq!(error.cloud_code(), Some("AADSTS1002012"));
}

#[tokio::test]
async fn throttling_keeps_the_wait_entra_asks_for() {
    let world = World::start().await;
    world.trust("alice");
    let retry_after = Duration::from_secs(7);
    world
        .entra
        .fail_next(1, EntraFailure::Throttle { retry_after });

    let error = exchange(&world, "alice").await.unwrap_err();

    let ExchangeError::Throttled {
        retry_after: asked,
        cloud_code,
        ..
    } = &error
    else {
        panic!("expected Throttled, got {error:?}");
    };
    assert_eq!(*asked, Some(retry_after));
    assert_eq!(cloud_code, "AADSTS90055");
    assert!(error.is_transient());
}

#[tokio::test]
async fn failures_timeouts_and_garbage_are_unavailable() {
    let world = World::start().await;
    world.trust("alice");
    world.entra.fail_next(1, EntraFailure::ServerError);
    world.entra.fail_next(1, EntraFailure::Malformed);
    world.entra.fail_next(1, EntraFailure::Hang);
    let provider = world.provider(Duration::from_millis(500));
    let account = world.account();

    let failed = exchange_with(&world, &provider, &account, "alice").await;
    let malformed = exchange_with(&world, &provider, &account, "alice").await;
    let started = std::time::Instant::now();
    let hung = exchange_with(&world, &provider, &account, "alice").await;
    let waited = started.elapsed();

    assert!(
        matches!(&failed, Err(error @ ExchangeError::Unavailable { transient: true, .. })
            if error.cloud_code() == Some("AADSTS50000")),
        "{failed:?}"
    );
    assert!(
        matches!(
            malformed,
            Err(ExchangeError::Unavailable {
                transient: false,
                ..
            })
        ),
        "{malformed:?}"
    );
    assert!(
        matches!(
            hung,
            Err(ExchangeError::Unavailable {
                transient: true,
                ..
            })
        ),
        "{hung:?}"
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn an_unreachable_entra_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let world = World::start().await;
    let provider = AzureProvider::new(AzureConfig {
        authority_host: closed,
        allow_insecure_upstreams: true,
        ..AzureConfig::default()
    })
    .unwrap();

    let error = exchange_with(&world, &provider, &world.account(), "alice")
        .await
        .unwrap_err();

    assert!(error.is_transient(), "{error:?}");
    assert!(
        matches!(error, ExchangeError::Unavailable { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_account_of_another_cloud_is_refused_without_calling_entra() {
    let world = World::start().await;
    let (tenant, identity) = (world.tenant(), world.identity("alice"));
    let account = Account::Aws(AwsAccount {
        id: "prod-aws".to_owned(),
        display_name: None,
        allowed_groups: Vec::new(),
        role_arn: "arn:aws:iam::123456789012:role/credless".to_owned(),
        region: "us-east-1".to_owned(),
    });
    let request = ExchangeRequest {
        tenant: &tenant,
        identity: &identity,
        account: &account,
    };

    let error = world.provider(TIMEOUT).exchange(request).await.unwrap_err();

    assert!(
        matches!(error, ExchangeError::Misconfigured { .. }),
        "{error:?}"
    );
    assert!(world.entra.requests().is_empty());
}

#[tokio::test]
async fn debug_output_never_shows_the_id_token_or_the_access_token() {
    let world = World::start().await;
    world.trust("alice");
    let provider = world.provider(TIMEOUT);
    let identity = world.identity("alice");
    let refused = world.identity("bob");

    let token = provider
        .exchange_for_scope(&identity, &world.account(), credless_azure::DEFAULT_SCOPE)
        .await
        .unwrap();
    let error = provider
        .exchange_for_scope(&refused, &world.account(), credless_azure::DEFAULT_SCOPE)
        .await
        .unwrap_err();

    let printed = format!("{provider:?} {token:?} {token:#?} {error:?} {error}");
    assert!(!printed.contains(token.token.expose()), "{printed}");
    assert!(!printed.contains(identity.id_token.expose()), "{printed}");
    assert!(!printed.contains(refused.id_token.expose()), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");
}
