//! The audit log and idempotency records of the PostgreSQL store.

use std::time::SystemTime;

use sqlx::PgPool;

use super::retry::TxResult;
use super::{retry, unavailable};
use crate::audit::{self, AuditEvent, MAX_AUDIT_LIMIT};
use crate::error::{RegistryError, Result};
use crate::idempotency::IdempotencyClaim;
use crate::rows::{AuditRow, KeyScope, StoredKey, audit_event, encode, existing_claim};

/// A stored idempotency record: fingerprint, state, status, response and creation time.
type KeyRow = (String, String, Option<i32>, Option<String>, i64);

pub(super) async fn record_audit(pool: &PgPool, event: &AuditEvent) -> Result<()> {
    // One statement, so one transaction of its own; a failure is reported, never dropped.
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, time_ms, request_id, subject, email, action,
            account_id, resource_id, outcome, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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

pub(super) async fn audit(pool: &PgPool, tenant_id: &str, limit: u32) -> Result<Vec<AuditEvent>> {
    let rows = sqlx::query_as::<_, AuditRow>(
        "SELECT tenant_id, time_ms, request_id, subject, email, action, account_id,
            resource_id, outcome, detail
         FROM audit_events WHERE tenant_id = $1
         ORDER BY time_ms DESC, seq DESC LIMIT $2",
    )
    .bind(tenant_id)
    .bind(i64::from(limit.min(MAX_AUDIT_LIMIT)))
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    rows.into_iter().map(audit_event).collect()
}

/// One attempt at claiming a key, in a serializable transaction of its own.
///
/// Two processes that both find the key free both try to write it; PostgreSQL lets one
/// commit and aborts the other with a serialization failure, whose retry then finds the
/// claim in flight.
pub(super) async fn claim_idempotency(
    pool: &PgPool,
    scope: &KeyScope<'_>,
    fingerprint: &str,
    now: SystemTime,
) -> TxResult<IdempotencyClaim> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE")
        .await?;
    let now_ms = audit::unix_millis(now);
    let found = sqlx::query_as::<_, KeyRow>(
        "SELECT fingerprint, state, status, response::text, created_at FROM idempotency_keys
         WHERE tenant_id = $1 AND account_id = $2 AND key = $3",
    )
    .bind(scope.tenant_id)
    .bind(scope.account_id)
    .bind(scope.key)
    .fetch_optional(&mut *tx)
    .await?;

    if let Some((stored_fingerprint, state, status, response, created_at)) = found {
        let stored = StoredKey {
            fingerprint: stored_fingerprint,
            state,
            status: status.map(i64::from),
            response,
            created_at,
        };
        if let Some(claim) = existing_claim(scope.key, fingerprint, now_ms, stored)? {
            tx.commit().await?;
            return Ok(claim);
        }
    }

    let written = sqlx::query(
        "INSERT INTO idempotency_keys
            (tenant_id, account_id, key, fingerprint, state, status, response, created_at)
         VALUES ($1, $2, $3, $4, 'in_flight', NULL, NULL, $5)
         ON CONFLICT (tenant_id, account_id, key) DO UPDATE SET
            fingerprint = excluded.fingerprint, state = 'in_flight', status = NULL,
            response = NULL, created_at = excluded.created_at",
    )
    .bind(scope.tenant_id)
    .bind(scope.account_id)
    .bind(scope.key)
    .bind(fingerprint)
    .bind(now_ms)
    .execute(&mut *tx)
    .await;
    match written {
        Err(err) if retry::is_foreign_key_violation(&err) => {
            return Err(RegistryError::account_not_found(scope.account_id).into());
        }
        other => other?,
    };
    tx.commit().await?;
    Ok(IdempotencyClaim::New)
}

pub(super) async fn complete_idempotency(
    pool: &PgPool,
    scope: &KeyScope<'_>,
    status: u16,
    response: &serde_json::Value,
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', status = $1, response = $2::jsonb
         WHERE tenant_id = $3 AND account_id = $4 AND key = $5 AND state = 'in_flight'",
    )
    .bind(i32::from(status))
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

pub(super) async fn abandon_idempotency(pool: &PgPool, scope: &KeyScope<'_>) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE tenant_id = $1 AND account_id = $2 AND key = $3 AND state = 'in_flight'",
    )
    .bind(scope.tenant_id)
    .bind(scope.account_id)
    .bind(scope.key)
    .execute(pool)
    .await
    .map_err(unavailable)?;
    Ok(())
}
