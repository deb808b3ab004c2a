//! The tenant and account writes of the PostgreSQL store, one attempt each: a transaction
//! that also bumps the revision and announces it. [`super::retry`] runs them.

use sqlx::{PgConnection, Postgres, Transaction};

use super::retry::{self, TxResult};
use super::{CHANGES_CHANNEL, PostgresStore};
use crate::error::RegistryError;
use crate::model::{Account, Tenant};
use crate::rows::encode;
use crate::store::Put;

impl PostgresStore {
    pub(super) async fn try_create_tenant(&self, tenant: &Tenant) -> TxResult<()> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, document) VALUES ($1, $2::jsonb) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&tenant.id)
        .bind(encode(tenant)?)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            let reason = format!("tenant id `{}` is taken", tenant.id);
            return Err(RegistryError::conflict(reason).into());
        }
        insert_hostnames(&mut tx, tenant).await?;
        commit_write(tx).await
    }

    pub(super) async fn try_replace_tenant(&self, tenant: &Tenant) -> TxResult<()> {
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query("UPDATE tenants SET document = $1::jsonb WHERE id = $2")
            .bind(encode(tenant)?)
            .bind(&tenant.id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(RegistryError::tenant_not_found(&tenant.id).into());
        }
        sqlx::query("DELETE FROM hostnames WHERE tenant_id = $1")
            .bind(&tenant.id)
            .execute(&mut *tx)
            .await?;
        insert_hostnames(&mut tx, tenant).await?;
        commit_write(tx).await
    }

    pub(super) async fn try_delete_tenant(&self, id: &str) -> TxResult<()> {
        let mut tx = self.pool().begin().await?;
        // Hostnames, accounts and their idempotency records go with it (`ON DELETE CASCADE`).
        let deleted = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(RegistryError::tenant_not_found(id).into());
        }
        commit_write(tx).await
    }

    pub(super) async fn try_put_account(
        &self,
        tenant_id: &str,
        account: &Account,
    ) -> TxResult<Put> {
        let mut tx = self.pool().begin().await?;
        // `xmax = 0` holds for a freshly inserted row only: whether this created or replaced.
        let written = sqlx::query_scalar::<_, bool>(
            "INSERT INTO accounts (tenant_id, id, provider, document)
             VALUES ($1, $2, $3, $4::jsonb)
             ON CONFLICT (tenant_id, id)
             DO UPDATE SET provider = excluded.provider, document = excluded.document
             RETURNING (xmax = 0)",
        )
        .bind(tenant_id)
        .bind(account.id())
        .bind(account.provider().as_str())
        .bind(encode(account)?)
        .fetch_one(&mut *tx)
        .await;
        let created = match written {
            Err(err) if retry::is_foreign_key_violation(&err) => {
                return Err(RegistryError::tenant_not_found(tenant_id).into());
            }
            other => other?,
        };
        commit_write(tx).await?;
        Ok(if created { Put::Created } else { Put::Replaced })
    }

    pub(super) async fn try_delete_account(&self, tenant_id: &str, id: &str) -> TxResult<()> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query("DELETE FROM accounts WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(RegistryError::account_not_found(id).into());
        }
        commit_write(tx).await
    }
}

async fn insert_hostnames(conn: &mut PgConnection, tenant: &Tenant) -> TxResult<()> {
    for hostname in &tenant.hostnames {
        // `DO NOTHING` waits for a concurrent insert of the same name and keeps the
        // transaction usable, so that the owner can be named.
        let inserted = sqlx::query(
            "INSERT INTO hostnames (hostname, tenant_id) VALUES ($1, $2)
             ON CONFLICT (hostname) DO NOTHING",
        )
        .bind(hostname)
        .bind(&tenant.id)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 0 {
            let owner = sqlx::query_scalar::<_, String>(
                "SELECT tenant_id FROM hostnames WHERE hostname = $1",
            )
            .bind(hostname)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_else(|| "another tenant".to_owned());
            let reason = format!("hostname `{hostname}` is taken by tenant `{owner}`");
            return Err(RegistryError::conflict(reason).into());
        }
    }
    Ok(())
}

/// Bumps the revision, announces it to the other processes and commits.
///
/// The notification is delivered at commit, and not at all if the transaction rolls back.
async fn commit_write(mut tx: Transaction<'static, Postgres>) -> TxResult<()> {
    let revision = sqlx::query_scalar::<_, i64>(
        "UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value",
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANGES_CHANNEL)
        .bind(revision.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
