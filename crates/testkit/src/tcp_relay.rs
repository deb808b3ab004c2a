//! A TCP relay that can be cut and restored, to test how a client rides out a server that
//! goes away (a database restarting, a network partition) without stopping the real server.
//!
//! Not a proxy for production: it forwards bytes and nothing else.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards every connection made to [`TcpRelay::addr`] to a target address.
///
/// [`TcpRelay::cut`] drops the live connections and refuses new ones, as a stopped server
/// would; [`TcpRelay::restore`] listens again on the same address. Tasks run on the runtime
/// that created the relay and stop when it is dropped.
#[derive(Debug)]
pub struct TcpRelay {
    addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Tasks>>,
}

#[derive(Debug, Default)]
struct Tasks {
    accept: Option<JoinHandle<()>>,
    connections: Vec<JoinHandle<()>>,
}

impl TcpRelay {
    /// Starts relaying from a free port on 127.0.0.1 to `target`.
    ///
    /// Fails when no port can be bound.
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let relay = Self {
            addr: listener.local_addr()?,
            target,
            tasks: Arc::default(),
        };
        relay.accept_on(listener);
        Ok(relay)
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every live connection and stops listening, so that new connections are refused;
    /// returns once the sockets are closed.
    pub async fn cut(&self) {
        let accept = self.lock().accept.take();
        if let Some(accept) = accept {
            accept.abort();
            let _ = accept.await;
        }
        let connections = std::mem::take(&mut self.lock().connections);
        for connection in connections {
            connection.abort();
            let _ = connection.await;
        }
    }

    /// Listens again on the same address after [`TcpRelay::cut`]; does nothing while relaying.
    ///
    /// Fails when the address was taken meanwhile.
    pub async fn restore(&self) -> io::Result<()> {
        if self.lock().accept.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr).await?;
        self.accept_on(listener);
        Ok(())
    }

    fn accept_on(&self, listener: TcpListener) {
        let target = self.target;
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let connection = tokio::spawn(forward(inbound, target));
                let mut tasks = tasks.lock().unwrap_or_else(PoisonError::into_inner);
                tasks.connections.retain(|task| !task.is_finished());
                tasks.connections.push(connection);
            }
        });
        self.lock().accept = Some(accept);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        let mut tasks = self.lock();
        tasks.accept.take().iter().for_each(JoinHandle::abort);
        tasks.connections.drain(..).for_each(|task| task.abort());
    }
}

/// Copies both ways until either side closes; dropping the task closes both sockets.
async fn forward(mut inbound: TcpStream, target: SocketAddr) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// An echo server, standing in for the real one.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut answer = [0; 4];
        stream.read_exact(&mut answer).await?;
        Ok(answer.to_vec())
    }

    #[tokio::test]
    async fn relays_then_cuts_then_relays_again_on_the_same_address() {
        let relay = TcpRelay::start(echo().await).await.unwrap();
        let mut live = TcpStream::connect(relay.addr()).await.unwrap();
        assert_eq!(round_trip(&mut live).await.unwrap(), b"ping");

        relay.cut().await;
        assert!(
            round_trip(&mut live).await.is_err(),
            "live connections are dropped"
        );
        assert!(
            TcpStream::connect(relay.addr()).await.is_err(),
            "new connections are refused"
        );

        relay.restore().await.unwrap();
        let mut again = TcpStream::connect(relay.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again).await.unwrap(), b"ping");
    }
}
