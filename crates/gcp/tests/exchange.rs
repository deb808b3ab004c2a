//! The federated exchange against the fake STS and IAM Credentials API.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

use std::time::{Duration, SystemTime};

use credless_exchange::{Credentials, ExchangeError, ExchangeRequest, Provider as _};
use credless_gcp::{GcpConfig, GcpProvider, group_member};
use credless_registry::{Account, AwsAccount};
use credless_session::Identity;
use credless_testkit::gcp::{AttributeCondition, GcpEndpoint, GcpFailure};
use credless_testkit::{TokenKey, TokenOptions, User};
use serde_json::json;
use support::{CLIENT, SA, World};

async fn exchange(world: &World, identity: &Identity) -> Result<Credentials, ExchangeError> {
    let tenant = world.tenant();
    let account = Account::Gcp(world.account.clone());
    let request = ExchangeRequest {
        tenant: &tenant,
        identity,
        account: &account,
    };
    world.provider().exchange(request).await
}

#[tokio::test]
async fn a_trusted_identity_gets_a_service_account_token() {
    let world = World::start().await;

    let credentials = exchange(&world, &world.identity("user-1")).await.unwrap();

    let Credentials::Gcp(token) = &credentials else {
        panic!("not GCP credentials: {credentials:?}");
    };
    assert!(token.token.expose().starts_with("ya29."));
    assert_eq!(credentials.cloud_identity(), SA);
    let lifetime = token.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime > Duration::from_secs(3590) && lifetime <= Duration::from_secs(3600));
    assert_eq!(world.gcp.exchanges().tokens_issued, 1);
}

#[tokio::test]
async fn the_sts_request_has_no_authorization_and_the_exact_audience() {
    let world = World::start().await;
    let identity = world.identity("user-1");

    exchange(&world, &identity).await.unwrap();

    let sts = &world.gcp.requests()[0];
    assert_eq!(sts.endpoint, Some(GcpEndpoint::Sts));
    assert_eq!(sts.request.header("authorization"), None);
    assert_eq!(
        sts.request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = sts.form();
    let expected = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "audience",
            "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/\
             credless/providers/acme-idp",
        ),
        ("scope", "https://www.googleapis.com/auth/iam"),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token", identity.id_token.expose()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
    ];
    for (name, value) in expected {
        assert_eq!(form.get(name).map(String::as_str), Some(value), "{name}");
    }
    assert_eq!(form.len(), expected.len());
}

#[tokio::test]
async fn generate_access_token_carries_the_federated_token_scopes_and_lifetime() {
    let world = World::start().await;
    let config = GcpConfig {
        scopes: vec!["https://www.googleapis.com/auth/compute".into()],
        lifetime: Duration::from_secs(900),
        ..world.config()
    };

    let token = GcpProvider::new(config)
        .unwrap()
        .access_token(&world.identity("user-1").id_token, &world.account, &[])
        .await
        .unwrap();

    let iam = &world.gcp.requests()[1];
    assert_eq!(iam.endpoint, Some(GcpEndpoint::IamCredentials));
    assert_eq!(
        iam.request.path,
        format!("/v1/projects/-/serviceAccounts/{SA}:generateAccessToken")
    );
    assert!(
        iam.request
            .header("authorization")
            .unwrap()
            .starts_with("Bearer fed.")
    );
    assert_eq!(
        iam.json().unwrap(),
        json!({"scope": ["https://www.googleapis.com/auth/compute"], "lifetime": "900s"})
    );
    let lifetime = token.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime <= Duration::from_secs(900), "{lifetime:?}");
}

#[tokio::test]
async fn an_audience_the_provider_does_not_allow_is_a_trust_refusal() {
    let world = World::start().await;
    let claims = world
        .oidc
        .claims_for(&User::new("user-1", ""), "another-client");

    let error = exchange(&world, &world.identity_with_claims("user-1", claims))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExchangeError::TrustRefused { .. }),
        "{error:?}"
    );
    assert_eq!(error.cloud_code(), Some("invalid_grant"));
    assert!(
        error.cloud_message().unwrap().contains("audience"),
        "{error}"
    );
}

#[tokio::test]
async fn an_expired_or_forged_token_is_rejected() {
    let world = World::start().await;
    let mut expired = world.oidc.claims_for(&User::new("user-1", ""), CLIENT);
    expired["exp"] = json!(1_000_000);
    let fresh = world.oidc.claims_for(&User::new("user-1", ""), CLIENT);
    let forged = world
        .oidc
        .mint_with(TokenOptions::new(TokenKey::Unpublished), fresh);

    for identity in [
        world.identity_with_claims("user-1", expired),
        support::identity_with("user-1", forged),
    ] {
        let error = exchange(&world, &identity).await.unwrap_err();
        assert!(
            matches!(error, ExchangeError::TokenRejected { .. }),
            "{error:?}"
        );
        assert_eq!(error.cloud_code(), Some("invalid_grant"));
    }
}

#[tokio::test]
async fn a_failed_attribute_condition_is_a_trust_refusal() {
    let world = World::start().await;
    let only_admins = AttributeCondition::subjects(["admin"]);
    world
        .gcp
        .add_provider(support::pool_provider(&world.oidc).with_condition(only_admins));

    let error = exchange(&world, &world.identity("user-1"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExchangeError::TrustRefused { .. }),
        "{error:?}"
    );
    assert_eq!(error.cloud_code(), Some("unauthorized_client"));
}

#[tokio::test]
async fn a_missing_or_disabled_pool_provider_is_misconfigured() {
    let world = World::start().await;
    world
        .gcp
        .set_provider_disabled("123456789", "credless", "acme-idp", true);

    let error = exchange(&world, &world.identity("user-1"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExchangeError::Misconfigured { .. }),
        "{error:?}"
    );
    assert_eq!(error.cloud_code(), Some("invalid_target"));
    assert!(error.to_string().contains("disabled"), "{error}");
}

#[tokio::test]
async fn a_principal_without_the_binding_is_denied_with_googles_status() {
    let world = World::start().await;

    let error = exchange(&world, &world.identity("user-2"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExchangeError::TrustRefused { .. }),
        "{error:?}"
    );
    assert_eq!(error.cloud_code(), Some("PERMISSION_DENIED"));
    assert!(
        error
            .cloud_message()
            .unwrap()
            .contains("iam.serviceAccounts.getAccessToken")
    );
    assert_eq!(world.gcp.exchanges().iam_credentials, 1);
}

#[tokio::test]
async fn a_group_binding_admits_its_members() {
    let world = World::start().await;
    world
        .gcp
        .grant_workload_identity_user(SA, &group_member(&world.account, "ops"));

    let credentials = exchange(&world, &world.identity("user-2")).await.unwrap();

    assert_eq!(credentials.cloud_identity(), SA);
}

#[tokio::test]
async fn an_unknown_service_account_is_misconfigured() {
    let world = World::start().await;
    let mut account = world.account.clone();
    account.service_account = "missing@acme-data.iam.gserviceaccount.com".into();

    let error = world
        .provider()
        .access_token(&world.identity("user-1").id_token, &account, &[])
        .await
        .unwrap_err();

    assert!(
        matches!(error, ExchangeError::Misconfigured { .. }),
        "{error:?}"
    );
    assert_eq!(error.cloud_code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn throttling_keeps_retry_after_on_either_service() {
    let world = World::start().await;
    for endpoint in [GcpEndpoint::Sts, GcpEndpoint::IamCredentials] {
        world.gcp.fail_next(endpoint, GcpFailure::Throttle);

        let error = exchange(&world, &world.identity("user-1"))
            .await
            .unwrap_err();

        let ExchangeError::Throttled {
            retry_after,
            cloud_code,
            ..
        } = &error
        else {
            panic!("not throttled: {error:?}");
        };
        assert_eq!(*retry_after, Some(Duration::from_secs(1)));
        assert_eq!(cloud_code, "RESOURCE_EXHAUSTED");
    }
}

#[tokio::test]
async fn server_errors_and_timeouts_are_transient_and_garbage_is_not() {
    let world = World::start().await;
    let cases = [
        (GcpEndpoint::Sts, GcpFailure::ServerError, true),
        (GcpEndpoint::IamCredentials, GcpFailure::ServerError, true),
        (GcpEndpoint::Sts, GcpFailure::Hang, true),
        (GcpEndpoint::Sts, GcpFailure::Malformed, false),
        (GcpEndpoint::IamCredentials, GcpFailure::Malformed, false),
    ];
    for (endpoint, failure, transient) in cases {
        world.gcp.fail_next(endpoint, failure);

        let error = exchange(&world, &world.identity("user-1"))
            .await
            .unwrap_err();

        let is_unavailable = matches!(error, ExchangeError::Unavailable { .. });
        assert!(is_unavailable, "{endpoint:?} {failure:?}: {error:?}");
        assert_eq!(error.is_transient(), transient, "{endpoint:?} {failure:?}");
    }
}

#[tokio::test]
async fn an_account_of_another_cloud_is_misconfigured_without_calling_google() {
    let world = World::start().await;
    let tenant = world.tenant();
    let identity = world.identity("user-1");
    let account = Account::Aws(AwsAccount {
        id: "prod-aws".into(),
        display_name: None,
        allowed_groups: Vec::new(),
        role_arn: "arn:aws:iam::123456789012:role/credless".into(),
        region: "us-east-1".into(),
    });
    let request = ExchangeRequest {
        tenant: &tenant,
        identity: &identity,
        account: &account,
    };

    let error = world.provider().exchange(request).await.unwrap_err();

    assert!(
        matches!(error, ExchangeError::Misconfigured { .. }),
        "{error:?}"
    );
    assert_eq!(world.gcp.exchanges().sts, 0);
}

#[tokio::test]
async fn insecure_endpoints_and_impossible_lifetimes_are_refused_at_construction() {
    let world = World::start().await;
    let cases = [
        GcpConfig {
            allow_insecure_upstreams: false,
            ..world.config()
        },
        GcpConfig {
            iam_credentials_endpoint: "https://10.0.0.1".into(),
            allow_insecure_upstreams: false,
            sts_endpoint: "https://sts.googleapis.com".into(),
            ..world.config()
        },
        GcpConfig {
            lifetime: Duration::from_secs(43_201),
            ..world.config()
        },
        GcpConfig {
            lifetime: Duration::from_millis(1500),
            ..world.config()
        },
        GcpConfig {
            scopes: Vec::new(),
            ..world.config()
        },
    ];
    for config in cases {
        let error = GcpProvider::new(config.clone()).unwrap_err();
        assert!(
            matches!(error, ExchangeError::Misconfigured { .. }),
            "{config:?}: {error:?}"
        );
    }
    assert!(GcpProvider::new(GcpConfig::default()).is_ok());
}

#[tokio::test]
async fn no_token_appears_in_debug_output_or_errors() {
    let world = World::start().await;
    let identity = world.identity("user-1");
    let credentials = exchange(&world, &identity).await.unwrap();
    let Credentials::Gcp(token) = &credentials else {
        panic!("not GCP credentials");
    };
    let denied = exchange(&world, &world.identity("user-2"))
        .await
        .unwrap_err();

    let printed = format!(
        "{credentials:?} {credentials:#?} {:?} {denied:?} {denied}",
        world.provider()
    );

    assert!(!printed.contains(token.token.expose()), "{printed}");
    assert!(!printed.contains(identity.id_token.expose()), "{printed}");
    assert!(!printed.contains("ya29."), "{printed}");
    assert!(!printed.contains("fed."), "{printed}");
    assert!(printed.contains(SA));
}
