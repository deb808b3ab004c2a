//! What the EC2 and RDS fakes share: the server that answers every call, reading a signed AWS
//! Query API request, refusing it as AWS does, injected failures, and states that settle over
//! reads and time. Each fake keeps only its actions and its XML dialect.
//!
//! This checks the shape of SigV4 (`Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/
//! <region>/<service>/aws4_request, SignedHeaders=…, Signature=…` and `X-Amz-Date`), not the
//! signature itself: the fakes do not know the caller's secret key.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::keys::random_bytes;
use crate::recording::lock;

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

    /// `400 InvalidParameterValue` with `message`, as EC2 and RDS both answer it.
    pub(crate) fn invalid(message: &str) -> Self {
        Self::new(400, "InvalidParameterValue", message)
    }

    /// Appends the `<Code>` and `<Message>` elements every dialect's error document holds.
    pub(crate) fn write_code_and_message(&self, out: &mut String) {
        element(out, "Code", &self.code);
        element(out, "Message", &self.message);
    }
}

/// What answering one call gives: a document, or a refusal still to be written.
pub(crate) type Answer = Result<ResponseTemplate, Refusal>;

/// What a Query API fake has of its own: its service name, its actions and its dialect.
pub(crate) trait QueryApi: Default + Send + Sync + 'static {
    /// The service a request must be signed for, such as `ec2`.
    const SERVICE: &'static str;

    /// The pace, failures and call counts every fake keeps.
    fn controls(&self) -> &Controls;

    /// Answers one call that passed the checks and has no failure queued.
    fn answer(&self, query: &QueryRequest) -> Answer;

    /// What an injected `failure` of `action` looks like in this service.
    fn failure(failure: AwsFailure, action: &str) -> Refusal;

    /// Writes `refusal` as this service's error document.
    fn render(refusal: &Refusal) -> ResponseTemplate;
}

/// Starts a server on `127.0.0.1` at a random port that answers every request from a new,
/// empty state of `A`.
pub(crate) async fn start<A: QueryApi>() -> (Arc<MockServer>, Arc<A>) {
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    let state = Arc::new(A::default());
    Mock::given(any())
        .respond_with(QueryResponder(Arc::clone(&state)))
        .mount(&server)
        .await;
    (Arc::new(server), state)
}

/// Checks a call, counts it, injects a queued failure, or hands it to the service.
struct QueryResponder<A>(Arc<A>);

impl<A: QueryApi> Respond for QueryResponder<A> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query = match QueryRequest::read(request, A::SERVICE) {
            Ok(query) => query,
            Err(refusal) => return A::render(&refusal),
        };
        let controls = self.0.controls();
        *lock(&controls.calls)
            .entry(query.action.clone())
            .or_default() += 1;
        let failure = lock(&controls.failures).take(&query.action);
        let answer = match failure {
            Some(failure) => Err(A::failure(failure, &query.action)),
            None => self.0.answer(&query),
        };
        answer.unwrap_or_else(|refusal| A::render(&refusal))
    }
}

/// The knobs and counters every Query API fake has besides its resources.
#[derive(Debug, Default)]
pub(crate) struct Controls {
    pace: Mutex<Pace>,
    failures: Mutex<Failures>,
    calls: Mutex<BTreeMap<String, usize>>,
}

impl Controls {
    /// Sets how fast transitional states settle.
    pub(crate) fn set_pace(&self, reads: usize, time: Duration) {
        *lock(&self.pace) = Pace { reads, time };
    }

    /// How fast transitional states settle now.
    pub(crate) fn pace(&self) -> Pace {
        *lock(&self.pace)
    }

    /// Queues `failure` for the next call of `action`.
    pub(crate) fn fail_next(&self, action: &str, failure: AwsFailure) {
        lock(&self.failures).push(action, failure);
    }

    /// How many calls of `action` passed the request checks, failed ones included.
    pub(crate) fn calls(&self, action: &str) -> usize {
        lock(&self.calls).get(action).copied().unwrap_or(0)
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

    /// A parameter's value; absent or empty, it is AWS's `400 MissingParameter`.
    pub(crate) fn required(&self, name: &str) -> Result<&str, Refusal> {
        self.param(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            Refusal::new(
                400,
                "MissingParameter",
                &format!("The request must contain the parameter {name}"),
            )
        })
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

    #[tokio::test]
    async fn an_injected_failure_answers_one_call_in_the_dialect_of_its_service() {
        let ec2 = crate::ec2::FakeEc2::start().await;
        let rds = crate::rds::FakeRds::start().await;
        ec2.fail_next("DescribeInstances", AwsFailure::Throttled);
        rds.fail_next("DescribeDBInstances", AwsFailure::Denied);

        let describe_instances = (ec2.endpoint(), "ec2", "DescribeInstances");
        let throttled = "<Response><Errors><Error><Code>RequestLimitExceeded</Code>";
        expect(&describe_instances, 503, throttled).await;
        expect(&describe_instances, 200, "<DescribeInstancesResponse ").await;
        let wrong_scope = (ec2.endpoint(), "rds", "DescribeInstances");
        expect(&wrong_scope, 403, "<Code>SignatureDoesNotMatch</Code>").await;
        assert_eq!(
            ec2.calls("DescribeInstances"),
            2,
            "refused requests are not calls"
        );

        let describe_db_instances = (rds.endpoint(), "rds", "DescribeDBInstances");
        let denied = "<Error><Type>Sender</Type><Code>AccessDenied</Code>";
        expect(&describe_db_instances, 403, denied).await;
        expect(&describe_db_instances, 200, "<DescribeDBInstancesResult>").await;
    }

    /// Posts `(endpoint, service, action)` with a SigV4-shaped header scoped to `service` and
    /// asserts the answer's status and a piece of its body.
    #[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
    async fn expect(call: &(String, &str, &str), status: u16, fragment: &str) {
        let (endpoint, service, action) = call;
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={}",
            "0".repeat(64)
        );
        let response = reqwest::Client::new()
            .post(format!("{endpoint}/"))
            .header("authorization", authorization)
            .header("x-amz-date", "20260101T000000Z")
            .form(&[("Action", *action), ("Version", "2016-11-15")])
            .send()
            .await
            .unwrap();
        let answered = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(answered, status, "{action}: {body}");
        assert!(body.contains(fragment), "{action}: {body}");
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
