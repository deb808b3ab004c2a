#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod fake;
mod retries;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use fake::{Answer, FakeProvider, account, denied, identity, identity_for, request, tenant};

fn exchanger(provider: &Arc<FakeProvider>, config: ExchangeConfig) -> Exchanger {
    let provider: Arc<dyn Provider> = provider.clone();
    Exchanger::new(vec![provider], config)
}

fn config() -> ExchangeConfig {
    ExchangeConfig {
        base_backoff: Duration::from_millis(1),
        ..ExchangeConfig::default()
    }
}

fn secret_of(credentials: &Credentials) -> &str {
    match credentials {
        Credentials::Aws(aws) => aws.secret_access_key.expose(),
        other => panic!("the fake issues AWS credentials, not {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_of_one_user_share_one_exchange() {
    let provider = Arc::new(FakeProvider::gated());
    let exchanger = Arc::new(exchanger(&provider, config()));
    let (tenant, account) = (Arc::new(tenant("acme")), Arc::new(account("prod")));
    let identity = Arc::new(identity("acme", "alice"));

    let callers: Vec<_> = (0..100)
        .map(|_| {
            let (exchanger, tenant) = (exchanger.clone(), tenant.clone());
            let (identity, account) = (identity.clone(), account.clone());
            tokio::spawn(async move {
                exchanger
                    .credentials(request(&tenant, &identity, &account))
                    .await
            })
        })
        .collect();
    provider.entered().await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    provider.open();

    let mut received = Vec::new();
    for caller in callers {
        received.push(caller.await.unwrap().unwrap());
    }
    assert_eq!(provider.calls(), 1);
    assert!(received.iter().all(|c| Arc::ptr_eq(c, &received[0])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_merged_into_a_failed_exchange_receive_the_failure() {
    let provider = Arc::new(FakeProvider::gated().script([Answer::Fail(fake::unavailable(false))]));
    let exchanger = Arc::new(exchanger(&provider, config()));
    let (tenant, account) = (Arc::new(tenant("acme")), Arc::new(account("prod")));
    let identity = Arc::new(identity("acme", "alice"));

    let callers: Vec<_> = (0..20)
        .map(|_| {
            let (exchanger, tenant) = (exchanger.clone(), tenant.clone());
            let (identity, account) = (identity.clone(), account.clone());
            tokio::spawn(async move {
                exchanger
                    .credentials(request(&tenant, &identity, &account))
                    .await
            })
        })
        .collect();
    provider.entered().await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    provider.open();

    let (mut failed, mut succeeded) = (0, 0);
    for caller in callers {
        match caller.await.unwrap() {
            Err(error @ ExchangeError::Unavailable { .. }) => {
                failed += 1;
                assert_eq!(error.cloud_code(), Some("ServiceUnavailable"));
                let source = error.source().map(ToString::to_string);
                assert_eq!(source.as_deref(), Some("connection reset by peer"));
            }
            Ok(_) => succeeded += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(failed >= 1);
    // Callers that arrived after the failure started one exchange of their own, which the
    // script lets succeed.
    assert_eq!(provider.calls(), if succeeded > 0 { 2 } else { 1 });
}

#[test]
fn every_merged_caller_gets_a_faithful_copy_of_the_failure() {
    let shared = Arc::new(Uncached::Failed(fake::unavailable(true)));
    let held_by_another_caller = Arc::clone(&shared);

    let copy = uncached_result(shared).unwrap_err();
    let original = uncached_result(held_by_another_caller).unwrap_err();

    for error in [&copy, &original] {
        assert!(matches!(
            error,
            ExchangeError::Unavailable {
                transient: true,
                ..
            }
        ));
        assert_eq!(error.to_string(), original.to_string());
        let source = error.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection reset by peer"));
    }
}

#[tokio::test]
async fn two_users_never_receive_each_others_credentials() {
    let provider = Arc::new(FakeProvider::new());
    let exchanger = exchanger(&provider, config());
    let (acme, account) = (tenant("acme"), account("prod"));
    let (alice, bob) = (identity("acme", "alice"), identity("acme", "bob"));

    let for_alice = exchanger
        .credentials(request(&acme, &alice, &account))
        .await
        .unwrap();
    let for_bob = exchanger
        .credentials(request(&acme, &bob, &account))
        .await
        .unwrap();
    let again_alice = exchanger
        .credentials(request(&acme, &alice, &account))
        .await
        .unwrap();
    let again_bob = exchanger
        .credentials(request(&acme, &bob, &account))
        .await
        .unwrap();

    assert_eq!(provider.calls(), 2);
    assert!(secret_of(&for_alice).contains("alice"));
    assert!(secret_of(&for_bob).contains("bob"));
    assert!(Arc::ptr_eq(&for_alice, &again_alice));
    assert!(Arc::ptr_eq(&for_bob, &again_bob));
}

#[tokio::test]
async fn the_same_subject_in_two_tenants_gets_two_exchanges() {
    let provider = Arc::new(FakeProvider::new());
    let exchanger = exchanger(&provider, config());
    let account = account("prod");
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let (in_acme, in_globex) = (identity("acme", "user-1"), identity("globex", "user-1"));

    let first = exchanger
        .credentials(request(&acme, &in_acme, &account))
        .await
        .unwrap();
    let second = exchanger
        .credentials(request(&globex, &in_globex, &account))
        .await
        .unwrap();

    assert_eq!(provider.calls(), 2);
    assert_ne!(first, second);
}

#[tokio::test]
async fn an_identity_of_another_tenant_is_refused_without_an_exchange() {
    let provider = Arc::new(FakeProvider::new());
    let exchanger = exchanger(&provider, config());
    let (acme, account) = (tenant("acme"), account("prod"));
    let from_globex = identity("globex", "alice");

    let outcome = exchanger
        .credentials(request(&acme, &from_globex, &account))
        .await;

    assert!(
        matches!(outcome, Err(ExchangeError::Misconfigured { .. })),
        "{outcome:?}"
    );
    assert_eq!(provider.calls(), 0);
}

#[tokio::test]
async fn an_account_of_a_cloud_without_provider_is_misconfigured() {
    let exchanger = Exchanger::new(Vec::new(), config());
    let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

    let error = exchanger
        .credentials(request(&acme, &alice, &account))
        .await
        .unwrap_err();

    assert!(error.to_string().contains("no aws provider"), "{error}");
}

#[tokio::test]
async fn failures_are_not_cached() {
    let provider = Arc::new(FakeProvider::new().script([Answer::Fail(denied())]));
    let exchanger = exchanger(&provider, config());
    let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

    let first = exchanger
        .credentials(request(&acme, &alice, &account))
        .await;
    let second = exchanger
        .credentials(request(&acme, &alice, &account))
        .await;

    let error = first.unwrap_err();
    assert_eq!(error.cloud_code(), Some("AccessDenied"));
    assert!(second.is_ok());
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn credentials_expiring_within_the_margin_are_returned_but_not_reused() {
    let short = [
        Answer::Issue(Duration::from_secs(60)),
        Answer::Issue(Duration::from_secs(60)),
    ];
    let provider = Arc::new(FakeProvider::new().script(short));
    let exchanger = exchanger(&provider, config());
    let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

    let first = exchanger
        .credentials(request(&acme, &alice, &account))
        .await
        .unwrap();
    let second = exchanger
        .credentials(request(&acme, &alice, &account))
        .await
        .unwrap();

    assert_eq!(provider.calls(), 2);
    assert_ne!(first, second);
    exchanger.cache.run_pending_tasks().await;
    assert_eq!(exchanger.cached(), 0);
}

#[tokio::test]
async fn credentials_are_not_reused_past_the_identitys_expiry() {
    let provider = Arc::new(FakeProvider::new());
    let config = ExchangeConfig {
        expiry_margin: Duration::ZERO,
        ..config()
    };
    let exchanger = exchanger(&provider, config);
    let (acme, account) = (tenant("acme"), account("prod"));
    let alice = identity_for("acme", "alice", Duration::from_secs(2));

    exchanger
        .credentials(request(&acme, &alice, &account))
        .await
        .unwrap();
    exchanger
        .credentials(request(&acme, &alice, &account))
        .await
        .unwrap();
    assert_eq!(provider.calls(), 1, "reused while the identity is valid");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while provider.calls() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still reused after the identity expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        exchanger
            .credentials(request(&acme, &alice, &account))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_changed_account_binding_is_exchanged_anew() {
    let provider = Arc::new(FakeProvider::new());
    let exchanger = exchanger(&provider, config());
    let (acme, alice) = (tenant("acme"), identity("acme", "alice"));
    let before = account("prod");
    let mut after = before.clone();
    if let credless_registry::Account::Aws(aws) = &mut after {
        aws.role_arn = "arn:aws:iam::123456789012:role/other".to_owned();
    }

    let old = exchanger
        .credentials(request(&acme, &alice, &before))
        .await
        .unwrap();
    let new = exchanger
        .credentials(request(&acme, &alice, &after))
        .await
        .unwrap();

    assert_eq!(provider.calls(), 2);
    assert_ne!(old, new);
}

#[tokio::test]
async fn invalidation_drops_only_the_named_entries() {
    let provider = Arc::new(FakeProvider::new());
    let exchanger = exchanger(&provider, config());
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let (prod, dev) = (account("prod"), account("dev"));
    let (alice, bob) = (identity("acme", "alice"), identity("acme", "bob"));
    let carol = identity("globex", "carol");
    let entries = [
        request(&acme, &alice, &prod),
        request(&acme, &alice, &dev),
        request(&acme, &bob, &prod),
        request(&globex, &carol, &prod),
    ];
    let refetched = |expected: usize| {
        let exchanger = &exchanger;
        let provider = &provider;
        async move {
            let before = provider.calls();
            for entry in entries {
                exchanger.credentials(entry).await.unwrap();
            }
            assert_eq!(provider.calls() - before, expected);
        }
    };
    refetched(4).await;

    exchanger.invalidate_subject("acme", "bob");
    refetched(1).await;
    exchanger.invalidate_account("acme", "dev");
    refetched(1).await;
    exchanger.invalidate_tenant("acme");
    refetched(3).await;
    exchanger.invalidate_tenant("globex");
    refetched(1).await;
}

#[tokio::test]
async fn cached_counts_the_kept_credentials() {
    let provider = Arc::new(FakeProvider::new());
    let exchanger = exchanger(&provider, config());
    let (acme, account) = (tenant("acme"), account("prod"));
    let (alice, bob) = (identity("acme", "alice"), identity("acme", "bob"));

    exchanger
        .credentials(request(&acme, &alice, &account))
        .await
        .unwrap();
    exchanger
        .credentials(request(&acme, &bob, &account))
        .await
        .unwrap();
    exchanger.cache.run_pending_tasks().await;

    assert_eq!(exchanger.cached(), 2);
    assert!(format!("{exchanger:?}").contains("cached: 2"));
}
