//! Picks the store backend from the scheme of `store.url`.

use std::sync::Arc;

use crate::error::{RegistryError, Result};
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::store::Store;

/// Opens the store `url` names: `sqlite:` for the embedded store of one process, or
/// `postgres://` / `postgresql://` for a database shared by several replicas.
///
/// Fails with `Invalid` (field `store.url`) for another scheme or a malformed URL, and as
/// the backend's `open` does otherwise. The URL is never echoed: it may carry a password.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else {
        Err(RegistryError::invalid(
            "store.url",
            "must be a `sqlite:` or `postgres://` URL",
        ))
    }
}

/// Whether `url` names a backend [`open_store`] knows, for configuration checks.
pub fn is_supported_store_url(url: &str) -> bool {
    ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
}
