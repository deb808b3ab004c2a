//! Idempotency records of resource creations, as the gateway claims and completes them.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use credless_registry::idempotency::{IDEMPOTENCY_TTL, IN_FLIGHT_LEASE};
use credless_registry::{
    Account, IdempotencyClaim, Oidc, Policy, Registry, RegistryError, SqliteStore, Store, Tenant,
};
use serde_json::json;

const KEY: &str = "0b1f3c9e-4a52-4a4e-9a9e-1c2d3e4f5a6b";

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.to_owned(),
        admin_email: format!("ops@{id}.example"),
        hostnames: vec![format!("cloud.{id}.example")],
        proxy_url: format!("https://auth.{id}.example"),
        cookie_name: "_oauth2_proxy".to_owned(),
        oidc: Oidc {
            issuer: format!("https://id.{id}.example/"),
            audiences: vec!["c".into()],
        },
        admin_groups: vec![],
    }
}

fn account(id: &str) -> Account {
    serde_json::from_value(json!({"id": id, "provider": "aws",
        "region": "eu-west-1", "role_arn": "arn:aws:iam::123456789012:role/credless"}))
    .unwrap()
}

/// A registry over `url` with tenant `acme` and its accounts `prod` and `dev`.
async fn registry(url: &str) -> Registry {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(url).await.unwrap());
    let policy = Policy {
        public_base_domain: "credless.example.com".to_owned(),
        ..Policy::default()
    };
    let registry = Registry::open(store, policy).await.unwrap();
    registry.create_tenant(tenant("acme")).await.unwrap();
    for id in ["prod", "dev"] {
        registry.put_account("acme", id, account(id)).await.unwrap();
    }
    registry
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[tokio::test]
async fn a_key_is_new_then_in_flight_then_answers_what_it_answered() {
    let registry = registry("sqlite::memory:").await;
    let claim = |fingerprint: &'static str| {
        let registry = registry.clone();
        async move {
            registry
                .claim_idempotency("acme", "prod", KEY, fingerprint)
                .await
                .unwrap()
        }
    };

    assert_eq!(claim("body-a").await, IdempotencyClaim::New);
    assert_eq!(claim("body-a").await, IdempotencyClaim::InFlight);
    assert_eq!(claim("body-b").await, IdempotencyClaim::Mismatch);

    let resource = json!({"id": "vm-1", "state": "pending"});
    registry
        .complete_idempotency("acme", "prod", KEY, 201, &resource)
        .await
        .unwrap();
    let done = IdempotencyClaim::Done {
        status: 201,
        response: resource,
    };
    assert_eq!(claim("body-a").await, done);
    assert_eq!(claim("body-a").await, done, "answers every retry");
    assert_eq!(claim("body-b").await, IdempotencyClaim::Mismatch);

    let other_account = registry
        .claim_idempotency("acme", "dev", KEY, "body-b")
        .await
        .unwrap();
    assert_eq!(other_account, IdempotencyClaim::New, "keys are per account");
}

#[tokio::test]
async fn an_abandoned_claim_may_be_retried_but_a_done_one_stays() {
    let registry = registry("sqlite::memory:").await;
    let claim = || registry.claim_idempotency("acme", "prod", KEY, "body-a");

    assert_eq!(claim().await.unwrap(), IdempotencyClaim::New);
    registry
        .abandon_idempotency("acme", "prod", KEY)
        .await
        .unwrap();
    assert_eq!(claim().await.unwrap(), IdempotencyClaim::New);

    registry
        .complete_idempotency("acme", "prod", KEY, 201, &json!({"id": "vm-1"}))
        .await
        .unwrap();
    registry
        .abandon_idempotency("acme", "prod", KEY)
        .await
        .unwrap();
    assert!(matches!(
        claim().await.unwrap(),
        IdempotencyClaim::Done { .. }
    ));

    let err = registry
        .complete_idempotency("acme", "prod", KEY, 201, &json!({}))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RegistryError::NotFound {
            kind: "idempotency key",
            ..
        }
    ));
}

#[tokio::test]
async fn records_expire_after_a_day_and_claims_after_their_lease() {
    let registry = registry("sqlite::memory:").await;
    let claim = |fingerprint: &'static str, now: SystemTime| {
        registry.claim_idempotency_at("acme", "prod", KEY, fingerprint, now)
    };
    let ms = Duration::from_millis(1);

    assert_eq!(claim("body-a", t0()).await.unwrap(), IdempotencyClaim::New);
    let stale = t0() + IN_FLIGHT_LEASE;
    assert_eq!(
        claim("body-a", stale - ms).await.unwrap(),
        IdempotencyClaim::InFlight
    );
    assert_eq!(claim("body-a", stale).await.unwrap(), IdempotencyClaim::New);

    registry
        .complete_idempotency("acme", "prod", KEY, 201, &json!({"id": "vm-1"}))
        .await
        .unwrap();
    let expiry = stale + IDEMPOTENCY_TTL;
    let before = claim("body-a", expiry - ms).await.unwrap();
    assert!(
        matches!(before, IdempotencyClaim::Done { status: 201, .. }),
        "{before:?}"
    );
    assert_eq!(
        claim("body-b", expiry).await.unwrap(),
        IdempotencyClaim::New,
        "an expired key is free for any request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_claims_on_one_file_exactly_one_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let first = registry(&url).await;
    let second = SqliteStore::open(&url).await.unwrap();

    for round in 0..10 {
        let key = format!("key-{round}");
        let (a, b) = {
            let (first, second, key_a, key_b) = (first.clone(), second.clone(), key.clone(), key);
            tokio::join!(
                tokio::spawn(async move {
                    first
                        .claim_idempotency("acme", "prod", &key_a, "body")
                        .await
                }),
                tokio::spawn(async move {
                    let now = SystemTime::now();
                    second
                        .claim_idempotency("acme", "prod", &key_b, "body", now)
                        .await
                }),
            )
        };
        let mut claims = [a.unwrap().unwrap(), b.unwrap().unwrap()];
        claims.sort_by_key(|claim| claim == &IdempotencyClaim::New);
        assert_eq!(
            claims,
            [IdempotencyClaim::InFlight, IdempotencyClaim::New],
            "{round}"
        );
    }
}

#[tokio::test]
async fn keys_are_validated_and_go_with_their_account() {
    let registry = registry("sqlite::memory:").await;
    let err = registry
        .claim_idempotency("acme", "prod", "tab\tkey", "body")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Invalid { ref field, .. } if field == "Idempotency-Key"));

    let err = registry
        .claim_idempotency("acme", "gone", KEY, "body")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::NotFound {
                kind: "account",
                ..
            }
        ),
        "{err:?}"
    );

    registry
        .claim_idempotency("acme", "prod", KEY, "body")
        .await
        .unwrap();
    registry.delete_account("acme", "prod").await.unwrap();
    registry
        .put_account("acme", "prod", account("prod"))
        .await
        .unwrap();
    let claim = registry
        .claim_idempotency("acme", "prod", KEY, "body")
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::New);
}
