//! How the AWS provider fails against the fake STS: each STS error, hangs, garbage, no answer.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use std::time::Duration;

use credless_aws::{AwsConfig, AwsProvider};
use credless_exchange::{ExchangeError, ExchangeRequest, Provider as _};
use credless_testkit::aws_sts::FakeFailure;
use credless_testkit::{OidcProvider, TokenKey, TokenOptions, User};
use serde_json::json;
use support::{AUDIENCE, ROLE_ARN, World, config_for, exchange, identity};

#[tokio::test]
async fn every_sts_error_code_keeps_its_code_and_message_and_maps_to_what_to_do() {
    let world = World::start().await;
    let jane = world.identity("user-1", Some("jane@acme.example"));
    let cases = [
        ("AccessDenied", 403, "TrustRefused", false),
        ("IDPRejectedClaim", 403, "TrustRefused", false),
        ("InvalidIdentityToken", 400, "TokenRejected", false),
        ("ExpiredTokenException", 400, "TokenRejected", false),
        ("IDPCommunicationError", 400, "Unavailable", true),
        ("RegionDisabledException", 403, "Misconfigured", false),
        ("MalformedPolicyDocument", 400, "Misconfigured", false),
        ("PackedPolicyTooLarge", 400, "Misconfigured", false),
        ("Throttling", 400, "Throttled", true),
        ("ThrottlingException", 429, "Throttled", true),
        ("InternalFailure", 500, "Unavailable", true),
    ];

    for (code, status, variant, transient) in cases {
        let message = format!("{code} happened for this test");
        let failure = FakeFailure::Error {
            code: code.into(),
            status,
            message: message.clone(),
        };
        world.sts.fail_next(1, failure);
        let before = world.sts.exchanges();

        let error = exchange(&world, &jane).await.unwrap_err();

        assert!(
            format!("{error:?}").starts_with(variant),
            "{code}: {error:?}"
        );
        assert_eq!(error.cloud_code(), Some(code));
        assert!(format!("{error:?}").contains(&message), "{code}: {error:?}");
        assert_eq!(error.is_transient(), transient, "{code}");
        assert_eq!(world.sts.exchanges(), before + 1, "{code}: the SDK retried");
    }
}

#[tokio::test]
async fn refusals_of_the_fake_sts_reach_the_caller_as_sts_said_them() {
    let world = World::start().await;
    let stranger = OidcProvider::start().await;
    world.sts.trust_role(
        "arn:aws:iam::123456789012:role/only-bob",
        &world.idp.issuer(),
        AUDIENCE,
        Some("bob"),
    );
    let mut expired_claims = world
        .idp
        .claims_for(&User::new("user-1", "jane@acme.example"), AUDIENCE);
    expired_claims["exp"] = json!(1_000_000_000);
    let cases = [
        (
            "expired",
            world.idp.mint(expired_claims),
            ROLE_ARN,
            "ExpiredTokenException",
        ),
        (
            "forged",
            world.idp.mint_with(
                TokenOptions::new(TokenKey::Unpublished),
                world.idp.claims_for(&User::demo(), AUDIENCE),
            ),
            ROLE_ARN,
            "InvalidIdentityToken",
        ),
        (
            "unknown issuer",
            stranger.id_token("user-1", "jane@acme.example", AUDIENCE, &[]),
            ROLE_ARN,
            "InvalidIdentityToken",
        ),
        (
            "wrong audience",
            world
                .idp
                .id_token("user-1", "jane@acme.example", "another-client", &[]),
            ROLE_ARN,
            "InvalidIdentityToken",
        ),
        (
            "wrong subject",
            world
                .idp
                .id_token("user-1", "jane@acme.example", AUDIENCE, &[]),
            "arn:aws:iam::123456789012:role/only-bob",
            "AccessDenied",
        ),
    ];

    for (case, token, role_arn, code) in cases {
        let jane = identity("user-1", Some("jane@acme.example"), token);
        let account = support::account(role_arn);
        let request = ExchangeRequest {
            tenant: &world.tenant,
            identity: &jane,
            account: &account,
        };

        let error = world.provider.exchange(request).await.unwrap_err();

        assert_eq!(error.cloud_code(), Some(code), "{case}: {error:?}");
        let expected_variant = if code == "AccessDenied" {
            "TrustRefused"
        } else {
            "TokenRejected"
        };
        assert!(
            format!("{error:?}").starts_with(expected_variant),
            "{case}: {error:?}"
        );
    }
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient_and_tried_once() {
    let world = World::start().await;
    let jane = world.identity("user-1", Some("jane@acme.example"));

    world.sts.fail_next(1, FakeFailure::Throttle);
    let throttled = exchange(&world, &jane).await.unwrap_err();
    assert!(
        matches!(throttled, ExchangeError::Throttled { .. }),
        "{throttled:?}"
    );

    world.sts.fail_next(1, FakeFailure::ServerError(503));
    let unavailable = exchange(&world, &jane).await.unwrap_err();
    assert!(matches!(
        unavailable,
        ExchangeError::Unavailable {
            transient: true,
            ..
        }
    ));
    assert_eq!(unavailable.cloud_code(), Some("ServiceUnavailable"));

    assert_eq!(world.sts.exchanges(), 2);
    assert!(exchange(&world, &jane).await.is_ok());
}

#[tokio::test]
async fn a_hanging_sts_times_out_as_unavailable() {
    let world = World::start().await;
    let config = AwsConfig {
        timeout: Duration::from_millis(300),
        ..config_for(&world.sts.endpoint())
    };
    let provider = AwsProvider::new(config).unwrap();
    let jane = world.identity("user-1", Some("jane@acme.example"));
    world.sts.fail_next(1, FakeFailure::Hang);
    let request = ExchangeRequest {
        tenant: &world.tenant,
        identity: &jane,
        account: &world.account,
    };

    let started = std::time::Instant::now();
    let error = provider.exchange(request).await.unwrap_err();

    assert!(
        matches!(
            error,
            ExchangeError::Unavailable {
                transient: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_unreadable_answer_is_unavailable_and_never_shows_its_secret() {
    let world = World::start().await;
    let jane = world.identity("user-1", Some("jane@acme.example"));
    world.sts.fail_next(1, FakeFailure::Malformed);

    let error = exchange(&world, &jane).await.unwrap_err();

    assert!(
        matches!(error, ExchangeError::Unavailable { .. }),
        "{error:?}"
    );
    let mut printed = format!("{error:?} {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        printed.push_str(&format!(" {inner:?}"));
        source = inner.source();
    }
    assert!(
        !printed.contains("malformed-answer-secret-key"),
        "{printed}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    let world = World::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let provider = AwsProvider::new(config_for(&endpoint)).unwrap();
    let jane = world.identity("user-1", Some("jane@acme.example"));
    let request = ExchangeRequest {
        tenant: &world.tenant,
        identity: &jane,
        account: &world.account,
    };

    let error = provider.exchange(request).await.unwrap_err();

    assert!(
        matches!(
            error,
            ExchangeError::Unavailable {
                transient: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(world.sts.exchanges(), 0);
}
