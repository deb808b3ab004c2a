//! The durable store of tenants and accounts, as a trait so that backends can be swapped.

use std::time::SystemTime;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::audit::AuditEvent;
use crate::error::Result;
use crate::idempotency::IdempotencyClaim;
use crate::model::{Account, Tenant};

/// Whether [`Store::put_account`] added an account or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// No account had this id (HTTP 201).
    Created,
    /// An account with this id was replaced (HTTP 200).
    Replaced,
}

/// Wake-ups from a store that other processes may change: the value is a counter that moves
/// whenever the store may have changed, or may have missed telling so (after a reconnection).
///
/// It carries no detail: on a change, compare [`Store::revision`] and reload.
pub type ChangeFeed = watch::Receiver<u64>;

/// Durable storage of tenants, their hostnames and their accounts.
///
/// Implementations store what they are given: callers validate first (the
/// [`crate::Registry`] does). Every write is atomic (a tenant with all its hostnames is
/// wholly present or absent) and bumps [`Store::revision`] in the same transaction.
/// Uniqueness of ids and hostnames is enforced by the backend itself, so that concurrent
/// writers from several processes cannot both succeed.
///
/// Failures to reach the backend are [`crate::RegistryError::Unavailable`].
///
/// Audit events and idempotency records are not tenant configuration: writing them does not
/// move [`Store::revision`], so that they do not make every process reload its host index.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Adds a tenant and its hostnames.
    ///
    /// Fails with `Conflict` when the id or one of the hostnames is taken.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()>;

    /// Replaces the tenant of the same id, its hostnames included; its accounts stay.
    ///
    /// Fails with `NotFound` when it does not exist, `Conflict` when one of the new hostnames
    /// belongs to another tenant.
    async fn replace_tenant(&self, tenant: &Tenant) -> Result<()>;

    /// Removes a tenant with its hostnames and accounts; `NotFound` when absent.
    async fn delete_tenant(&self, id: &str) -> Result<()>;

    /// The tenant `id`, if present.
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>>;

    /// Every tenant, sorted by id.
    async fn tenants(&self) -> Result<Vec<Tenant>>;

    /// Adds or replaces an account of a tenant; `NotFound` when the tenant is absent.
    async fn put_account(&self, tenant_id: &str, account: &Account) -> Result<Put>;

    /// The account `id` of a tenant; `None` when either is absent.
    async fn account(&self, tenant_id: &str, id: &str) -> Result<Option<Account>>;

    /// The accounts of a tenant, sorted by id; `NotFound` when the tenant is absent.
    async fn accounts(&self, tenant_id: &str) -> Result<Vec<Account>>;

    /// Removes an account; `NotFound` (kind `account`) when it is absent.
    async fn delete_account(&self, tenant_id: &str, id: &str) -> Result<()>;

    /// A counter that grows with every write, from any process sharing the store.
    ///
    /// Compare two readings to learn cheaply whether anything changed in between.
    async fn revision(&self) -> Result<u64>;

    /// Checks that the store answers, for readiness probes.
    async fn ping(&self) -> Result<()>;

    /// Wake-ups when another process writes, for backends that can push them.
    ///
    /// `None` (the default) means the caller must poll [`Store::revision`]. Even with a
    /// feed, keep polling now and then: a feed may lose wake-ups while disconnected.
    fn changes(&self) -> Option<ChangeFeed> {
        None
    }

    /// Every account of every tenant as `(tenant id, account)`, sorted by tenant then id.
    ///
    /// The default lists each tenant's accounts in turn; a tenant removed meanwhile is
    /// skipped. Backends with a cheaper way override it.
    async fn all_accounts(&self) -> Result<Vec<(String, Account)>> {
        let mut all = Vec::new();
        for tenant in self.tenants().await? {
            match self.accounts(&tenant.id).await {
                Ok(accounts) => {
                    all.extend(
                        accounts
                            .into_iter()
                            .map(|account| (tenant.id.clone(), account)),
                    );
                }
                Err(crate::RegistryError::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(all)
    }

    /// Appends an event to the audit log of `event.tenant`, in one transaction.
    ///
    /// The log is append-only and outlives the accounts and tenants it names. Fails with
    /// `Unavailable` when the event could not be made durable: never drops it silently.
    async fn record_audit(&self, event: &AuditEvent) -> Result<()>;

    /// The newest `limit` events of a tenant's audit log, newest first.
    ///
    /// `limit` is capped at [`crate::audit::MAX_AUDIT_LIMIT`]; an unknown tenant has an empty
    /// log.
    async fn audit(&self, tenant_id: &str, limit: u32) -> Result<Vec<AuditEvent>>;

    /// Claims `key` for a request of one account whose body hashes to `fingerprint`, as of
    /// `now`.
    ///
    /// A record older than [`crate::idempotency::IDEMPOTENCY_TTL`], or a claim in flight for
    /// longer than [`crate::idempotency::IN_FLIGHT_LEASE`], counts as absent and is replaced.
    /// Only one of several concurrent claims on a key is `New`, across processes too.
    /// Callers validate the key first. Fails with `NotFound` (kind `account`) when the account
    /// does not exist.
    async fn claim_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
        fingerprint: &str,
        now: SystemTime,
    ) -> Result<IdempotencyClaim>;

    /// Stores the answer to a claimed request, which later claims with the same fingerprint
    /// get as [`IdempotencyClaim::Done`].
    ///
    /// `response` is kept for a day in plain text: it must hold no secret (the gateway stores
    /// the resource without its one-time secret). Fails with `NotFound` (kind
    /// `idempotency key`) when no claim is in flight for the key.
    async fn complete_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
        status: u16,
        response: &serde_json::Value,
    ) -> Result<()>;

    /// Drops a claim still in flight, so that a retry may claim the key anew.
    ///
    /// Completed records stay; abandoning an absent claim does nothing.
    async fn abandon_idempotency(&self, tenant_id: &str, account_id: &str, key: &str)
    -> Result<()>;
}
