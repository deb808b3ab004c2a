//! Sorting STS failures into [`ExchangeError`] by what the caller can do about them.

use std::error::Error as StdError;
use std::time::Duration;

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use credless_exchange::ExchangeError;

/// Turns a failed STS call into an [`ExchangeError`], keeping STS's code and message.
///
/// No variant carries the raw answer: a half-readable success could hold credentials.
pub(crate) fn classify<E>(error: SdkError<E, HttpResponse>) -> ExchangeError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match error {
        SdkError::ServiceError(failure) => {
            let status = failure.raw().status().as_u16();
            let retry_after = retry_after(failure.raw());
            let service_error = failure.err();
            match service_error.code() {
                Some(code) => from_code(
                    code,
                    service_error.message().unwrap_or_default(),
                    status,
                    retry_after,
                ),
                None => from_status(status, retry_after),
            }
        }
        SdkError::ResponseError(failure) => {
            from_status(failure.raw().status().as_u16(), retry_after(failure.raw()))
        }
        SdkError::TimeoutError(_) => ExchangeError::Unavailable {
            cloud_code: None,
            message: "AWS STS did not answer in time".to_owned(),
            transient: true,
            source: None,
        },
        SdkError::DispatchFailure(ref failure) => {
            if failure.is_user() {
                let reason = failure
                    .as_connector_error()
                    .and_then(|error| error.source())
                    .map_or_else(|| "no reason given".to_owned(), ToString::to_string);
                return ExchangeError::Misconfigured {
                    reason: format!("the AWS STS endpoint cannot be called: {reason}"),
                    cloud_code: None,
                };
            }
            let message = if failure.is_timeout() {
                "AWS STS did not answer in time"
            } else {
                "AWS STS could not be reached"
            };
            ExchangeError::Unavailable {
                cloud_code: None,
                message: message.to_owned(),
                transient: true,
                source: Some(Box::new(error)),
            }
        }
        _ => ExchangeError::Misconfigured {
            reason: "the AWS STS request could not be built".to_owned(),
            cloud_code: None,
        },
    }
}

/// Classifies an STS error code; `status` decides for codes STS does not document here.
fn from_code(
    code: &str,
    message: &str,
    status: u16,
    retry_after: Option<Duration>,
) -> ExchangeError {
    let cloud_code = code.to_owned();
    let message = message.to_owned();
    match code {
        "AccessDenied" | "IDPRejectedClaim" => ExchangeError::TrustRefused {
            cloud_code,
            message,
        },
        "InvalidIdentityToken" | "ExpiredTokenException" => ExchangeError::TokenRejected {
            cloud_code,
            message,
        },
        "IDPCommunicationError" => ExchangeError::Unavailable {
            cloud_code: Some(cloud_code),
            message,
            transient: true,
            source: None,
        },
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => ExchangeError::Throttled {
            retry_after,
            cloud_code,
            message,
        },
        _ if status == 429 => ExchangeError::Throttled {
            retry_after,
            cloud_code,
            message,
        },
        _ if status >= 500 => ExchangeError::Unavailable {
            cloud_code: Some(cloud_code),
            message,
            transient: true,
            source: None,
        },
        // RegionDisabledException, MalformedPolicyDocument, PackedPolicyTooLarge, and the
        // validation errors of a bad role ARN: the account binding must change.
        _ => ExchangeError::Misconfigured {
            reason: format!("AWS STS refused the request ({code}): {message}"),
            cloud_code: Some(cloud_code),
        },
    }
}

/// Classifies an answer without a readable error code.
fn from_status(status: u16, retry_after: Option<Duration>) -> ExchangeError {
    if status == 429 {
        return ExchangeError::Throttled {
            retry_after,
            cloud_code: "TooManyRequests".to_owned(),
            message: "AWS STS answered 429 Too Many Requests".to_owned(),
        };
    }
    let message = if status >= 500 {
        format!("AWS STS failed with HTTP {status}")
    } else {
        format!("AWS STS answered HTTP {status} with a body that could not be read")
    };
    ExchangeError::Unavailable {
        cloud_code: None,
        message,
        transient: true,
        source: None,
    }
}

/// The `Retry-After` header in seconds, when the answer has one.
fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let value = response.headers().get("retry-after")?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_what_the_caller_can_do() {
        let cases = [
            ("AccessDenied", 403, "TrustRefused"),
            ("IDPRejectedClaim", 403, "TrustRefused"),
            ("InvalidIdentityToken", 400, "TokenRejected"),
            ("ExpiredTokenException", 400, "TokenRejected"),
            ("IDPCommunicationError", 400, "Unavailable"),
            ("Throttling", 400, "Throttled"),
            ("ThrottlingException", 429, "Throttled"),
            ("SomethingNew", 429, "Throttled"),
            ("InternalFailure", 500, "Unavailable"),
            ("RegionDisabledException", 403, "Misconfigured"),
            ("MalformedPolicyDocument", 400, "Misconfigured"),
            ("PackedPolicyTooLarge", 400, "Misconfigured"),
            ("ValidationError", 400, "Misconfigured"),
        ];
        for (code, status, expected) in cases {
            let error = from_code(code, "the message", status, None);
            let printed = format!("{error:?}");
            assert!(printed.starts_with(expected), "{code}: {printed}");
            assert_eq!(error.cloud_code(), Some(code), "{code}");
        }
    }

    #[test]
    fn transient_failures_are_marked_for_retry() {
        assert!(from_code("IDPCommunicationError", "", 400, None).is_transient());
        assert!(from_status(503, None).is_transient());
        assert!(!from_code("AccessDenied", "", 403, None).is_transient());
    }
}
