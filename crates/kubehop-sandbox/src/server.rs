//! The listener: accepts connections and serves HTTP/1.1 (with upgrades) until stopped.
//! Stopping cancels the generation's token, which also ends its watches and port-forwards,
//! so a restart on the same port looks like an API server restart to clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiContext, Shared};
use crate::tls::ServingTls;

/// Bytes read from a client's socket at once, below TLS (rustls reads 4 KiB at a time).
const READ_BUFFER: usize = 64 * 1024;

/// How the server defends itself against clients that hold connections without using them or
/// open too many (the defaults are of the order of kube-apiserver's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest a TLS handshake may take after the connection is accepted.
    pub handshake_timeout: Duration,
    /// Longest a client may take to send a request's headers (including the first request
    /// after the handshake, and the next one on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// The first and the longest pause after a failed accept (out of file descriptors, most
/// likely): retrying at once would spin.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));

/// One running listener generation.
pub(crate) struct Listener {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Listener {
    /// Serves `listener` until the returned handle is stopped or `parent` is cancelled.
    pub fn spawn(
        listener: TcpListener,
        tls: Option<ServingTls>,
        shared: Arc<Shared>,
        parent: &CancellationToken,
    ) -> Self {
        let cancel = parent.child_token();
        let limits = shared.limits;
        let context = Arc::new(ApiContext {
            shared,
            cancel: cancel.clone(),
        });
        let router = api::router(context);
        let token = cancel.clone();
        let task = tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
            let mut backoff = ACCEPT_BACKOFF.0;
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => break,
                    accepted = accept(&listener, &slots) => accepted,
                };
                let (stream, slot) = match accepted {
                    Ok(pair) => {
                        backoff = ACCEPT_BACKOFF.0;
                        pair
                    }
                    Err(err) => {
                        tracing::warn!(
                            "sandbox API server: accept failed: {err}; retrying in {backoff:?}"
                        );
                        tokio::select! {
                            _ = token.cancelled() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                        continue;
                    }
                };
                let connection = Connection {
                    service: TowerToHyperService::new(router.clone()),
                    cancel: token.clone(),
                    limits,
                };
                let tls = tls.clone();
                tokio::spawn(async move {
                    connection.run(stream, tls).await;
                    drop(slot);
                });
            }
        });
        Listener { cancel, task }
    }

    /// Closes the listening socket and every connection of this generation.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

/// Waits for a free connection slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, OwnedSemaphorePermit)> {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(std::io::Error::other)?;
    let (stream, _peer) = listener.accept().await?;
    Ok((stream, slot))
}

/// One accepted connection, about to be served.
struct Connection {
    service: TowerToHyperService<axum::Router>,
    cancel: CancellationToken,
    limits: ServerLimits,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<ServingTls>) {
        // Port-forward frames are small writes: no Nagle delay on them.
        let _ = stream.set_nodelay(true);
        let Some(tls) = tls else {
            return serve(stream, self.service, self.cancel, self.limits).await;
        };
        // rustls reads its socket 4 KiB at a time: a buffer below it makes that one read per
        // 64 KiB (port-forward streams).
        let buffered = tokio::io::BufReader::with_capacity(READ_BUFFER, stream);
        let handshake = tokio::select! {
            _ = self.cancel.cancelled() => return,
            handshake = tokio::time::timeout(self.limits.handshake_timeout, tls.acceptor.accept(buffered)) => handshake,
        };
        match handshake {
            Ok(Ok(stream)) => serve(stream, self.service, self.cancel, self.limits).await,
            Ok(Err(err)) => tracing::debug!("sandbox TLS handshake failed: {err}"),
            Err(_) => tracing::debug!("sandbox TLS handshake timed out"),
        }
    }
}

/// Serves HTTP/1.1 with upgrades on one connection until it ends or `cancel` fires.
async fn serve<S>(
    stream: S,
    service: TowerToHyperService<axum::Router>,
    cancel: CancellationToken,
    limits: ServerLimits,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::select! {
        result = connection => {
            if let Err(err) = result {
                tracing::debug!("sandbox API connection ended: {err}");
            }
        }
        _ = cancel.cancelled() => {}
    }
}

/// Binds `addr` (used for the first start and for restarts on the same port).
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
