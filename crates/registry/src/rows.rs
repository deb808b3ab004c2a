//! What the SQLite and PostgreSQL stores share once a row is read: documents to and from
//! JSON text, audit rows to events, stored idempotency records to claims, and which schema
//! migrations a database still lacks.
//!
//! Not for queries: this module holds no SQL and no database driver type, so that each backend
//! keeps its own statements, placeholders and transactions.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::{self, AuditEvent, Outcome};
use crate::error::{RegistryError, Result};
use crate::idempotency::{IDEMPOTENCY_TTL, IN_FLIGHT_LEASE, IdempotencyClaim};

/// The row an idempotency key names.
pub(crate) struct KeyScope<'a> {
    /// The tenant the key belongs to.
    pub(crate) tenant_id: &'a str,
    /// The account the key belongs to.
    pub(crate) account_id: &'a str,
    /// The key the client sent.
    pub(crate) key: &'a str,
}

impl<'a> KeyScope<'a> {
    /// The record of `key` for `account_id` of `tenant_id`.
    pub(crate) fn new(tenant_id: &'a str, account_id: &'a str, key: &'a str) -> Self {
        Self {
            tenant_id,
            account_id,
            key,
        }
    }

    /// The error for a key that has no claim in flight to complete.
    pub(crate) fn not_found(&self) -> RegistryError {
        RegistryError::NotFound {
            kind: "idempotency key",
            id: self.key.to_owned(),
        }
    }
}

/// An `audit_events` row, in column order: tenant, time in milliseconds since 1970, request id,
/// subject, email, action, account, resource, outcome and detail.
pub(crate) type AuditRow = (
    String,
    i64,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

/// A stored idempotency record, as either backend reads it.
pub(crate) struct StoredKey {
    /// The fingerprint of the request that claimed the key.
    pub(crate) fingerprint: String,
    /// `in_flight` or `done`.
    pub(crate) state: String,
    /// The response status, once done.
    pub(crate) status: Option<i64>,
    /// The response body as JSON text, once done.
    pub(crate) response: Option<String>,
    /// When the key was claimed, in milliseconds since 1970.
    pub(crate) created_at: i64,
}

/// Serializes a tenant or account document to JSON text.
pub(crate) fn encode(document: &impl Serialize) -> Result<String> {
    serde_json::to_string(document).map_err(RegistryError::unavailable)
}

/// Parses a stored document; fails as `Unavailable` naming `kind` and `id` when it no longer
/// matches the model.
pub(crate) fn decode<T: DeserializeOwned>(
    kind: &'static str,
    id: &str,
    document: &str,
) -> Result<T> {
    serde_json::from_str(document).map_err(|source| {
        RegistryError::unavailable(DecodeError {
            kind,
            id: id.to_owned(),
            source,
        })
    })
}

/// Turns an `audit_events` row back into an event; fails as `Unavailable` for an unknown
/// outcome.
pub(crate) fn audit_event(row: AuditRow) -> Result<AuditEvent> {
    let (tenant, time_ms, request_id, subject, email, action, account, resource, outcome, detail) =
        row;
    let outcome = Outcome::parse(&outcome).ok_or_else(|| {
        RegistryError::unavailable(format!("stored audit outcome `{outcome}` is unknown"))
    })?;
    let mut event = AuditEvent::new(tenant, request_id, subject, action, outcome)
        .with_time(audit::from_unix_millis(time_ms))
        .with_detail(&detail);
    event.email = email;
    event.account = account;
    event.resource = resource;
    Ok(event)
}

/// What a stored record means for a new claim at `now_ms` with `fingerprint`: `None` when it
/// has expired and may be claimed afresh. Fails as `Unavailable` for a corrupt done record.
pub(crate) fn existing_claim(
    key: &str,
    fingerprint: &str,
    now_ms: i64,
    stored: StoredKey,
) -> Result<Option<IdempotencyClaim>> {
    let age_ms = now_ms.saturating_sub(stored.created_at);
    let done = stored.state == "done";
    let lifetime = if done {
        IDEMPOTENCY_TTL
    } else {
        IN_FLIGHT_LEASE
    };
    let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    if age_ms >= lifetime_ms {
        return Ok(None);
    }
    let claim = if stored.fingerprint != fingerprint {
        IdempotencyClaim::Mismatch
    } else if done {
        done_claim(key, stored.status, stored.response.as_deref())?
    } else {
        IdempotencyClaim::InFlight
    };
    Ok(Some(claim))
}

fn done_claim(key: &str, status: Option<i64>, response: Option<&str>) -> Result<IdempotencyClaim> {
    let corrupt = || RegistryError::unavailable(format!("idempotency record `{key}` is corrupt"));
    let status = status
        .and_then(|status| u16::try_from(status).ok())
        .ok_or_else(corrupt)?;
    let response = decode("idempotency key", key, response.ok_or_else(corrupt)?)?;
    Ok(IdempotencyClaim::Done { status, response })
}

/// The migrations a database at version `found` lacks, each with the version it records, and
/// the version the database has once they ran. Fails with `UnsupportedSchema` when a newer
/// Credless migrated the database.
pub(crate) fn pending_migrations(
    migrations: &'static [&'static str],
    found: i64,
) -> Result<(i64, impl Iterator<Item = (i64, &'static str)>)> {
    let supported = i64::try_from(migrations.len()).map_err(RegistryError::unavailable)?;
    if found > supported {
        return Err(RegistryError::UnsupportedSchema { found, supported });
    }
    let pending = (1..)
        .zip(migrations.iter().copied())
        .skip(usize::try_from(found).unwrap_or(0));
    Ok((supported, pending))
}

/// A stored document no longer matches the model.
#[derive(Debug, thiserror::Error)]
#[error("stored {kind} `{id}` cannot be decoded")]
struct DecodeError {
    kind: &'static str,
    id: String,
    source: serde_json::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(fingerprint: &str, state: &str, created_at: i64) -> StoredKey {
        StoredKey {
            fingerprint: fingerprint.to_owned(),
            state: state.to_owned(),
            status: Some(201),
            response: Some("{\"id\":\"i-1\"}".to_owned()),
            created_at,
        }
    }

    #[test]
    fn a_live_record_answers_and_an_expired_one_frees_the_key() {
        let fresh = existing_claim("k", "f", 1_000, stored("f", "done", 1_000));
        assert!(matches!(
            fresh,
            Ok(Some(IdempotencyClaim::Done { status: 201, .. }))
        ));

        let other = existing_claim("k", "g", 1_000, stored("f", "in_flight", 1_000));
        assert!(matches!(other, Ok(Some(IdempotencyClaim::Mismatch))));

        let lease = i64::try_from(IN_FLIGHT_LEASE.as_millis()).unwrap_or(i64::MAX);
        let stale = existing_claim("k", "f", lease, stored("f", "in_flight", 0));
        assert!(matches!(stale, Ok(None)));
    }

    #[test]
    fn a_done_record_without_a_response_is_corrupt() {
        let mut record = stored("f", "done", 0);
        record.response = None;
        let claim = existing_claim("k", "f", 0, record);
        assert!(matches!(claim, Err(RegistryError::Unavailable { .. })));
    }

    #[test]
    fn migrations_resume_after_the_found_version_and_refuse_a_newer_schema() {
        static MIGRATIONS: &[&str] = &["one", "two", "three"];
        let pending = pending_migrations(MIGRATIONS, 1)
            .map(|(supported, rest)| (supported, rest.collect::<Vec<_>>()));
        assert!(matches!(pending, Ok((3, ref rest)) if *rest == [(2, "two"), (3, "three")]));

        let newer = pending_migrations(MIGRATIONS, 4).map(|(supported, _)| supported);
        assert!(matches!(
            newer,
            Err(RegistryError::UnsupportedSchema {
                found: 4,
                supported: 3
            })
        ));
    }
}
