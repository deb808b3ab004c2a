//! The shared [`Store`] for several replicas: one PostgreSQL database.
//!
//! Every write is one transaction that also bumps the revision and sends a notification on
//! [`CHANGES_CHANNEL`], so that other replicas reload at once. Uniqueness of tenant ids and
//! hostnames is left to the database's constraints; serialization failures and deadlocks
//! are retried a few times. This module does not create databases or roles.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::audit::AuditEvent;
use crate::error::{RegistryError, Result};
use crate::idempotency::IdempotencyClaim;
use crate::model::{Account, Tenant};
use crate::rows::{KeyScope, decode};
use crate::store::{ChangeFeed, Put, Store};

mod listen;
mod records;
mod retry;
mod schema;
mod writes;

use retry::with_retries;

/// The `LISTEN`/`NOTIFY` channel every write announces itself on; the payload is the new
/// revision.
pub const CHANGES_CHANNEL: &str = "credless_changes";

/// How long a request waits for a pooled connection before the store counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections per process; two replicas with the defaults use at most 2 × 11 (one listens).
const MAX_CONNECTIONS: u32 = 10;

/// A [`Store`] in a PostgreSQL database, shared by any number of Credless processes.
///
/// Cheap to clone; clones share the pool and the change listener, which stops with the last
/// clone. When the database goes away, calls fail as `Unavailable` and the pool and listener
/// reconnect by themselves once it is back.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    changes: ChangeFeed,
    _listener: listen::ListenerTask,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`), brings its schema
    /// up to date and starts listening for other processes' writes.
    ///
    /// Safe when several processes start at once: migrations run under an advisory lock.
    /// Fails with `Invalid` (field `store.url`) for a malformed URL, `UnsupportedSchema` when
    /// a newer Credless migrated the database, and `Unavailable` when it cannot be reached.
    /// Errors never echo the URL, which may carry a password.
    pub async fn open(url: &str) -> Result<Self> {
        let options = connect_options(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|source| {
                RegistryError::unavailable(OpenError {
                    location: location(&options),
                    source,
                })
            })?;
        let version = schema::migrate(&pool).await?;
        let (listener, changes) = listen::spawn(options.clone()).await?;
        tracing::debug!(
            store.location = %location(&options),
            schema.version = version,
            "Opened the PostgreSQL store"
        );
        let inner = Inner {
            pool,
            changes,
            _listener: listener,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Closes every connection and stops listening; later calls fail as `Unavailable`.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        with_retries(|| self.try_create_tenant(tenant)).await
    }

    async fn replace_tenant(&self, tenant: &Tenant) -> Result<()> {
        with_retries(|| self.try_replace_tenant(tenant)).await
    }

    async fn delete_tenant(&self, id: &str) -> Result<()> {
        with_retries(|| self.try_delete_tenant(id)).await
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let document =
            sqlx::query_scalar::<_, String>("SELECT document::text FROM tenants WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .map_err(unavailable)?;
        document.map(|doc| decode("tenant", id, &doc)).transpose()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query_as::<_, (String, String)>(
            "SELECT id, document::text FROM tenants ORDER BY id COLLATE \"C\"",
        )
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|(id, doc)| decode("tenant", id, doc))
            .collect()
    }

    async fn put_account(&self, tenant_id: &str, account: &Account) -> Result<Put> {
        with_retries(|| self.try_put_account(tenant_id, account)).await
    }

    async fn account(&self, tenant_id: &str, id: &str) -> Result<Option<Account>> {
        let document = sqlx::query_scalar::<_, String>(
            "SELECT document::text FROM accounts WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        document.map(|doc| decode("account", id, &doc)).transpose()
    }

    async fn accounts(&self, tenant_id: &str) -> Result<Vec<Account>> {
        // One query, so that the tenant check and the list agree: the left join yields one
        // row with no account for a tenant that has none, and no row for an absent tenant.
        let rows = sqlx::query_as::<_, (Option<String>, Option<String>)>(
            "SELECT a.id, a.document::text FROM tenants t
             LEFT JOIN accounts a ON a.tenant_id = t.id
             WHERE t.id = $1 ORDER BY a.id COLLATE \"C\"",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        if rows.is_empty() {
            return Err(RegistryError::tenant_not_found(tenant_id));
        }
        rows.iter()
            .filter_map(|(id, doc)| id.as_deref().zip(doc.as_deref()))
            .map(|(id, doc)| decode("account", id, doc))
            .collect()
    }

    async fn delete_account(&self, tenant_id: &str, id: &str) -> Result<()> {
        with_retries(|| self.try_delete_account(tenant_id, id)).await
    }

    async fn revision(&self) -> Result<u64> {
        let value = sqlx::query_scalar::<_, i64>("SELECT value FROM revision WHERE id = 1")
            .fetch_one(self.pool())
            .await
            .map_err(unavailable)?;
        u64::try_from(value).map_err(RegistryError::unavailable)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(self.pool())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn changes(&self) -> Option<ChangeFeed> {
        Some(self.inner.changes.clone())
    }

    async fn all_accounts(&self) -> Result<Vec<(String, Account)>> {
        let rows = sqlx::query_as::<_, (String, String, String)>(
            "SELECT tenant_id, id, document::text FROM accounts
             ORDER BY tenant_id COLLATE \"C\", id COLLATE \"C\"",
        )
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.into_iter()
            .map(|(tenant, id, doc)| Ok((tenant, decode("account", &id, &doc)?)))
            .collect()
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        records::record_audit(self.pool(), event).await
    }

    async fn audit(&self, tenant_id: &str, limit: u32) -> Result<Vec<AuditEvent>> {
        records::audit(self.pool(), tenant_id, limit).await
    }

    async fn claim_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
        fingerprint: &str,
        now: SystemTime,
    ) -> Result<IdempotencyClaim> {
        let scope = KeyScope::new(tenant_id, account_id, key);
        with_retries(|| records::claim_idempotency(self.pool(), &scope, fingerprint, now)).await
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
        records::complete_idempotency(self.pool(), &scope, status, response).await
    }

    async fn abandon_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
    ) -> Result<()> {
        let scope = KeyScope::new(tenant_id, account_id, key);
        records::abandon_idempotency(self.pool(), &scope).await
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pool's options hold the password; name the server and database only.
        let options = self.inner.pool.connect_options();
        f.debug_struct("PostgresStore")
            .field("location", &location(&options))
            .finish_non_exhaustive()
    }
}

/// Parses a `postgres://` URL without ever echoing it.
fn connect_options(url: &str) -> Result<PgConnectOptions> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(RegistryError::invalid(
            "store.url",
            "must be a `postgres://` URL",
        ));
    }
    PgConnectOptions::from_str(url).map_err(|_| {
        RegistryError::invalid(
            "store.url",
            "is not a valid `postgres://user:password@host:port/database` URL",
        )
    })
}

/// `host:port/database`, for logs and errors: no user, no password.
fn location(options: &PgConnectOptions) -> String {
    let database = options.get_database().unwrap_or("(default)");
    format!("{}:{}/{}", options.get_host(), options.get_port(), database)
}

fn unavailable(err: sqlx::Error) -> RegistryError {
    RegistryError::unavailable(err)
}

/// The database could not be reached or refused the connection.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the PostgreSQL database `{location}`")]
struct OpenError {
    location: String,
    source: sqlx::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_without_echoing_them() {
        for url in [
            "sqlite://x.db",
            "mysql://u:hunter2@h/db",
            "postgres://u:hunter2@h:notaport/db",
        ] {
            match connect_options(url) {
                Err(RegistryError::Invalid { field, reason }) => {
                    assert_eq!(field, "store.url");
                    assert!(!reason.contains("hunter2"), "{reason}");
                }
                other => panic!("{url}: {:?}", other.map(|o| location(&o))),
            }
        }
    }

    #[test]
    fn the_location_names_host_port_and_database_only() {
        let options = connect_options("postgres://credless:hunter2@db.internal:6432/prod");
        let location = options.map(|o| location(&o)).unwrap_or_default();
        assert_eq!(location, "db.internal:6432/prod");
    }
}
