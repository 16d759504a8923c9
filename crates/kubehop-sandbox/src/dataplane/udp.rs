//! UDP in the data plane: pods answer datagrams on their declared UDP containerPorts, and
//! kube-proxy forwards the UDP ports of Services.
//!
//! - A pod's UDP socket answers every datagram with one datagram: a line naming the pod, its
//!   node and the address it answered on, then the bytes it received (an echo). A pod that
//!   declares no ports answers on the UDP targetPorts of the Services selecting it (as its TCP
//!   side does, [`implied_ports`](super::pods::implied_ports)).
//! - Every ClusterIP:port, node address:nodePort and VIP-mode LoadBalancer IP:port of a UDP
//!   Service port is a socket. The first datagram from a client is routed like a TCP
//!   connection (the engine's route and picker); the client then keeps its endpoint (a
//!   conntrack entry) until it has been idle for [`FLOW_IDLE`]; answers come back from the
//!   Service's address. A drop verdict discards; a door that rejects every source has no
//!   socket (the kernel answers ICMP port unreachable, as for kube-proxy's REJECT).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::bind::BindPolicy;
use super::pods::{PodApp, app_ipv4, declares_no_ports, implied_ports_of, privileged_hint};
use super::proxy::{self, Context, Door};
use super::{Listening, Running};
use crate::access_log::{self, AccessLogs, Transport};
use crate::addresses::is_loopback;
use crate::notes::Notes;
use kubehop_engine::model::Protocol;
use kubehop_engine::{ClusterSnapshot, ProxyModel, RouteQuery, Verdict, pods::typed as pod_facts};

/// How long a UDP flow keeps its endpoint without traffic (kube-proxy's conntrack timeout).
pub const FLOW_IDLE: Duration = Duration::from_secs(30);
/// Clients a pod's UDP socket remembers (for its access log) before forgetting idle ones.
const MAX_FLOWS: usize = 4096;
/// The largest datagram handled.
const MAX_DATAGRAM: usize = 64 * 1024;

/// The UDP ports a pod's app answers on: its declared UDP containerPorts (regular containers
/// and sidecars).
pub fn udp_ports(pod: &Pod) -> Vec<u16> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let mut ports: Vec<u16> = spec
        .containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.protocol.as_deref() == Some("UDP"))
        .filter_map(|p| u16::try_from(p.container_port).ok())
        .filter(|p| *p != 0)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// What a UDP socket is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Pod(Arc<PodApp>),
    Door(Door),
}

/// The UDP sockets, kept in step with the snapshot and the model.
pub(crate) struct UdpSockets {
    notes: Notes,
    access: AccessLogs,
    cancel: CancellationToken,
    proxy: Arc<Context>,
    policy: BindPolicy,
    /// What the cluster DNS pods answer.
    zones: super::dns::Zones,
    running: BTreeMap<SocketAddr, (Role, Running)>,
}

impl UdpSockets {
    pub(crate) fn new(
        (notes, access, zones): (Notes, AccessLogs, super::dns::Zones),
        cancel: CancellationToken,
        proxy: Arc<Context>,
        policy: BindPolicy,
    ) -> Self {
        UdpSockets {
            notes,
            access,
            zones,
            cancel,
            proxy,
            policy,
            running: BTreeMap::new(),
        }
    }

    pub(crate) fn listening(&self) -> BTreeMap<SocketAddr, Listening> {
        self.running
            .iter()
            .map(|(addr, (role, _))| {
                let listening = match role {
                    Role::Pod(app) => Listening::Pod {
                        namespace: app.namespace.clone(),
                        name: app.name.clone(),
                    },
                    Role::Door(door) => door.listening(),
                };
                (*addr, listening)
            })
            .collect()
    }

    fn desired(
        &self,
        snapshot: &ClusterSnapshot,
        model: &ProxyModel,
    ) -> BTreeMap<SocketAddr, Role> {
        let mut desired = BTreeMap::new();
        for pod in snapshot.pods.iter().filter_map(|pod| pod.object.as_deref()) {
            let Some(ip) = app_ipv4(pod) else {
                continue;
            };
            let ports: Vec<u16> = if declares_no_ports(pod) {
                implied_ports_of(pod, &snapshot.services, "UDP")
                    .into_iter()
                    .collect()
            } else {
                udp_ports(pod)
            };
            // The TCP side notes addresses outside loopback.
            if ports.is_empty() || !is_loopback(ip) {
                continue;
            }
            let app = Arc::new(PodApp {
                namespace: pod_facts::namespace(pod).to_string(),
                name: pod_facts::name(pod).to_string(),
                uid: pod.metadata.uid.clone().unwrap_or_default(),
                node: pod_facts::node_name(pod).unwrap_or("").to_string(),
                dns: super::dns::is_dns_pod(pod),
                tls: false,
                proxy_health: None,
            });
            for port in ports {
                desired
                    .entry(SocketAddr::new(ip, port))
                    .or_insert_with(|| Role::Pod(app.clone()));
            }
        }
        for (addr, door) in proxy::open_doors(model, Protocol::Udp, &self.notes) {
            desired.insert(addr, Role::Door(door));
        }
        desired
    }

    pub(crate) async fn sync(&mut self, snapshot: &ClusterSnapshot, model: &ProxyModel) {
        let desired = self.desired(snapshot, model);
        super::stop_unwanted(&mut self.running, &desired).await;
        for (addr, role) in desired {
            if self.running.contains_key(&addr) {
                continue;
            }
            match self.policy.bind_udp(addr).await {
                Ok(socket) => {
                    let cancel = self.cancel.child_token();
                    let socket = Arc::new(socket);
                    let task = match &role {
                        Role::Pod(app) => tokio::spawn(answer(
                            socket,
                            (addr, app.clone()),
                            (self.access.clone(), self.zones.clone()),
                            cancel.clone(),
                        )),
                        Role::Door(door) => tokio::spawn(forward(
                            socket,
                            addr,
                            door.clone(),
                            self.proxy.clone(),
                            cancel.clone(),
                        )),
                    };
                    self.running
                        .insert(addr, (role, Running::new(cancel, task)));
                }
                Err(err) => self.notes.push(format!(
                    "cannot listen on {addr}/udp: {err}{}",
                    privileged_hint(addr.port(), &err)
                )),
            }
        }
    }

    pub(crate) async fn stop_all(&mut self) {
        for (_, (_, running)) in std::mem::take(&mut self.running) {
            running.stop().await;
        }
    }
}

/// A pod's UDP app: one answer per datagram, naming the pod, then the datagram (a cluster DNS
/// pod answers DNS instead, [`super::dns`]). Each new
/// flow (a client heard from for the first time, or again after [`FLOW_IDLE`]) writes an
/// access-log line.
async fn answer(
    socket: Arc<UdpSocket>,
    (addr, app): (SocketAddr, Arc<PodApp>),
    (access, zones): (AccessLogs, super::dns::Zones),
    cancel: CancellationToken,
) {
    let pod = format!("{}/{}", app.namespace, app.name);
    let mut flows: HashMap<SocketAddr, Instant> = HashMap::new();
    let node = if app.node.is_empty() {
        "(none)"
    } else {
        &app.node
    };
    let line = format!(
        "kubehop sandbox: pod {}/{} on node {node} answered on {addr}/udp\n",
        app.namespace, app.name
    );
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let Ok((n, peer)) = received else {
            continue;
        };
        let now = Instant::now();
        if flows
            .insert(peer, now)
            .is_none_or(|last| now.duration_since(last) >= FLOW_IDLE)
        {
            access.record(
                app.key(),
                Transport::Udp,
                addr.port(),
                access_log::udp_line(peer, addr),
            );
        }
        if flows.len() > MAX_FLOWS {
            flows.retain(|_, last| now.duration_since(*last) < FLOW_IDLE);
        }
        if app.dns {
            super::dns::answer_udp(&socket, &zones, &pod, &buffer[..n], peer).await;
            continue;
        }
        let mut reply = Vec::with_capacity(line.len() + n);
        reply.extend_from_slice(line.as_bytes());
        reply.extend_from_slice(&buffer[..n]);
        reply.truncate(MAX_DATAGRAM - 1024);
        let _ = socket.send_to(&reply, peer).await;
    }
}

/// One client's flow: the socket connected to its endpoint.
type Flows = Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>;

/// kube-proxy on a UDP front door.
async fn forward(
    socket: Arc<UdpSocket>,
    addr: SocketAddr,
    door: Door,
    context: Arc<Context>,
    cancel: CancellationToken,
) {
    let flows: Flows = Arc::default();
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let Ok((n, peer)) = received else {
            continue;
        };
        let existing = flows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&peer)
            .cloned();
        let upstream = match existing {
            Some(upstream) => upstream,
            None => match open_flow(&context, &door, addr, peer).await {
                Some(upstream) => {
                    flows
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(peer, upstream.clone());
                    tokio::spawn(relay_back(
                        upstream.clone(),
                        socket.clone(),
                        peer,
                        flows.clone(),
                        cancel.clone(),
                    ));
                    upstream
                }
                // Dropped or rejected: the datagram is gone.
                None => continue,
            },
        };
        let _ = upstream.send(&buffer[..n]).await;
    }
}

/// Routes a new flow and connects a socket to the endpoint picked.
async fn open_flow(
    context: &Context,
    door: &Door,
    addr: SocketAddr,
    peer: SocketAddr,
) -> Option<Arc<UdpSocket>> {
    let model = context.model();
    let decision = model.route(&RouteQuery {
        destination: addr.ip(),
        port: addr.port(),
        protocol: Protocol::Udp,
        source: proxy::source_of(door, addr, &model, context.turn()),
        source_ip: Some(peer.ip()),
    });
    if decision.verdict != Verdict::Forward {
        return None;
    }
    let target = context.pick(&decision, peer)?;
    if !is_loopback(target.ip()) {
        context.notes().push(format!(
            "Service {}/{}: not sending to endpoint {target}/udp: the sandbox sends only inside 127.0.0.0/8",
            door.namespace, door.service
        ));
        return None;
    }
    let upstream = UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).await.ok()?;
    upstream.connect(target).await.ok()?;
    Some(Arc::new(upstream))
}

/// The endpoint's answers, back to the client from the Service's address, until the flow is
/// idle for [`FLOW_IDLE`].
async fn relay_back(
    upstream: Arc<UdpSocket>,
    door: Arc<UdpSocket>,
    peer: SocketAddr,
    flows: Flows,
    cancel: CancellationToken,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => break,
            received = tokio::time::timeout(FLOW_IDLE, upstream.recv(&mut buffer)) => received,
        };
        match received {
            Ok(Ok(n)) => {
                let _ = door.send_to(&buffer[..n], peer).await;
            }
            // An ICMP error from the endpoint (nothing listens): keep waiting.
            Ok(Err(_)) => {}
            Err(_) => break,
        }
    }
    flows
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&peer);
}
