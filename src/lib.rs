//! Credless: a self-hostable gateway for credential-less multi-cloud operations.
//!
//! This facade re-exports the library crates so that an embedding service can depend on one
//! package. Each crate is also usable alone: `credless-registry` for tenants and their
//! store, `credless-gateway` for the HTTP server. The `credless` binary lives in
//! `bins/credless-server`.

pub use credless_gateway as gateway;
pub use credless_registry as registry;
