//! The wire side of the fake STS: parameters in, STS's XML documents out.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wiremock::{Request, Respond, ResponseTemplate};

use super::verify::{self, Verified};
use super::{FakeFailure, Issued, StsRequest, StsState};
use crate::keys::{random_bytes, random_token};
use crate::recording::{RecordedRequest, lock};

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const VERSION: &str = "2011-06-15";

/// An STS error: its code, HTTP status, `Sender` or `Receiver`, and message.
pub(super) struct StsError {
    code: String,
    status: u16,
    fault: &'static str,
    message: String,
}

impl StsError {
    pub(super) fn sender(code: &str, status: u16, message: &str) -> Self {
        Self {
            code: code.to_owned(),
            status,
            fault: "Sender",
            message: message.to_owned(),
        }
    }

    fn validation(message: String) -> Self {
        Self::sender(
            "ValidationError",
            400,
            &format!("1 validation error detected: {message}"),
        )
    }

    fn access_denied() -> Self {
        Self::sender(
            "AccessDenied",
            403,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    }

    fn response(&self, request_id: &str) -> ResponseTemplate {
        let body = format!(
            "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{}</Type>\n    \
             <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            self.fault,
            escape(&self.code),
            escape(&self.message)
        );
        xml(self.status, request_id, body)
    }
}

pub(super) struct StsResponder {
    pub(super) state: Arc<StsState>,
}

impl Respond for StsResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut params: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        params.extend(url::form_urlencoded::parse(&request.body).into_owned());
        let call = StsRequest {
            request: RecordedRequest::from_request(request),
            params,
        };
        lock(&self.state.requests).push(call.clone());
        let request_id = request_id();

        let version = call.param("Version").unwrap_or_default();
        let answer = match (call.action(), version) {
            ("", _) => Err(StsError::sender("MissingAction", 400, "Missing Action")),
            (action, version) if version != VERSION => Err(StsError::sender(
                "InvalidAction",
                400,
                &format!("Could not find operation {action} for version {version}"),
            )),
            ("AssumeRoleWithWebIdentity", _) => {
                self.state.exchanges.fetch_add(1, Ordering::SeqCst);
                let queued = lock(&self.state.failures).pop_front();
                let failure = queued.or_else(|| lock(&self.state.always).clone());
                if let Some(failure) = failure {
                    return injected(&failure, &request_id);
                }
                self.state.assume_role(&call)
            }
            ("GetCallerIdentity", _) => self.state.caller_identity(&call),
            (action, _) => Err(StsError::sender(
                "InvalidAction",
                400,
                &format!("Could not find operation {action} for version {VERSION}"),
            )),
        };
        match answer {
            Ok(body) => xml(200, &request_id, body),
            Err(error) => error.response(&request_id),
        }
    }
}

impl StsState {
    fn assume_role(&self, call: &StsRequest) -> Result<String, StsError> {
        let role_arn = required(call, "RoleArn")?;
        let session_name = required(call, "RoleSessionName")?;
        let token = required(call, "WebIdentityToken")?;
        check_session_name(session_name)?;
        let requested = duration_seconds(call)?;

        let now = SystemTime::now();
        let verified = verify::verify(token, &lock(&self.issuers), unix_secs(now))?;
        let trust = self.check_trust(role_arn, &verified)?;
        if requested > trust.max_session {
            return Err(StsError::sender(
                "ValidationError",
                400,
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }

        let lifetime = (*lock(&self.lifetime)).unwrap_or(requested);
        let expires_at = now + lifetime;
        let (account, role_name) = account_and_role(role_arn);
        let role_id = format!("AROA{}", key_chars(17));
        let arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}");
        let access_key_id = format!("ASIA{}", key_chars(16));
        let secret = random_token(30);
        let session_token = random_token(180);
        let user_id = format!("{role_id}:{session_name}");
        let audience = verified.audiences.first().cloned().unwrap_or_default();

        let body = format!(
            "<AssumeRoleWithWebIdentityResponse xmlns=\"{XMLNS}\">\n  \
             <AssumeRoleWithWebIdentityResult>\n    <Credentials>\n      \
             <AccessKeyId>{access_key_id}</AccessKeyId>\n      \
             <SecretAccessKey>{secret}</SecretAccessKey>\n      \
             <SessionToken>{session_token}</SessionToken>\n      \
             <Expiration>{expiration}</Expiration>\n    </Credentials>\n    \
             <SubjectFromWebIdentityToken>{subject}</SubjectFromWebIdentityToken>\n    \
             <AssumedRoleUser>\n      <AssumedRoleId>{user_id}</AssumedRoleId>\n      \
             <Arn>{arn_xml}</Arn>\n    </AssumedRoleUser>\n    \
             <Provider>{provider}</Provider>\n    <Audience>{audience}</Audience>\n  \
             </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    \
             <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n\
             </AssumeRoleWithWebIdentityResponse>\n",
            expiration = humantime::format_rfc3339_seconds(expires_at),
            subject = escape(&verified.subject),
            user_id = escape(&user_id),
            arn_xml = escape(&arn),
            provider = escape(&verified.issuer),
            audience = escape(&audience),
            request_id = request_id(),
        );
        let issued = Issued {
            session_token,
            arn,
            user_id,
            expires_at,
        };
        lock(&self.issued).insert(access_key_id, issued);
        Ok(body)
    }

    /// Checks the issuer's client ids, then the role's trust conditions.
    fn check_trust(
        &self,
        role_arn: &str,
        verified: &Verified,
    ) -> Result<super::RoleTrust, StsError> {
        let roles = lock(&self.roles);
        let client_ids = roles
            .values()
            .filter(|trust| trust.issuer == verified.issuer)
            .map(|trust| trust.audience.as_str());
        let mut client_ids = client_ids.peekable();
        if client_ids.peek().is_some()
            && !client_ids.any(|id| verified.audiences.iter().any(|aud| aud == id))
        {
            return Err(StsError::sender(
                "InvalidIdentityToken",
                400,
                "Incorrect token audience",
            ));
        }
        let trust = roles.get(role_arn).ok_or_else(StsError::access_denied)?;
        let trusted = trust.issuer == verified.issuer
            && verified.audiences.contains(&trust.audience)
            && trust
                .subject
                .as_ref()
                .is_none_or(|subject| *subject == verified.subject);
        if trusted {
            Ok(trust.clone())
        } else {
            Err(StsError::access_denied())
        }
    }

    fn caller_identity(&self, call: &StsRequest) -> Result<String, StsError> {
        let invalid = || {
            StsError::sender(
                "InvalidClientTokenId",
                403,
                "The security token included in the request is invalid.",
            )
        };
        let Some(authorization) = call.request.header("authorization") else {
            return Err(StsError::sender(
                "MissingAuthenticationToken",
                403,
                "Request is missing Authentication Token",
            ));
        };
        let access_key_id = authorization
            .split("Credential=")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(invalid)?;
        let issued = lock(&self.issued);
        let credentials = issued.get(access_key_id).ok_or_else(invalid)?;
        if call.request.header("x-amz-security-token") != Some(&credentials.session_token) {
            return Err(invalid());
        }
        if credentials.expires_at <= SystemTime::now() {
            return Err(StsError::sender(
                "ExpiredToken",
                400,
                "The security token included in the request is expired",
            ));
        }
        lock(&self.callers).push(access_key_id.to_owned());
        let (account, _) = account_and_role(&credentials.arn);
        Ok(format!(
            "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    \
             <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{account}</Account>\n  \
             </GetCallerIdentityResult>\n  <ResponseMetadata>\n    \
             <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
            escape(&credentials.arn),
            escape(&credentials.user_id),
            request_id()
        ))
    }
}

fn injected(failure: &FakeFailure, request_id: &str) -> ResponseTemplate {
    match failure {
        FakeFailure::Throttle => {
            StsError::sender("Throttling", 400, "Rate exceeded").response(request_id)
        }
        FakeFailure::ServerError(status) => {
            let code = if *status == 503 {
                "ServiceUnavailable"
            } else {
                "InternalFailure"
            };
            let error = StsError {
                code: code.to_owned(),
                status: *status,
                fault: "Receiver",
                message: "The service is unavailable. Please try again later.".to_owned(),
            };
            error.response(request_id)
        }
        FakeFailure::Hang => ResponseTemplate::new(200).set_delay(Duration::from_secs(300)),
        FakeFailure::Malformed => {
            let body = format!(
                "<AssumeRoleWithWebIdentityResponse xmlns=\"{XMLNS}\">\n  \
                 <AssumeRoleWithWebIdentityResult>\n    <Credentials>\n      \
                 <AccessKeyId>ASIAMALFORMED0000000</AccessKeyId>\n      \
                 <SecretAccessKey>malformed-answer-secret-key"
            );
            xml(200, request_id, body)
        }
        FakeFailure::Error {
            code,
            status,
            message,
        } => StsError::sender(code, *status, message).response(request_id),
    }
}

fn required<'a>(call: &'a StsRequest, name: &str) -> Result<&'a str, StsError> {
    call.param(name).ok_or_else(|| {
        StsError::sender(
            "MissingParameter",
            400,
            &format!("The request must contain the parameter {name}"),
        )
    })
}

/// `RoleSessionName`: 2 to 64 characters of `[\w+=,.@-]`.
fn check_session_name(name: &str) -> Result<(), StsError> {
    let constraint = if name.chars().count() < 2 {
        "Member must have length greater than or equal to 2"
    } else if name.chars().count() > 64 {
        "Member must have length less than or equal to 64"
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    } else {
        return Ok(());
    };
    Err(StsError::validation(format!(
        "Value '{name}' at 'roleSessionName' failed to satisfy constraint: {constraint}"
    )))
}

/// `DurationSeconds`: 900 to 43200, one hour when missing.
fn duration_seconds(call: &StsRequest) -> Result<Duration, StsError> {
    let Some(raw) = call.param("DurationSeconds") else {
        return Ok(Duration::from_secs(3600));
    };
    let seconds: u64 = raw.parse().map_err(|_| {
        StsError::sender(
            "MalformedInput",
            400,
            &format!("Invalid value for parameter DurationSeconds: {raw}"),
        )
    })?;
    let constraint = if seconds < 900 {
        "Member must have value greater than or equal to 900"
    } else if seconds > 43_200 {
        "Member must have value less than or equal to 43200"
    } else {
        return Ok(Duration::from_secs(seconds));
    };
    Err(StsError::validation(format!(
        "Value '{seconds}' at 'durationSeconds' failed to satisfy constraint: {constraint}"
    )))
}

/// The account id and role name of `arn:aws:iam::<account>:role/<path/><name>`, or of an
/// assumed-role ARN.
fn account_and_role(arn: &str) -> (String, String) {
    let mut fields = arn.splitn(6, ':');
    let account = fields.nth(4).unwrap_or_default().to_owned();
    let resource = fields.next().unwrap_or_default();
    let role = resource
        .split('/')
        .next_back()
        .unwrap_or_default()
        .to_owned();
    (account, role)
}

fn xml(status: u16, request_id: &str, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-amzn-RequestId", request_id)
        .set_body_raw(body, "text/xml")
}

/// A request id shaped like STS's (a UUID).
fn request_id() -> String {
    let hex: String = random_bytes(16)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Upper-case letters and digits, like the random part of AWS access key ids.
fn key_chars(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random_bytes(len)
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
