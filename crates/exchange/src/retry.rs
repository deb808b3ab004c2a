//! When a failed exchange is tried again, and after how long.

use std::time::Duration;

use crate::ExchangeError;

/// What to do after attempt number `attempt` (counted from 1) failed with `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Return the error to the caller.
    GiveUp,
}

/// The retry policy of [`crate::ExchangeConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) base_backoff: Duration,
    pub(crate) max_wait: Duration,
}

impl RetryPolicy {
    /// Retries transient failures only, while attempts are left. A cloud's `Retry-After` is
    /// honoured when it is at most `max_wait`; a longer one ends the retries so that the
    /// caller can pass it on. Otherwise the wait is drawn at random between zero and the
    /// exponential backoff ("full jitter"), which spreads retries of many callers.
    pub(crate) fn next(&self, attempt: u32, error: &ExchangeError) -> Next {
        if !error.is_transient() || attempt >= self.max_attempts {
            return Next::GiveUp;
        }
        if let ExchangeError::Throttled {
            retry_after: Some(asked),
            ..
        } = error
        {
            return if *asked <= self.max_wait {
                Next::RetryAfter(*asked)
            } else {
                Next::GiveUp
            };
        }
        Next::RetryAfter(jitter(self.backoff_ceiling(attempt)))
    }

    /// The longest wait after attempt number `attempt`: the base backoff doubled for each
    /// earlier attempt, capped at `max_wait`.
    pub(crate) fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.base_backoff
            .checked_mul(1 << doublings)
            .unwrap_or(Duration::MAX)
            .min(self.max_wait)
    }
}

/// A uniformly random duration between zero and `ceiling`, both included.
fn jitter(ceiling: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // The system's randomness is unavailable: any wait below the ceiling still works.
        return ceiling / 2;
    }
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    let drawn = u64::from_le_bytes(bytes) % nanos.saturating_add(1);
    Duration::from_nanos(drawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_backoff: Duration::from_millis(100),
            max_wait: Duration::from_secs(10),
        }
    }

    fn unavailable(transient: bool) -> ExchangeError {
        ExchangeError::Unavailable {
            cloud_code: None,
            message: "the cloud answered 503".into(),
            transient,
            source: None,
        }
    }

    fn throttled(retry_after: Option<Duration>) -> ExchangeError {
        ExchangeError::Throttled {
            retry_after,
            cloud_code: "Throttling".into(),
            message: "Rate exceeded".into(),
        }
    }

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_longest_wait() {
        let policy = policy();

        assert_eq!(policy.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.backoff_ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.backoff_ceiling(3), Duration::from_millis(400));
        assert_eq!(policy.backoff_ceiling(60), Duration::from_secs(10));
    }

    #[test]
    fn waits_are_drawn_below_the_ceiling_and_vary() {
        let ceiling = Duration::from_millis(100);
        let waits: Vec<_> = (0..64).map(|_| jitter(ceiling)).collect();

        assert!(waits.iter().all(|wait| *wait <= ceiling));
        assert!(waits.iter().any(|wait| *wait != waits[0]), "{waits:?}");
    }

    #[test]
    fn transient_failures_are_retried_while_attempts_are_left() {
        let policy = policy();

        assert!(matches!(
            policy.next(1, &unavailable(true)),
            Next::RetryAfter(_)
        ));
        assert!(matches!(
            policy.next(3, &throttled(None)),
            Next::RetryAfter(_)
        ));
        assert_eq!(policy.next(4, &unavailable(true)), Next::GiveUp);
    }

    #[test]
    fn lasting_failures_are_never_retried() {
        let denied = ExchangeError::TrustRefused {
            cloud_code: "AccessDenied".into(),
            message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
        };

        assert_eq!(policy().next(1, &denied), Next::GiveUp);
        assert_eq!(policy().next(1, &unavailable(false)), Next::GiveUp);
    }

    #[test]
    fn the_clouds_retry_after_is_honoured_up_to_the_longest_wait() {
        let policy = policy();

        assert_eq!(
            policy.next(1, &throttled(Some(Duration::from_secs(3)))),
            Next::RetryAfter(Duration::from_secs(3))
        );
        assert_eq!(
            policy.next(1, &throttled(Some(Duration::from_secs(11)))),
            Next::GiveUp
        );
    }
}
