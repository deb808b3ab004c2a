//! The token endpoint: `POST /{directory}/oauth2/v2.0/token`, checked in Entra's order.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::assertion::{Assertion, issuer_keys};
use super::{EntraExchange, EntraFailure, EntraRequest, EntraState};
use crate::keys::{b64url, random_bytes};
use crate::recording::{RecordedRequest, lock};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JSON: &str = "application/json; charset=utf-8";
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3599);
const FEDERATION_DOCS: &str = "https://learn.microsoft.com/entra/workload-id/\
                               workload-identity-federation";

/// Answers every request to the fake's server.
pub(super) struct TokenEndpoint {
    pub(super) state: std::sync::Arc<EntraState>,
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Some(directory) = directory_of(request.url.path()) else {
            return ResponseTemplate::new(404);
        };
        let form_body = request
            .headers
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
        let form: Vec<(String, String)> = if form_body {
            url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect()
        } else {
            Vec::new()
        };
        let recorded = EntraRequest {
            request: RecordedRequest::from_request(request),
            form,
        };
        lock(&self.state.requests).push(recorded.clone());
        let correlation = recorded
            .request
            .header("client-request-id")
            .map_or_else(guid, str::to_owned);

        let queued = lock(&self.state.failures).pop_front();
        if let Some(failure) = queued.or(*lock(&self.state.failing)) {
            return failed(failure, &self.state.authority, &correlation);
        }
        if request.method.as_str() != "POST" {
            let error = Refusal::new(405, "invalid_request", 900561)
                .say("The endpoint only accepts POST, OPTIONS requests. Received a GET request.");
            return error.response(&self.state.authority, &correlation);
        }
        match self.state.issue(directory, &recorded) {
            Ok(body) => ResponseTemplate::new(200)
                .insert_header("cache-control", "no-store, no-cache")
                .insert_header("x-ms-request-id", guid().as_str())
                .set_body_raw(body.to_string(), JSON),
            Err(refusal) => refusal.response(&self.state.authority, &correlation),
        }
    }
}

impl EntraState {
    /// Issues an access token for a request to `directory`, or refuses it as Entra would.
    fn issue(&self, directory: &str, request: &EntraRequest) -> Result<Value, Refusal> {
        let missing = |field: &str| {
            Refusal::new(400, "invalid_request", 900144).say(&format!(
                "The request body must contain the following parameter: '{field}'."
            ))
        };
        let field = |name: &'static str| request.field(name).ok_or_else(|| missing(name));

        let apps = lock(&self.directories)
            .get(&directory.to_ascii_lowercase())
            .cloned();
        let Some(apps) = apps else {
            return Err(unknown_directory(directory));
        };
        let grant_type = field("grant_type")?;
        if grant_type != "client_credentials" {
            return Err(Refusal::new(400, "unsupported_grant_type", 70003)
                .say("The app requested an unsupported grant type."));
        }
        let client_id = field("client_id")?;
        let scope = field("scope")?;
        let resource = resource_of(scope)?;
        let assertion_type = field("client_assertion_type")?;
        if assertion_type != ASSERTION_TYPE {
            return Err(Refusal::new(401, "invalid_client", 7000218).say(
                "The request body must contain the following parameter: 'client_assertion' or \
                 'client_secret'.",
            ));
        }
        let Some(app) = apps.get(&client_id.to_ascii_lowercase()) else {
            return Err(
                Refusal::new(400, "unauthorized_client", 700016).say(&format!(
                    "Application with identifier '{client_id}' was not found in the directory \
                 '{directory}'. This can happen if the application has not been installed by \
                 the administrator of the tenant or consented to by any user in the tenant. \
                 You may have sent your authentication request to the wrong tenant."
                )),
            );
        };
        let token = field("client_assertion")?;
        let assertion = Assertion::parse(token).ok_or_else(|| {
            Refusal::new(400, "invalid_request", 50027).say("JWT token is invalid or malformed.")
        })?;

        let issuer = assertion.claim("iss");
        let subject = assertion.claim("sub");
        let audiences = assertion.audiences();
        let no_record = |part: &str, value: &str| {
            Refusal::new(400, "invalid_client", 0).say(&format!(
                "No matching federated identity record found for presented assertion \
                 {part} '{value}'. Please check your federated identity credential Subject, \
                 Audience and Issuer against the presented assertion. {FEDERATION_DOCS}"
            ))
        };
        if app.credentials.is_empty() {
            return Err(Refusal::new(400, "invalid_client", 70021).say(&format!(
                "No matching federated identity record found for presented assertion. \
                 Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion \
                 Audience: '{}'. {FEDERATION_DOCS}",
                audiences.join(",")
            )));
        }
        let by_issuer: Vec<_> = app
            .credentials
            .iter()
            .filter(|fic| fic.issuer == issuer)
            .collect();
        if by_issuer.is_empty() {
            return Err(no_record("issuer", issuer).code(700211));
        }

        let jwks = issuer_keys(issuer).map_err(|()| {
            Refusal::new(400, "invalid_request", 50166).say(&format!(
                "Request to External OIDC endpoint failed: {issuer}."
            ))
        })?;
        assertion.verify(&jwks).map_err(|reason| {
            Refusal::new(400, "invalid_client", 50013).say(&format!(
                "Assertion failed signature validation. [Reason - {reason}]"
            ))
        })?;
        check_lifetime(&assertion, now_secs() + lock(&self.clock_ahead).as_secs())?;

        let by_audience: Vec<_> = by_issuer
            .into_iter()
            .filter(|fic| audiences.contains(&fic.audience.as_str()))
            .collect();
        if by_audience.is_empty() {
            return Err(no_record("audience", &audiences.join(",")).code(700212));
        }
        if !by_audience.iter().any(|fic| fic.subject == subject) {
            return Err(no_record("subject", subject).code(700213));
        }

        let lifetime = lock(&self.lifetime).unwrap_or(DEFAULT_LIFETIME);
        let now = now_secs();
        let claims = json!({
            "aud": resource, "iss": format!("https://sts.windows.net/{directory}/"),
            "iat": now, "nbf": now, "exp": now + lifetime.as_secs(),
            "appid": client_id, "appidacr": "2", "idtyp": "app",
            "oid": app.object_id, "sub": app.object_id, "tid": directory,
            "uti": b64url(random_bytes(16)), "ver": "1.0",
        });
        lock(&self.exchanges).push(EntraExchange {
            directory: directory.to_owned(),
            client_id: client_id.to_owned(),
            object_id: app.object_id.clone(),
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            scope: scope.to_owned(),
        });
        Ok(json!({
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "ext_expires_in": lifetime.as_secs(),
            "access_token": access_token(&claims),
        }))
    }
}

/// An Entra error answer.
struct Refusal {
    status: u16,
    error: &'static str,
    code: u32,
    message: String,
}

impl Refusal {
    fn new(status: u16, error: &'static str, code: u32) -> Self {
        Self {
            status,
            error,
            code,
            message: String::new(),
        }
    }

    fn say(mut self, message: &str) -> Self {
        message.clone_into(&mut self.message);
        self
    }

    fn code(mut self, code: u32) -> Self {
        self.code = code;
        self
    }

    /// The documented error JSON; the description's first line is `AADSTS<code>: <message>`,
    /// then the trace id, correlation id and timestamp, as Entra writes them.
    fn response(&self, authority: &str, correlation: &str) -> ResponseTemplate {
        let trace = guid();
        let timestamp = format_time(now_secs(), ' ', "Z");
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: \
             {timestamp}",
            self.code, self.message
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("{authority}/error?code={}", self.code),
        });
        ResponseTemplate::new(self.status)
            .insert_header("cache-control", "no-store, no-cache")
            .insert_header("x-ms-request-id", trace.as_str())
            .set_body_raw(body.to_string(), JSON)
    }
}

fn failed(failure: EntraFailure, authority: &str, correlation: &str) -> ResponseTemplate {
    match failure {
        EntraFailure::Throttle { retry_after } => {
            Refusal::new(429, "temporarily_unavailable", 90055)
                .say("TenantThrottlingError - There are too many incoming requests.")
                .response(authority, correlation)
                .insert_header("retry-after", retry_after.as_secs().to_string().as_str())
        }
        EntraFailure::ServerError => Refusal::new(500, "server_error", 50000)
            .say("There was an error issuing a token or an issue with our sign-in service.")
            .response(authority, correlation),
        EntraFailure::Hang => ResponseTemplate::new(200).set_delay(Duration::from_secs(300)),
        EntraFailure::Malformed => ResponseTemplate::new(200).set_body_raw(
            "<html><body>Sign in to the network</body></html>",
            "text/html",
        ),
    }
}

/// The directory of a token endpoint path, `/{directory}/oauth2/v2.0/token`.
fn directory_of(path: &str) -> Option<&str> {
    let directory = path.strip_prefix('/')?.strip_suffix("/oauth2/v2.0/token")?;
    (!directory.is_empty() && !directory.contains('/')).then_some(directory)
}

fn unknown_directory(directory: &str) -> Refusal {
    let is_guid = {
        let groups: Vec<&str> = directory.split('-').collect();
        groups.iter().map(|group| group.len()).eq([8, 4, 4, 4, 12])
            && groups
                .iter()
                .all(|group| group.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let is_domain = directory.contains('.')
        && directory.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if is_guid || is_domain {
        Refusal::new(400, "invalid_request", 90002).say(&format!(
            "Tenant '{directory}' not found. Check to make sure you have the correct tenant ID \
             and are signing into the correct cloud. Check with your subscription \
             administrator, this may happen if there are no active subscriptions for the tenant."
        ))
    } else {
        Refusal::new(400, "invalid_request", 900023).say(&format!(
            "Specified tenant identifier '{directory}' is neither a valid DNS name, nor a valid \
             external domain."
        ))
    }
}

/// The resource of a client credentials scope: exactly one `<resource>/.default`.
fn resource_of(scope: &str) -> Result<&str, Refusal> {
    if scope.split_whitespace().count() != 1 {
        return Err(Refusal::new(400, "invalid_scope", 70011).say(&format!(
            "The provided request must include a 'scope' input parameter. The provided value \
             for the input parameter 'scope' is not valid. The scope {scope} is not valid."
        )));
    }
    scope.trim().strip_suffix("/.default").ok_or_else(|| {
        Refusal::new(400, "invalid_scope", 1002012).say(&format!(
            "The provided value for scope {scope} is not valid. Client credential flows must \
             have a scope value with /.default suffixed to the resource identifier \
             (application ID URI)."
        ))
    })
}

/// Refuses an assertion outside its `nbf`..`exp` window at `now` (both required, no skew).
fn check_lifetime(assertion: &Assertion<'_>, now: u64) -> Result<(), Refusal> {
    let expires = assertion.claims["exp"].as_u64().unwrap_or(0);
    let not_before = assertion.claims["nbf"].as_u64().unwrap_or(0);
    if not_before <= now && now < expires {
        return Ok(());
    }
    Err(Refusal::new(400, "invalid_client", 700024).say(&format!(
        "Client assertion is not within its valid time range. Current time: {}, assertion \
         valid from {}, expiry time of assertion {}. Review the documentation at \
         https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        format_time(now, 'T', ".0000000Z"),
        format_time(not_before, 'T', ".0000000Z"),
        format_time(expires, 'T', ".0000000Z"),
    )))
}

/// A JWT-shaped access token whose signature is random: callers may read it, never verify it.
fn access_token(claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "fake-entra"});
    format!(
        "{}.{}.{}",
        b64url(header.to_string()),
        b64url(claims.to_string()),
        b64url(random_bytes(64))
    )
}

/// A random GUID in its 8-4-4-4-12 form.
pub(super) fn guid() -> String {
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

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `YYYY-MM-DD<separator>HH:MM:SS<suffix>` in UTC.
fn format_time(secs: u64, separator: char, suffix: &str) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}{separator}{:02}:{:02}:{:02}{suffix}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(format_time(0, ' ', "Z"), "1970-01-01 00:00:00Z");
        assert_eq!(
            format_time(1_767_225_599, 'T', ".0000000Z"),
            "2025-12-31T23:59:59.0000000Z"
        );
        assert_eq!(format_time(951_782_400, ' ', "Z"), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn only_token_paths_name_a_directory() {
        assert_eq!(directory_of("/dir/oauth2/v2.0/token"), Some("dir"));
        assert_eq!(directory_of("//oauth2/v2.0/token"), None);
        assert_eq!(directory_of("/a/b/oauth2/v2.0/token"), None);
        assert_eq!(directory_of("/dir/oauth2/token"), None);
    }
}
