//! The session cache: one proxy call per session, bounded reuse, per-tenant keys.

use std::sync::Arc;
use std::time::{Duration, Instant};

use credless_session::{SessionConfig, SessionError};
use credless_testkit::{OAuth2Proxy, ProxyMode, ProxyOptions, User};
use futures_util::future::join_all;
use serde_json::json;

use crate::support::{AUDIENCE, World, config, eventually, tenant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_first_requests_make_one_proxy_call() {
    let world = Arc::new(World::start().await);
    let headers = Arc::new(world.signed_in(User::demo()));

    let tasks = (0..1000).map(|_| {
        let (world, headers) = (Arc::clone(&world), Arc::clone(&headers));
        tokio::spawn(async move { world.validate(&headers).await.map(|v| v.set_cookie.len()) })
    });
    // A bound, so that a lost wake-up fails the test instead of hanging the run.
    let outcomes = tokio::time::timeout(Duration::from_secs(60), join_all(tasks))
        .await
        .expect("1,000 concurrent validations finished");

    assert!(outcomes.into_iter().all(|outcome| outcome.unwrap().is_ok()));
    assert_eq!(world.proxy.auth_calls(), 1);
}

#[tokio::test]
async fn a_revoked_user_keeps_access_only_until_the_cache_ttl() {
    let ttl = Duration::from_millis(300);
    let world = World::with_config(SessionConfig {
        cache_ttl: ttl,
        ..config()
    })
    .await;
    let headers = world.signed_in(User::new("leaver", "leaver@acme.example"));
    let started = Instant::now();
    world.validate(&headers).await.unwrap();

    world.proxy.revoke_user("leaver");
    let still_cached = world.validate(&headers).await;

    assert!(
        still_cached.is_ok(),
        "within the ttl the cached session is reused"
    );
    assert_eq!(world.proxy.auth_calls(), 1);
    eventually(
        Duration::from_secs(5),
        "the revoked session is refused",
        || async { matches!(world.validate(&headers).await, Err(SessionError::NoSession)) },
    )
    .await;
    assert!(started.elapsed() >= ttl, "refused before the ttl was over");
}

#[tokio::test]
async fn failures_are_not_cached() {
    let world = World::start().await;
    let headers = world.signed_in(User::demo());
    world.proxy.set_mode(ProxyMode::Unavailable503);
    assert!(world.validate(&headers).await.is_err());

    world.proxy.set_mode(ProxyMode::Normal);
    let validated = world.validate(&headers).await;

    assert!(validated.is_ok(), "{validated:?}");
    assert_eq!(world.proxy.auth_calls(), 2);
}

#[tokio::test]
async fn a_session_is_not_cached_past_its_token_expiry() {
    let world = World::with_config(SessionConfig {
        leeway: Duration::ZERO,
        ..config()
    })
    .await;
    let mut claims = world.idp.claims_for(&User::demo(), AUDIENCE);
    let exp = claims["iat"].as_u64().unwrap() + 2;
    claims["exp"] = json!(exp);
    world
        .proxy
        .set_id_token_override(Some(world.idp.mint(claims)));
    let headers = world.signed_in(User::demo());
    world.validate(&headers).await.unwrap();

    eventually(
        Duration::from_secs(10),
        "the expired token is refused",
        || async {
            matches!(
                world.validate(&headers).await,
                Err(SessionError::TokenInvalid { .. })
            )
        },
    )
    .await;

    assert!(
        world.proxy.auth_calls() >= 2,
        "the proxy was asked again after expiry"
    );
}

#[tokio::test]
async fn invalidation_drops_a_tenants_sessions_and_one_session() {
    let world = World::start().await;
    let first = world.signed_in(User::demo());
    let second = world.signed_in(User::new("bob", "bob@acme.example"));
    world.validate(&first).await.unwrap();
    world.validate(&second).await.unwrap();
    assert_eq!(world.proxy.auth_calls(), 2);

    world
        .validator
        .invalidate_session(&world.tenant, &first)
        .await;
    world.validate(&first).await.unwrap();
    world.validate(&second).await.unwrap();
    assert_eq!(
        world.proxy.auth_calls(),
        3,
        "only the signed-out session was asked again"
    );

    world.validator.invalidate_tenant("acme");
    world.validate(&first).await.unwrap();
    world.validate(&second).await.unwrap();
    assert_eq!(world.proxy.auth_calls(), 5);
}

#[tokio::test]
async fn one_tenants_cached_session_is_never_given_to_another() {
    let world = World::start().await;
    let other_proxy = OAuth2Proxy::start(&world.idp, ProxyOptions::default()).await;
    let other = tenant("globex", &world.idp, &other_proxy);
    let headers = world.signed_in(User::demo());
    world.validate(&headers).await.unwrap();

    // The same cookie sent to another tenant's host: its own proxy knows no such session.
    let elsewhere = world.validator.validate(&other, &headers).await;

    assert!(
        matches!(elsewhere, Err(SessionError::NoSession)),
        "{elsewhere:?}"
    );
    assert_eq!(other_proxy.auth_calls(), 1);
}

#[tokio::test]
async fn cached_sessions_counts_entries() {
    let world = World::start().await;
    for n in 0..3 {
        let user = User::new(format!("u{n}"), format!("u{n}@acme.example"));
        world.validate(&world.signed_in(user)).await.unwrap();
    }

    assert_eq!(world.validator.cached_sessions().await, 3);
    world.validator.invalidate_tenant("acme");
    eventually(
        Duration::from_secs(5),
        "the tenant's sessions are gone",
        || async { world.validator.cached_sessions().await == 0 },
    )
    .await;
}
