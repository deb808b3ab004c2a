//! The conformance cases, one public function each; every cloud passes all of them.
//!
//! Each case sets the fake cloud's behaviour itself and counts exchanges from where it
//! starts, so cases may share a harness and run in any order.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::support::{
    MARGIN, assert_cloud_answer_kept, exchange, exchanger, foreign, forged, identity, kind_of,
    secrets, through, within,
};
use super::{Behaviour, Harness};
use crate::{ExchangeError, ExchangeRequest};

const HOUR: Duration = Duration::from_secs(3600);

/// A successful exchange returns credentials of the provider's cloud, naming who the cloud
/// sees, expiring when the cloud said, and hiding their secrets from `Debug`.
pub async fn success<H: Harness + ?Sized>(harness: &H) {
    harness.behave(Behaviour::Succeed { lifetime: HOUR }).await;
    let identity = identity(harness, "alice");

    let credentials = match exchange(harness, &identity).await {
        Ok(credentials) => credentials,
        Err(error) => panic!("expected credentials, got {error:?}"),
    };

    assert_eq!(
        kind_of(&credentials),
        harness.provider().kind(),
        "{credentials:?}"
    );
    assert!(
        !credentials.cloud_identity().is_empty(),
        "no cloud identity: {credentials:?}"
    );
    let expected = SystemTime::now() + HOUR;
    let slack = Duration::from_secs(120);
    let expires_at = credentials.expires_at();
    assert!(
        expires_at > expected - slack && expires_at < expected + slack,
        "expiry is not the one the cloud gave (one hour from now): {expires_at:?}"
    );
    let printed = format!("{credentials:?} {credentials:#?}");
    for secret in secrets(&credentials) {
        assert!(!secret.is_empty(), "an empty secret: {credentials:?}");
        assert!(!printed.contains(secret), "Debug shows a secret: {printed}");
    }
    assert!(
        !printed.contains(identity.id_token.expose()),
        "Debug shows the ID token"
    );
}

/// A refusal of trust is [`ExchangeError::TrustRefused`] with the cloud's code and message.
pub async fn denied<H: Harness + ?Sized>(harness: &H) {
    harness.behave(Behaviour::Deny).await;
    let identity = identity(harness, "alice");

    let error = exchange(harness, &identity).await.err();

    let Some(error @ ExchangeError::TrustRefused { .. }) = error else {
        panic!("expected TrustRefused, got {error:?}");
    };
    assert_cloud_answer_kept(harness, &Behaviour::Deny, &error, &identity);
}

/// A rejected ID token is [`ExchangeError::TokenRejected`] with the cloud's code and message.
pub async fn token_rejected<H: Harness + ?Sized>(harness: &H) {
    harness.behave(Behaviour::RejectToken).await;
    let identity = identity(harness, "alice");

    let error = exchange(harness, &identity).await.err();

    let Some(error @ ExchangeError::TokenRejected { .. }) = error else {
        panic!("expected TokenRejected, got {error:?}");
    };
    assert_cloud_answer_kept(harness, &Behaviour::RejectToken, &error, &identity);
}

/// The provider sends the person's own ID token: a forged one is rejected by the cloud even
/// while it would issue credentials.
pub async fn forged_token<H: Harness + ?Sized>(harness: &H) {
    harness.behave(Behaviour::Succeed { lifetime: HOUR }).await;
    let mut identity = identity(harness, "alice");
    identity.id_token = forged(&identity.id_token);

    let error = exchange(harness, &identity).await.err();

    assert!(
        matches!(error, Some(ExchangeError::TokenRejected { .. })),
        "expected TokenRejected, got {error:?}"
    );
}

/// Throttling is [`ExchangeError::Throttled`]; through an exchanger the exchange is retried
/// until the cloud answers.
pub async fn throttled_then_recovered<H: Harness + ?Sized>(harness: &H) {
    harness
        .behave(Behaviour::ThrottleThenSucceed { times: 1 })
        .await;
    let identity = identity(harness, "alice");

    let error = exchange(harness, &identity).await.err();
    assert!(
        matches!(error, Some(ExchangeError::Throttled { .. })),
        "expected Throttled, got {error:?}"
    );

    harness
        .behave(Behaviour::ThrottleThenSucceed { times: 2 })
        .await;
    let before = harness.exchanges().await;
    let outcome = through(&exchanger(harness), harness, &identity).await;

    assert!(
        outcome.is_ok(),
        "expected credentials after retries, got {outcome:?}"
    );
    assert_eq!(
        harness.exchanges().await - before,
        3,
        "two throttled exchanges, one success"
    );
}

/// A cloud that does not answer is [`ExchangeError::Unavailable`] and transient, within the
/// provider's own timeout.
pub async fn timeout<H: Harness + ?Sized>(harness: &H) {
    harness.behave(Behaviour::Hang).await;
    let identity = identity(harness, "alice");

    let error = exchange(harness, &identity).await.err();

    assert!(
        matches!(
            error,
            Some(ExchangeError::Unavailable {
                transient: true,
                ..
            })
        ),
        "expected a transient Unavailable, got {error:?}"
    );
}

/// An unreadable answer is [`ExchangeError::Unavailable`], never credentials.
pub async fn malformed<H: Harness + ?Sized>(harness: &H) {
    harness.behave(Behaviour::Malformed).await;
    let identity = identity(harness, "alice");

    let error = exchange(harness, &identity).await.err();

    assert!(
        matches!(error, Some(ExchangeError::Unavailable { .. })),
        "expected Unavailable, got {error:?}"
    );
}

/// A server error is a transient [`ExchangeError::Unavailable`]; an exchanger retries it up
/// to its attempts, then gives up.
pub async fn server_error<H: Harness + ?Sized>(harness: &H) {
    harness.behave(Behaviour::ServerError).await;
    let identity = identity(harness, "alice");

    let error = exchange(harness, &identity).await.err();
    assert!(
        matches!(
            error,
            Some(ExchangeError::Unavailable {
                transient: true,
                ..
            })
        ),
        "expected a transient Unavailable, got {error:?}"
    );

    let before = harness.exchanges().await;
    let outcome = through(&exchanger(harness), harness, &identity).await;
    assert!(
        matches!(outcome, Err(ExchangeError::Unavailable { .. })),
        "expected Unavailable, got {outcome:?}"
    );
    assert_eq!(
        harness.exchanges().await - before,
        3,
        "one exchange per attempt"
    );
}

/// Credentials expiring within the exchanger's margin are exchanged again on the next
/// request; long-lived ones are reused.
pub async fn expiry_refresh<H: Harness + ?Sized>(harness: &H) {
    let exchanger = exchanger(harness);
    let identity = identity(harness, "alice");

    harness
        .behave(Behaviour::Succeed {
            lifetime: MARGIN / 2,
        })
        .await;
    let before = harness.exchanges().await;
    for _ in 0..2 {
        let outcome = through(&exchanger, harness, &identity).await;
        assert!(outcome.is_ok(), "expected credentials, got {outcome:?}");
    }
    assert_eq!(
        harness.exchanges().await - before,
        2,
        "short-lived credentials were reused"
    );

    harness.behave(Behaviour::Succeed { lifetime: HOUR }).await;
    let before = harness.exchanges().await;
    let first = through(&exchanger, harness, &identity).await;
    let second = through(&exchanger, harness, &identity).await;
    assert_eq!(
        harness.exchanges().await - before,
        1,
        "long-lived credentials not reused"
    );
    match (first, second) {
        (Ok(first), Ok(second)) => assert!(Arc::ptr_eq(&first, &second)),
        other => panic!("expected credentials twice, got {other:?}"),
    }
}

/// Two people on one account get two exchanges and their own credentials.
pub async fn subjects_isolated<H: Harness + ?Sized>(harness: &H) {
    harness.behave(Behaviour::Succeed { lifetime: HOUR }).await;
    let exchanger = exchanger(harness);
    let (alice, bob) = (identity(harness, "alice"), identity(harness, "bob"));
    let before = harness.exchanges().await;

    let for_alice = through(&exchanger, harness, &alice).await;
    let for_bob = through(&exchanger, harness, &bob).await;
    let again_alice = through(&exchanger, harness, &alice).await;

    assert_eq!(
        harness.exchanges().await - before,
        2,
        "one exchange per person"
    );
    match (for_alice, for_bob, again_alice) {
        (Ok(for_alice), Ok(for_bob), Ok(again_alice)) => {
            assert_ne!(
                secrets(&for_alice),
                secrets(&for_bob),
                "two people, one secret"
            );
            assert!(Arc::ptr_eq(&for_alice, &again_alice));
        }
        other => panic!("expected credentials for both, got {other:?}"),
    }
}

/// A failure is not remembered: once the cloud trusts the identity, the next request works.
pub async fn failures_not_cached<H: Harness + ?Sized>(harness: &H) {
    let exchanger = exchanger(harness);
    let identity = identity(harness, "alice");
    let before = harness.exchanges().await;

    harness.behave(Behaviour::Deny).await;
    let refused = through(&exchanger, harness, &identity).await;
    harness.behave(Behaviour::Succeed { lifetime: HOUR }).await;
    let granted = through(&exchanger, harness, &identity).await;

    assert!(
        matches!(refused, Err(ExchangeError::TrustRefused { .. })),
        "expected TrustRefused, got {refused:?}"
    );
    assert!(granted.is_ok(), "expected credentials, got {granted:?}");
    assert_eq!(harness.exchanges().await - before, 2);
}

/// An account of another cloud is [`ExchangeError::Misconfigured`], without calling the
/// cloud.
pub async fn foreign_account<H: Harness + ?Sized>(harness: &H) {
    harness.behave(Behaviour::Succeed { lifetime: HOUR }).await;
    let (tenant, identity) = (harness.tenant(), identity(harness, "alice"));
    let account = foreign(harness.provider().kind());
    let before = harness.exchanges().await;

    let request = ExchangeRequest {
        tenant: &tenant,
        identity: &identity,
        account: &account,
    };
    let outcome = within(harness.provider().exchange(request)).await;

    assert!(
        matches!(outcome, Err(ExchangeError::Misconfigured { .. })),
        "expected Misconfigured, got {outcome:?}"
    );
    assert_eq!(harness.exchanges().await - before, 0);
}
