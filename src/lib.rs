//! Credless: a self-hostable gateway for credential-less multi-cloud operations.
//!
//! This facade re-exports the library crates so that an embedding service can depend on one
//! package. Each crate is also usable alone: `credless-registry` for tenants and their store,
//! `credless-session` for oauth2-proxy sessions (with a tower layer), `credless-exchange` and
//! the cloud crates for credential-less access, `credless-resources` for the one resource
//! interface, `credless-gateway` for the HTTP server. The fakes of `credless-testkit` are not
//! re-exported: depend on it as a dev-dependency. The `credless` binary lives in
//! `bins/credless-server`.

pub use credless_aws as aws;
pub use credless_azure as azure;
pub use credless_exchange as exchange;
pub use credless_gateway as gateway;
pub use credless_gcp as gcp;
pub use credless_registry as registry;
pub use credless_resources as resources;
pub use credless_session as session;
