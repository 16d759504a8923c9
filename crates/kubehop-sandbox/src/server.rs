//! The listener: accepts connections and serves HTTP/1.1 (with upgrades) until stopped.
//! Stopping cancels the generation's token, which also ends its watches and port-forwards,
//! so a restart on the same port looks like an API server restart to clients.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiContext, Shared};
use crate::tls::ServingTls;

/// Bytes read from a client's socket at once, below TLS (rustls reads 4 KiB at a time).
const READ_BUFFER: usize = 64 * 1024;

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
        let context = Arc::new(ApiContext {
            shared,
            cancel: cancel.clone(),
        });
        let router = api::router(context);
        let token = cancel.clone();
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let (stream, _peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::warn!("sandbox API server: accept failed: {err}");
                        continue;
                    }
                };
                // Port-forward frames are small writes: no Nagle delay on them.
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let connection_token = token.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve(stream, service, connection_token).await,
                        Some(tls) => {
                            // rustls reads its socket 4 KiB at a time: a buffer below it
                            // makes that one read per 64 KiB (port-forward streams).
                            let buffered = tokio::io::BufReader::with_capacity(READ_BUFFER, stream);
                            let handshake = tokio::select! {
                                _ = connection_token.cancelled() => return,
                                handshake = tls.acceptor.accept(buffered) => handshake,
                            };
                            match handshake {
                                Ok(stream) => serve(stream, service, connection_token).await,
                                Err(err) => tracing::debug!("sandbox TLS handshake failed: {err}"),
                            }
                        }
                    }
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

/// Serves HTTP/1.1 with upgrades on one connection until it ends or `cancel` fires.
async fn serve<S>(stream: S, service: TowerToHyperService<axum::Router>, cancel: CancellationToken)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
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
