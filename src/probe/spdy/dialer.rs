//! [`SessionDialer`]: port-forwards as kubectl opens them, one SPDY session per pod kept
//! open and a stream pair per connection, with the per-connection WebSocket
//! ([`PortForwardDialer`]) as the fallback for servers that take neither SPDY upgrade.
//!
//! Sessions are opened on the first connection to a pod (the tunnel first, then plain SPDY;
//! whichever the server took is asked first from then on) and kept until the pod is gone
//! ([`Dialer::pod_gone`]), the server or the transport ends them (the next connection opens
//! a new one), or the API client changes (a rewritten kubeconfig). When neither upgrade is
//! taken but the per-connection WebSocket works, every later connection goes that way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::time::Instant;

use super::connect::{OpenError, Upgrade, connect};
use super::session::Session;
use crate::engine::plan::HopKind;
use crate::probe::dialer::{
    DialError, DialTarget, Dialed, Dialer, PortForwardDialer, forward_error,
};
use crate::probe::outcome::Transport;

/// What the server was found to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unknown,
    Session(Upgrade),
    /// Neither SPDY upgrade: the WebSocket channel protocol, one per connection.
    PerConnection,
}

type Slot = Arc<tokio::sync::Mutex<Option<Session>>>;

/// Port-forwards multiplexed on one SPDY session per pod.
pub struct SessionDialer {
    clients: watch::Receiver<kube::Client>,
    fallback: PortForwardDialer,
    inner: Mutex<Inner>,
}

struct Inner {
    sessions: HashMap<(String, String), Slot>,
    mode: Mode,
    /// The client the sessions were opened with (`changed` once there is a newer one).
    seen: watch::Receiver<kube::Client>,
}

impl std::fmt::Debug for SessionDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionDialer").finish_non_exhaustive()
    }
}

impl SessionDialer {
    /// Through the latest client `clients` holds.
    pub fn following(clients: watch::Receiver<kube::Client>) -> Self {
        SessionDialer {
            fallback: PortForwardDialer::following(clients.clone()),
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                mode: Mode::Unknown,
                seen: clients.clone(),
            }),
            clients,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slot of `pod`'s session; with a new client, every session of the old one closes.
    fn slot(&self, namespace: &str, pod: &str) -> (Slot, Mode) {
        let mut inner = self.inner();
        if inner.seen.has_changed().unwrap_or(false) {
            inner.seen.mark_unchanged();
            inner.mode = Mode::Unknown;
            for (_, slot) in inner.sessions.drain() {
                close_later(slot);
            }
        }
        let slot = inner
            .sessions
            .entry((namespace.to_owned(), pod.to_owned()))
            .or_default()
            .clone();
        (slot, inner.mode)
    }

    /// `pod`'s open session, or a new one.
    async fn session(
        &self,
        namespace: &str,
        pod: &str,
        mode: Mode,
        slot: &Slot,
    ) -> Result<Session, OpenError> {
        let mut held = slot.lock().await;
        if let Some(session) = held.as_ref().filter(|session| session.is_open()) {
            return Ok(session.clone());
        }
        let client = self.clients.borrow().clone();
        let order = match mode {
            Mode::Session(Upgrade::Spdy) => [Upgrade::Spdy, Upgrade::Tunnel],
            _ => [Upgrade::Tunnel, Upgrade::Spdy],
        };
        let mut declined = None;
        for upgrade in order {
            match connect(&client, namespace, pod, upgrade).await {
                Ok(session) => {
                    self.inner().mode = Mode::Session(upgrade);
                    *held = Some(session.clone());
                    return Ok(session);
                }
                Err(OpenError::Unsupported(upgrade, why)) => {
                    tracing::debug!(
                        "port-forward session to {namespace}/{pod}: {upgrade:?} declined: {why}"
                    );
                    declined = Some(OpenError::Unsupported(upgrade, why));
                }
                Err(error) => return Err(error),
            }
        }
        Err(declined.unwrap_or(OpenError::Unsupported(Upgrade::Spdy, String::new())))
    }

    /// A stream pair on `pod`'s session (opening one when needed); `None` when the server
    /// takes no SPDY upgrade.
    async fn open(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> Result<Option<Dialed>, DialError> {
        let started = Instant::now();
        // A session that ended between the check and the open is replaced once.
        for _ in 0..2 {
            let (slot, mode) = self.slot(namespace, pod);
            let session = match self.session(namespace, pod, mode, &slot).await {
                Ok(session) => session,
                Err(OpenError::Unsupported(..)) => return Ok(None),
                Err(OpenError::Failed(error)) => return Err(forward_error(error, namespace, pod)),
            };
            if let Ok(pair) = session.open(port) {
                return Ok(Some(Dialed {
                    stream: Box::new(pair.stream),
                    connected_in: started.elapsed(),
                    errors: Some(pair.errors.map(Result::ok).boxed()),
                    finish: None,
                    half_close: true,
                }));
            }
        }
        Err(DialError::ForwardFailed(format!(
            "the port-forward session to {namespace}/{pod} keeps closing"
        )))
    }

    async fn dial_pod(
        &self,
        target: &DialTarget,
        kind: HopKind,
        timeout: Duration,
    ) -> Result<Dialed, DialError> {
        let DialTarget::Pod {
            namespace,
            pod,
            port,
        } = target
        else {
            return Err(DialError::Unsupported(target.clone()));
        };
        if self.inner().mode != Mode::PerConnection {
            let opened = tokio::time::timeout(timeout, self.open(namespace, pod, *port))
                .await
                .map_err(|_| DialError::TimedOut(timeout))??;
            if let Some(dialed) = opened {
                return Ok(dialed);
            }
        }
        let dialed = self.fallback.dial(target, kind, timeout).await?;
        let mut inner = self.inner();
        if inner.mode == Mode::Unknown {
            tracing::info!(
                "the API server takes no SPDY port-forward upgrade: one WebSocket per connection"
            );
            inner.mode = Mode::PerConnection;
        }
        Ok(dialed)
    }
}

/// Closes the session in `slot` once whoever is opening it is done.
fn close_later(slot: Slot) {
    tokio::spawn(async move {
        if let Some(session) = slot.lock().await.take() {
            session.close();
        }
    });
}

impl Dialer for SessionDialer {
    fn transport(&self) -> Transport {
        Transport::PortForward
    }

    fn dial<'a>(
        &'a self,
        target: &'a DialTarget,
        kind: HopKind,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Dialed, DialError>> {
        self.dial_pod(target, kind, timeout).boxed()
    }

    fn pod_gone(&self, namespace: &str, pod: &str) {
        let removed = self
            .inner()
            .sessions
            .remove(&(namespace.to_owned(), pod.to_owned()));
        if let Some(slot) = removed {
            close_later(slot);
        }
    }
}
