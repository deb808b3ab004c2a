//! The `credless dev` environment: a whole Credless on loopback, ready to try by hand.
//!
//! [`DevEnvironment::start`] starts the testkit's identity provider (with a sign-in page for
//! browsers), a tenant oauth2-proxy and fake AWS (STS, EC2, RDS), Azure (Entra, ARM) and GCP
//! (STS, IAM Credentials, Compute, Cloud SQL); then the gateway over an embedded store, pointed
//! at those fakes; then registers tenant `demo` (reachable as `demo.localhost`) with one
//! account per cloud whose trust is already set up for the demo user. [`DevInfo`] says where
//! everything is and carries a session cookie of the demo user, as text for people or one line
//! of JSON for scripts.
//!
//! Everything here is for local development: the fakes approve every login and keep their
//! keys in memory. It is not a way to run Credless for real users; see `credless serve`.

mod clouds;
mod info;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use credless_gateway::{AdminToken, Config, Gateway, Server};
use credless_registry::RegistryError;
use credless_registry::model::{DEFAULT_COOKIE_NAME, Oidc, Tenant};
use credless_testkit::{OAuth2Proxy, OidcProvider, ProxyOptions, User};

pub use info::{DevInfo, DevUser};

use clouds::Clouds;

/// The demo tenant's id; it is reached as `demo.localhost`.
pub const TENANT: &str = "demo";

/// Where the environment listens and keeps its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevOptions {
    /// The portal and API listener.
    pub listen: SocketAddr,
    /// The operator listener.
    pub admin_listen: SocketAddr,
    /// Where the SQLite store lives; `None` for a temporary directory removed at the end.
    pub data_dir: Option<PathBuf>,
}

impl Default for DevOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            data_dir: None,
        }
    }
}

/// Why the environment could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The gateway could not be built or could not bind its listeners (a port in use?).
    #[error("the gateway cannot start")]
    Gateway(#[source] credless_gateway::Error),
    /// The demo tenant or its accounts could not be registered.
    #[error("the demo tenant cannot be registered")]
    Registry(#[source] RegistryError),
}

/// A running dev environment; dropping it stops the fakes, [`shutdown`](Self::shutdown) also
/// drains the gateway.
pub struct DevEnvironment {
    server: Server,
    info: DevInfo,
    _fakes: Fakes,
    _temporary: Option<tempfile::TempDir>,
}

/// The stand-ins, kept alive as long as the environment.
struct Fakes {
    _idp: OidcProvider,
    _proxy: OAuth2Proxy,
    _clouds: Clouds,
}

impl DevEnvironment {
    /// Starts the fakes, the gateway and the demo tenant.
    ///
    /// Fails when the data directory cannot be created, a listener cannot be bound, or the
    /// store cannot be opened or written.
    pub async fn start(options: DevOptions) -> Result<Self, DevError> {
        let (data_dir, temporary) = data_dir(options.data_dir)?;

        let idp = OidcProvider::start().await;
        idp.set_sign_in_page(true);
        let user = User::demo();
        idp.set_next_user(user.clone());
        let proxy_options = ProxyOptions::default();
        let audience = proxy_options.client_id.clone();
        // Not yet: sessions end with their ID token, after an hour; refreshing them needs the
        // fake proxy to refresh only near expiry (refreshing on every check defeats the cache).
        let proxy = OAuth2Proxy::start(&idp, proxy_options).await;
        let clouds = Clouds::start(&idp, &audience, &user).await;

        let mut config = Config::default();
        config.server.listen = options.listen;
        config.server.admin_listen = options.admin_listen;
        config.server.public_base_domain = "localhost".to_owned();
        config.server.allow_insecure_upstreams = true;
        config.store.url = format!("sqlite://{}", data_dir.join("credless.db").display());
        clouds.point(&mut config);

        let registry = credless_gateway::open_registry(&config)
            .await
            .map_err(DevError::Gateway)?;
        let registry = Arc::new(registry);
        let tenant = Tenant {
            id: TENANT.to_owned(),
            admin_email: user.email.clone(),
            hostnames: Vec::new(),
            proxy_url: proxy.url(),
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            oidc: Oidc {
                issuer: idp.issuer(),
                audiences: vec![audience],
            },
            admin_groups: Vec::new(),
        };
        register(&registry, tenant, &clouds).await?;

        let admin_token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let gateway = Gateway::new(config, registry, AdminToken::new(&admin_token))
            .map_err(DevError::Gateway)?;
        let server = Server::bind(gateway).await.map_err(DevError::Gateway)?;

        let cookie = OAuth2Proxy::cookie_header(&proxy.sign_in(user.clone()));
        let info = DevInfo::new(
            &server,
            admin_token,
            idp.issuer(),
            cookie,
            Clouds::ACCOUNTS.iter().map(|id| (*id).to_owned()).collect(),
            &user,
        );
        tracing::info!(
            tenant.id = TENANT,
            portal = %info.portal_url,
            admin = %info.admin_url,
            "credless dev is ready"
        );
        Ok(Self {
            server,
            info,
            _fakes: Fakes {
                _idp: idp,
                _proxy: proxy,
                _clouds: clouds,
            },
            _temporary: temporary,
        })
    }

    /// Where everything is, and the demo user's session cookie.
    pub fn info(&self) -> &DevInfo {
        &self.info
    }

    /// Drains the gateway, then stops the fakes and removes a temporary data directory.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
        tracing::info!("credless dev stopped");
    }
}

impl std::fmt::Debug for DevEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevEnvironment")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The data directory, created if needed, or a temporary one.
fn data_dir(configured: Option<PathBuf>) -> Result<(PathBuf, Option<tempfile::TempDir>), DevError> {
    match configured {
        Some(path) => {
            std::fs::create_dir_all(&path).map_err(|source| DevError::DataDir {
                path: path.clone(),
                source,
            })?;
            Ok((path, None))
        }
        None => {
            let temporary = tempfile::Builder::new()
                .prefix("credless-dev-")
                .tempdir()
                .map_err(|source| DevError::DataDir {
                    path: std::env::temp_dir(),
                    source,
                })?;
            Ok((temporary.path().to_path_buf(), Some(temporary)))
        }
    }
}

/// Registers the tenant, replacing one left in a kept data directory by an earlier run (its
/// fakes listened elsewhere), and its accounts.
async fn register(
    registry: &credless_registry::Registry,
    tenant: Tenant,
    clouds: &Clouds,
) -> Result<(), DevError> {
    let exists = registry
        .tenant(TENANT)
        .await
        .map_err(DevError::Registry)?
        .is_some();
    if exists {
        registry.replace_tenant(TENANT, tenant).await
    } else {
        registry.create_tenant(tenant).await
    }
    .map_err(DevError::Registry)?;
    for account in clouds.accounts() {
        let id = account.id().to_owned();
        registry
            .put_account(TENANT, &id, account)
            .await
            .map_err(DevError::Registry)?;
    }
    Ok(())
}
