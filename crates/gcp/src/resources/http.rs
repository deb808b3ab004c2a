//! Calls to Compute Engine and Cloud SQL Admin, and their errors as [`ResourceError`]s.
//!
//! Both APIs answer errors as `{"error": {"code", "message", "errors": [{"reason"}],
//! "status"}}`; Compute Engine usually leaves `status` out, so the reason decides.

use std::time::Duration;

use credless_exchange::Secret;
use credless_resources::ResourceError;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

/// The longest cloud message kept.
const MAX_MESSAGE_CHARS: usize = 500;

/// Which API a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    Compute,
    SqlAdmin,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Compute => "Compute Engine",
            Api::SqlAdmin => "Cloud SQL Admin",
        }
    }
}

/// One caller's calls: the shared client and the caller's access token.
pub(super) struct Caller<'a> {
    pub(super) client: &'a reqwest::Client,
    pub(super) token: &'a Secret,
}

impl Caller<'_> {
    /// Sends one request and returns the JSON body of a success.
    ///
    /// Fails as [`from_response`] and [`from_transport`] classify; `what` names the resource
    /// for a [`ResourceError::NotFound`].
    pub(super) async fn send(
        &self,
        api: Api,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, ResourceError> {
        let mut request = self
            .client
            .request(method, url)
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| from_transport(api, &error))?;
        let status = response.status();
        tracing::debug!(
            http.status = status.as_u16(),
            api = api.name(),
            "Google answered"
        );
        let retry_after = crate::provider::retry_after(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|error| from_transport(api, &error))?;
        if !status.is_success() {
            return Err(from_response(api, status, retry_after, &bytes, what));
        }
        serde_json::from_slice(&bytes).map_err(|_| unreadable(api))
    }
}

/// Classifies an answer that was not a success.
pub(super) fn from_response(
    api: Api,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    what: &str,
) -> ResourceError {
    let error = GoogleError::parse(body);
    let code = error
        .reason
        .clone()
        .or_else(|| error.status.clone())
        .unwrap_or_else(|| status.as_u16().to_string());
    let message = truncate(error.message.unwrap_or_else(|| {
        format!(
            "{} answered HTTP {status} without an error body",
            api.name()
        )
    }));
    let reason = error.reason.as_deref().unwrap_or_default();
    let google_status = error.status.as_deref().unwrap_or_default();

    match status.as_u16() {
        404 => ResourceError::NotFound {
            what: what.to_owned(),
        },
        429 => ResourceError::Throttled {
            retry_after,
            cloud_code: code,
        },
        403 if matches!(reason, "quotaExceeded" | "QUOTA_EXCEEDED") => ResourceError::Quota {
            cloud_code: code,
            message,
        },
        403 if matches!(reason, "rateLimitExceeded" | "userRateLimitExceeded") => {
            ResourceError::Throttled {
                retry_after,
                cloud_code: code,
            }
        }
        401 | 403 => ResourceError::Denied {
            cloud_code: code,
            message,
        },
        409 | 412 => ResourceError::Conflict {
            cloud_code: code,
            message,
        },
        // A change to an instance that is still being created, started or stopped.
        400 if reason == "resourceNotReady" || google_status == "FAILED_PRECONDITION" => {
            ResourceError::Conflict {
                cloud_code: code,
                message,
            }
        }
        400 | 422 => ResourceError::Invalid {
            field: field_of(&message).to_owned(),
            reason: message,
            cloud_code: Some(code),
        },
        _ => ResourceError::Unavailable {
            message: format!("{} answered HTTP {status}: {message}", api.name()),
            cloud_code: Some(code),
        },
    }
}

/// Classifies a call that got no usable answer: no connection, a timeout, a broken body.
pub(super) fn from_transport(api: Api, error: &reqwest::Error) -> ResourceError {
    let what = if credless_session::outbound::is_refused_address(error) {
        "endpoint resolves to an internal address"
    } else if error.is_timeout() {
        "did not answer in time"
    } else if error.is_connect() {
        "could not be reached"
    } else {
        "failed to answer"
    };
    ResourceError::Unavailable {
        cloud_code: None,
        message: format!("{} {what}", api.name()),
    }
}

/// A success whose body is not what the API documents.
pub(super) fn unreadable(api: Api) -> ResourceError {
    ResourceError::Unavailable {
        cloud_code: None,
        message: format!("{} answered an unreadable body", api.name()),
    }
}

/// `base` with `segments` appended to its path, each percent-encoded as one segment.
pub(super) fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The parts of a Google error body, each optional.
#[derive(Debug, Default)]
struct GoogleError {
    message: Option<String>,
    reason: Option<String>,
    status: Option<String>,
}

impl GoogleError {
    fn parse(body: &[u8]) -> Self {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        let error = &value["error"];
        let text = |value: &Value| value.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        Self {
            message: text(&error["message"]),
            reason: text(&error["errors"][0]["reason"]),
            status: text(&error["status"]),
        }
    }
}

/// Which request field an invalid-argument message is about, best effort.
///
/// Compute Engine names the field (`Invalid value for field 'resource.machineType'`); Cloud SQL
/// names the thing (`Invalid Tier (…)`), so both are matched by keyword.
fn field_of(message: &str) -> &'static str {
    let lower = message.to_ascii_lowercase();
    let named = |hints: &[&str]| hints.iter().any(|hint| lower.contains(hint));
    if named(&["machinetype", "tier"]) {
        "size"
    } else if named(&["disks", "image"]) {
        "image"
    } else if named(&["zone", "region"]) {
        "region"
    } else if named(&["labels", "label "]) {
        "tags"
    } else if named(&["databaseversion", "database version"]) {
        "engine_version"
    } else if named(&["name"]) {
        "name"
    } else {
        "request"
    }
}

fn truncate(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> ResourceError {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        from_response(Api::Compute, status, None, body.as_bytes(), "VM web")
    }

    #[test]
    fn compute_field_names_become_request_fields() {
        let body = r#"{"error":{"code":400,"errors":[{"reason":"invalid"}],
            "message":"Invalid value for field 'resource.machineType': 'zones/x-b/huge'."}}"#;
        match classify(400, body) {
            ResourceError::Invalid {
                field, cloud_code, ..
            } => {
                assert_eq!(field, "size");
                assert_eq!(cloud_code.as_deref(), Some("invalid"));
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_change_while_busy_is_a_conflict_and_garbage_is_unavailable() {
        let busy = r#"{"error":{"code":400,"message":"not ready",
            "errors":[{"reason":"resourceNotReady"}]}}"#;
        assert!(matches!(
            classify(400, busy),
            ResourceError::Conflict { .. }
        ));
        assert!(matches!(
            classify(502, "<html>bad gateway"),
            ResourceError::Unavailable { cloud_code: Some(code), .. } if code == "502"
        ));
    }
}
