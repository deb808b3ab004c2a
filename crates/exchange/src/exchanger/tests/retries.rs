//! Retries, backoff and what the exchanger logs, on paused time.

use std::sync::Arc;
use std::time::Duration;

use super::fake::{self, Answer, FakeProvider, account, denied, identity, request, tenant};
use super::{config, exchanger, secret_of};
use crate::{ExchangeConfig, ExchangeError};

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_up_to_max_attempts() {
    let failures = (0..5).map(|_| Answer::Fail(fake::unavailable(true)));
    let provider = Arc::new(FakeProvider::new().script(failures));
    let exchanger = exchanger(&provider, config());
    let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

    let outcome = exchanger
        .credentials(request(&acme, &alice, &account))
        .await;

    assert!(
        matches!(outcome, Err(ExchangeError::Unavailable { .. })),
        "{outcome:?}"
    );
    assert_eq!(provider.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_followed_by_success_succeeds() {
    let provider = Arc::new(FakeProvider::new().script([Answer::Fail(fake::unavailable(true))]));
    let exchanger = exchanger(&provider, config());
    let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

    let outcome = exchanger
        .credentials(request(&acme, &alice, &account))
        .await;

    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(provider.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn lasting_failures_are_not_retried() {
    for failure in [denied(), fake::unavailable(false)] {
        let provider = Arc::new(FakeProvider::new().script([Answer::Fail(failure)]));
        let exchanger = exchanger(&provider, config());
        let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

        let outcome = exchanger
            .credentials(request(&acme, &alice, &account))
            .await;

        assert!(outcome.is_err());
        assert_eq!(provider.calls(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_between_attempts_stays_within_its_doubling_ceiling() {
    let failures = (0..3).map(|_| Answer::Fail(fake::unavailable(true)));
    let provider = Arc::new(FakeProvider::new().script(failures));
    let config = ExchangeConfig {
        base_backoff: Duration::from_secs(1),
        ..ExchangeConfig::default()
    };
    let exchanger = exchanger(&provider, config);
    let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

    let started = tokio::time::Instant::now();
    let _ = exchanger
        .credentials(request(&acme, &alice, &account))
        .await;

    assert_eq!(provider.calls(), 3);
    assert!(
        started.elapsed() <= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn the_clouds_retry_after_is_honoured() {
    let throttled = Answer::Fail(fake::throttled(Duration::from_secs(4)));
    let provider = Arc::new(FakeProvider::new().script([throttled]));
    let exchanger = exchanger(&provider, config());
    let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

    let started = tokio::time::Instant::now();
    let outcome = exchanger
        .credentials(request(&acme, &alice, &account))
        .await;

    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(provider.calls(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_longest_wait_is_passed_to_the_caller() {
    let throttled = Answer::Fail(fake::throttled(Duration::from_secs(60)));
    let provider = Arc::new(FakeProvider::new().script([throttled]));
    let exchanger = exchanger(&provider, config());
    let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

    let started = tokio::time::Instant::now();
    let outcome = exchanger
        .credentials(request(&acme, &alice, &account))
        .await;

    match outcome {
        Err(ExchangeError::Throttled { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(60)))
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(provider.calls(), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn logs_name_the_exchange_but_never_a_token_or_credential() {
    let logs = credless_testkit::LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let script = [
        Answer::Fail(fake::unavailable(true)),
        Answer::Fail(denied()),
    ];
    let provider = Arc::new(FakeProvider::new().script(script));
    let exchanger = exchanger(&provider, config());
    let (acme, alice, account) = (tenant("acme"), identity("acme", "alice"), account("prod"));

    let denied = exchanger
        .credentials(request(&acme, &alice, &account))
        .await;
    let issued = exchanger
        .credentials(request(&acme, &alice, &account))
        .await
        .unwrap();

    assert!(denied.is_err());
    let logs = logs.contents();
    assert!(logs.contains("exchange failed, retrying"), "{logs}");
    assert!(logs.contains("tenant.id=acme"), "{logs}");
    assert!(logs.contains("account.id=prod"), "{logs}");
    assert!(logs.contains("provider=aws"), "{logs}");
    assert!(logs.contains("AccessDenied"), "{logs}");
    assert!(!logs.contains(alice.id_token.expose()), "{logs}");
    assert!(!logs.contains(secret_of(&issued)), "{logs}");
}
