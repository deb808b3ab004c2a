//! Sorting EC2 and RDS error answers into [`ResourceError`] by what the caller can do.
//!
//! EC2 answers `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors>`,
//! RDS answers `<ErrorResponse><Error><Type>…</Type><Code>…</Code><Message>…</Message>`; one
//! struct reads both, since the root element's name does not matter to the reader.

use std::time::Duration;

use credless_resources::ResourceError;
use serde::Deserialize;

/// Either error document.
#[derive(Debug, Deserialize)]
struct ErrorDocument {
    /// EC2's list of errors (it sends one).
    #[serde(rename = "Errors")]
    errors: Option<ErrorList>,
    /// RDS's single error.
    #[serde(rename = "Error")]
    error: Option<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
struct ErrorList {
    #[serde(rename = "Error", default)]
    errors: Vec<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// Classifies a non-2xx answer from its status and body.
pub(super) fn from_answer(status: u16, retry_after: Option<Duration>, body: &str) -> ResourceError {
    let detail = quick_xml::de::from_str::<ErrorDocument>(body)
        .ok()
        .and_then(|document| {
            document.error.or_else(|| {
                document
                    .errors
                    .and_then(|list| list.errors.into_iter().next())
            })
        });
    match detail {
        Some(detail) => from_code(&detail.code, &detail.message, status, retry_after),
        None => from_status(status, retry_after),
    }
}

/// Classifies an EC2 or RDS error code; `status` decides for codes not known here.
pub(super) fn from_code(
    code: &str,
    message: &str,
    status: u16,
    retry_after: Option<Duration>,
) -> ResourceError {
    let cloud_code = code.to_owned();
    let message = message.to_owned();
    match code {
        "InvalidInstanceID.NotFound" | "InvalidInstanceID.Malformed" | "DBInstanceNotFound" => {
            ResourceError::NotFound {
                what: format!("the AWS resource ({code}: {message})"),
            }
        }
        "UnauthorizedOperation"
        | "AccessDenied"
        | "AccessDeniedException"
        | "AuthFailure"
        | "OptInRequired"
        | "ExpiredToken"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch" => ResourceError::Denied {
            cloud_code,
            message,
        },
        "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => ResourceError::Throttled {
            retry_after,
            cloud_code,
        },
        "InstanceLimitExceeded"
        | "InsufficientInstanceCapacity"
        | "InsufficientDBInstanceCapacity"
        | "VcpuLimitExceeded" => ResourceError::Quota {
            cloud_code,
            message,
        },
        _ if code.ends_with("QuotaExceeded") => ResourceError::Quota {
            cloud_code,
            message,
        },
        "IncorrectInstanceState"
        | "IncorrectState"
        | "OperationNotPermitted"
        | "InvalidDBInstanceState"
        | "DBInstanceAlreadyExists" => ResourceError::Conflict {
            cloud_code,
            message,
        },
        "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "InvalidParameter"
        | "MissingParameter"
        | "Unsupported" => ResourceError::Invalid {
            field: field_named_in(&message).to_owned(),
            reason: message,
            cloud_code: Some(cloud_code),
        },
        _ if code.starts_with("InvalidAMIID.") => ResourceError::Invalid {
            field: "image".to_owned(),
            reason: message,
            cloud_code: Some(cloud_code),
        },
        _ if status == 429 => ResourceError::Throttled {
            retry_after,
            cloud_code,
        },
        _ if status >= 500 => ResourceError::Unavailable {
            cloud_code: Some(cloud_code),
            message,
        },
        _ => ResourceError::Invalid {
            field: field_named_in(&message).to_owned(),
            reason: message,
            cloud_code: Some(cloud_code),
        },
    }
}

/// Classifies an answer without a readable error code.
fn from_status(status: u16, retry_after: Option<Duration>) -> ResourceError {
    if status == 429 {
        return ResourceError::Throttled {
            retry_after,
            cloud_code: "TooManyRequests".to_owned(),
        };
    }
    ResourceError::Unavailable {
        cloud_code: None,
        message: format!("AWS answered HTTP {status} without a readable error"),
    }
}

/// The request field an AWS validation message is most likely about; `request` when unsure.
fn field_named_in(message: &str) -> &'static str {
    let message = message.to_ascii_lowercase();
    let mentions = |words: &[&str]| words.iter().any(|word| message.contains(word));
    if mentions(&[
        "instance type",
        "instancetype",
        "instance class",
        "dbinstanceclass",
    ]) {
        "size"
    } else if mentions(&["engine version", "engineversion", "cannot find version"]) {
        "engine_version"
    } else if mentions(&["engine"]) {
        "engine"
    } else if mentions(&["ami", "image"]) {
        "image"
    } else if mentions(&["tag"]) {
        "tags"
    } else if mentions(&["availability zone", "region"]) {
        "region"
    } else if mentions(&["identifier", "name"]) {
        "name"
    } else {
        "request"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_name_the_field_to_fix() {
        let cases = [
            ("Invalid value 'x9.huge' for InstanceType.", "size"),
            ("Invalid DB Instance class: db.x9.huge", "size"),
            ("Cannot find version 99.1 for postgres", "engine_version"),
            ("Invalid DB engine: mongo", "engine"),
            ("Invalid engine version 2 for postgres", "engine_version"),
            ("Invalid id: \"amx-1\" (expecting \"ami-...\")", "image"),
            ("DBInstanceIdentifier must begin with a letter", "name"),
            ("Tag keys starting with 'aws:' are reserved", "tags"),
            ("something else entirely", "request"),
        ];
        for (message, field) in cases {
            assert_eq!(field_named_in(message), field, "{message}");
        }
    }

    #[test]
    fn garbage_is_unavailable_and_a_codeless_429_is_throttling() {
        let error = from_answer(502, None, "<html>Bad gateway</html>");
        assert!(matches!(
            error,
            ResourceError::Unavailable {
                cloud_code: None,
                ..
            }
        ));
        let error = from_answer(429, Some(Duration::from_secs(3)), "");
        assert!(matches!(
            error,
            ResourceError::Throttled { retry_after: Some(wait), .. } if wait.as_secs() == 3
        ));
    }
}
