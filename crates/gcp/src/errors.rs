//! Google's refusals, turned into what the caller can do about them.
//!
//! The STS answers OAuth-style `{"error", "error_description"}`; the IAM Credentials API
//! answers Google-style `{"error": {"code", "message", "status"}}`. Either shape is read from
//! either service, and the cloud's own code and message are kept.

use std::time::Duration;

use credless_exchange::ExchangeError;
use reqwest::StatusCode;
use serde_json::Value;

/// The longest cloud message kept; Google's are far shorter, a stand-in's may not be.
const MAX_MESSAGE_CHARS: usize = 500;

/// Which of Google's services answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// `sts.googleapis.com`, the token exchange.
    Sts,
    /// `iamcredentials.googleapis.com`, the impersonation.
    IamCredentials,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Sts => "Google STS",
            Service::IamCredentials => "Google IAM Credentials",
        }
    }
}

/// Classifies an answer that was not a success.
pub(crate) fn from_response(
    service: Service,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ExchangeError {
    let (code, message) = error_of(body).unwrap_or_else(|| {
        let message = format!(
            "{} answered HTTP {} without an error body",
            service.name(),
            status
        );
        (status.as_u16().to_string(), message)
    });
    let message = truncate(message);

    if status == StatusCode::TOO_MANY_REQUESTS || code == "RESOURCE_EXHAUSTED" {
        return ExchangeError::Throttled {
            retry_after,
            cloud_code: code,
            message,
        };
    }
    if status.is_server_error() {
        return unavailable(Some(code), message, true);
    }
    match code.as_str() {
        // A valid token the provider's audience or attribute condition does not admit is a
        // trust setup problem; a bad signature, an expired or malformed token is the token's.
        "invalid_grant" if names_trust_setup(&message) => trust_refused(code, message),
        "invalid_grant" | "UNAUTHENTICATED" => ExchangeError::TokenRejected {
            cloud_code: code,
            message,
        },
        "unauthorized_client" | "access_denied" | "PERMISSION_DENIED" => {
            trust_refused(code, message)
        }
        "invalid_target" => misconfigured(
            code,
            "the workload identity pool or provider does not exist or is disabled",
            &message,
        ),
        "invalid_request"
        | "invalid_scope"
        | "unsupported_grant_type"
        | "INVALID_ARGUMENT"
        | "FAILED_PRECONDITION"
        | "OUT_OF_RANGE" => {
            misconfigured(code, "Google refused the request as configured", &message)
        }
        "NOT_FOUND" => misconfigured(code, "the service account was not found", &message),
        "UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED" | "ABORTED" | "UNKNOWN" => {
            unavailable(Some(code), message, true)
        }
        _ => by_status(service, status, code, message),
    }
}

/// Classifies a call that got no usable answer: no connection, a timeout, a broken body.
pub(crate) fn from_transport(service: Service, error: reqwest::Error) -> ExchangeError {
    if credless_session::outbound::is_refused_address(&error) {
        return ExchangeError::Misconfigured {
            reason: format!(
                "the {} endpoint resolves to an internal address",
                service.name()
            ),
            cloud_code: None,
        };
    }
    let what = if error.is_timeout() {
        "did not answer in time"
    } else if error.is_connect() {
        "could not be reached"
    } else {
        "failed to answer"
    };
    ExchangeError::Unavailable {
        cloud_code: None,
        message: format!("{} {what}", service.name()),
        transient: true,
        source: Some(Box::new(error)),
    }
}

/// A success status whose body is not what the service documents.
pub(crate) fn unreadable(service: Service, what: &str) -> ExchangeError {
    unavailable(
        None,
        format!("{} answered an unreadable {what}", service.name()),
        false,
    )
}

/// Whether an `invalid_grant` description says the token is valid but not admitted.
///
/// Google's descriptions are prose, not codes, so this is a heuristic: an audience, issuer or
/// attribute-condition mismatch is fixed in the trust setup (`TrustRefused`); anything else
/// (signature, expiry, a malformed token) means the token itself was rejected.
fn names_trust_setup(description: &str) -> bool {
    let description = description.to_ascii_lowercase();
    ["audience", "attribute condition", "issuer"]
        .iter()
        .any(|hint| description.contains(hint))
}

/// The code and message of either error shape, if the body is one.
fn error_of(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match value.get("error")? {
        Value::String(code) => {
            let description = value.get("error_description").and_then(Value::as_str);
            Some((code.clone(), description.unwrap_or_default().to_owned()))
        }
        Value::Object(error) => {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let code = match (error.get("status"), error.get("code")) {
                (Some(Value::String(status)), _) => status.clone(),
                (_, Some(Value::Number(code))) => code.to_string(),
                _ => return None,
            };
            Some((code, message.to_owned()))
        }
        _ => None,
    }
}

/// Classifies by HTTP status alone, for codes this crate does not know.
fn by_status(service: Service, status: StatusCode, code: String, message: String) -> ExchangeError {
    match status.as_u16() {
        401 => ExchangeError::TokenRejected {
            cloud_code: code,
            message,
        },
        403 => trust_refused(code, message),
        400 | 404 => misconfigured(code, "Google refused the request as configured", &message),
        _ => unavailable(
            Some(code),
            format!("{} answered HTTP {status}: {message}", service.name()),
            false,
        ),
    }
}

fn trust_refused(cloud_code: String, message: String) -> ExchangeError {
    ExchangeError::TrustRefused {
        cloud_code,
        message,
    }
}

fn misconfigured(cloud_code: String, what: &str, message: &str) -> ExchangeError {
    let reason = if message.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {message}")
    };
    ExchangeError::Misconfigured {
        reason,
        cloud_code: Some(cloud_code),
    }
}

fn unavailable(cloud_code: Option<String>, message: String, transient: bool) -> ExchangeError {
    ExchangeError::Unavailable {
        cloud_code,
        message,
        transient,
        source: None,
    }
}

fn truncate(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message,
    }
}

#[cfg(test)]
mod tests;
