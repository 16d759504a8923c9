//! Transports: how a byte stream to a hop is opened.
//!
//! - [`PortForwardDialer`]: `pods/portforward` through the API server (the WebSocket
//!   channel protocol, [`super::portforward`]), how endpoints are probed from any machine
//!   with API access.
//!   The stream exists once the WebSocket is upgraded; whether the kubelet reached the pod's
//!   port shows on the port's error channel ([`Dialed::errors`]).
//! - [`DirectDialer`]: a TCP connection to an address or hostname, checked against the
//!   [`NetworkScope`] first (nothing outside 127.0.0.0/8 in tests and the sandbox).
//!
//! [`Dialer`] is object-safe so tests can put a fake behind it (timeouts, failing forwards).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::outcome::Transport;
use super::portforward::{self, PortForward};
use super::reach::NetworkScope;
use crate::engine::plan::HopKind;

/// How long closing a port-forward may take before it is left to finish on its own.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A byte stream to a hop.
pub trait ProbeStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ProbeStream for T {}

/// Where to dial.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DialTarget {
    /// A pod's port, through the API server.
    Pod {
        namespace: String,
        pod: String,
        port: u16,
    },
    Socket(SocketAddr),
    Host {
        host: String,
        port: u16,
    },
}

impl DialTarget {
    pub fn port(&self) -> u16 {
        match self {
            DialTarget::Pod { port, .. } | DialTarget::Host { port, .. } => *port,
            DialTarget::Socket(address) => address.port(),
        }
    }
}

/// An open connection.
pub struct Dialed {
    pub stream: Box<dyn ProbeStream>,
    /// Time to establish it (TCP handshake; WebSocket upgrade for a port-forward).
    pub connected_in: Duration,
    /// A port-forward's error channel: resolves with the kubelet's message when the port is
    /// unusable (`connection refused`, ...), or `None` when the forward ends without one.
    pub errors: Option<BoxFuture<'static, Option<String>>>,
    /// Closes the transport after the stream was dropped (a port-forward's WebSocket).
    pub finish: Option<BoxFuture<'static, ()>>,
    /// Shutting down the stream closes only its sending side: the answer can still be read
    /// (TCP; a port-forward over `v5.channel.k8s.io`). Otherwise shutting down ends it all.
    pub half_close: bool,
}

impl std::fmt::Debug for Dialed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialed")
            .field("connected_in", &self.connected_in)
            .field("errors", &self.errors.is_some())
            .field("half_close", &self.half_close)
            .finish_non_exhaustive()
    }
}

impl Dialed {
    /// Drops the stream and closes the transport (bounded by [`CLOSE_TIMEOUT`]).
    pub async fn close(self) {
        let Dialed { stream, finish, .. } = self;
        drop(stream);
        if let Some(finish) = finish {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, finish).await;
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("connection refused")]
    Refused,
    #[error("no connection within {0:?}")]
    TimedOut(Duration),
    #[error("connection reset")]
    Reset,
    #[error("DNS lookup failed: {0}")]
    Dns(String),
    #[error("port-forward failed: {0}")]
    ForwardFailed(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not reachable from this machine: {0}")]
    NotReachable(String),
    #[error("this transport cannot dial {0:?}")]
    Unsupported(DialTarget),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl DialError {
    /// The error an OS connect failure means for a probe.
    pub fn from_connect(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => DialError::Refused,
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => DialError::Reset,
            io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => {
                DialError::NotReachable(error.to_string())
            }
            _ => DialError::Io(error),
        }
    }
}

/// Opens streams to hops. Object-safe: `Arc<dyn Dialer>`.
pub trait Dialer: Send + Sync {
    fn transport(&self) -> Transport;

    /// Opens a stream to `target`, giving up after `timeout`.
    fn dial<'a>(
        &'a self,
        target: &'a DialTarget,
        kind: HopKind,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Dialed, DialError>>;

    /// `pod` is no longer an endpoint of anything dialed through this dialer: what is kept
    /// open for it (a port-forward session) may close.
    fn pod_gone(&self, namespace: &str, pod: &str) {
        tracing::trace!("{namespace}/{pod} is gone; nothing is kept open for it");
    }
}

/// Looks up hostnames. Object-safe so tests can fail lookups without a DNS server.
pub trait Resolve: Send + Sync {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>>;
}

/// The system resolver (`getaddrinfo` through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) }.boxed()
    }
}

/// TCP straight from this machine, within a [`NetworkScope`].
#[derive(Clone)]
pub struct DirectDialer {
    scope: NetworkScope,
    resolver: Arc<dyn Resolve>,
}

impl std::fmt::Debug for DirectDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectDialer")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl DirectDialer {
    pub fn new(scope: NetworkScope) -> Self {
        DirectDialer {
            scope,
            resolver: Arc::new(SystemResolver),
        }
    }

    pub fn with_resolver(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.resolver = resolver;
        self
    }

    pub fn scope(&self) -> &NetworkScope {
        &self.scope
    }

    async fn connect(
        &self,
        address: SocketAddr,
        kind: HopKind,
        started: Instant,
        timeout: Duration,
    ) -> Result<Dialed, DialError> {
        self.scope
            .allows(address.ip(), kind)
            .map_err(DialError::NotReachable)?;
        let remaining = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(Dialed {
                    stream: Box::new(stream),
                    connected_in: started.elapsed(),
                    errors: None,
                    finish: None,
                    half_close: true,
                })
            }
            Ok(Err(error)) => Err(DialError::from_connect(error)),
            Err(_) => Err(DialError::TimedOut(timeout)),
        }
    }
}

impl Dialer for DirectDialer {
    fn transport(&self) -> Transport {
        Transport::Direct
    }

    fn dial<'a>(
        &'a self,
        target: &'a DialTarget,
        kind: HopKind,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Dialed, DialError>> {
        async move {
            let started = Instant::now();
            match target {
                DialTarget::Socket(address) => self.connect(*address, kind, started, timeout).await,
                DialTarget::Host { host, port } => {
                    self.scope
                        .allows_hostname(host)
                        .map_err(DialError::NotReachable)?;
                    let addresses =
                        match tokio::time::timeout(timeout, self.resolver.resolve(host, *port))
                            .await
                        {
                            Ok(Ok(addresses)) if !addresses.is_empty() => addresses,
                            Ok(Ok(_)) => {
                                return Err(DialError::Dns(format!("{host} has no address")));
                            }
                            Ok(Err(error)) => {
                                return Err(DialError::Dns(format!("{host}: {error}")));
                            }
                            Err(_) => {
                                return Err(DialError::Dns(format!(
                                    "{host}: no answer within {timeout:?}"
                                )));
                            }
                        };
                    // The first address this scope allows; the others are not tried.
                    let mut refusal = None;
                    for address in addresses {
                        match self.scope.allows(address.ip(), kind) {
                            Ok(()) => return self.connect(address, kind, started, timeout).await,
                            Err(reason) => refusal = Some(reason),
                        }
                    }
                    Err(DialError::NotReachable(format!(
                        "{host} resolves only to addresses this run may not use: {}",
                        refusal.unwrap_or_default()
                    )))
                }
                DialTarget::Pod { .. } => Err(DialError::Unsupported(target.clone())),
            }
        }
        .boxed()
    }
}

/// `pods/portforward` through the API server.
#[derive(Clone)]
pub struct PortForwardDialer {
    /// The current client: replaced when the source switches to a new API configuration.
    clients: tokio::sync::watch::Receiver<kube::Client>,
}

impl std::fmt::Debug for PortForwardDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortForwardDialer").finish_non_exhaustive()
    }
}

impl PortForwardDialer {
    /// Always through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self::following(tokio::sync::watch::channel(client).1)
    }

    /// Through the latest client `clients` holds at each dial.
    pub fn following(clients: tokio::sync::watch::Receiver<kube::Client>) -> Self {
        PortForwardDialer { clients }
    }
}

/// What a failed port-forward request means for a probe.
pub(crate) fn forward_error(error: kube::Error, namespace: &str, pod: &str) -> DialError {
    match &error {
        kube::Error::Api(status) if status.code == 403 => DialError::Forbidden(format!(
            "may not create pods/portforward for {namespace}/{pod}: {}",
            status.message
        )),
        kube::Error::Api(status) if status.code == 404 => {
            DialError::ForwardFailed(format!("pod {namespace}/{pod} not found"))
        }
        kube::Error::Api(status) => DialError::ForwardFailed(format!(
            "the API server answered {}: {}",
            status.code, status.message
        )),
        _ => DialError::ForwardFailed(error.to_string()),
    }
}

impl Dialer for PortForwardDialer {
    fn transport(&self) -> Transport {
        Transport::PortForward
    }

    fn dial<'a>(
        &'a self,
        target: &'a DialTarget,
        _kind: HopKind,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Dialed, DialError>> {
        async move {
            let DialTarget::Pod {
                namespace,
                pod,
                port,
            } = target
            else {
                return Err(DialError::Unsupported(target.clone()));
            };
            let started = Instant::now();
            let client = self.clients.borrow().clone();
            let forward = match tokio::time::timeout(
                timeout,
                portforward::open(&client, namespace, pod, *port),
            )
            .await
            {
                Ok(Ok(forward)) => forward,
                Ok(Err(error)) => return Err(forward_error(error, namespace, pod)),
                Err(_) => return Err(DialError::TimedOut(timeout)),
            };
            let connected_in = started.elapsed();
            let PortForward {
                stream,
                errors,
                task,
                half_close,
            } = forward;
            Ok(Dialed {
                stream: Box::new(stream),
                connected_in,
                errors: Some(errors.map(Result::ok).boxed()),
                finish: Some(
                    async move {
                        let _ = task.await;
                    }
                    .boxed(),
                ),
                half_close,
            })
        }
        .boxed()
    }
}
