//! The change feed: one connection that `LISTEN`s for other processes' writes and wakes the
//! [`ChangeFeed`], reconnecting by itself after the database comes back.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::CHANGES_CHANNEL;
use crate::error::{RegistryError, Result};
use crate::store::ChangeFeed;

/// The pause between attempts to reconnect the listener.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// How long one attempt to reconnect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The listening task; it stops when this is dropped.
pub(super) struct ListenerTask(JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts listening; fails with `Unavailable` when the first `LISTEN` fails, so that a store
/// never opens without its feed.
pub(super) async fn spawn(options: PgConnectOptions) -> Result<(ListenerTask, ChangeFeed)> {
    // A pool of its own, so that the listener never waits behind requests for a connection.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let listener = connect(&pool).await.map_err(RegistryError::unavailable)?;
    let (wake, feed) = watch::channel(0);
    let task = tokio::spawn(run(pool, listener, wake));
    Ok((ListenerTask(task), feed))
}

async fn connect(pool: &sqlx::PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection is reported at once rather than retried inside `try_recv`, so that
    // this task can wake the feed: notifications may have been missed meanwhile.
    listener.eager_reconnect(false);
    listener.ignore_pool_close_event(true);
    listener.listen(CHANGES_CHANNEL).await?;
    Ok(listener)
}

async fn run(pool: sqlx::PgPool, mut listener: PgListener, wake: watch::Sender<u64>) {
    loop {
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => wake.send_modify(|count| *count = count.wrapping_add(1)),
                Ok(None) => {
                    tracing::warn!("lost the store's change feed; reconnecting");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "the store's change feed failed; reconnecting");
                    break;
                }
            }
        }
        drop(listener);
        listener = loop {
            tokio::time::sleep(RECONNECT_DELAY).await;
            match connect(&pool).await {
                Ok(listener) => break listener,
                Err(error) => tracing::debug!(%error, "store change feed still unreachable"),
            }
        };
        tracing::info!("store change feed reconnected");
        // Whatever was announced while disconnected is lost: make every reader look.
        wake.send_modify(|count| *count = count.wrapping_add(1));
    }
}
