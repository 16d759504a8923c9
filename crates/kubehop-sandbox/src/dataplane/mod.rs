//! The sandbox's data plane: pods that are real TCP/HTTP listeners, and a userspace kube-proxy
//! in front of them, both on loopback.
//!
//! One task follows the store: on every change (bursts coalesce: the store's change channel
//! keeps only the latest revision, and a sync covers everything up to it) it builds a
//! [`ClusterSnapshot`](kubehop_engine::ClusterSnapshot) and the engine's
//! [`ProxyModel`](kubehop_engine::ProxyModel), then
//! - [`pods`]: each running pod listens on `podIP:port` for its declared TCP containerPorts
//!   (or the ports in its [`LISTEN_ANNOTATION`](crate::control::LISTEN_ANNOTATION)),
//!   answering HTTP with its name, node and port and echoing anything else. Unready pods keep
//!   listening (kube-proxy stops sending, a direct connection still gets an answer); a deleted
//!   pod's listeners close when it is removed.
//! - [`proxy`]: every ClusterIP:port, node address:nodePort and VIP-mode LoadBalancer IP:port
//!   of a TCP Service port is a listener; each new connection is routed with
//!   [`ProxyModel::route`](kubehop_engine::ProxyModel::route) and the engine's
//!   [`Picker`](kubehop_engine::Picker), then spliced to the chosen pod.
//! - [`udp`]: pods answer datagrams on their declared UDP ports, and UDP Service ports get the
//!   same front doors, with per-client flows.
//! - [`dns`]: pods annotated as the cluster DNS answer DNS (TCP and UDP) from the engine's
//!   records instead of HTTP and echo.
//! - [`ingress`]: the Ingress controller of the class [`ingress_rules::INGRESS_CLASS`], on each
//!   Ingress's status IP (80, and 443 with certificates from the sandbox CA), routing by host
//!   and path to Services dialled like a ClusterIP.
//! - [`gateway`]: the Gateways of the sandbox's GatewayClass ([`crate::gateway`]) on their
//!   status addresses, one listener per port, routing HTTP, TLS passthrough and TCP by
//!   [`gateway_routes`] to Services dialled the same way.
//! - [`policy`]: NetworkPolicy, judged by the engine, for connections through the front doors
//!   and straight to pods from a pod's or node's address; a denied connection is reset.
//!
//! Loopback only: an address outside 127.0.0.0/8 (say, a pod IP from a replayed dump) gets no
//! listener and no connection, and a [note](crate::notes::Notes) says so. A listener that
//! cannot be opened (ports below 1024 without root) gets a note too, and is published on the
//! Nodes ([`bind`]) for the readers of the cluster.

pub mod bind;
pub mod certificates;
pub mod dns;
pub mod gateway;
pub mod gateway_routes;
pub mod ingress;
pub mod ingress_rules;
pub mod nodes;
pub mod pod_tls;
pub mod pods;
pub mod policy;
pub mod proxy;
pub mod udp;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::access_log::AccessLogs;
use crate::notes::Notes;
use crate::resources::ResourceId;
use crate::store::Store;
use crate::tls::SandboxCa;
use bind::BindPolicy;
use kubehop_engine::unbound::Unbound;
use kubehop_engine::{self as engine, EngineConfig, ProxyModel};

/// What a data-plane socket is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Listening {
    /// A pod's app on one of its ports.
    Pod { namespace: String, name: String },
    /// kube-proxy on a ClusterIP:port.
    ClusterIp { namespace: String, service: String },
    /// kube-proxy on a node address:nodePort.
    NodePort {
        namespace: String,
        service: String,
        node: String,
    },
    /// kube-proxy on a LoadBalancer ingress IP:port (ipMode VIP).
    LoadBalancer { namespace: String, service: String },
    /// The Ingress controller on an Ingress's status IP (port 80 or 443).
    Ingress,
    /// A Gateway's listener (or several sharing a port) on its status address.
    Gateway { namespace: String, name: String },
}

/// What the data plane shows to the outside (for tests and the CLI).
#[derive(Debug, Default)]
struct Shared {
    listening: Mutex<BTreeMap<SocketAddr, Listening>>,
    listening_udp: Mutex<BTreeMap<SocketAddr, Listening>>,
}

/// A running data plane.
#[derive(Debug)]
pub struct DataPlane {
    shared: Arc<Shared>,
    applied: watch::Receiver<u64>,
    task: Option<JoinHandle<()>>,
}

impl DataPlane {
    /// Starts following `store`. `seed` seeds the endpoint picker; `policy` says how
    /// listeners are opened; `ca` signs the Ingress controller's certificates (no HTTPS
    /// without it); the pods' apps write their access logs to `access`.
    pub fn start(
        (store, access, faults): (Store, AccessLogs, crate::faults::Faults),
        notes: Notes,
        (seed, policy): (u64, BindPolicy),
        ca: Option<Arc<SandboxCa>>,
        cancel: CancellationToken,
    ) -> DataPlane {
        let shared = Arc::new(Shared::default());
        let (applied_tx, applied) = watch::channel(0);
        let task = tokio::spawn(run(
            (store, access, faults),
            notes,
            (seed, policy, ca),
            cancel,
            shared.clone(),
            applied_tx,
        ));
        DataPlane {
            shared,
            applied,
            task: Some(task),
        }
    }

    /// Every socket the data plane listens on now.
    pub fn listening(&self) -> BTreeMap<SocketAddr, Listening> {
        self.shared
            .listening
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every UDP socket the data plane answers on now.
    pub fn listening_udp(&self) -> BTreeMap<SocketAddr, Listening> {
        self.shared
            .listening_udp
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The store resourceVersion the listeners last caught up with.
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    /// Waits for the task to end (after the sandbox's cancellation).
    pub async fn join(&mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The kinds the listeners are built from.
const SNAPSHOT_KINDS: [ResourceId; 8] = [
    ResourceId::Services,
    ResourceId::EndpointSlices,
    ResourceId::Pods,
    ResourceId::Nodes,
    ResourceId::Ingresses,
    ResourceId::Namespaces,
    ResourceId::IngressClasses,
    ResourceId::NetworkPolicies,
];

async fn run(
    (store, access, faults): (Store, AccessLogs, crate::faults::Faults),
    notes: Notes,
    (seed, policy, ca): (u64, BindPolicy, Option<Arc<SandboxCa>>),
    cancel: CancellationToken,
    shared: Arc<Shared>,
    applied: watch::Sender<u64>,
) {
    let mut changes = store.changes();
    let (model_tx, model_rx) = watch::channel(Arc::new(engine::build(
        &engine::ClusterSnapshot::default(),
        &EngineConfig::default(),
    )));
    let zones = dns::Zones::new(faults);
    let mut pod_listeners = pods::PodListeners::new(
        (notes.clone(), access.clone(), zones.clone()),
        (cancel.clone(), policy),
        model_rx.clone(),
        ca.clone(),
    );
    let mut doors = proxy::Doors::new(notes.clone(), cancel.clone(), model_rx, seed, policy);
    let mut ingresses = ingress::IngressListeners::new(
        notes.clone(),
        cancel.clone(),
        (doors.context(), policy),
        ca.clone(),
    );
    let mut gateways = gateway::GatewayListeners::new(
        (notes.clone(), cancel.clone()),
        (doors.context(), policy),
        ca,
    );
    let mut udp = udp::UdpSockets::new(
        (notes.clone(), access.clone(), zones.clone()),
        cancel.clone(),
        doors.context(),
        policy,
    );
    let mut published = Unbound::default();
    // The revision the listeners were last built at.
    let mut built: Option<u64> = None;
    loop {
        changes.borrow_and_update();
        let revision = store.resource_version();
        let mut kinds = SNAPSHOT_KINDS.to_vec();
        kinds.extend(crate::gateway::objects::resources(&store).into_values());
        if built.is_some_and(|built| store.last_change_of(&kinds) <= built) {
            // Only kinds the listeners do not read changed (Events, workloads).
            applied.send_replace(revision);
        } else {
            built = Some(revision);
            match store.cluster_snapshot(revision) {
                Ok(snapshot) => {
                    let snapshot = Arc::new(snapshot);
                    let model: Arc<ProxyModel> =
                        Arc::new(engine::build(&snapshot, &EngineConfig::default()));
                    model_tx.send_replace(model.clone());
                    zones.update(&model);
                    access.prune();
                    pod_listeners.sync(&snapshot).await;
                    let proxy_down = nodes::proxy_down_nodes(&snapshot);
                    doors
                        .sync(&model, (&proxy_down, nodes::cuts(&snapshot)))
                        .await;
                    ingresses.sync(&snapshot).await;
                    let world = crate::gateway::objects::World::read(&store);
                    gateways.sync(&world, snapshot.clone()).await;
                    udp.sync(&snapshot, &model).await;
                    *shared
                        .listening_udp
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = udp.listening();
                    let mut listening = pod_listeners.listening();
                    listening.extend(doors.listening());
                    listening.extend(ingresses.listening());
                    listening.extend(gateways.listening());
                    *shared
                        .listening
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = listening;
                    let mut failed = pod_listeners.failed().clone();
                    failed.extend(doors.failed().iter().map(|(addr, why)| (*addr, *why)));
                    failed.extend(ingresses.failed().iter().map(|(addr, why)| (*addr, *why)));
                    failed.extend(gateways.failed().iter().map(|(addr, why)| (*addr, *why)));
                    let unbound = Unbound::new(failed);
                    // Nothing to say and nothing said: the nodes are not even read.
                    if !(unbound.is_empty() && published.is_empty()) {
                        bind::publish(&store, &unbound);
                        published = unbound;
                    }
                    applied.send_replace(revision);
                }
                Err(err) => tracing::warn!("sandbox data plane: cannot read the store: {err}"),
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = changes.changed() => if changed.is_err() { break },
        }
    }
    pod_listeners.stop_all().await;
    doors.stop_all().await;
    ingresses.stop_all().await;
    gateways.stop_all().await;
    udp.stop_all().await;
    shared
        .listening_udp
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    shared
        .listening
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}

/// Stops every running listener that `desired` no longer wants as it runs (its address gone,
/// or wanted for something else); the caller then opens what is missing.
pub(crate) async fn stop_unwanted<T: PartialEq>(
    running: &mut BTreeMap<SocketAddr, (T, Running)>,
    desired: &BTreeMap<SocketAddr, T>,
) {
    let stale: Vec<SocketAddr> = running
        .iter()
        .filter(|(addr, (what, _))| desired.get(*addr) != Some(what))
        .map(|(addr, _)| *addr)
        .collect();
    for addr in stale {
        if let Some((_, listener)) = running.remove(&addr) {
            listener.stop().await;
        }
    }
}

/// The accept loop of every listener (pods, kube-proxy's front doors, the Ingress controller,
/// the Gateways): accepts until `cancel`, skips failed accepts, and runs each connection that
/// `handle` takes (`None` turns it away) in its own task, ended early by `connections`.
pub(crate) async fn accept_each<F, Fut>(
    listener: tokio::net::TcpListener,
    cancel: tokio_util::sync::CancellationToken,
    connections: tokio_util::sync::CancellationToken,
    mut handle: F,
) where
    F: FnMut(tokio::net::TcpStream, SocketAddr) -> Option<Fut>,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let Some(served) = handle(stream, peer) else {
            continue;
        };
        let connections = connections.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = connections.cancelled() => {}
                () = served => {}
            }
        });
    }
}

/// One running listener task.
#[derive(Debug)]
pub(crate) struct Running {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    pub(crate) fn new(cancel: CancellationToken, task: JoinHandle<()>) -> Self {
        Running { cancel, task }
    }

    /// Closes the listening socket (and, for pods, its connections) and waits until it is.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}
