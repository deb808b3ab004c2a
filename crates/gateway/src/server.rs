//! Real listeners: accept loops with a connection cap, hyper connections with a header-read
//! timer and header-size limit, and graceful shutdown within a grace period.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use credless_registry::{ChangeFeed, Changes};

use crate::app::{Gateway, Listener};
use crate::error::Error;

/// How often the registry checks whether another process changed the store.
const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// A gateway bound to its two listeners and serving.
pub struct Server {
    public_addr: SocketAddr,
    admin_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    gateway: Gateway,
}

impl Server {
    /// Binds the public and admin listeners from the gateway's configuration and starts
    /// serving. Port `0` picks a free port; see [`Server::public_addr`].
    ///
    /// Fails when an address cannot be bound.
    pub async fn bind(gateway: Gateway) -> Result<Self, Error> {
        let server = &gateway.config().server;
        let public = listen(server.listen).await?;
        let admin = listen(server.admin_listen).await?;
        Ok(Self::serve(gateway, public, admin))
    }

    /// Serves on listeners the caller bound.
    pub fn serve(gateway: Gateway, public: TcpListener, admin: TcpListener) -> Self {
        let (stop, stopped) = watch::channel(false);
        let public_addr = local_addr(&public);
        let admin_addr = local_addr(&admin);
        let mut tasks = JoinSet::new();
        tasks.spawn(accept_loop(
            gateway.clone(),
            Listener::Public,
            public,
            stopped.clone(),
        ));
        tasks.spawn(accept_loop(
            gateway.clone(),
            Listener::Admin,
            admin,
            stopped.clone(),
        ));
        tasks.spawn(refresh_loop(gateway.clone(), stopped));
        tracing::info!(public = %public_addr, admin = %admin_addr, "listening");
        Self {
            public_addr,
            admin_addr,
            stop,
            tasks,
            gateway,
        }
    }

    /// Where the portal and API listen.
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// Where the operator API listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The gateway being served.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Stops accepting, lets in-flight requests finish within the grace period, then closes
    /// what remains.
    pub async fn shutdown(mut self) {
        tracing::info!("shutting down: no new connections, draining in-flight requests");
        self.gateway.start_draining();
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("stopped");
    }
}

async fn listen(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

async fn accept_loop(
    gateway: Gateway,
    kind: Listener,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let limits = gateway.config().limits.clone();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Between our limit and twice it, the gateway answers a `431` problem itself, with a
        // request id; beyond, hyper refuses the block before it is buffered.
        .max_header_size(limits.max_header_bytes * 2)
        // hyper's default of at most 100 header fields keeps its parse buffer on the stack;
        // a larger limit costs a heap buffer for every request.
        .max_buf_size((limits.max_header_bytes * 2).max(16 * 1024));

    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let service_gateway = gateway.clone();
        // The gateway's own future, not one wrapped around it: hyper moves it once per request.
        let service = service_fn(move |req| {
            service_gateway
                .handle(kind, req, peer)
                .map(Ok::<_, Infallible>)
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let open = gateway.shared.metrics.connection();
        connections.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop((permit, open));
        });
    }

    drop(listener);
    let grace = limits.shutdown_grace;
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; closing connections");
            connections.abort_all();
        }
    }
    while connections.join_next().await.is_some() {}
}

/// Picks up changes other processes made to the store, such as `credless tenant add` or
/// another replica's operator API: at once when the store pushes a change, and every
/// [`REFRESH_INTERVAL`] regardless, in case a push was lost. Sessions and credentials cached
/// for a tenant or account that was removed or replaced elsewhere are dropped here too.
async fn refresh_loop(gateway: Gateway, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(REFRESH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut feed = gateway.registry().change_feed();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = next_change(&mut feed) => {}
            _ = stop.changed() => return,
        }
        match gateway.registry().refresh().await {
            Ok(Some(changes)) => {
                // This process's own writes move the store's revision too; only what another
                // process changed is worth a line at `info`.
                if changes.tenants.is_empty() && changes.accounts.is_empty() {
                    tracing::debug!("store revision moved; tenant index reloaded");
                } else {
                    tracing::info!(
                        changed.tenants = changes.tenants.len(),
                        changed.accounts = changes.accounts.len(),
                        "store changed elsewhere; tenant index reloaded"
                    );
                }
                forget(&gateway, &changes);
                gateway
                    .shared
                    .metrics
                    .set_tenants(gateway.registry().hosts().len());
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(error = %crate::problem::DisplayChain(&error), "refresh failed");
            }
        }
    }
}

/// Waits for the store's next push; never returns when it has no feed (or it ended).
async fn next_change(feed: &mut Option<ChangeFeed>) {
    match feed {
        Some(changes) => {
            if changes.changed().await.is_err() {
                *feed = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Drops what this replica cached about tenants and accounts changed elsewhere, as the
/// operator API does for its own changes.
fn forget(gateway: &Gateway, changes: &Changes) {
    let shared = &gateway.shared;
    for tenant in &changes.tenants {
        shared.sessions.invalidate_tenant(tenant);
        shared.exchanges.invalidate_tenant(tenant);
        tracing::info!(tenant.id = %tenant, "tenant changed elsewhere; its sessions dropped");
    }
    for (tenant, account) in &changes.accounts {
        shared.exchanges.invalidate_account(tenant, account);
    }
}
