//! `FederatedUserCredential`, called as an Azure SDK client calls a `TokenCredential`.

#![cfg(feature = "azure-core")]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use credless_azure::FederatedUserCredential;
use credless_exchange::ExchangeError;
use support::World;

const VAULT: &str = "https://vault.azure.net/.default";

fn credential(world: &World, subject: &str) -> FederatedUserCredential {
    let provider = Arc::new(world.provider(Duration::from_secs(5)));
    FederatedUserCredential::new(provider, world.identity(subject), world.account())
}

#[tokio::test]
async fn get_token_exchanges_the_users_token_for_the_requested_scope() {
    let world = World::start().await;
    world.trust("alice");

    let token = credential(&world, "alice")
        .get_token(&[VAULT], None)
        .await
        .unwrap();

    let exchanges = world.entra.exchanges();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].scope, VAULT);
    assert_eq!(exchanges[0].subject, "alice");
    assert_eq!(token.token.secret().split('.').count(), 3);
    let expected = SystemTime::now() + Duration::from_secs(3599);
    let expected = azure_core::time::OffsetDateTime::from(expected);
    assert!((expected - token.expires_on).abs() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_refusal_is_a_credential_error_carrying_the_exchange_error() {
    let world = World::start().await;
    world.trust("alice");

    let error = credential(&world, "bob")
        .get_token(&[VAULT], None)
        .await
        .unwrap_err();

    assert_eq!(*error.kind(), ErrorKind::Credential);
    let cause = error.downcast_ref::<ExchangeError>().unwrap();
    assert!(
        matches!(cause, ExchangeError::TrustRefused { .. }),
        "{cause:?}"
    );
    assert_eq!(cause.cloud_code(), Some("AADSTS700213"));
}

#[tokio::test]
async fn no_scope_is_refused_without_calling_entra() {
    let world = World::start().await;
    world.trust("alice");

    let error = credential(&world, "alice").get_token(&[], None).await;

    assert!(error.is_err());
    assert!(world.entra.requests().is_empty());
}

#[tokio::test]
async fn debug_output_names_the_user_but_not_the_token() {
    let world = World::start().await;
    let credential = credential(&world, "alice");

    let printed = format!("{credential:?}");

    assert!(printed.contains("alice"), "{printed}");
    assert!(!printed.contains("eyJ"), "{printed}");
}
