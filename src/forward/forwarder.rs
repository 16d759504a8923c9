//! A running forward: its listeners, the task that follows the snapshot feed, the connection
//! registry (to end connections of pods that are gone) and the stats it reports.
//!
//! [`start`] binds every listener before it returns (so "port in use" is an error at once, not
//! a log line), then runs in the background on the current tokio runtime until the
//! [`ForwardHandle`] is stopped or dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::address::listen_addresses;
use super::backends::{self, Backends, PodRef};
use super::events::{ForwardEvent, ForwardStats, Notice, PodStats, PortStats};
use super::target::{PortMapping, ResolvedPort, Target, resolve};
use super::{DEFAULT_ATTEMPTS, DIAL_TIMEOUT, ForwardError, STATS_INTERVAL, bind_hint};
use crate::cluster::ClusterSnapshot;
use crate::engine::model::ProxyModel;
use crate::engine::model::ServiceKey;
use crate::engine::route::{RouteDecision, RouteEndpoint};
use crate::engine::{EngineConfig, Picker};
use crate::probe::Dialer;

/// What to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRequest {
    pub service: ServiceKey,
    pub ports: Vec<PortMapping>,
}

/// How a forward behaves.
#[derive(Debug, Clone)]
pub struct ForwardOptions {
    /// Where to listen; empty means 127.0.0.1 ([`super::address`]).
    pub addresses: Vec<IpAddr>,
    /// How long opening one port-forward may take.
    pub dial_timeout: Duration,
    /// Pods tried for one connection (at least 1).
    pub attempts: usize,
    pub engine: EngineConfig,
    /// Seeds the endpoint picker.
    pub seed: u64,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            addresses: Vec::new(),
            dial_timeout: DIAL_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            engine: EngineConfig::default(),
            seed: 7,
        }
    }
}

/// One forwarded port and the sockets it listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    pub target: Target,
    pub locals: Vec<SocketAddr>,
}

/// A running forward. Dropping it stops the forward: listeners close, open connections end.
#[derive(Debug)]
pub struct ForwardHandle {
    stop: CancellationToken,
    listening: Vec<Listening>,
    /// Closes once every task of the forward has ended.
    done: mpsc::Receiver<()>,
}

impl ForwardHandle {
    /// Every forwarded port and where it listens.
    pub fn listening(&self) -> &[Listening] {
        &self.listening
    }

    /// Stops listening, ends every open connection and waits until all of it is done.
    pub async fn stop(mut self) {
        self.stop.cancel();
        while self.done.recv().await.is_some() {}
    }

    /// Whether the forward has stopped (stopped, or every task ended).
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }
}

impl Drop for ForwardHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A sink for events; returns nothing, must not block.
pub(super) type Sink = Box<dyn Fn(ForwardEvent) + Send + Sync>;

/// One forwarded port, shared by its listeners and connections.
pub(super) struct PortShared {
    pub(super) target: Target,
    pub(super) locals: Vec<SocketAddr>,
    pub(super) backends: watch::Sender<Arc<Backends>>,
}

/// One connection's byte counters (client → pod, pod → client).
#[derive(Debug, Default)]
pub(super) struct Bytes {
    pub(super) sent: AtomicU64,
    pub(super) received: AtomicU64,
}

struct Registered {
    port: usize,
    pod: PodRef,
    cancel: CancellationToken,
    bytes: Arc<Bytes>,
}

#[derive(Default)]
struct PortCounters {
    total: u64,
    refused: u64,
    failed: u64,
    retries: u64,
    /// Bytes of connections that ended.
    sent: u64,
    received: u64,
    /// Per pod name: (open, total).
    pods: BTreeMap<String, (u64, u64)>,
    last_error: Option<String>,
}

#[derive(Default)]
struct Registry {
    connections: HashMap<u64, Registered>,
    /// Connections accepted and not ended (registered with a pod or not), by id: their port.
    open: HashMap<u64, usize>,
    counters: Vec<PortCounters>,
}

/// Everything the forward's tasks share.
pub(super) struct Shared {
    pub(super) ports: Vec<PortShared>,
    pub(super) dialer: Arc<dyn Dialer>,
    pub(super) options: ForwardOptions,
    pub(super) stop: CancellationToken,
    sink: Sink,
    picker: Mutex<Picker>,
    started: Instant,
    registry: Mutex<Registry>,
    /// Something the stats show changed.
    changed: Notify,
    next_id: AtomicU64,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn notice(&self, notice: Notice) {
        if notice.is_error() {
            let index = self
                .ports
                .iter()
                .position(|port| &port.target == notice.target());
            if let Some(index) = index {
                let mut registry = self.registry();
                if let Some(counters) = registry.counters.get_mut(index) {
                    counters.last_error = Some(notice.to_string());
                }
            }
        }
        (self.sink)(ForwardEvent::Notice(notice));
        self.changed.notify_one();
    }

    /// One endpoint for a new connection (the engine's picker; `client` keys affinity).
    pub(super) fn pick(&self, decision: &RouteDecision, client: IpAddr) -> Option<RouteEndpoint> {
        let now = self.started.elapsed();
        self.picker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pick(decision, Some(client), now)
    }

    /// A new connection was accepted on `port`; returns its id.
    pub(super) fn accepted(&self, port: usize) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut registry = self.registry();
        registry.open.insert(id, port);
        if let Some(counters) = registry.counters.get_mut(port) {
            counters.total += 1;
        }
        drop(registry);
        self.changed.notify_one();
        id
    }

    /// The connection is going to `pod`; `false` when the pod is no longer listed for the
    /// port (then the attempt is given up). Checked under the registry lock, against the set
    /// the follower publishes before it sweeps, so no connection to a removed pod survives.
    pub(super) fn register(
        &self,
        id: u64,
        port: usize,
        pod: &PodRef,
        cancel: CancellationToken,
        bytes: Arc<Bytes>,
    ) -> bool {
        let mut registry = self.registry();
        let listed = self
            .ports
            .get(port)
            .is_some_and(|shared| shared.backends.borrow().listed.contains(pod));
        if !listed {
            return false;
        }
        registry.connections.insert(
            id,
            Registered {
                port,
                pod: pod.clone(),
                cancel,
                bytes,
            },
        );
        if let Some(counters) = registry.counters.get_mut(port) {
            let entry = counters.pods.entry(pod.name.clone()).or_default();
            entry.0 += 1;
            entry.1 += 1;
        }
        drop(registry);
        self.changed.notify_one();
        true
    }

    /// The attempt on the registered pod is over; `counted` says whether the connection went
    /// there (false: the pod could not be used and another is tried).
    pub(super) fn unregister(&self, id: u64, counted: bool) {
        let mut registry = self.registry();
        let Some(entry) = registry.connections.remove(&id) else {
            return;
        };
        if let Some(counters) = registry.counters.get_mut(entry.port)
            && let Some(pod) = counters.pods.get_mut(&entry.pod.name)
        {
            pod.0 = pod.0.saturating_sub(1);
            if !counted {
                pod.1 = pod.1.saturating_sub(1);
            }
        }
        drop(registry);
        self.changed.notify_one();
    }

    /// The connection ended; its bytes go to the totals.
    pub(super) fn ended(&self, id: u64, port: usize, bytes: &Bytes, outcome: Ended) {
        let mut registry = self.registry();
        registry.open.remove(&id);
        if let Some(counters) = registry.counters.get_mut(port) {
            counters.sent += bytes.sent.load(Ordering::Relaxed);
            counters.received += bytes.received.load(Ordering::Relaxed);
            match outcome {
                Ended::Refused => counters.refused += 1,
                Ended::Failed => counters.failed += 1,
                Ended::Served => {}
            }
        }
        drop(registry);
        self.changed.notify_one();
    }

    pub(super) fn retried(&self, port: usize) {
        if let Some(counters) = self.registry().counters.get_mut(port) {
            counters.retries += 1;
        }
    }

    /// The pods any port lists.
    fn listed(&self) -> BTreeSet<PodRef> {
        self.ports
            .iter()
            .flat_map(|port| port.backends.borrow().listed.clone())
            .collect()
    }

    /// Ends the connections of `port` whose pod is not listed in `backends`.
    fn sweep(&self, port: usize, backends: &Backends) {
        let mut closed: BTreeMap<PodRef, usize> = BTreeMap::new();
        {
            let registry = self.registry();
            for entry in registry.connections.values() {
                if entry.port == port
                    && !backends.listed.contains(&entry.pod)
                    && !entry.cancel.is_cancelled()
                {
                    entry.cancel.cancel();
                    *closed.entry(entry.pod.clone()).or_default() += 1;
                }
            }
        }
        if let Some(shared) = self.ports.get(port) {
            for (pod, connections) in closed {
                self.notice(Notice::Closed {
                    target: shared.target.clone(),
                    pod,
                    connections,
                });
            }
        }
    }

    fn stats(&self) -> ForwardStats {
        let registry = self.registry();
        let mut ports: Vec<PortStats> = self
            .ports
            .iter()
            .map(|port| PortStats::new(port.target.clone(), port.locals.clone()))
            .collect();
        for (index, stats) in ports.iter_mut().enumerate() {
            let Some(counters) = registry.counters.get(index) else {
                continue;
            };
            stats.total = counters.total;
            stats.refused = counters.refused;
            stats.failed = counters.failed;
            stats.retries = counters.retries;
            stats.bytes_sent = counters.sent;
            stats.bytes_received = counters.received;
            stats.last_error = counters.last_error.clone();
            for (name, (open, total)) in &counters.pods {
                stats.pods.insert(
                    name.clone(),
                    PodStats {
                        open: *open,
                        total: *total,
                        usable: None,
                    },
                );
            }
            if let Some(port) = self.ports.get(index) {
                let backends = port.backends.borrow();
                stats.usable = backends.usable.len();
                for (pod, backend) in &backends.usable {
                    stats.pods.entry(pod.name.clone()).or_default().usable =
                        Some(backend.condition);
                }
            }
        }
        for entry in registry.connections.values() {
            if let Some(stats) = ports.get_mut(entry.port) {
                stats.bytes_sent += entry.bytes.sent.load(Ordering::Relaxed);
                stats.bytes_received += entry.bytes.received.load(Ordering::Relaxed);
            }
        }
        // Open: accepted and not ended, whether a pod is chosen yet or not.
        for port in registry.open.values() {
            if let Some(stats) = ports.get_mut(*port) {
                stats.open += 1;
            }
        }
        ForwardStats { ports }
    }
}

/// How a connection ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// Reached a pod (however it ended then).
    Served,
    /// Refused at once: no usable endpoint.
    Refused,
    /// No pod could be reached after every attempt.
    Failed,
}

/// Starts forwarding `request` over the snapshots of `feed`, dialing pods with `dialer`.
/// Every [`ForwardEvent`] goes to `sink`, which must not block.
///
/// Resolves the ports against the current snapshot and binds every listener before it
/// returns; must be called inside a tokio runtime.
pub fn start(
    request: &ForwardRequest,
    mut feed: watch::Receiver<Arc<ClusterSnapshot>>,
    dialer: Arc<dyn Dialer>,
    options: ForwardOptions,
    sink: impl Fn(ForwardEvent) + Send + Sync + 'static,
) -> Result<ForwardHandle, ForwardError> {
    // Marked as seen: the follower picks up from the next change.
    let snapshot = feed.borrow_and_update().clone();
    let model = backends::service_model(&snapshot, &request.service, &options.engine);
    let Some(chain) = model.service(&request.service.namespace, &request.service.name) else {
        return Err(service_not_found(&snapshot, &request.service));
    };
    let mut resolved: Vec<ResolvedPort> = Vec::with_capacity(request.ports.len());
    for mapping in &request.ports {
        let port = resolve(chain, mapping)?;
        if port.local != 0 && resolved.iter().any(|other| other.local == port.local) {
            return Err(ForwardError::DuplicateLocalPort(port.local));
        }
        resolved.push(port);
    }
    let (ports, listeners) = bind_ports(&model, &resolved, &options.addresses)?;
    let stop = CancellationToken::new();
    let registry = Registry {
        counters: ports.iter().map(|_| PortCounters::default()).collect(),
        ..Registry::default()
    };
    let shared = Arc::new(Shared {
        ports,
        dialer,
        stop: stop.clone(),
        sink: Box::new(sink),
        picker: Mutex::new(Picker::new(options.seed)),
        options,
        started: Instant::now(),
        registry: Mutex::new(registry),
        changed: Notify::new(),
        next_id: AtomicU64::new(1),
    });
    let listening: Vec<Listening> = shared
        .ports
        .iter()
        .map(|port| Listening {
            target: port.target.clone(),
            locals: port.locals.clone(),
        })
        .collect();
    announce(&shared);
    let (done_tx, done) = mpsc::channel(1);
    for (index, listener) in listeners {
        tokio::spawn(accept_loop(
            shared.clone(),
            index,
            listener,
            done_tx.clone(),
        ));
    }
    tokio::spawn(follow(shared.clone(), feed, done_tx.clone()));
    tokio::spawn(report(shared, done_tx));
    Ok(ForwardHandle {
        stop,
        listening,
        done,
    })
}

/// The error for a Service that is not in the snapshot, naming a few Services of its
/// namespace.
fn service_not_found(snapshot: &ClusterSnapshot, service: &ServiceKey) -> ForwardError {
    let others: Vec<&str> = snapshot
        .services
        .iter()
        .filter(|candidate| {
            candidate.metadata.namespace.as_deref().unwrap_or("default") == service.namespace
        })
        .filter_map(|candidate| candidate.metadata.name.as_deref())
        .take(8)
        .collect();
    let hint = if others.is_empty() {
        format!(" (namespace {} has no Services)", service.namespace)
    } else {
        format!(" (Services there: {})", others.join(", "))
    };
    ForwardError::ServiceNotFound {
        service: service.clone(),
        hint,
    }
}

/// Binds every resolved port on every listen address (all addresses of a port on the same
/// number) and gives each port its first backend set. Returns the ports and the listeners,
/// each with its port's index.
fn bind_ports(
    model: &ProxyModel,
    resolved: &[ResolvedPort],
    given_addresses: &[IpAddr],
) -> Result<BoundPorts, ForwardError> {
    let addresses = listen_addresses(given_addresses);
    let mut listeners: Vec<(usize, TcpListener)> = Vec::new();
    let mut ports = Vec::with_capacity(resolved.len());
    for (index, port) in resolved.iter().enumerate() {
        let mut locals = Vec::with_capacity(addresses.len());
        let mut number = port.local;
        for ip in &addresses {
            let address = SocketAddr::new(*ip, number);
            let listener = bind(address)?;
            let local = listener.local_addr().map_err(|source| ForwardError::Bind {
                address,
                hint: bind_hint(address, &source),
                source,
            })?;
            // Every address of a port listens on the same number (the first one's pick).
            number = local.port();
            locals.push(local);
            listeners.push((index, listener));
        }
        let initial = backends::backends(model, &port.target.port);
        let (backends, _) = watch::channel(Arc::new(initial));
        ports.push(PortShared {
            target: port.target.clone(),
            locals,
            backends,
        });
    }
    Ok((ports, listeners))
}

/// The bound ports, and their listeners with each one's port index.
type BoundPorts = (Vec<PortShared>, Vec<(usize, TcpListener)>);

/// The first notices: every listening address, and every port's initial endpoints.
fn announce(shared: &Shared) {
    for port in &shared.ports {
        for local in &port.locals {
            shared.notice(Notice::Listening {
                local: *local,
                target: port.target.clone(),
            });
        }
        let initial = port.backends.borrow().clone();
        for change in backends::changes(&Backends::unknown(initial.key.clone()), &initial) {
            shared.notice(Notice::Endpoints {
                target: port.target.clone(),
                change,
            });
        }
    }
}

fn bind(address: SocketAddr) -> Result<TcpListener, ForwardError> {
    let error = |source: std::io::Error| ForwardError::Bind {
        address,
        hint: bind_hint(address, &source),
        source,
    };
    let listener = std::net::TcpListener::bind(address).map_err(error)?;
    listener.set_nonblocking(true).map_err(error)?;
    TcpListener::from_std(listener).map_err(error)
}

/// How long the accept loop pauses after an accept error (out of file descriptors, ...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

async fn accept_loop(
    shared: Arc<Shared>,
    port: usize,
    listener: TcpListener,
    done: mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            () = shared.stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, client)) => {
                let shared = shared.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    super::connection::serve(&shared, port, stream, client).await;
                    drop(done);
                });
            }
            Err(error) => {
                tracing::warn!("kubehop forward: accept failed: {error}");
                tokio::select! {
                    () = shared.stop.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
}

/// Follows the snapshot feed: a new set per port, a notice per change, and the connections of
/// pods no longer listed end.
async fn follow(
    shared: Arc<Shared>,
    mut feed: watch::Receiver<Arc<ClusterSnapshot>>,
    done: mpsc::Sender<()>,
) {
    loop {
        tokio::select! {
            () = shared.stop.cancelled() => break,
            changed = feed.changed() => if changed.is_err() {
                // The source stopped: the last set stays.
                break;
            },
        }
        let snapshot = feed.borrow_and_update().clone();
        let Some(service) = shared
            .ports
            .first()
            .map(|port| port.target.service().clone())
        else {
            break;
        };
        let model = backends::service_model(&snapshot, &service, &shared.options.engine);
        let listed_before = shared.listed();
        for (index, port) in shared.ports.iter().enumerate() {
            let next = Arc::new(backends::backends(&model, &port.target.port));
            let previous = port.backends.borrow().clone();
            let changes = backends::changes(&previous, &next);
            port.backends.send_replace(next.clone());
            shared.sweep(index, &next);
            for change in changes {
                shared.notice(Notice::Endpoints {
                    target: port.target.clone(),
                    change,
                });
            }
        }
        // What the dialer keeps open for pods no port lists any more (their sessions) closes.
        let listed_now = shared.listed();
        for pod in listed_before.difference(&listed_now) {
            shared.dialer.pod_gone(&pod.namespace, &pod.name);
        }
        shared.changed.notify_one();
    }
    drop(done);
}

/// Sends the stats when they change, at most every [`STATS_INTERVAL`]; after the stop, once
/// more when every connection has ended.
async fn report(shared: Arc<Shared>, done: mpsc::Sender<()>) {
    let mut last: Option<ForwardStats> = None;
    let send = |last: &mut Option<ForwardStats>| {
        let stats = shared.stats();
        if last.as_ref() != Some(&stats) {
            (shared.sink)(ForwardEvent::Stats(stats.clone()));
            *last = Some(stats);
        }
    };
    loop {
        let open = !shared.registry().open.is_empty();
        tokio::select! {
            () = shared.stop.cancelled() => break,
            () = shared.changed.notified() => {}
            () = tokio::time::sleep(STATS_INTERVAL), if open => {}
        }
        send(&mut last);
        tokio::select! {
            () = shared.stop.cancelled() => break,
            () = tokio::time::sleep(STATS_INTERVAL) => {}
        }
    }
    // Stopped: every connection ends promptly (its token is a child of the stop).
    while !shared.registry().open.is_empty() {
        shared.changed.notified().await;
    }
    send(&mut last);
    drop(done);
}
