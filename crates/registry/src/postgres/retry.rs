//! Bounded retries of write transactions that PostgreSQL aborted to keep them serializable.

use std::future::Future;
use std::time::Duration;

use crate::error::{RegistryError, Result};

/// How many times a transaction is tried before its serialization failure is reported.
const ATTEMPTS: u32 = 8;

/// The pause before the first retry; it doubles with each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);

/// `serialization_failure`: a concurrent transaction got in the way; try again.
const SERIALIZATION_FAILURE: &str = "40001";

/// `deadlock_detected`: PostgreSQL picked this transaction to abort; try again.
const DEADLOCK_DETECTED: &str = "40P01";

/// Why one attempt of a write transaction failed.
#[derive(Debug)]
pub(super) enum TxError {
    /// The database failed; retried when it is a serialization failure or a deadlock.
    Database(sqlx::Error),
    /// The write is refused for good (`Conflict`, `NotFound`, …).
    Registry(RegistryError),
}

/// The outcome of one attempt.
pub(super) type TxResult<T> = std::result::Result<T, TxError>;

impl From<sqlx::Error> for TxError {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(err)
    }
}

impl From<RegistryError> for TxError {
    fn from(err: RegistryError) -> Self {
        Self::Registry(err)
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has been aborted [`ATTEMPTS`] times
/// for serialization; each attempt must be a whole transaction.
pub(super) async fn with_retries<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TxResult<T>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut tried = 1;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(TxError::Registry(err)) => return Err(err),
            Err(TxError::Database(err)) if is_retryable(&err) && tried < ATTEMPTS => {
                tracing::debug!(attempt = tried, error = %err, "write transaction retried");
                tokio::time::sleep(backoff + jitter(backoff)).await;
                backoff = backoff.saturating_mul(2);
                tried += 1;
            }
            Err(TxError::Database(err)) => return Err(RegistryError::unavailable(err)),
        }
    }
}

/// Whether PostgreSQL asks for the transaction to be tried again.
pub(super) fn is_retryable(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == SERIALIZATION_FAILURE || code == DEADLOCK_DETECTED)
}

pub(super) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_foreign_key_violation())
}

/// Up to `limit` of extra pause, so that transactions that collided do not collide again.
fn jitter(limit: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.subsec_nanos())
        .unwrap_or(0);
    limit.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn refusals_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<()> = with_retries(|| async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(RegistryError::conflict("taken").into())
        })
        .await;
        assert!(matches!(result, Err(RegistryError::Conflict { .. })));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn other_database_errors_are_unavailable_at_once() {
        let calls = AtomicU32::new(0);
        let result: Result<()> = with_retries(|| async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(sqlx::Error::PoolTimedOut.into())
        })
        .await;
        assert!(matches!(result, Err(RegistryError::Unavailable { .. })));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
