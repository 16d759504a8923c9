//! The userspace kube-proxy: a listener on every front door of every TCP Service port, and for
//! each new connection the engine's routing decision and endpoint pick.
//!
//! Where a connection comes from, for [`ProxyModel::route`]:
//! - ClusterIP: a process on the first node (by name), `TrafficSource::Node` — as if a client
//!   on that node's host network connected (internalTrafficPolicy Local then uses that
//!   node's endpoints);
//! - NodePort: an external client arriving at the node that owns the address
//!   (`TrafficSource::External`);
//! - LoadBalancer: an external client that the load balancer sent to a node: nodes take turns,
//!   and with externalTrafficPolicy Local only nodes whose healthCheckNodePort would answer 200
//!   are used (rules C8, D12).
//!
//! Verdicts become what a client of kube-proxy sees: `forward` splices to the picked pod (a pod
//! that does not listen on the port resets the connection, like a refused DNAT); `drop` keeps
//! the connection open and silent until the client gives up; `reject` resets. A door whose
//! verdict is reject for every source (no usable endpoint anywhere, rule C9) does not listen at
//! all, so connecting to it is refused by the kernel, exactly what a client of kube-proxy's
//! REJECT rule sees. A connection NetworkPolicy denies the picked endpoint is reset too
//! ([`super::policy`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::bind::{BindPolicy, Failed};
use super::pods::privileged_hint;
use super::policy::{self, Opener};
use super::{Listening, Running};
use crate::addresses::is_loopback;
use crate::notes::Notes;
use kubehop_engine::model::Protocol;
use kubehop_engine::unbound::UnboundReason;
use kubehop_engine::{Picker, ProxyModel, RouteDecision, RouteQuery, TrafficSource, Verdict};

/// How long the proxy waits for a pod to accept.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DoorKind {
    ClusterIp,
    NodePort { node: String },
    LoadBalancer,
}

/// One front door of a Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Door {
    pub(crate) kind: DoorKind,
    pub(crate) namespace: String,
    pub(crate) service: String,
}

impl Door {
    pub(crate) fn listening(&self) -> Listening {
        let namespace = self.namespace.clone();
        let service = self.service.clone();
        match &self.kind {
            DoorKind::ClusterIp => Listening::ClusterIp { namespace, service },
            DoorKind::NodePort { node } => Listening::NodePort {
                namespace,
                service,
                node: node.clone(),
            },
            DoorKind::LoadBalancer => Listening::LoadBalancer { namespace, service },
        }
    }
}

/// What every connection handler shares.
pub(crate) struct Context {
    model: watch::Receiver<Arc<ProxyModel>>,
    picker: Mutex<Picker>,
    started: Instant,
    notes: Notes,
    turn: AtomicUsize,
    /// Node pairs forwarding between which is cut (both ways round; [`super::nodes`]).
    cuts: Mutex<std::collections::BTreeSet<(String, String)>>,
}

impl Context {
    /// The model connections are routed with now.
    pub(crate) fn model(&self) -> Arc<ProxyModel> {
        self.model.borrow().clone()
    }

    /// Whose turn it is among a load balancer's nodes.
    pub(crate) fn turn(&self) -> &AtomicUsize {
        &self.turn
    }

    pub(crate) fn notes(&self) -> &Notes {
        &self.notes
    }

    /// Whether forwarding from `entering` to the node of the picked `target` is cut.
    fn cut_from(&self, entering: &str, decision: &RouteDecision, target: SocketAddr) -> bool {
        let cuts = self.cuts.lock().unwrap_or_else(PoisonError::into_inner);
        if cuts.is_empty() {
            return false;
        }
        decision
            .endpoints
            .iter()
            .filter(|endpoint| endpoint.socket_addr() == Some(target))
            .filter_map(|endpoint| endpoint.0.info.node.as_deref())
            .any(|node| cuts.contains(&(entering.to_owned(), node.to_owned())))
    }

    /// The endpoint the picker chooses for a flow from `peer`.
    pub(crate) fn pick(&self, decision: &RouteDecision, peer: SocketAddr) -> Option<SocketAddr> {
        self.picker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pick(decision, Some(peer.ip()), self.started.elapsed())
            .and_then(|endpoint| endpoint.socket_addr())
    }
}

/// The kube-proxy listeners, kept in step with the model.
pub(crate) struct Doors {
    context: Arc<Context>,
    cancel: CancellationToken,
    policy: BindPolicy,
    running: BTreeMap<SocketAddr, (Door, Running)>,
    /// Wanted listeners that could not be opened.
    failed: Failed,
}

/// The front doors of `protocol` that listen: inside loopback (a note for the others), and
/// not rejecting every connection (nothing listens there: the kernel refuses, rule C9).
pub(crate) fn open_doors(
    model: &ProxyModel,
    protocol: Protocol,
    notes: &Notes,
) -> BTreeMap<SocketAddr, Door> {
    let probe_turn = AtomicUsize::new(0);
    let mut desired = BTreeMap::new();
    for (addr, door) in front_doors(model, protocol) {
        if !is_loopback(addr.ip()) {
            notes.push(format!(
                "Service {}/{}: no listener on {addr}: the sandbox binds only inside 127.0.0.0/8",
                door.namespace, door.service
            ));
            continue;
        }
        let decision = model.route(&RouteQuery {
            destination: addr.ip(),
            port: addr.port(),
            protocol,
            source: source_of(&door, addr, model, &probe_turn),
            source_ip: None,
        });
        if matches!(decision.verdict, Verdict::Reject | Verdict::NoService) {
            continue;
        }
        desired.insert(addr, door);
    }
    desired
}

/// Every front door of `protocol` the model has.
fn front_doors(model: &ProxyModel, protocol: Protocol) -> BTreeMap<SocketAddr, Door> {
    let mut doors = BTreeMap::new();
    for chain in &model.services {
        if chain.details.not_proxied.is_some() {
            continue;
        }
        for port in &chain.ports {
            if port.protocol != protocol {
                continue;
            }
            let door = |kind| Door {
                kind,
                namespace: chain.namespace.clone(),
                service: chain.name.clone(),
            };
            if let Some(hop) = port.cluster_ip
                && let Ok(number) = u16::try_from(hop.port)
            {
                doors
                    .entry(SocketAddr::new(hop.ip, number))
                    .or_insert_with(|| door(DoorKind::ClusterIp));
            }
            for row in port.node_ports.rows() {
                if let Ok(number) = u16::try_from(row.port) {
                    doors
                        .entry(SocketAddr::new(row.address, number))
                        .or_insert_with(|| {
                            door(DoorKind::NodePort {
                                node: row.node.clone(),
                            })
                        });
                }
            }
            if let Ok(number) = u16::try_from(port.port) {
                for entry in &port.load_balancer {
                    if let Some(ip) = entry.node_rules() {
                        doors
                            .entry(SocketAddr::new(ip, number))
                            .or_insert_with(|| door(DoorKind::LoadBalancer));
                    }
                }
            }
        }
    }
    doors
}

/// The nodes a load balancer sends a VIP's traffic to: those whose health check passes.
fn load_balancer_nodes(model: &ProxyModel, addr: SocketAddr) -> Vec<String> {
    for chain in &model.services {
        for port in &chain.ports {
            let here = i32::from(addr.port()) == port.port
                && port
                    .load_balancer
                    .iter()
                    .any(|e| e.node_rules() == Some(addr.ip()));
            if !here {
                continue;
            }
            let mut nodes: Vec<String> = Vec::new();
            for row in port.node_ports.rows() {
                if row.health_check_passes != Some(false) && !nodes.contains(&row.node) {
                    nodes.push(row.node);
                }
            }
            if port.node_ports.is_empty() {
                nodes = model.node_names().map(str::to_string).collect();
            }
            return nodes;
        }
    }
    Vec::new()
}

/// Where a connection through `door` comes from (see the module documentation).
pub(crate) fn source_of(
    door: &Door,
    addr: SocketAddr,
    model: &ProxyModel,
    turn: &AtomicUsize,
) -> TrafficSource {
    let first = || model.node_names().next().unwrap_or("").to_string();
    match &door.kind {
        DoorKind::ClusterIp => TrafficSource::Node { node: first() },
        DoorKind::NodePort { node } => TrafficSource::External { node: node.clone() },
        DoorKind::LoadBalancer => {
            let nodes = load_balancer_nodes(model, addr);
            let node = if nodes.is_empty() {
                first()
            } else {
                nodes[turn.fetch_add(1, Ordering::Relaxed) % nodes.len()].clone()
            };
            TrafficSource::External { node }
        }
    }
}

impl Doors {
    pub(crate) fn new(
        notes: Notes,
        cancel: CancellationToken,
        model: watch::Receiver<Arc<ProxyModel>>,
        seed: u64,
        policy: BindPolicy,
    ) -> Self {
        Doors {
            context: Arc::new(Context {
                model,
                picker: Mutex::new(Picker::new(seed)),
                started: Instant::now(),
                notes,
                turn: AtomicUsize::new(0),
                cuts: Mutex::new(std::collections::BTreeSet::new()),
            }),
            cancel,
            policy,
            running: BTreeMap::new(),
            failed: Failed::new(),
        }
    }

    /// What connection handlers share: the Ingress controller dials through it too.
    pub(crate) fn context(&self) -> Arc<Context> {
        self.context.clone()
    }

    pub(crate) fn listening(&self) -> BTreeMap<SocketAddr, Listening> {
        self.running
            .iter()
            .map(|(addr, (door, _))| (*addr, door.listening()))
            .collect()
    }

    /// The listeners the last sync wanted and could not open.
    pub(crate) fn failed(&self) -> &Failed {
        &self.failed
    }

    /// Opens and closes listeners to match `model`; the NodePorts of nodes in `proxy_down`
    /// (their kube-proxy is unhealthy) do not listen, and forwarding between the `cuts` fails.
    pub(crate) async fn sync(
        &mut self,
        model: &ProxyModel,
        (proxy_down, cuts): (
            &std::collections::BTreeSet<String>,
            std::collections::BTreeSet<(String, String)>,
        ),
    ) {
        *self
            .context
            .cuts
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = cuts;
        let notes = &self.context.notes;
        let mut desired = open_doors(model, Protocol::Tcp, notes);
        desired.retain(|_, door| match &door.kind {
            DoorKind::NodePort { node } => !proxy_down.contains(node),
            _ => true,
        });
        super::stop_unwanted(&mut self.running, &desired).await;
        self.failed.retain(|addr, _| desired.contains_key(addr));
        for (addr, door) in desired {
            if self.running.contains_key(&addr) {
                continue;
            }
            match self.policy.bind(addr).await {
                Ok(listener) => {
                    self.failed.remove(&addr);
                    let cancel = self.cancel.child_token();
                    let task = tokio::spawn(serve(
                        listener,
                        addr,
                        door.clone(),
                        self.context.clone(),
                        cancel.clone(),
                        self.cancel.clone(),
                    ));
                    self.running
                        .insert(addr, (door, Running::new(cancel, task)));
                }
                Err(err) => {
                    self.failed
                        .insert(addr, UnboundReason::of(&err, addr.port()));
                    notes.push(format!(
                        "Service {}/{}: cannot listen on {addr}: {err}{}",
                        door.namespace,
                        door.service,
                        privileged_hint(addr.port(), &err)
                    ));
                }
            }
        }
    }

    pub(crate) async fn stop_all(&mut self) {
        for (_, (_, running)) in std::mem::take(&mut self.running) {
            running.stop().await;
        }
    }
}

async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    door: Door,
    context: Arc<Context>,
    cancel: CancellationToken,
    // Connections outlive their door (like conntrack entries), not the data plane.
    connections: CancellationToken,
) {
    let door = Arc::new(door);
    super::accept_each(listener, cancel, connections, |stream, peer| {
        let context = context.clone();
        let door = door.clone();
        Some(async move { connection(stream, peer, addr, &door, &context).await })
    })
    .await;
}

pub(crate) fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// What kube-proxy did with a new connection to a front door.
pub(crate) enum Dialed {
    /// Forwarded to a pod that accepted.
    Connected(TcpStream),
    /// Forwarded, but the endpoint did not accept (or is outside loopback): a reset.
    Failed,
    /// The verdict is drop: silence.
    Dropped,
    /// The verdict is reject: a reset (or a refusal, had the door not been listening).
    Rejected,
    /// NetworkPolicy denies the picked endpoint this client ([`super::policy`]): a reset.
    Denied,
}

/// Routes a connection from `peer` to `addr` through `door` with the engine's route and
/// picker, and connects to the endpoint it picks when the policies let `opener` in. The
/// Ingress controller dials Services the same way.
pub(crate) async fn dial(
    context: &Context,
    door: &Door,
    (addr, peer): (SocketAddr, SocketAddr),
    opener: Opener,
) -> Dialed {
    let model = context.model.borrow().clone();
    let source = source_of(door, addr, &model, &context.turn);
    let entering = source.node().to_owned();
    let decision = model.route(&RouteQuery {
        destination: addr.ip(),
        port: addr.port(),
        protocol: Protocol::Tcp,
        source,
        source_ip: Some(peer.ip()),
    });
    match decision.verdict {
        Verdict::Forward => {}
        Verdict::Drop => return Dialed::Dropped,
        Verdict::Reject | Verdict::NoService => return Dialed::Rejected,
    }
    let Some(target) = context.pick(&decision, peer) else {
        return Dialed::Failed;
    };
    if context.cut_from(&entering, &decision, target) {
        return Dialed::Failed;
    }
    if !is_loopback(target.ip()) {
        context.notes.push(format!(
            "Service {}/{}: not connecting to endpoint {target}: the sandbox connects only inside 127.0.0.0/8",
            door.namespace, door.service
        ));
        return Dialed::Failed;
    }
    if !policy::front_door_admits(&model, &decision, &door.kind, opener, target) {
        return Dialed::Denied;
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
        Ok(Ok(upstream)) => Dialed::Connected(upstream),
        // The pod does not listen there (rule M5).
        _ => Dialed::Failed,
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    addr: SocketAddr,
    door: &Door,
    context: &Context,
) {
    match dial(context, door, (addr, peer), Opener::Peer(peer.ip())).await {
        Dialed::Connected(mut upstream) => {
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
        }
        Dialed::Dropped => {
            // Silence until the client gives up.
            let mut buffer = [0u8; 4096];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        // The client sees a reset.
        Dialed::Failed | Dialed::Rejected | Dialed::Denied => reset(stream),
    }
}
