//! `kubehop forward`: a Service port-forward that load-balances like the Service and survives
//! pod restarts (docs/forward.md).
//!
//! `kubectl port-forward svc/NAME` resolves the Service to one pod once and dies with it. A
//! kubehop forward listens locally (loopback unless `--address` says otherwise) and, for each
//! accepted connection:
//!
//! 1. asks the engine for the Service port's usable endpoints in the newest snapshot
//!    ([`backends`]: ready pods, else serving-and-terminating ones, the engine's cluster set)
//!    and lets the engine's [`Picker`](crate::engine::Picker) choose one (uniform, ClientIP
//!    affinity keyed on the local client's address when the Service sets it);
//! 2. opens a port-forward to that pod's resolved targetPort (from the command line: a stream
//!    pair on the pod's SPDY session, [`SessionDialer`](crate::probe::SessionDialer)) and
//!    splices the bytes;
//! 3. if opening the forward fails — the API server refuses, the pod is gone, or the kubelet
//!    reports on the port's error channel that the pod does not accept — another endpoint is
//!    tried, up to [`ForwardOptions::attempts`] pods. What the client sent meanwhile is
//!    replayed (up to [`MAX_REPLAY`] bytes; a connection counts as established once the pod
//!    answered or that much was sent).
//!
//! Resilience ([`forwarder`]): the forward follows the snapshot feed, so new connections always
//! use the newest endpoints; when a pod is no longer listed for the port (deleted; a pod that
//! is only terminating or not ready keeps its open connections, as conntrack does), its open
//! connections end with a clean close (FIN). With no usable endpoint a new connection is
//! **accepted and reset at once** (the client sees "connection reset by peer" immediately) and
//! a log line says why; the listener stays bound, so the local port stays yours and works
//! again as soon as a pod is ready. Pods restarting never end the forward.
//!
//! Events ([`events`]): a compact [`Notice`] per event (pod added to or removed from the set,
//! connection errors, retries, refusals) and [`ForwardStats`] for the TUI's Forwards view, both
//! as owned values sent to a sink.
//!
//! Closes ([`connection`]): when the pod's side ends, the client's connection is shut down
//! at once. When a client closes its sending side, the port-forward gets the v5 protocol's
//! close signal and the pod's answer is relayed until the pod ends it; on a v4 stream, which
//! cannot half-close (closing the sending side ends the whole stream), the forward relays the
//! pod's answer until the pod is quiet for [`HALF_CLOSE_LINGER`], then closes.

pub mod address;
pub mod backends;
mod connection;
pub mod events;
pub mod forwarder;
pub mod run;
pub mod target;

use std::net::SocketAddr;
use std::time::Duration;

pub use events::{ForwardEvent, ForwardStats, Notice, PodStats, PortStats};
pub use forwarder::{ForwardHandle, ForwardOptions, ForwardRequest, Listening, start};
pub use target::{PortMapping, Target};

use crate::engine::model::{PortRef, Protocol, ServiceKey};

/// How long opening one port-forward may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Pods tried for one connection before it is given up.
pub const DEFAULT_ATTEMPTS: usize = 4;

/// When every pod of the set failed for a connection, how long it waits for a newer set.
pub const RETRY_WAIT: Duration = Duration::from_secs(2);

/// Client bytes kept for replay on another pod until the connection is established.
pub const MAX_REPLAY: usize = 64 * 1024;

/// After a port-forward stream ended without data, how long its error channel may take to say
/// why (the kubelet reports "connection refused" there).
pub const FORWARD_ERROR_GRACE: Duration = Duration::from_millis(250);

/// After the client closed its sending side, on a port-forward without half-close (v4): how
/// long the pod may stay quiet before the connection is closed.
pub const HALF_CLOSE_LINGER: Duration = Duration::from_millis(250);

/// Stats are sent at most this often while connections are open.
pub const STATS_INTERVAL: Duration = Duration::from_millis(250);

/// Why a forward could not start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("{text:?} is not [LOCAL_PORT:]PORT: {why}")]
    BadPort { text: String, why: String },
    #[error(
        "{0:?} is not SERVICE (a Service name, or namespace/name; kubectl's svc/ prefix is not needed)"
    )]
    BadService(String),
    #[error("Service {service} not found{hint}")]
    ServiceNotFound { service: ServiceKey, hint: String },
    #[error("Service {service} has no port {port} (its ports: {available})")]
    PortNotFound {
        service: ServiceKey,
        port: PortRef,
        available: String,
    },
    #[error("port {port} of Service {service} is {protocol}: a port-forward carries TCP only")]
    NotTcp {
        service: ServiceKey,
        port: i32,
        protocol: Protocol,
    },
    #[error(
        "Service {service} is of type ExternalName: it is a DNS name, with no pods to forward to"
    )]
    ExternalName { service: ServiceKey },
    #[error("local port {0} is given twice")]
    DuplicateLocalPort(u16),
    #[error("cannot listen on {address}: {source}{hint}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },
}

/// Why binding `address` failed, in words a user can act on.
pub(crate) fn bind_hint(address: SocketAddr, error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied if address.port() < 1024 => {
            " (ports below 1024 need root: pick a higher local port, e.g. 8080:80)"
        }
        std::io::ErrorKind::AddrInUse => {
            " (the port is taken: pick another, or 0 for any free one)"
        }
        std::io::ErrorKind::AddrNotAvailable => " (this machine has no such address)",
        _ => "",
    }
}
