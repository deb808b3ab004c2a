//! The embedded [`Store`]: one SQLite file, or an in-memory database for tests.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::audit::AuditEvent;
use crate::error::{RegistryError, Result};
use crate::idempotency::IdempotencyClaim;
use crate::model::{Account, Tenant};
use crate::rows::{self, KeyScope, decode, encode};
use crate::store::{Put, Store};

mod records;

/// The schema, one entry per version: entry `n` takes a database from version `n` to `n + 1`.
/// Append only; never edit an entry that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: tenants with their documents, the hostname index, accounts and the revision counter.
    "CREATE TABLE tenants (
        id TEXT PRIMARY KEY NOT NULL,
        document TEXT NOT NULL
    ) STRICT;
    CREATE TABLE hostnames (
        hostname TEXT PRIMARY KEY NOT NULL,
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
    ) STRICT;
    CREATE INDEX hostnames_by_tenant ON hostnames (tenant_id);
    CREATE TABLE accounts (
        tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        provider TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (tenant_id, id)
    ) STRICT;
    CREATE TABLE revision (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        value INTEGER NOT NULL
    ) STRICT;
    INSERT INTO revision (id, value) VALUES (1, 0);",
    // 2: the audit log, which outlives tenants and accounts, and idempotency records, which go
    // with their account. Times are milliseconds since 1970.
    "CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        email TEXT,
        action TEXT NOT NULL,
        account_id TEXT,
        resource_id TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
        detail TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_events_by_tenant_time ON audit_events (tenant_id, time_ms DESC, seq DESC);
    CREATE TABLE idempotency_keys (
        tenant_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
        status INTEGER,
        response TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, account_id, key),
        FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
    ) STRICT;",
];

/// How long a writer waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] in a SQLite database.
///
/// Several processes may share one file (the server and the `credless tenant` commands):
/// writes take SQLite's write lock up front and wait up to five seconds for one another.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens the database at `url`, creating it and bringing its schema up to date.
    ///
    /// Accepts `sqlite://relative/path.db`, `sqlite:///absolute/path.db` and
    /// `sqlite::memory:` (a private database per call, for tests). Fails with `Invalid`
    /// (field `store.url`) for another scheme, `UnsupportedSchema` when a newer Credless
    /// wrote the database, and `Unavailable` naming the path when it cannot be opened.
    pub async fn open(url: &str) -> Result<Self> {
        let (options, pool_options, location) = connect_options(url)?;
        let opening = |source| {
            RegistryError::unavailable(OpenError {
                location: location.clone(),
                source,
            })
        };
        let pool = pool_options.connect_with(options).await.map_err(opening)?;
        let version = migrate(&pool).await?;
        tracing::debug!(store.location = %location, schema.version = version, "Opened the store");
        Ok(Self { pool })
    }

    /// Closes every connection; later calls fail as `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        // IMMEDIATE takes the write lock now, so that concurrent writers queue on the busy
        // timeout instead of failing when a read lock cannot be upgraded.
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query("INSERT INTO tenants (id, document) VALUES (?, ?)")
            .bind(&tenant.id)
            .bind(encode(tenant)?)
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(err) if is_unique_violation(&err) => {
                return Err(RegistryError::conflict(format!(
                    "tenant id `{}` is taken",
                    tenant.id
                )));
            }
            other => other.map_err(unavailable)?,
        };
        insert_hostnames(&mut tx, tenant).await?;
        commit_write(tx).await
    }

    async fn replace_tenant(&self, tenant: &Tenant) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query("UPDATE tenants SET document = ? WHERE id = ?")
            .bind(encode(tenant)?)
            .bind(&tenant.id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if updated.rows_affected() == 0 {
            return Err(RegistryError::tenant_not_found(&tenant.id));
        }
        sqlx::query("DELETE FROM hostnames WHERE tenant_id = ?")
            .bind(&tenant.id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_hostnames(&mut tx, tenant).await?;
        commit_write(tx).await
    }

    async fn delete_tenant(&self, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // Hostnames and accounts go with it through `ON DELETE CASCADE`.
        let deleted = sqlx::query("DELETE FROM tenants WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if deleted.rows_affected() == 0 {
            return Err(RegistryError::tenant_not_found(id));
        }
        commit_write(tx).await
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let document = sqlx::query_scalar::<_, String>("SELECT document FROM tenants WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        document.map(|doc| decode("tenant", id, &doc)).transpose()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        let rows =
            sqlx::query_as::<_, (String, String)>("SELECT id, document FROM tenants ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        rows.iter()
            .map(|(id, doc)| decode("tenant", id, doc))
            .collect()
    }

    async fn put_account(&self, tenant_id: &str, account: &Account) -> Result<Put> {
        let mut tx = self.begin_write().await?;
        let existed = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM accounts WHERE tenant_id = ? AND id = ?",
        )
        .bind(tenant_id)
        .bind(account.id())
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        let written = sqlx::query(
            "INSERT INTO accounts (tenant_id, id, provider, document) VALUES (?, ?, ?, ?)
             ON CONFLICT (tenant_id, id)
             DO UPDATE SET provider = excluded.provider, document = excluded.document",
        )
        .bind(tenant_id)
        .bind(account.id())
        .bind(account.provider().as_str())
        .bind(encode(account)?)
        .execute(&mut *tx)
        .await;
        match written {
            Err(err) if is_foreign_key_violation(&err) => {
                return Err(RegistryError::tenant_not_found(tenant_id));
            }
            other => other.map_err(unavailable)?,
        };
        commit_write(tx).await?;
        Ok(if existed > 0 {
            Put::Replaced
        } else {
            Put::Created
        })
    }

    async fn account(&self, tenant_id: &str, id: &str) -> Result<Option<Account>> {
        let document = sqlx::query_scalar::<_, String>(
            "SELECT document FROM accounts WHERE tenant_id = ? AND id = ?",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        document.map(|doc| decode("account", id, &doc)).transpose()
    }

    async fn accounts(&self, tenant_id: &str) -> Result<Vec<Account>> {
        // One read transaction, so that the tenant check and the list agree.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        if !tenant_exists(&mut tx, tenant_id).await? {
            return Err(RegistryError::tenant_not_found(tenant_id));
        }
        let rows = sqlx::query_as::<_, (String, String)>(
            "SELECT id, document FROM accounts WHERE tenant_id = ? ORDER BY id",
        )
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter()
            .map(|(id, doc)| decode("account", id, doc))
            .collect()
    }

    async fn delete_account(&self, tenant_id: &str, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM accounts WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if deleted.rows_affected() == 0 {
            return Err(RegistryError::account_not_found(id));
        }
        commit_write(tx).await
    }

    async fn revision(&self) -> Result<u64> {
        let value = sqlx::query_scalar::<_, i64>("SELECT value FROM revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        u64::try_from(value).map_err(RegistryError::unavailable)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        records::record_audit(&self.pool, event).await
    }

    async fn audit(&self, tenant_id: &str, limit: u32) -> Result<Vec<AuditEvent>> {
        records::audit(&self.pool, tenant_id, limit).await
    }

    async fn claim_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
        fingerprint: &str,
        now: SystemTime,
    ) -> Result<IdempotencyClaim> {
        let mut tx = self.begin_write().await?;
        let scope = KeyScope::new(tenant_id, account_id, key);
        let claim = records::claim_idempotency(&mut tx, &scope, fingerprint, now).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(claim)
    }

    async fn complete_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
        status: u16,
        response: &serde_json::Value,
    ) -> Result<()> {
        let scope = KeyScope::new(tenant_id, account_id, key);
        records::complete_idempotency(&self.pool, &scope, status, response).await
    }

    async fn abandon_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
    ) -> Result<()> {
        let scope = KeyScope::new(tenant_id, account_id, key);
        records::abandon_idempotency(&self.pool, &scope).await
    }
}

/// Parses `url` into connection and pool settings plus a location to name in errors.
fn connect_options(url: &str) -> Result<(SqliteConnectOptions, SqlitePoolOptions, String)> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        // The value is not echoed: a PostgreSQL URL carries a password.
        return Err(RegistryError::invalid(
            "store.url",
            "must be a `sqlite:` URL",
        ));
    };
    if rest == ":memory:" {
        // Each parse names a fresh shared-cache database. One connection that never idles out
        // keeps it alive and serialises access, so each store is a private database.
        let options = SqliteConnectOptions::from_str("sqlite::memory:").map_err(unavailable)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        return Ok((options.foreign_keys(true), pool, ":memory:".to_owned()));
    }
    if rest.is_empty() || rest.contains('?') {
        let reason = "must be `sqlite://path/to/file.db`, without query parameters";
        return Err(RegistryError::invalid("store.url", reason));
    }
    let options = SqliteConnectOptions::new()
        .filename(rest)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10));
    Ok((options, pool, rest.to_owned()))
}

/// Applies the migrations this database lacks, in one transaction; returns the version.
async fn migrate(pool: &SqlitePool) -> Result<i64> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(unavailable)?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY NOT NULL,
            applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
        ) STRICT",
    )
    .execute(&mut *tx)
    .await
    .map_err(unavailable)?;
    let found =
        sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
    let (supported, pending) = rows::pending_migrations(MIGRATIONS, found)?;

    for (version, sql) in pending {
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("INSERT INTO schema_version (version) VALUES (?)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tracing::info!(schema.version = version, "Migrated the SQLite store");
    }
    tx.commit().await.map_err(unavailable)?;
    Ok(supported)
}

async fn insert_hostnames(conn: &mut SqliteConnection, tenant: &Tenant) -> Result<()> {
    for hostname in &tenant.hostnames {
        let inserted = sqlx::query("INSERT INTO hostnames (hostname, tenant_id) VALUES (?, ?)")
            .bind(hostname)
            .bind(&tenant.id)
            .execute(&mut *conn)
            .await;
        match inserted {
            Err(err) if is_unique_violation(&err) => {
                let owner = sqlx::query_scalar::<_, String>(
                    "SELECT tenant_id FROM hostnames WHERE hostname = ?",
                )
                .bind(hostname)
                .fetch_one(&mut *conn)
                .await
                .map_err(unavailable)?;
                let reason = format!("hostname `{hostname}` is taken by tenant `{owner}`");
                return Err(RegistryError::conflict(reason));
            }
            other => other.map_err(unavailable)?,
        };
    }
    Ok(())
}

async fn tenant_exists(conn: &mut SqliteConnection, id: &str) -> Result<bool> {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?)")
        .bind(id)
        .fetch_one(conn)
        .await
        .map_err(unavailable)
}

/// Bumps the revision and commits, so that every write is seen by other processes.
async fn commit_write(mut tx: Transaction<'static, Sqlite>) -> Result<()> {
    sqlx::query("UPDATE revision SET value = value + 1 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)
}

fn unavailable(err: sqlx::Error) -> RegistryError {
    RegistryError::unavailable(err)
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_foreign_key_violation())
}

/// The database file could not be opened or created.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the SQLite database `{location}`")]
struct OpenError {
    location: String,
    source: sqlx::Error,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

    use std::path::Path;

    use super::*;

    #[test]
    fn urls_name_files_relative_absolute_or_memory() {
        let cases = [
            ("sqlite://credless.db", "credless.db"),
            ("sqlite://data/credless.db", "data/credless.db"),
            (
                "sqlite:///var/lib/credless/credless.db",
                "/var/lib/credless/credless.db",
            ),
            ("sqlite:credless.db", "credless.db"),
        ];
        for (url, path) in cases {
            let (options, _, location) = connect_options(url).unwrap();
            assert_eq!(options.get_filename(), Path::new(path), "{url}");
            assert_eq!(location, path);
        }
        let (_, _, location) = connect_options("sqlite::memory:").unwrap();
        assert_eq!(location, ":memory:");
    }

    #[test]
    fn other_urls_are_refused_by_field() {
        for url in [
            "",
            "sqlite://",
            "sqlite://x.db?mode=ro",
            "postgres://u:p@h/db",
            "x.db",
        ] {
            match connect_options(url) {
                Err(RegistryError::Invalid { field, .. }) => assert_eq!(field, "store.url"),
                other => panic!("{url:?}: {:?}", other.map(|(_, _, location)| location)),
            }
        }
    }
}
