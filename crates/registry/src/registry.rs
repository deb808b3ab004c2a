//! The registry: validated writes to a [`Store`] and an in-memory host index for requests.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use crate::audit::{AuditEvent, MAX_AUDIT_LIMIT};
use crate::changes::{self, AccountMap, Changes};
use crate::error::{RegistryError, Result};
use crate::hosts::HostIndex;
use crate::idempotency::{IdempotencyClaim, validate_idempotency_key};
use crate::model::{Account, Tenant};
use crate::store::{ChangeFeed, Put, Store};
use crate::validate::Policy;

/// Tenants and accounts as the gateway uses them.
///
/// Writes are validated against the [`Policy`], stored, then reflected in the host index, so
/// that [`Registry::resolve`] answers from memory without touching the store. Changes made by
/// another process sharing the store (the `credless tenant` commands, other replicas) appear
/// after [`Registry::refresh_if_changed`]. Cloning is cheap and clones share everything.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    policy: Policy,
    index: RwLock<Arc<HostIndex>>,
    /// Held across a write and its index update, so that this process's updates land in the
    /// order of its writes. Holds what the index was last loaded from.
    loaded: tokio::sync::Mutex<Loaded>,
}

/// The store as of the last load.
struct Loaded {
    revision: u64,
    /// Every account, to tell which ones another process replaced or removed.
    accounts: AccountMap,
}

impl Registry {
    /// Loads every tenant from `store` into the host index.
    ///
    /// Fails with `Invalid` when the policy's base domain is not a DNS name, and with
    /// `Unavailable` when the store cannot be read.
    pub async fn open(store: Arc<dyn Store>, policy: Policy) -> Result<Self> {
        policy.validate()?;
        let revision = store.revision().await?;
        let index = HostIndex::new(store.tenants().await?, &policy);
        let accounts = changes::account_map(store.all_accounts().await?);
        tracing::info!(
            tenants = index.len(),
            revision,
            "Loaded the tenant registry"
        );
        let inner = Inner {
            store,
            policy,
            index: RwLock::new(Arc::new(index)),
            loaded: tokio::sync::Mutex::new(Loaded { revision, accounts }),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The tenant a raw `Host` header value names, from memory.
    pub fn resolve(&self, host: &str) -> Option<Arc<Tenant>> {
        // Under the read lock rather than through a snapshot: one shared counter fewer to
        // touch on every request.
        self.inner
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .resolve(host)
    }

    /// A snapshot of the host index.
    pub fn hosts(&self) -> Arc<HostIndex> {
        let index = self
            .inner
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&index)
    }

    /// The policy tenants are validated against.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The store underneath, for callers that need what the registry does not offer.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Normalises, validates and stores a new tenant; returns it as stored.
    ///
    /// Fails with `Invalid`, `Conflict` (id or hostname taken) or `Unavailable`.
    pub async fn create_tenant(&self, mut tenant: Tenant) -> Result<Tenant> {
        tenant.normalize_and_validate(&self.inner.policy)?;
        let _writing = self.inner.loaded.lock().await;
        self.inner.store.create_tenant(&tenant).await?;
        self.update_index(|index| index.with(tenant.clone()));
        tracing::info!(tenant.id = %tenant.id, "Created tenant");
        Ok(tenant)
    }

    /// Replaces tenant `id` with `tenant`; returns it as stored.
    ///
    /// The body's id must be `id` or left empty. Fails with `Invalid` (field `id` when they
    /// differ), `NotFound`, `Conflict` (a hostname of another tenant) or `Unavailable`.
    pub async fn replace_tenant(&self, id: &str, mut tenant: Tenant) -> Result<Tenant> {
        if tenant.id.is_empty() {
            tenant.id = id.to_owned();
        } else if tenant.id != id {
            return Err(RegistryError::invalid(
                "id",
                "must match the tenant id in the path",
            ));
        }
        tenant.normalize_and_validate(&self.inner.policy)?;
        let _writing = self.inner.loaded.lock().await;
        self.inner.store.replace_tenant(&tenant).await?;
        self.update_index(|index| index.with(tenant.clone()));
        tracing::info!(tenant.id = %tenant.id, "Replaced tenant");
        Ok(tenant)
    }

    /// Deletes a tenant and its accounts; its hostnames stop resolving at once in this
    /// process. Fails with `NotFound` or `Unavailable`.
    pub async fn delete_tenant(&self, id: &str) -> Result<()> {
        let _writing = self.inner.loaded.lock().await;
        self.inner.store.delete_tenant(id).await?;
        self.update_index(|index| index.without(id));
        tracing::info!(tenant.id = %id, "Deleted tenant");
        Ok(())
    }

    /// The stored tenant `id`, if present.
    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        self.inner.store.tenant(id).await
    }

    /// Every stored tenant, sorted by id.
    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.inner.store.tenants().await
    }

    /// Validates and stores account `id` of a tenant; returns whether it was created or
    /// replaced, and the account as stored.
    ///
    /// The body's id must be `id` or left empty. Fails with `Invalid`, `NotFound` (the
    /// tenant) or `Unavailable`.
    pub async fn put_account(
        &self,
        tenant_id: &str,
        id: &str,
        mut account: Account,
    ) -> Result<(Put, Account)> {
        if account.id().is_empty() {
            account.set_id(id);
        } else if account.id() != id {
            return Err(RegistryError::invalid(
                "id",
                "must match the account id in the path",
            ));
        }
        account.validate()?;
        let put = self.inner.store.put_account(tenant_id, &account).await?;
        tracing::info!(tenant.id = %tenant_id, account.id = %id, ?put, "Stored account");
        Ok((put, account))
    }

    /// The account `id` of a tenant; `None` when either is absent.
    pub async fn account(&self, tenant_id: &str, id: &str) -> Result<Option<Account>> {
        self.inner.store.account(tenant_id, id).await
    }

    /// The accounts of a tenant, sorted by id; `NotFound` when the tenant is absent.
    pub async fn accounts(&self, tenant_id: &str) -> Result<Vec<Account>> {
        self.inner.store.accounts(tenant_id).await
    }

    /// Deletes an account; `NotFound` when it is absent.
    pub async fn delete_account(&self, tenant_id: &str, id: &str) -> Result<()> {
        self.inner.store.delete_account(tenant_id, id).await?;
        tracing::info!(tenant.id = %tenant_id, account.id = %id, "Deleted account");
        Ok(())
    }

    /// Appends `event` to its tenant's audit log. It is not logged: call
    /// [`AuditEvent::log`] as well.
    ///
    /// Fails with `Unavailable` when the event could not be stored; the caller decides
    /// whether the action may stand without its record.
    pub async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        self.inner.store.record_audit(event).await
    }

    /// The newest `limit` events of a tenant's audit log (at most 1000), newest first.
    pub async fn audit(&self, tenant_id: &str, limit: u32) -> Result<Vec<AuditEvent>> {
        let limit = limit.min(MAX_AUDIT_LIMIT);
        self.inner.store.audit(tenant_id, limit).await
    }

    /// Claims an `Idempotency-Key` for a resource creation in an account.
    ///
    /// `fingerprint` identifies the request (a digest of its method, path and body): a key
    /// reused with another fingerprint is [`IdempotencyClaim::Mismatch`]. On `New`, carry the
    /// request out, then call [`Registry::complete_idempotency`] or, when it failed,
    /// [`Registry::abandon_idempotency`]. Fails with `Invalid` (field `Idempotency-Key`),
    /// `NotFound` (the account) or `Unavailable`.
    pub async fn claim_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<IdempotencyClaim> {
        let now = SystemTime::now();
        self.claim_idempotency_at(tenant_id, account_id, key, fingerprint, now)
            .await
    }

    /// [`Registry::claim_idempotency`] as of `now`, for tests of expiry.
    pub async fn claim_idempotency_at(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
        fingerprint: &str,
        now: SystemTime,
    ) -> Result<IdempotencyClaim> {
        validate_idempotency_key(key)?;
        let store = &self.inner.store;
        let claim = store
            .claim_idempotency(tenant_id, account_id, key, fingerprint, now)
            .await?;
        tracing::debug!(
            tenant.id = %tenant_id,
            account.id = %account_id,
            claim = claim_name(&claim),
            "Claimed idempotency key"
        );
        Ok(claim)
    }

    /// Stores the answer to a request claimed with [`IdempotencyClaim::New`], for retries.
    ///
    /// `response` must hold no secret: store the created resource without its one-time
    /// secret (a retry then sees the resource but not the secret again). Fails with
    /// `Invalid`, `NotFound` (no claim in flight) or `Unavailable`.
    pub async fn complete_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
        status: u16,
        response: &serde_json::Value,
    ) -> Result<()> {
        validate_idempotency_key(key)?;
        let store = &self.inner.store;
        store
            .complete_idempotency(tenant_id, account_id, key, status, response)
            .await
    }

    /// Releases a claim whose request failed, so that a retry may claim the key anew.
    ///
    /// Does nothing when no claim is in flight. Fails with `Invalid` or `Unavailable`.
    pub async fn abandon_idempotency(
        &self,
        tenant_id: &str,
        account_id: &str,
        key: &str,
    ) -> Result<()> {
        validate_idempotency_key(key)?;
        let store = &self.inner.store;
        store.abandon_idempotency(tenant_id, account_id, key).await
    }

    /// Checks that the store answers.
    pub async fn ping(&self) -> Result<()> {
        self.inner.store.ping().await
    }

    /// Whether the store answers, for `/readyz`.
    pub async fn ready(&self) -> bool {
        self.ping().await.is_ok()
    }

    /// Wake-ups when another process may have written, when the store can push them.
    ///
    /// Wait on it between calls to [`Registry::refresh`], and still refresh now and then
    /// without it: a feed may lose wake-ups while the store is unreachable.
    pub fn change_feed(&self) -> Option<ChangeFeed> {
        self.inner.store.changes()
    }

    /// Reloads the host index when the store's revision moved since the last load; returns
    /// whether it reloaded. Call it periodically to see other processes' writes.
    ///
    /// This process's own writes also move the revision, so the first call after them
    /// reloads once more. On failure the current index stays in use.
    pub async fn refresh_if_changed(&self) -> Result<bool> {
        Ok(self.refresh().await?.is_some())
    }

    /// [`Registry::refresh_if_changed`] that also tells which tenants and accounts were
    /// removed or replaced since the last load, so that the caller can drop what it cached
    /// about them; `None` when the revision has not moved.
    ///
    /// Changes this process made itself are already in the index, so they are not listed
    /// again unless another process changed the same things meanwhile.
    pub async fn refresh(&self) -> Result<Option<Changes>> {
        let mut loaded = self.inner.loaded.lock().await;
        let revision = self.inner.store.revision().await?;
        if revision == loaded.revision {
            return Ok(None);
        }
        let store = &self.inner.store;
        let index = HostIndex::new(store.tenants().await?, &self.inner.policy);
        let accounts = changes::account_map(store.all_accounts().await?);
        let changed = changes::between(&self.hosts(), &index, &loaded.accounts, &accounts);
        tracing::debug!(
            tenants = index.len(),
            revision,
            changed.tenants = changed.tenants.len(),
            changed.accounts = changed.accounts.len(),
            "Reloaded the tenant registry"
        );
        self.update_index(|_| index);
        *loaded = Loaded { revision, accounts };
        Ok(Some(changed))
    }

    /// Swaps in a changed index. Callers hold `loaded`, so no other update can
    /// slip in between reading the current index and swapping; readers never wait on `change`.
    fn update_index(&self, change: impl FnOnce(&HostIndex) -> HostIndex) {
        let next = Arc::new(change(&self.hosts()));
        *self
            .inner
            .index
            .write()
            .unwrap_or_else(PoisonError::into_inner) = next;
    }
}

/// A short name of a claim for logs; a stored response is not logged.
fn claim_name(claim: &IdempotencyClaim) -> &'static str {
    match claim {
        IdempotencyClaim::New => "new",
        IdempotencyClaim::InFlight => "in_flight",
        IdempotencyClaim::Done { .. } => "done",
        IdempotencyClaim::Mismatch => "mismatch",
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("policy", &self.inner.policy)
            .field("tenants", &self.hosts().len())
            .finish_non_exhaustive()
    }
}
