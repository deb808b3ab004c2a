//! The PostgreSQL schema and its versioned migrations.

use sqlx::PgPool;

use crate::error::{RegistryError, Result};
use crate::rows;

/// The schema, one entry per version: entry `n` takes a database from version `n` to `n + 1`.
/// Append only; never edit an entry that has shipped. Documents are `jsonb`; times in the
/// audit and idempotency tables are milliseconds since 1970, as in the SQLite store.
const MIGRATIONS: &[&str] = &[
    // 1: tenants, the hostname index, accounts and the revision counter.
    "CREATE TABLE tenants (
        id text PRIMARY KEY,
        document jsonb NOT NULL
    );
    CREATE TABLE hostnames (
        hostname text PRIMARY KEY,
        tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
    );
    CREATE INDEX hostnames_by_tenant ON hostnames (tenant_id);
    CREATE TABLE accounts (
        tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id text NOT NULL,
        provider text NOT NULL,
        document jsonb NOT NULL,
        PRIMARY KEY (tenant_id, id)
    );
    CREATE TABLE revision (
        id smallint PRIMARY KEY CHECK (id = 1),
        value bigint NOT NULL
    );
    INSERT INTO revision (id, value) VALUES (1, 0);",
    // 2: the audit log, which outlives tenants and accounts, and idempotency records, which go
    // with their account.
    "CREATE TABLE audit_events (
        seq bigserial PRIMARY KEY,
        tenant_id text NOT NULL,
        time_ms bigint NOT NULL,
        request_id text NOT NULL,
        subject text NOT NULL,
        email text,
        action text NOT NULL,
        account_id text,
        resource_id text,
        outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
        detail text NOT NULL
    );
    CREATE INDEX audit_events_by_tenant_time
        ON audit_events (tenant_id, time_ms DESC, seq DESC);
    CREATE TABLE idempotency_keys (
        tenant_id text NOT NULL,
        account_id text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        state text NOT NULL CHECK (state IN ('in_flight', 'done')),
        status integer,
        response jsonb,
        created_at bigint NOT NULL,
        PRIMARY KEY (tenant_id, account_id, key),
        FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
    );",
];

/// The advisory lock migrations hold, so that processes starting together migrate in turn:
/// an arbitrary constant, `credless` in ASCII.
const MIGRATION_LOCK: i64 = 0x0063_7265_646c_6573;

/// Applies the migrations this database lacks, in one transaction; returns the version.
///
/// The transaction first takes [`MIGRATION_LOCK`], so a second process waits and then finds
/// nothing left to do.
pub(super) async fn migrate(pool: &PgPool) -> Result<i64> {
    let mut tx = pool.begin().await.map_err(RegistryError::unavailable)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(RegistryError::unavailable)?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version bigint PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .execute(&mut *tx)
    .await
    .map_err(RegistryError::unavailable)?;
    let found =
        sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(RegistryError::unavailable)?;
    let (supported, pending) = rows::pending_migrations(MIGRATIONS, found)?;

    for (version, sql) in pending {
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(RegistryError::unavailable)?;
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(RegistryError::unavailable)?;
        tracing::info!(schema.version = version, "Migrated the PostgreSQL store");
    }
    tx.commit().await.map_err(RegistryError::unavailable)?;
    Ok(supported)
}
