//! Tenants and their cloud accounts: the data model of the contract, the rules they must
//! follow, which tenant a `Host` header names, and where they are stored.
//!
//! [`Registry`] is the entry point: it validates writes against a [`Policy`], persists them
//! through a [`Store`] ([`SqliteStore`] is the embedded one, [`PostgresStore`] the one several
//! replicas share; [`open_store`] picks by URL) and answers [`Registry::resolve`]
//! from an in-memory [`HostIndex`] without I/O. [`Tenant`] and [`Account`] are the JSON
//! documents of the operator and portal APIs; [`RegistryError`] is the one error type. The
//! store also keeps each tenant's [`AuditEvent`] log and the idempotency records of resource
//! creations ([`IdempotencyClaim`]).
//!
//! This crate speaks no HTTP and no cloud API, and holds no secret: tenants and accounts only
//! name where identities come from and which roles they may take.

pub mod audit;
mod changes;
pub mod error;
pub mod hosts;
pub mod idempotency;
pub mod model;
mod open;
pub mod postgres;
pub mod registry;
mod rows;
pub mod sqlite;
pub mod store;
pub mod validate;

pub use audit::{AuditEvent, Outcome};
pub use changes::Changes;
pub use error::{RegistryError, Result};
pub use hosts::HostIndex;
pub use idempotency::{IdempotencyClaim, validate_idempotency_key};
pub use model::{Account, AwsAccount, AzureAccount, GcpAccount, Oidc, Provider, Tenant};
pub use open::{is_supported_store_url, open_store};
pub use postgres::PostgresStore;
pub use registry::Registry;
pub use sqlite::SqliteStore;
pub use store::{ChangeFeed, Put, Store};
pub use validate::{Policy, is_internal_address};
