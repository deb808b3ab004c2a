//! Audit events: who did what to which account or resource, and how it ended.
//!
//! An [`AuditEvent`] is written twice by the gateway: to the store through
//! [`crate::Registry::record_audit`] (the tenant's `GET /api/v1/audit`) and to the log through
//! [`AuditEvent::log`] (target `credless::audit`). Events outlive the accounts and tenants they
//! name, so that a deletion can itself be investigated.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most events [`crate::Store::audit`] returns at once.
pub const MAX_AUDIT_LIMIT: u32 = 1000;

/// How many events the API returns when the caller names no limit.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;

/// The longest detail kept, in characters; longer ones are cut.
pub const MAX_DETAIL_CHARS: usize = 1000;

/// Runs of token-like characters at least this long are taken for secrets and redacted.
const SECRET_RUN: usize = 40;

/// What replaces a suspected secret in a detail.
const REDACTED: &str = "[redacted]";

/// The actions Credless records, as they appear in the `action` field.
pub mod action {
    /// An account was created or replaced.
    pub const ACCOUNT_PUT: &str = "account.put";
    /// An account was deleted.
    pub const ACCOUNT_DELETE: &str = "account.delete";
    /// An account's trust was verified.
    pub const ACCOUNT_VERIFY: &str = "account.verify";
    /// A resource was created.
    pub const RESOURCE_CREATE: &str = "resource.create";
    /// A resource was started.
    pub const RESOURCE_START: &str = "resource.start";
    /// A resource was stopped.
    pub const RESOURCE_STOP: &str = "resource.stop";
    /// A resource was deleted.
    pub const RESOURCE_DELETE: &str = "resource.delete";
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The action was carried out.
    Success,
    /// The action was allowed but failed, in Credless or in the cloud.
    Failure,
    /// The caller was not allowed to do it.
    Denied,
}

impl Outcome {
    /// The serialized form: `success`, `failure` or `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    /// Parses the serialized form; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Success, Self::Failure, Self::Denied]
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a tenant's audit log, serialized as the contract's
/// `{"time","request_id","subject","email","action","account","resource","outcome","detail"}`.
///
/// The tenant is not serialized: the audit API is answered per tenant, so it is implied. Build
/// events with [`AuditEvent::new`]; the detail can only be set through
/// [`AuditEvent::with_detail`], which cuts and redacts it (see [`AuditEvent::redacted_detail`]).
/// `time` is kept to the millisecond, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When the action ended; RFC 3339 in UTC with milliseconds.
    #[serde(
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time"
    )]
    pub time: SystemTime,
    /// The request that caused it, as in the `X-Request-Id` response header.
    pub request_id: String,
    /// The tenant whose log holds it; not serialized.
    #[serde(skip_serializing, default)]
    pub tenant: String,
    /// The caller's `sub` claim.
    pub subject: String,
    /// The caller's email, when the identity provider gave one.
    pub email: Option<String>,
    /// What was attempted, such as `resource.create` (see [`action`]).
    pub action: String,
    /// The account acted on.
    pub account: Option<String>,
    /// The resource acted on.
    pub resource: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// A short, secret-free explanation; empty when there is nothing to add.
    #[serde(deserialize_with = "deserialize_detail")]
    detail: String,
}

impl AuditEvent {
    /// An event happening now, with no account, resource or detail yet.
    pub fn new(
        tenant: impl Into<String>,
        request_id: impl Into<String>,
        subject: impl Into<String>,
        action: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            time: to_millis(SystemTime::now()),
            request_id: request_id.into(),
            tenant: tenant.into(),
            subject: subject.into(),
            email: None,
            action: action.into(),
            account: None,
            resource: None,
            outcome,
            detail: String::new(),
        }
    }

    /// Sets the caller's email.
    #[must_use]
    pub fn with_email(mut self, email: Option<impl Into<String>>) -> Self {
        self.email = email.map(Into::into);
        self
    }

    /// Sets the account acted on.
    #[must_use]
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Sets the resource acted on.
    #[must_use]
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets the time, to the millisecond; times before 1970 become 1970.
    #[must_use]
    pub fn with_time(mut self, time: SystemTime) -> Self {
        self.time = to_millis(time);
        self
    }

    /// Sets the detail through [`AuditEvent::redacted_detail`].
    ///
    /// Pass error kinds and cloud error codes, never a request body or a credential: the
    /// redaction is a last guard, not a filter to rely on.
    #[must_use]
    pub fn with_detail(mut self, detail: &str) -> Self {
        self.detail = Self::redacted_detail(detail);
        self
    }

    /// The detail as it will be stored.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// `text` made fit for the audit log: token-like runs of 40 or more characters, JWTs,
    /// AWS access key ids and `Bearer` values replaced by `[redacted]`, control characters by
    /// spaces, and the result cut to [`MAX_DETAIL_CHARS`] characters.
    ///
    /// Resource ids are long token-like runs too: put them in `resource`, not in the detail.
    pub fn redacted_detail(text: &str) -> String {
        let mut out = String::with_capacity(text.len().min(MAX_DETAIL_CHARS));
        let mut after_bearer = false;
        for (index, word) in text.split(' ').enumerate() {
            if index > 0 {
                out.push(' ');
            }
            if after_bearer || looks_secret(word) {
                out.push_str(REDACTED);
            } else {
                out.extend(word.chars().map(|c| if c.is_control() { ' ' } else { c }));
            }
            after_bearer = word.eq_ignore_ascii_case("bearer");
        }
        out.chars().take(MAX_DETAIL_CHARS).collect()
    }

    /// Emits the event at `info` on target `credless::audit`, with structured fields.
    pub fn log(&self) {
        tracing::info!(
            target: "credless::audit",
            action = %self.action,
            tenant.id = %self.tenant,
            request.id = %self.request_id,
            subject = %self.subject,
            email = self.email.as_deref(),
            account.id = self.account.as_deref(),
            resource.id = self.resource.as_deref(),
            outcome = self.outcome.as_str(),
            detail = %self.detail,
            "Audit event"
        );
    }
}

/// Whether a word looks like a credential: a JWT, an AWS access key id, or a long run of
/// base64 or hex characters such as a secret key or an opaque token.
fn looks_secret(word: &str) -> bool {
    let tokenish = |c: char| c.is_ascii_alphanumeric() || "+/=_-.~".contains(c);
    let longest_run = word
        .split(|c: char| !tokenish(c) || c == '.')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let jwt = word
        .split(|c: char| !tokenish(c))
        .any(|part| part.starts_with("eyJ") && part.matches('.').count() >= 2);
    let aws_key = ["AKIA", "ASIA"].iter().any(|prefix| {
        word.match_indices(prefix).any(|(at, _)| {
            let rest = &word[at + prefix.len()..];
            rest.len() >= 16
                && rest[..16]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
    });
    longest_run >= SECRET_RUN || jwt || aws_key
}

/// Milliseconds since 1970 of `time`, clamped to `0` before it.
pub(crate) fn unix_millis(time: SystemTime) -> i64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The time `millis` after 1970; negative values are 1970.
pub(crate) fn from_unix_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

fn to_millis(time: SystemTime) -> SystemTime {
    from_unix_millis(unix_millis(time))
}

fn serialize_time<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    // Clamped first: humantime refuses times before 1970.
    let text = humantime::format_rfc3339_millis(to_millis(*time)).to_string();
    serializer.serialize_str(&text)
}

fn deserialize_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_rfc3339(&text).map_err(serde::de::Error::custom)
}

fn deserialize_detail<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(AuditEvent::redacted_detail(&String::deserialize(
        deserializer,
    )?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

    use super::*;

    fn event() -> AuditEvent {
        AuditEvent::new(
            "acme",
            "req-1",
            "alice",
            action::RESOURCE_CREATE,
            Outcome::Denied,
        )
        .with_email(Some("alice@acme.example"))
        .with_account("prod")
        .with_time(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123))
    }

    #[test]
    fn serializes_as_the_contract_without_the_tenant() {
        let json = serde_json::to_value(event().with_detail("not in allowed_groups")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "time": "2023-11-14T22:13:20.123Z",
                "request_id": "req-1",
                "subject": "alice",
                "email": "alice@acme.example",
                "action": "resource.create",
                "account": "prod",
                "resource": null,
                "outcome": "denied",
                "detail": "not in allowed_groups",
            })
        );
        let back: AuditEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back.time, event().time);
        assert_eq!(back.outcome, Outcome::Denied);
        assert_eq!(back.tenant, "", "the tenant is implied by the API");
    }

    #[test]
    fn details_lose_secrets_and_are_cut() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
        let aws_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let text = format!(
            "sts said: {jwt} key=AKIAIOSFODNN7EXAMPLE secret {aws_secret} \
             Authorization: Bearer abc ya29.{} vm-1 in eastus",
            "a".repeat(60)
        );
        let detail = event().with_detail(&text).detail().to_owned();
        for secret in [jwt, "AKIAIOSFODNN7EXAMPLE", aws_secret, "abc", "aaaaaaaaaa"] {
            assert!(!detail.contains(secret), "{secret} leaked into {detail}");
        }
        assert!(detail.starts_with("sts said: [redacted]"), "{detail}");
        assert!(detail.ends_with("vm-1 in eastus"), "{detail}");

        let uuid = "0b1f3c9e-4a52-4a4e-9a9e-1c2d3e4f5a6b";
        assert_eq!(AuditEvent::redacted_detail(uuid), uuid, "ids stay readable");
        assert_eq!(AuditEvent::redacted_detail("a\nb"), "a b");
        let long = "é ".repeat(2 * MAX_DETAIL_CHARS);
        assert_eq!(
            AuditEvent::redacted_detail(&long).chars().count(),
            MAX_DETAIL_CHARS
        );
    }

    #[test]
    fn outcomes_parse_what_they_print() {
        for outcome in [Outcome::Success, Outcome::Failure, Outcome::Denied] {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::parse("ok"), None);
    }

    #[test]
    fn times_before_1970_serialize_as_1970() {
        let mut early = event();
        early.time = UNIX_EPOCH - Duration::from_secs(5);
        let json = serde_json::to_value(&early).unwrap();
        assert_eq!(json["time"], "1970-01-01T00:00:00.000Z");
    }
}
