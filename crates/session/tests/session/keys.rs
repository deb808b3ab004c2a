//! Signing keys: rotation, shared and rate-limited refetches, an IdP that goes away.

use std::time::Duration;

use credless_session::{SessionConfig, SessionError};
use credless_testkit::{TokenKey, TokenOptions, User};
use futures_util::future::join_all;

use crate::support::{AUDIENCE, World, config, token_reason};

fn user(n: usize) -> User {
    User::new(format!("user-{n}"), format!("user-{n}@acme.example"))
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch() {
    let world = World::start().await;
    world.validate(&world.signed_in(user(0))).await.unwrap();
    assert_eq!(world.idp.jwks_requests(), 1);

    world.idp.rotate().await;
    let validated = world.validate(&world.signed_in(user(1))).await.unwrap();

    assert_eq!(validated.identity.subject, "user-1");
    assert_eq!(world.idp.jwks_requests(), 2);
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_fetch() {
    let world = World::start().await;
    world.validate(&world.signed_in(user(0))).await.unwrap();
    world.idp.rotate().await;
    world.idp.set_jwks_delay(Duration::from_millis(200));
    let sessions: Vec<_> = (1..=50).map(|n| world.signed_in(user(n))).collect();

    let outcomes = join_all(sessions.iter().map(|headers| world.validate(headers))).await;

    assert!(
        outcomes.iter().all(Result::is_ok),
        "{:?}",
        outcomes.iter().find(|o| o.is_err())
    );
    assert_eq!(world.idp.jwks_requests(), 2);
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let world = World::start().await;
    world.validate(&world.signed_in(user(0))).await.unwrap();
    let claims = world.idp.claims_for(&User::demo(), AUDIENCE);
    let unpublished = world
        .idp
        .mint_with(TokenOptions::new(TokenKey::Unpublished), claims);
    world.proxy.set_id_token_override(Some(unpublished));

    for n in 1..=3 {
        let reason = token_reason(world.validate(&world.signed_in(user(n))).await);
        assert_eq!(reason, "unknown signing key");
    }

    assert_eq!(
        world.idp.jwks_requests(),
        2,
        "one initial fetch and one refetch"
    );
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_idp_is_down() {
    let fast = SessionConfig {
        jwks_refetch_interval: Duration::ZERO,
        ..config()
    };
    let world = World::with_config(fast).await;
    world.validate(&world.signed_in(user(0))).await.unwrap();
    world.idp.set_jwks_failing(true);

    world.validate(&world.signed_in(user(1))).await.unwrap();
    world.idp.rotate().await;
    let unknown = world.validate(&world.signed_in(user(2))).await;

    assert_eq!(token_reason(unknown), "unknown signing key");
    assert_eq!(
        world.idp.jwks_requests(),
        2,
        "the unknown kid was looked up once"
    );
    world.idp.set_jwks_failing(false);
    world.validate(&world.signed_in(user(3))).await.unwrap();
}

#[tokio::test]
async fn without_any_keys_an_unreachable_idp_is_unavailable() {
    let world = World::start().await;
    world.idp.set_jwks_failing(true);

    let error = world.validate(&world.signed_in(user(0))).await.unwrap_err();

    assert!(
        matches!(error, SessionError::IdpUnavailable { .. }),
        "{error:?}"
    );
    assert_eq!(
        (error.status().as_u16(), error.code()),
        (503, "unavailable")
    );
}
