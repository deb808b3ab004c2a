//! How the AWS provider reaches STS and how long the credentials it asks for last.

use std::ops::RangeInclusive;
use std::time::Duration;

use credless_exchange::ExchangeError;

/// The global STS endpoint, the default of [`AwsConfig::sts_endpoint`].
const GLOBAL_STS_ENDPOINT: &str = "https://sts.amazonaws.com";

/// The session durations STS accepts, in seconds (the role's own maximum may be lower).
const DURATION_SECS: RangeInclusive<u64> = 900..=43_200;

/// How [`AwsProvider`](crate::AwsProvider) calls STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    /// The STS endpoint URL, `https://sts.amazonaws.com` by default. Empty means the regional
    /// endpoint of each account's region (`https://sts.<region>.amazonaws.com`).
    pub sts_endpoint: String,
    /// The session duration to ask for, 15 minutes to 12 hours; one hour by default. STS
    /// refuses more than the role's own maximum session duration.
    pub duration: Duration,
    /// Longest wait for one STS call, from sending to the end of the answer.
    pub timeout: Duration,
    /// Longest wait for a TCP and TLS connection to STS.
    pub connect_timeout: Duration,
    /// Allow `http://` and internal addresses for the endpoint (local development and tests).
    pub allow_insecure_upstreams: bool,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            sts_endpoint: GLOBAL_STS_ENDPOINT.to_owned(),
            duration: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            allow_insecure_upstreams: false,
        }
    }
}

impl AwsConfig {
    /// The default configuration with another STS endpoint.
    pub fn with_endpoint(endpoint: impl Into<String>) -> Self {
        Self {
            sts_endpoint: endpoint.into(),
            ..Self::default()
        }
    }

    /// Checks the configuration.
    ///
    /// Fails with [`ExchangeError::Misconfigured`] when the duration is outside 900..=43200
    /// seconds, a timeout is zero, or the endpoint is not an `https` URL (or `http`, or an
    /// internal address, without `allow_insecure_upstreams`).
    pub fn validate(&self) -> Result<(), ExchangeError> {
        let seconds = self.duration.as_secs();
        if !DURATION_SECS.contains(&seconds) || self.duration.subsec_nanos() != 0 {
            return Err(misconfigured(format!(
                "the AWS session duration must be a whole number of seconds from {} (15 \
                 minutes) to {} (12 hours); it is {:?}",
                DURATION_SECS.start(),
                DURATION_SECS.end(),
                self.duration
            )));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(misconfigured(
                "the AWS STS timeouts must be longer than zero".to_owned(),
            ));
        }
        if !self.sts_endpoint.is_empty() {
            credless_session::outbound::check_upstream(
                &self.sts_endpoint,
                self.allow_insecure_upstreams,
            )
            .map_err(|error| misconfigured(format!("the AWS STS endpoint is refused: {error}")))?;
        }
        Ok(())
    }

    /// The duration in whole seconds, as STS takes it.
    pub(crate) fn duration_seconds(&self) -> i32 {
        i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX)
    }
}

fn misconfigured(reason: String) -> ExchangeError {
    ExchangeError::Misconfigured {
        reason,
        cloud_code: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn with_duration(seconds: u64) -> AwsConfig {
        AwsConfig {
            duration: Duration::from_secs(seconds),
            ..AwsConfig::default()
        }
    }

    #[test]
    fn durations_outside_what_sts_accepts_are_refused_with_the_range() {
        for seconds in [0, 899, 43_201, 86_400] {
            let error = with_duration(seconds).validate().unwrap_err();
            let text = error.to_string();
            assert!(text.contains("900") && text.contains("43200"), "{text}");
        }
        for seconds in [900, 3600, 43_200] {
            assert!(with_duration(seconds).validate().is_ok(), "{seconds}");
        }
        let fractional = AwsConfig {
            duration: Duration::from_millis(900_500),
            ..AwsConfig::default()
        };
        assert!(fractional.validate().is_err());
    }

    #[test]
    fn the_endpoint_must_be_https_unless_insecure_upstreams_are_allowed() {
        let plain = AwsConfig::with_endpoint("http://127.0.0.1:4566");
        assert!(matches!(
            plain.validate(),
            Err(ExchangeError::Misconfigured { .. })
        ));
        let allowed = AwsConfig {
            allow_insecure_upstreams: true,
            ..plain
        };
        assert!(allowed.validate().is_ok());
        assert!(AwsConfig::with_endpoint("not a url").validate().is_err());
        assert!(AwsConfig::with_endpoint("").validate().is_ok());
        assert!(AwsConfig::default().validate().is_ok());
    }
}
