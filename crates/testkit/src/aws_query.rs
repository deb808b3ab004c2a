//! What the EC2 and RDS fakes share: reading a signed AWS Query API request, refusing it as
//! AWS does, injected failures, and states that settle over reads and time.
//!
//! This checks the shape of SigV4 (`Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/
//! <region>/<service>/aws4_request, SignedHeaders=…, Signature=…` and `X-Amz-Date`), not the
//! signature itself: the fakes do not know the caller's secret key.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use wiremock::{Request, ResponseTemplate};

use crate::keys::random_bytes;

/// A failure [`FakeEc2::fail_next`](crate::ec2::FakeEc2::fail_next) or
/// [`FakeRds::fail_next`](crate::rds::FakeRds::fail_next) injects into one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsFailure {
    /// The caller's role lacks the permission: EC2 `403 UnauthorizedOperation`, RDS
    /// `403 AccessDenied`.
    Denied,
    /// A quota is used up: EC2 `400 InstanceLimitExceeded`, RDS `400 InstanceQuotaExceeded`.
    Quota,
    /// Too many calls: EC2 `503 RequestLimitExceeded`, RDS `400 Throttling`.
    Throttled,
    /// `500 InternalFailure`.
    ServerError,
}

/// An error answer before it is written in a service's dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The AWS error code, such as `InvalidInstanceID.NotFound`.
    pub(crate) code: String,
    /// The message AWS gives with it.
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// One Query API request, read and checked.
#[derive(Debug, Clone)]
pub(crate) struct QueryRequest {
    /// The `Action` parameter.
    pub(crate) action: String,
    /// The region of the SigV4 credential scope.
    pub(crate) region: String,
    /// Every form parameter, the first value of each.
    pub(crate) params: HashMap<String, String>,
}

impl QueryRequest {
    /// Reads `request` as a Query API call to `service`; the error is AWS's refusal.
    pub(crate) fn read(request: &Request, service: &str) -> Result<Self, Refusal> {
        if request.method.as_str() != "POST" || request.url.path() != "/" {
            return Err(Refusal::new(
                400,
                "InvalidAction",
                "The fake serves the Query API as POST / only.",
            ));
        }
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let Some(authorization) = header("authorization") else {
            return Err(Refusal::new(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ));
        };
        let scope = credential_scope(&authorization).filter(|_| header("x-amz-date").is_some());
        let Some((access_key, region, signed_service)) = scope else {
            return Err(Refusal::new(
                400,
                "IncompleteSignature",
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature', \
                 and the request an X-Amz-Date header.",
            ));
        };
        if !(access_key.starts_with("ASIA") || access_key.starts_with("AKIA")) {
            return Err(Refusal::new(
                401,
                "AuthFailure",
                "AWS was not able to validate the provided access credentials",
            ));
        }
        if signed_service != service {
            return Err(Refusal::new(
                403,
                "SignatureDoesNotMatch",
                &format!("Credential should be scoped to correct service: '{service}'."),
            ));
        }
        let mut params = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(&request.body) {
            params
                .entry(key.into_owned())
                .or_insert_with(|| value.into_owned());
        }
        let Some(action) = params.get("Action").cloned() else {
            return Err(Refusal::new(
                400,
                "MissingAction",
                "The request must contain the parameter Action.",
            ));
        };
        if !params.contains_key("Version") {
            return Err(Refusal::new(
                400,
                "MissingParameter",
                "The request must contain the parameter Version.",
            ));
        }
        Ok(Self {
            action,
            region,
            params,
        })
    }

    /// A parameter's value.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The values of `<prefix>.1`, `<prefix>.2`, … in order, up to the first gap.
    pub(crate) fn list(&self, prefix: &str) -> Vec<String> {
        (1..)
            .map_while(|n| self.params.get(&format!("{prefix}.{n}")).cloned())
            .collect()
    }

    /// The pairs `<prefix>.<n>.Key` / `<prefix>.<n>.Value`, as EC2 and RDS spell tags.
    pub(crate) fn tags(&self, prefix: &str) -> Vec<(String, String)> {
        (1..)
            .map_while(|n| {
                let key = self.params.get(&format!("{prefix}.{n}.Key"))?.clone();
                let value = self
                    .params
                    .get(&format!("{prefix}.{n}.Value"))
                    .cloned()
                    .unwrap_or_default();
                Some((key, value))
            })
            .collect()
    }
}

/// The access key, region and service of a SigV4 `Authorization` value.
fn credential_scope(authorization: &str) -> Option<(String, String, String)> {
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let (mut signed_headers, mut signature) = (false, false);
    for part in rest.split(',').map(str::trim) {
        if let Some(value) = part.strip_prefix("Credential=") {
            credential = Some(value);
        } else if part.starts_with("SignedHeaders=") {
            signed_headers = true;
        } else if let Some(value) = part.strip_prefix("Signature=") {
            signature = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
        }
    }
    if !(signed_headers && signature) {
        return None;
    }
    let fields: Vec<&str> = credential?.split('/').collect();
    match fields.as_slice() {
        [key, date, region, service, "aws4_request"]
            if !key.is_empty() && date.len() == 8 && !region.is_empty() =>
        {
            Some((
                (*key).to_owned(),
                (*region).to_owned(),
                (*service).to_owned(),
            ))
        }
        _ => None,
    }
}

/// Failures queued per action, each used once.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    queued: HashMap<String, VecDeque<AwsFailure>>,
}

impl Failures {
    pub(crate) fn push(&mut self, action: &str, failure: AwsFailure) {
        self.queued
            .entry(action.to_owned())
            .or_default()
            .push_back(failure);
    }

    pub(crate) fn take(&mut self, action: &str) -> Option<AwsFailure> {
        self.queued.get_mut(action)?.pop_front()
    }
}

/// How fast transitional states settle: after `reads` observations of the resource, or after
/// `time` has passed since the previous step, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) reads: usize,
    pub(crate) time: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            reads: 1,
            time: Duration::from_secs(2),
        }
    }
}

/// The states still ahead of a resource; the last one is where it settles.
#[derive(Debug)]
pub(crate) struct Steps {
    ahead: VecDeque<String>,
    reads: usize,
    since: Instant,
}

impl Steps {
    /// A change through `states`, in order.
    pub(crate) fn new(states: &[&str]) -> Self {
        Self {
            ahead: states.iter().map(|state| (*state).to_owned()).collect(),
            reads: 0,
            since: Instant::now(),
        }
    }

    /// Counts one observation; returns the next state once the current one is due to end.
    pub(crate) fn observe(&mut self, pace: Pace) -> Option<String> {
        if self.ahead.is_empty() {
            return None;
        }
        self.reads += 1;
        if self.reads < pace.reads.max(1) && self.since.elapsed() < pace.time {
            return None;
        }
        self.reads = 0;
        self.since = Instant::now();
        self.ahead.pop_front()
    }
}

/// A request id in AWS's UUID form.
pub(crate) fn request_id() -> String {
    let hex = hex_id(32);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `count` random lowercase hex digits.
pub(crate) fn hex_id(count: usize) -> String {
    random_bytes(count)
        .into_iter()
        .map(|b| char::from(b"0123456789abcdef"[usize::from(b % 16)]))
        .collect()
}

/// The time now as AWS writes it, `2026-01-01T00:00:00.000Z`.
pub(crate) fn timestamp() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// `value` made safe as XML text.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// Appends `<name>value</name>` with the value escaped.
pub(crate) fn element(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(value));
}

/// An XML answer.
pub(crate) fn xml(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body, "text/xml;charset=UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_scope_is_read_from_a_sigv4_header() {
        let header = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/us-east-1/ec2/aws4_request, \
                      SignedHeaders=content-type;host;x-amz-date, Signature=\
                      0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            credential_scope(header),
            Some(("ASIAEXAMPLE".into(), "us-east-1".into(), "ec2".into()))
        );
        assert_eq!(credential_scope("Bearer x"), None);
        assert_eq!(
            credential_scope(&header.replace("Signature=0", "Signature=z")),
            None
        );
    }

    #[test]
    fn ids_have_the_length_asked_for() {
        let id = hex_id(17);
        assert_eq!(id.len(), 17);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(request_id().len(), 36);
    }

    #[test]
    fn steps_settle_after_enough_reads() {
        let pace = Pace {
            reads: 2,
            time: Duration::from_secs(3600),
        };
        let mut steps = Steps::new(&["running"]);
        assert_eq!(steps.observe(pace), None);
        assert_eq!(steps.observe(pace).as_deref(), Some("running"));
        assert_eq!(steps.observe(pace), None);
    }

    #[test]
    fn steps_settle_after_their_time_whatever_the_reads() {
        let pace = Pace {
            reads: 1000,
            time: Duration::ZERO,
        };
        let mut steps = Steps::new(&["stopping", "stopped"]);
        assert_eq!(steps.observe(pace).as_deref(), Some("stopping"));
        assert_eq!(steps.observe(pace).as_deref(), Some("stopped"));
        assert_eq!(steps.observe(pace), None);
    }
}
