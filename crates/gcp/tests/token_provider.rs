//! The exchange as a `gcp_auth::TokenProvider`, for Google client crates.

#![cfg(feature = "gcp-auth")]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

use std::error::Error as _;
use std::time::Duration;

use credless_exchange::ExchangeError;
use credless_gcp::FederatedTokenProvider;
use credless_testkit::User;
use credless_testkit::gcp::GcpEndpoint;
use gcp_auth::TokenProvider as _;
use support::World;

const COMPUTE: &str = "https://www.googleapis.com/auth/compute";
const STORAGE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

fn token_provider(world: &World, sub: &str) -> FederatedTokenProvider {
    FederatedTokenProvider::new(
        world.provider(),
        &world.identity(sub),
        world.account.clone(),
    )
}

#[tokio::test]
async fn tokens_are_exchanged_once_per_scope_set_and_reused() {
    let world = World::start().await;
    let tokens = token_provider(&world, "user-1");

    let first = tokens.token(&[COMPUTE, STORAGE]).await.unwrap();
    let again = tokens.token(&[STORAGE, COMPUTE]).await.unwrap();
    let other = tokens.token(&[COMPUTE]).await.unwrap();

    assert!(first.as_str().starts_with("ya29."));
    assert_eq!(first.as_str(), again.as_str());
    assert_ne!(first.as_str(), other.as_str());
    assert!(!first.has_expired());
    assert_eq!(world.gcp.exchanges().tokens_issued, 2);
    let bodies: Vec<_> = world
        .gcp
        .requests()
        .iter()
        .filter(|request| request.endpoint == Some(GcpEndpoint::IamCredentials))
        .map(|request| request.json().unwrap()["scope"].clone())
        .collect();
    assert_eq!(
        bodies,
        [
            serde_json::json!([COMPUTE, STORAGE]),
            serde_json::json!([COMPUTE])
        ]
    );
}

#[tokio::test]
async fn a_token_near_its_expiry_is_exchanged_again() {
    let world = World::start().await;
    world.gcp.set_lifetime_cap(Some(Duration::from_secs(30)));
    let tokens = token_provider(&world, "user-1");

    let first = tokens.token(&[COMPUTE]).await.unwrap();
    let second = tokens.token(&[COMPUTE]).await.unwrap();

    assert_ne!(first.as_str(), second.as_str());
    assert_eq!(world.gcp.exchanges().tokens_issued, 2);
}

#[tokio::test]
async fn the_project_is_the_accounts() {
    let world = World::start().await;

    let project = token_provider(&world, "user-1").project_id().await.unwrap();

    assert_eq!(&*project, "acme-data");
}

#[tokio::test]
async fn a_refusal_surfaces_as_the_exchange_error() {
    let world = World::start().await;
    let tokens = token_provider(&world, "user-2");

    let error = tokens.token(&[COMPUTE]).await.unwrap_err();

    let source = error
        .source()
        .unwrap()
        .downcast_ref::<ExchangeError>()
        .unwrap();
    assert!(
        matches!(source, ExchangeError::TrustRefused { .. }),
        "{source:?}"
    );
    assert_eq!(source.cloud_code(), Some("PERMISSION_DENIED"));
}

#[tokio::test]
async fn a_fresh_id_token_is_used_after_set_id_token() {
    let world = World::start().await;
    let mut stale = world
        .oidc
        .claims_for(&User::new("user-1", ""), support::CLIENT);
    stale["exp"] = serde_json::json!(1_000_000);
    let identity = world.identity_with_claims("user-1", stale);
    let tokens = FederatedTokenProvider::new(world.provider(), &identity, world.account.clone());
    assert!(tokens.token(&[COMPUTE]).await.is_err());

    tokens.set_id_token(world.identity("user-1").id_token);

    assert!(tokens.token(&[COMPUTE]).await.is_ok());
}

#[tokio::test]
async fn debug_output_shows_no_token() {
    let world = World::start().await;
    let identity = world.identity("user-1");
    let tokens = FederatedTokenProvider::new(world.provider(), &identity, world.account.clone());
    let token = tokens.token(&[COMPUTE]).await.unwrap();

    let printed = format!("{tokens:?} {token:?}");

    assert!(!printed.contains(token.as_str()), "{printed}");
    assert!(!printed.contains(identity.id_token.expose()), "{printed}");
    assert!(printed.contains("data-gcp"), "{printed}");
}
