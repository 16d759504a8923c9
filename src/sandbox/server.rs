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

use crate::sandbox::api::{self, ApiContext, Shared};

/// One running listener generation.
pub(crate) struct Listener {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Listener {
    /// Serves `listener` until the returned handle is stopped or `parent` is cancelled.
    pub fn spawn(listener: TcpListener, shared: Arc<Shared>, parent: &CancellationToken) -> Self {
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
                let service = TowerToHyperService::new(router.clone());
                let connection_token = token.clone();
                tokio::spawn(async move {
                    let builder = hyper::server::conn::http1::Builder::new();
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    tokio::select! {
                        result = connection => {
                            if let Err(err) = result {
                                tracing::debug!("sandbox API connection ended: {err}");
                            }
                        }
                        _ = connection_token.cancelled() => {}
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

/// Binds `addr` (used for the first start and for restarts on the same port).
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
