//! One Azure Resource Manager call at a time: URLs built from segments, the bearer token, and
//! ARM's `{"error":{"code","message"}}` refusals classified into [`ResourceError`].

use std::time::Duration;

use credless_resources::ResourceError;
use reqwest::header::{ACCEPT, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

/// The most of a response body read: a page of a list is well under this.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The most pages of a list followed.
const MAX_PAGES: usize = 20;

/// The longest cloud message kept in an error.
const MAX_MESSAGE_CHARS: usize = 600;

/// ARM, called with one caller's access token.
pub(super) struct Arm<'a> {
    pub(super) client: &'a reqwest::Client,
    pub(super) endpoint: &'a Url,
    pub(super) token: &'a str,
}

/// A successful answer: its status and JSON body (`Null` when empty).
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
}

impl Arm<'_> {
    /// The URL of `segments` under the management endpoint, each percent-encoded.
    pub(super) fn url(&self, segments: &[&str], api_version: &str) -> Url {
        let mut url = self.endpoint.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        url
    }

    /// Sends one request; a `4xx`/`5xx` becomes the matching [`ResourceError`], where `what`
    /// names the resource for a `404`.
    pub(super) async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer, ResourceError> {
        let mut request = self
            .client
            .request(method.clone(), url)
            .bearer_auth(self.token)
            .header(ACCEPT, "application/json");
        request = match body {
            Some(body) => request.json(body),
            // ARM wants a length on bodiless POSTs.
            None if method == Method::POST => request.header("content-length", "0"),
            None => request,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = read_limited(response).await?;
        tracing::debug!(http.method = %method, http.status = status.as_u16(), "arm call");

        if status.is_client_error() || status.is_server_error() {
            return Err(classify(status, retry_after, &bytes, what));
        }
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|_| unreadable())?
        };
        Ok(Answer {
            status: status.as_u16(),
            body,
        })
    }

    /// `GET` that answers `None` on `404`.
    pub(super) async fn find(&self, url: Url, what: &str) -> Result<Option<Value>, ResourceError> {
        match self.call(Method::GET, url, None, what).await {
            Ok(answer) => Ok(Some(answer.body)),
            Err(ResourceError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every item of a list, following `nextLink` (only to the same endpoint).
    pub(super) async fn list(&self, url: Url, what: &str) -> Result<Vec<Value>, ResourceError> {
        let mut items = Vec::new();
        let mut next = Some(url);
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else { break };
            let mut page = self.call(Method::GET, url, None, what).await?.body;
            if let Some(Value::Array(values)) = page.get_mut("value").map(Value::take) {
                items.extend(values);
            }
            next = page["nextLink"]
                .as_str()
                .and_then(|link| Url::parse(link).ok())
                .filter(|link| link.origin() == self.endpoint.origin());
        }
        Ok(items)
    }
}

/// Classifies an ARM refusal by status and code, keeping the code and message.
pub(super) fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    what: &str,
) -> ResourceError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // Most providers nest the error; a few older ones answer it at the top level.
    let error = if parsed["error"].is_object() {
        &parsed["error"]
    } else {
        &parsed
    };
    let code = error["code"].as_str().unwrap_or_default().to_owned();
    let message: String = error["message"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    let cloud_code = if code.is_empty() {
        status.as_u16().to_string()
    } else {
        code.clone()
    };
    let mentions_quota = code.to_ascii_lowercase().contains("quota")
        || message.to_ascii_lowercase().contains("quota");

    match status.as_u16() {
        429 => ResourceError::Throttled {
            retry_after,
            cloud_code,
        },
        400 | 403 | 409 if mentions_quota => ResourceError::Quota {
            cloud_code,
            message,
        },
        401 | 403 => ResourceError::Denied {
            cloud_code,
            message,
        },
        404 => ResourceError::NotFound {
            what: what.to_owned(),
        },
        409 | 412 => ResourceError::Conflict {
            cloud_code,
            message,
        },
        400 | 422 => ResourceError::Invalid {
            field: field_of(error),
            reason: message,
            cloud_code: Some(cloud_code),
        },
        _ => ResourceError::Unavailable {
            cloud_code: (!code.is_empty()).then_some(code),
            message: format!("Azure Resource Manager answered {status}"),
        },
    }
}

/// The request field an ARM validation error is about, best effort: its `target`, those of
/// its details, and its message, matched against the parts of our requests.
fn field_of(error: &Value) -> String {
    let mut haystack = String::new();
    haystack.push_str(error["target"].as_str().unwrap_or_default());
    for detail in error["details"].as_array().into_iter().flatten() {
        haystack.push(' ');
        haystack.push_str(detail["target"].as_str().unwrap_or_default());
    }
    haystack.push(' ');
    haystack.push_str(error["message"].as_str().unwrap_or_default());
    let haystack = haystack.to_ascii_lowercase();
    let fields = [
        ("vmsize", "size"),
        ("sku", "size"),
        ("imagereference", "image"),
        ("location", "region"),
        ("linuxconfiguration", "tags.ssh-public-key"),
        ("publickeys", "tags.ssh-public-key"),
        ("version", "engine_version"),
        ("computername", "name"),
        ("name", "name"),
    ];
    fields
        .iter()
        .find(|(needle, _)| haystack.contains(needle))
        .map_or("request", |(_, field)| field)
        .to_owned()
}

fn transport(error: reqwest::Error) -> ResourceError {
    let message = if credless_session::outbound::is_refused_address(&error) {
        "the management endpoint resolves to an internal address"
    } else if error.is_timeout() {
        "Azure Resource Manager did not answer in time"
    } else {
        "Azure Resource Manager could not be reached"
    };
    ResourceError::Unavailable {
        cloud_code: None,
        message: message.to_owned(),
    }
}

fn unreadable() -> ResourceError {
    ResourceError::Unavailable {
        cloud_code: None,
        message: "Azure Resource Manager answered something unreadable".to_owned(),
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, ResourceError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(unreadable());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
