//! The Credless HTTP gateway: configuration, the public and admin listeners, the limits a
//! public server needs, host-based tenant routing, the operator API, health and metrics.
//!
//! [`Config::load`] reads the configuration, [`open`] builds a [`Gateway`] from it (store,
//! registry, operator token), and [`Server::bind`] serves it until [`Server::shutdown`].
//! Every failure a client sees is a [`Problem`], rendered as `application/problem+json` in
//! one place. This crate holds no cloud or session logic of its own: it composes the library
//! crates behind HTTP.

mod accounts;
mod admin;
mod api;
mod app;
mod audit;
mod clouds;
pub mod config;
mod console;
mod error;
mod forward;
mod metrics;
mod portal;
mod problem;
pub mod request;
mod resources;
mod server;
pub mod telemetry;
pub mod token;

use std::path::Path;
use std::sync::Arc;

use credless_registry::{Policy, Registry, open_store};

pub use app::{Gateway, Listener};
pub use config::{Config, Overrides};
pub use error::Error;
pub use problem::{Body, Problem};
pub use server::Server;
pub use token::{AdminToken, TokenSource};

/// Opens the configured store and builds a gateway over it; a missing operator token is
/// generated into `data_dir`.
///
/// Fails when the store cannot be opened or the operator token cannot be obtained.
pub async fn open(config: Config, data_dir: &Path) -> Result<(Gateway, TokenSource), Error> {
    let registry = open_registry(&config).await?;
    let (token, source) = AdminToken::from_config(&config.admin, data_dir)?;
    Ok((Gateway::new(config, Arc::new(registry), token)?, source))
}

/// Opens the configured store and loads its tenants, as `serve` and the `tenant` commands do.
///
/// Fails when the store cannot be opened or read.
pub async fn open_registry(config: &Config) -> Result<Registry, Error> {
    let store = open_store(&config.store.url).await.map_err(Error::Store)?;
    let policy = Policy {
        public_base_domain: config.server.public_base_domain.clone(),
        allow_insecure_upstreams: config.server.allow_insecure_upstreams,
    };
    Registry::open(store, policy).await.map_err(Error::Store)
}
