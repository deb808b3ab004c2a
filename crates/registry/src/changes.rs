//! What a reload found changed, so that callers can drop what they cached about it.

use std::collections::{BTreeSet, HashMap};

use crate::hosts::HostIndex;
use crate::model::Account;

/// Tenants and accounts that were removed or replaced between two loads of the store.
///
/// Added ones are not listed: nothing can be cached about them yet. Neither are ones
/// replaced by an identical document, which no reload can tell from unchanged ones. Returned by
/// [`crate::Registry::refresh`] so that a replica drops the sessions and credentials of
/// tenants and accounts another replica changed, as the one that made the change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// Ids of tenants removed or replaced, sorted.
    pub tenants: Vec<String>,
    /// `(tenant id, account id)` of accounts removed or replaced, sorted.
    pub accounts: Vec<(String, String)>,
}

impl Changes {
    /// Whether nothing was removed or replaced.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty() && self.accounts.is_empty()
    }
}

/// The accounts of every tenant, by `(tenant id, account id)`.
pub(crate) type AccountMap = HashMap<(String, String), Account>;

/// Builds the map from a store's listing.
pub(crate) fn account_map(accounts: Vec<(String, Account)>) -> AccountMap {
    accounts
        .into_iter()
        .map(|(tenant, account)| ((tenant, account.id().to_owned()), account))
        .collect()
}

/// Compares two loads: tenants and accounts present before and now absent or different.
pub(crate) fn between(
    before: &HostIndex,
    after: &HostIndex,
    accounts_before: &AccountMap,
    accounts_after: &AccountMap,
) -> Changes {
    let tenants: BTreeSet<String> = before
        .tenants()
        .filter(|old| after.tenant(&old.id).is_none_or(|new| new != **old))
        .map(|old| old.id.clone())
        .collect();
    let accounts: BTreeSet<(String, String)> = accounts_before
        .iter()
        .filter(|(key, old)| accounts_after.get(*key) != Some(*old))
        .map(|(key, _)| key.clone())
        .collect();
    Changes {
        tenants: tenants.into_iter().collect(),
        accounts: accounts.into_iter().collect(),
    }
}
