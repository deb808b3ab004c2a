//! The audit log and idempotency records of the SQLite store.

use std::time::SystemTime;

use sqlx::{SqliteConnection, SqlitePool};

use super::{is_foreign_key_violation, unavailable};
use crate::audit::{self, AuditEvent, MAX_AUDIT_LIMIT};
use crate::error::{RegistryError, Result};
use crate::idempotency::IdempotencyClaim;
use crate::rows::{AuditRow, KeyScope, StoredKey, audit_event, encode, existing_claim};

pub(super) async fn record_audit(pool: &SqlitePool, event: &AuditEvent) -> Result<()> {
    // One statement, so one transaction of its own; it queues on the busy timeout like any
    // other write and reports failure rather than dropping the event.
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, time_ms, request_id, subject, email, action,
            account_id, resource_id, outcome, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&event.tenant)
    .bind(audit::unix_millis(event.time))
    .bind(&event.request_id)
    .bind(&event.subject)
    .bind(&event.email)
    .bind(&event.action)
    .bind(&event.account)
    .bind(&event.resource)
    .bind(event.outcome.as_str())
    .bind(event.detail())
    .execute(pool)
    .await
    .map_err(unavailable)?;
    Ok(())
}

pub(super) async fn audit(
    pool: &SqlitePool,
    tenant_id: &str,
    limit: u32,
) -> Result<Vec<AuditEvent>> {
    let rows = sqlx::query_as::<_, AuditRow>(
        "SELECT tenant_id, time_ms, request_id, subject, email, action, account_id,
            resource_id, outcome, detail
         FROM audit_events WHERE tenant_id = ?
         ORDER BY time_ms DESC, seq DESC LIMIT ?",
    )
    .bind(tenant_id)
    .bind(limit.min(MAX_AUDIT_LIMIT))
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    rows.into_iter().map(audit_event).collect()
}

/// Claims a key inside the caller's write transaction.
pub(super) async fn claim_idempotency(
    conn: &mut SqliteConnection,
    scope: &KeyScope<'_>,
    fingerprint: &str,
    now: SystemTime,
) -> Result<IdempotencyClaim> {
    let now_ms = audit::unix_millis(now);
    let found = sqlx::query_as::<_, (String, String, Option<i64>, Option<String>, i64)>(
        "SELECT fingerprint, state, status, response, created_at FROM idempotency_keys
         WHERE tenant_id = ? AND account_id = ? AND key = ?",
    )
    .bind(scope.tenant_id)
    .bind(scope.account_id)
    .bind(scope.key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(unavailable)?;

    if let Some((stored_fingerprint, state, status, response, created_at)) = found {
        let stored = StoredKey {
            fingerprint: stored_fingerprint,
            state,
            status,
            response,
            created_at,
        };
        if let Some(claim) = existing_claim(scope.key, fingerprint, now_ms, stored)? {
            return Ok(claim);
        }
    }

    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys
            (tenant_id, account_id, key, fingerprint, state, status, response, created_at)
         VALUES (?, ?, ?, ?, 'in_flight', NULL, NULL, ?)
         ON CONFLICT (tenant_id, account_id, key) DO UPDATE SET
            fingerprint = excluded.fingerprint, state = 'in_flight', status = NULL,
            response = NULL, created_at = excluded.created_at",
    )
    .bind(scope.tenant_id)
    .bind(scope.account_id)
    .bind(scope.key)
    .bind(fingerprint)
    .bind(now_ms)
    .execute(&mut *conn)
    .await;
    match inserted {
        Err(err) if is_foreign_key_violation(&err) => {
            Err(RegistryError::account_not_found(scope.account_id))
        }
        other => other.map(|_| IdempotencyClaim::New).map_err(unavailable),
    }
}

pub(super) async fn complete_idempotency(
    pool: &SqlitePool,
    scope: &KeyScope<'_>,
    status: u16,
    response: &serde_json::Value,
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', status = ?, response = ?
         WHERE tenant_id = ? AND account_id = ? AND key = ? AND state = 'in_flight'",
    )
    .bind(i64::from(status))
    .bind(encode(response)?)
    .bind(scope.tenant_id)
    .bind(scope.account_id)
    .bind(scope.key)
    .execute(pool)
    .await
    .map_err(unavailable)?;
    if updated.rows_affected() == 0 {
        return Err(scope.not_found());
    }
    Ok(())
}

pub(super) async fn abandon_idempotency(pool: &SqlitePool, scope: &KeyScope<'_>) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE tenant_id = ? AND account_id = ? AND key = ? AND state = 'in_flight'",
    )
    .bind(scope.tenant_id)
    .bind(scope.account_id)
    .bind(scope.key)
    .execute(pool)
    .await
    .map_err(unavailable)?;
    Ok(())
}
